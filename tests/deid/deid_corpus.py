"""A corpus of generated objects with identifiers planted in every place they hide.

Two patients. Müller (ISO_IR 100, accented) has two CT studies six months apart, one
with a Basic Text SR that reports on it and references its images, and a screen capture.
Петров (ISO_IR 192, Cyrillic) is 95 and has a CT with Patient's Age, one without (age
derived from the birth date) and an ultrasound that declares burned-in text.

Planted: top-level attributes, nested sequences (request attributes, referenced study,
other patient IDs), private blocks (one creator in PS3.15 Table E.3.10-1, one not),
SR TextValue and person names, overlay and curve groups, descriptions that name the
patient, File Meta, UIDs. ``oracle_leaks`` searches the output for all of it: in the raw
bytes (Latin-1 and UTF-8, upper and lower case) and in the decoded text.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from vesalius.core.dicom.synthetic import ROOT, StudySpec, make_instance, to_bytes
from vesalius.deid import KnownIdentifiers

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"

MUELLER = "Müller^Jürgen"
PETROV = "Петров^Иван"
REFERRER = "Welby^Marcus"
PERFORMER = "House^Gregory"
OPERATOR = "Ratched^Mildred"
MOTHER = "Schneider^Greta"
INTERVAL_DAYS = 195

CLINICAL = ("pneumonia", "left lower lobe")
KEY = b"corpus test key, 32 bytes long.."
RESEARCH = (
    "clean-descriptors",
    "clean-structured-content",
    "clean-graphics",
    "retain-longitudinal-modified-dates",
    "retain-patient-characteristics",
    "retain-safe-private",
)


@dataclass(frozen=True)
class Patient:
    name: str
    patient_id: str
    birth_date: str
    charset: str
    accessions: tuple[str, ...]
    study_dates: tuple[dt.date, ...]


A = Patient(
    MUELLER,
    "PID-778899",
    "19610412",
    "ISO_IR 100",
    ("ACC5550101", "ACC5550202"),
    (dt.date(2023, 3, 3), dt.date(2023, 3, 3) + dt.timedelta(days=INTERVAL_DAYS)),
)
B = Patient(PETROV, "PID-445566", "19280101", "ISO_IR 192", ("ACC7770303",), (dt.date(2023, 5, 8),))

PLANTED_TEXT = (
    "Müller",
    "Jürgen",
    "Петров",
    "Иван",
    "Welby",
    "Marcus",
    "House",
    "Gregory",
    "Ratched",
    "Mildred",
    "Schneider",
    "Greta",
    "PID-778899",
    "PID-445566",
    "OLD-112233",
    "ACC5550101",
    "ACC5550202",
    "ACC7770303",
    "RP-99812",
    "SPS-66221",
    "19610412",
    "12.04.1961",
    "19280101",
    "20230303",
    "20230914",
    "20230508",
    "+41 44 123 45 67",
    "Bahnhofstrasse",
    "Kantonsspital Nordstadt",
    "CTNORD01",
    "j.mueller@example.org",
    "ORIGINALSENDER",
)


@dataclass
class Corpus:
    """Generated objects (name -> Part 10 bytes) and what was planted in them."""

    objects: dict[str, bytes] = field(default_factory=dict)
    uids: set[str] = field(default_factory=set)  # every original UID (must all be replaced)
    ct_study1: list[str] = field(default_factory=list)  # SOP UIDs the SR references

    @property
    def planted(self) -> tuple[str, ...]:
        return (*PLANTED_TEXT, *sorted(self.uids))

    def add(self, name: str, ds: Dataset) -> None:
        for element in _walk(ds):
            if element.VR == "UI" and not str(element.value).startswith("1.2.840.10008."):
                self.uids.update(str(v) for v in _values(element.value))
        for value in (ds.file_meta.MediaStorageSOPInstanceUID,):
            self.uids.add(str(value))
        self.objects[name] = to_bytes(ds)


def _values(value: object) -> list[object]:
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)  # type: ignore[call-overload]


def _walk(ds: Dataset) -> Iterator[pydicom.DataElement]:
    for element in ds:
        yield element
        if element.VR == "SQ":
            for item in element.value:
                yield from _walk(item)


def _uid(*parts: object) -> str:
    return generate_uid(prefix=ROOT, entropy_srcs=["deid-corpus", *map(str, parts)])


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _plant_header(ds: Dataset, patient: Patient, study: int) -> None:
    """The identifying header attributes of an object of ``patient``'s ``study``."""
    ds.SpecificCharacterSet = patient.charset
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = "M"
    ds.AccessionNumber = patient.accessions[study]
    ds.ReferringPhysicianName = REFERRER
    ds.PerformingPhysicianName = PERFORMER
    ds.OperatorsName = OPERATOR
    ds.PatientMotherBirthName = MOTHER
    ds.PatientAddress = "Bahnhofstrasse 12, 8001 Zürich"
    ds.PatientTelephoneNumbers = "+41 44 123 45 67"
    ds.OtherPatientIDs = "OLD-112233"
    ds.InstitutionName = "Kantonsspital Nordstadt"
    ds.InstitutionAddress = "Spitalweg 1, Nordstadt"
    ds.StationName = "CTNORD01"
    ds.DeviceSerialNumber = "SN-4455667788"
    ds.BodyPartExamined = "CHEST"
    date = patient.study_dates[study].strftime("%Y%m%d")
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.InstanceCreationDate = date
    ds.AcquisitionDateTime = date + "091502.123456+0100"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "091500"
    ds.StudyID = "ST" + patient.accessions[study][-4:]
    other = Dataset()
    other.PatientID = "OLD-112233"
    other.IssuerOfPatientID = "HOSP-OLD"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = [other]
    request = Dataset()
    request.RequestedProcedureID = "RP-99812"
    request.ScheduledProcedureStepID = "SPS-66221"
    request.RequestedProcedureDescription = f"Thorax for {patient.name.split('^')[0]}"
    request.RequestingPhysician = REFERRER
    request.ScheduledProcedureStepStartDate = date
    ds.RequestAttributesSequence = [request]
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    referenced.ReferencedSOPInstanceUID = _uid("detached-study", patient.patient_id, study)
    ds.ReferencedStudySequence = [referenced]


def _plant_private(ds: Dataset, patient: Patient) -> None:
    safe = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    safe.add_new(0x23, "DS", "12.5")  # Table Speed: in Table E.3.10-1
    safe.add_new(0xE0, "LO", patient.name.replace("^", " "))  # not in the table
    unsafe = ds.private_block(0x0029, "ACME PHI 1.0", create=True)
    unsafe.add_new(0x10, "LO", patient.name)
    unsafe.add_new(0x11, "LO", patient.patient_id)
    unsafe.add_new(0x12, "DS", "3.5")
    item = Dataset()
    item.PatientName = patient.name
    inner = item.private_block(0x0029, "ACME PHI 1.0", create=True)
    inner.add_new(0x20, "LO", patient.patient_id)
    unsafe.add_new(0x13, "SQ", Sequence([item]))


def plant_graphics(ds: Dataset, patient: Patient) -> None:
    rows, columns = int(ds.Rows), int(ds.Columns)
    ds.add_new(0x60000010, "US", rows)
    ds.add_new(0x60000011, "US", columns)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60000022, "LO", f"ROI by {patient.name.split('^')[0]}")
    ds.add_new(0x60001500, "LO", patient.patient_id)
    ds.add_new(0x60004000, "LT", f"drawn for {patient.name}")
    bits = np.zeros(rows * columns, dtype=np.uint8)
    bits[: columns * 2] = 1
    ds.add_new(0x60003000, "OW", np.packbits(bits, bitorder="little").tobytes())
    ds.add_new(0x50000005, "US", 1)
    ds.add_new(0x50000010, "US", 4)
    ds.add_new(0x50000020, "CS", "TAC")
    ds.add_new(0x50000022, "LO", f"curve of {patient.name}")
    ds.add_new(0x50003000, "OW", np.arange(8, dtype=np.uint16).tobytes())


def _ct(patient: Patient, study: int, series: int, index: int, *, graphics: bool) -> Dataset:
    spec = StudySpec(patient.patient_id, patient.name, patient.study_dates[study])
    ds = make_instance(
        spec=spec,
        study_uid=_uid("study", patient.patient_id, study),
        series_uid=_uid("series", patient.patient_id, study, series),
        modality="CT",
        series_number=series,
        series_description=f"Thorax {patient.name.split('^')[0]} axial",
        index=index,
        size=32,
        sop_uid=_uid("ct", patient.patient_id, study, series, index),
    )
    ds.file_meta.SourceApplicationEntityTitle = "ORIGINALSENDER"
    _plant_header(ds, patient, study)
    ds.StudyDescription = f"CT Thorax {patient.name.split('^')[0]} pneumonia left lower lobe"
    ds.ImageComments = (
        f"Patient {patient.name.split('^')[1]} {patient.name.split('^')[0]}, "
        f"{patient.patient_id}, born 12.04.1961, call +41 44 123 45 67, "
        "mail j.mueller@example.org: pneumonia"
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.BurnedInAnnotation = "NO"
    ds.FrameOfReferenceUID = _uid("for", patient.patient_id, study)
    ds.PositionReferenceIndicator = ""
    ds.KVP = "120"
    ds.AcquisitionNumber = 1
    ds.PatientPosition = "HFS"
    _plant_private(ds, patient)
    if graphics:
        plant_graphics(ds, patient)
    return ds


def _sr(patient: Patient, study: int, referenced: list[Dataset]) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = BASIC_TEXT_SR
    ds.SOPClassUID = BASIC_TEXT_SR
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = _uid("sr", patient.patient_id)
    ds.StudyInstanceUID = _uid("study", patient.patient_id, study)
    ds.SeriesInstanceUID = _uid("sr-series", patient.patient_id, study)
    ds.Modality = "SR"
    ds.SeriesNumber = 99
    ds.InstanceNumber = 1
    ds.Manufacturer = "vesalius corpus"
    _plant_header(ds, patient, study)
    for keyword in ("AcquisitionDate", "AcquisitionDateTime", "SeriesDate", "SeriesTime"):
        delattr(ds, keyword)
    del ds.DeviceSerialNumber, ds.StationName, ds.OperatorsName, ds.PerformingPhysicianName
    ds.StudyDescription = "Report for Müller: pneumonia"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    observer = Dataset()
    observer.VerifyingObserverName = PERFORMER
    observer.VerifyingOrganization = "Kantonsspital Nordstadt"
    observer.VerificationDateTime = ds.ContentDate + "120000"
    observer.VerifyingObserverIdentificationCodeSequence = []
    ds.VerifyingObserverSequence = [observer]
    ds.PerformedProcedureCodeSequence = []
    evidence = Dataset()
    evidence.StudyInstanceUID = ds.StudyInstanceUID
    evidence.ReferencedSeriesSequence = []
    by_series: dict[str, list[Dataset]] = {}
    for image in referenced:
        by_series.setdefault(str(image.SeriesInstanceUID), []).append(image)
    for series_uid, images in by_series.items():
        series = Dataset()
        series.SeriesInstanceUID = series_uid
        series.ReferencedSOPSequence = []
        for image in images:
            ref = Dataset()
            ref.ReferencedSOPClassUID = image.SOPClassUID
            ref.ReferencedSOPInstanceUID = image.SOPInstanceUID
            series.ReferencedSOPSequence.append(ref)
        evidence.ReferencedSeriesSequence.append(series)
    ds.CurrentRequestedProcedureEvidenceSequence = [evidence]
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [_code("18748-4", "LN", "Diagnostic Imaging Report")]
    ds.ContinuityOfContent = "SEPARATE"
    finding = Dataset()
    finding.RelationshipType = "CONTAINS"
    finding.ValueType = "TEXT"
    finding.ConceptNameCodeSequence = [_code("121071", "DCM", "Finding")]
    finding.TextValue = (
        "Findings for Jürgen Müller (PID-778899, born 12.04.1961): pneumonia in the "
        "left lower lobe. Seen on 2023-03-03 by Dr. Welby; questions to j.mueller@example.org"
    )
    person = Dataset()
    person.RelationshipType = "CONTAINS"
    person.ValueType = "PNAME"
    person.ConceptNameCodeSequence = [_code("121008", "DCM", "Person Observer Name")]
    person.PersonName = REFERRER
    date = Dataset()
    date.RelationshipType = "CONTAINS"
    date.ValueType = "DATE"
    date.ConceptNameCodeSequence = [_code("111060", "DCM", "Study Date")]
    date.Date = ds.StudyDate
    section = Dataset()
    section.RelationshipType = "CONTAINS"
    section.ValueType = "CONTAINER"
    section.ConceptNameCodeSequence = [_code("121070", "DCM", "Findings")]
    section.ContinuityOfContent = "SEPARATE"
    section.ContentSequence = [finding]
    ds.ContentSequence = [section, person, date]
    return ds


def _secondary_capture(patient: Patient, study: int) -> Dataset:
    ds = _ct(patient, study, 7, 0, graphics=False)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    del ds.BurnedInAnnotation
    return ds


def _ultrasound(patient: Patient, study: int) -> Dataset:
    ds = _ct(patient, study, 8, 0, graphics=False)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = US_IMAGE
    ds.Modality = "US"
    ds.BurnedInAnnotation = "YES"
    ds.PhotometricInterpretation = "RGB"
    ds.SamplesPerPixel = 3
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    for keyword in ("RescaleIntercept", "RescaleSlope", "WindowCenter", "WindowWidth"):
        delattr(ds, keyword)
    ds.PixelData = np.full((ds.Rows, ds.Columns, 3), 60, dtype=np.uint8).tobytes()
    return ds


def build_corpus() -> Corpus:
    corpus = Corpus()
    study1 = [_ct(A, 0, 1, i, graphics=(i == 0)) for i in range(2)]
    for i, ds in enumerate(study1):
        corpus.ct_study1.append(str(ds.SOPInstanceUID))
        corpus.add(f"a-study1-ct{i}", ds)
    corpus.add("a-study1-sr", _sr(A, 0, study1))
    corpus.add("a-study2-ct0", _ct(A, 1, 1, 0, graphics=False))
    corpus.add("a-study1-sc", _secondary_capture(A, 0))
    aged = _ct(B, 0, 1, 0, graphics=False)
    aged.PatientAge = "095Y"
    corpus.add("b-ct-aged", aged)
    corpus.add("b-ct-no-age", _ct(B, 0, 1, 1, graphics=False))
    corpus.add("b-us", _ultrasound(B, 0))
    return corpus


def read(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def _encodings(value: str) -> set[bytes]:
    found = set()
    for variant in {value, value.upper(), value.lower()}:
        for codec in ("latin-1", "utf-8"):
            try:
                found.add(variant.encode(codec))
            except UnicodeEncodeError:
                continue
    return found


def decoded_text(ds: Dataset) -> str:
    """Every decoded value of the object (File Meta included), one per line."""
    lines = [str(e.value) for e in ds.file_meta]
    for element in _walk(ds):
        if element.VR not in ("SQ", "OB", "OW", "UN"):
            lines.extend(str(v) for v in _values(element.value))
    return "\n".join(lines)


def oracle_leaks(data: bytes, planted: Iterable[str]) -> set[str]:
    """The planted values found in ``data``: raw bytes (any case, Latin-1 or UTF-8) or
    decoded text (case-insensitive)."""
    text = decoded_text(read(data)).casefold()
    leaks = set()
    for value in planted:
        if any(encoded in data for encoded in _encodings(value)) or value.casefold() in text:
            leaks.add(value)
    return leaks


@dataclass(frozen=True)
class Blanked:
    regions_blanked: int = 1
    transfer_syntax_changed: bool = False
    overlays_cleaned: bool = False


class FakePixelCleaner:
    """Blanks the whole image (as OCR would blank text) and remembers what it was told."""

    def __init__(self, overlays_cleaned: bool = False) -> None:
        self.known: list[KnownIdentifiers] = []
        self.overlays_cleaned = overlays_cleaned

    def clean(self, ds: Dataset, known: KnownIdentifiers) -> Blanked:
        self.known.append(known)
        ds.PixelData = bytes(len(ds.PixelData))
        return Blanked(overlays_cleaned=self.overlays_cleaned)
