"""The engine on the planted-identifier corpus: nothing identifying survives, the rest does.

The oracle (``deid_corpus.oracle_leaks``) is the tests' own: planted values searched in
the raw output bytes and the decoded text. It is first shown to find every planted value
in the inputs, so a pass means the engine removed them, not that the oracle is blind.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from deid_corpus import (
    CLINICAL,
    INTERVAL_DAYS,
    KEY,
    MUELLER,
    PLANTED_TEXT,
    RESEARCH,
    A,
    Corpus,
    FakePixelCleaner,
    build_corpus,
    decoded_text,
    oracle_leaks,
    plant_graphics,
    read,
)
from pydicom.dataset import Dataset

from vesalius.core.dicom.synthetic import to_bytes
from vesalius.core.errors import OptionUnavailable, RejectedObject
from vesalius.deid import Deidentifier, KnownIdentifiers, Profile, SafePrivate
from vesalius.deid.report import ObjectReport

PROFILES = {"basic": (), "research": RESEARCH}


@dataclass
class Run:
    outputs: dict[str, bytes]
    reports: dict[str, ObjectReport]
    withheld: dict[str, str]

    def ds(self, name: str) -> Dataset:
        return read(self.outputs[name])


def tags(ds: Dataset) -> list:
    return list(ds.keys())


def run(corpus: Corpus, options=(), key: bytes = KEY, **hooks) -> Run:
    engine = Deidentifier(Profile.from_options(options), key, **hooks)
    result = Run({}, {}, {})
    for name, data in corpus.objects.items():
        try:
            result.outputs[name], result.reports[name] = engine.deidentify_bytes(data)
        except RejectedObject as exc:
            result.withheld[name] = str(exc)
    return result


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_corpus()


@pytest.fixture(scope="module")
def runs(corpus: Corpus) -> dict[str, Run]:
    return {label: run(corpus, options) for label, options in PROFILES.items()}


def test_the_oracle_finds_every_planted_value_in_the_inputs(corpus: Corpus) -> None:
    found = set().union(*(oracle_leaks(data, corpus.planted) for data in corpus.objects.values()))
    assert found == set(corpus.planted)
    assert len(corpus.uids) > 20


@pytest.mark.parametrize("label", PROFILES)
def test_no_planted_identifier_survives(runs: dict[str, Run], corpus: Corpus, label: str) -> None:
    result = runs[label]
    assert set(result.outputs) == set(corpus.objects) - {"b-us"}
    for name, data in result.outputs.items():
        assert oracle_leaks(data, corpus.planted) == set(), name
        report = json.dumps(result.reports[name].to_dict())
        assert not {v for v in PLANTED_TEXT if v.casefold() in report.casefold()}, name


@pytest.mark.parametrize("label", PROFILES)
def test_an_object_declaring_burned_in_text_is_withheld(runs: dict[str, Run], label: str) -> None:
    reason = runs[label].withheld["b-us"]
    assert "Burned In Annotation is YES" in reason
    assert not {v for v in PLANTED_TEXT if v.casefold() in reason.casefold()}


@pytest.mark.parametrize("label", PROFILES)
def test_references_resolve_inside_the_output(runs: dict[str, Run], label: str) -> None:
    result = runs[label]
    cts = [result.ds("a-study1-ct0"), result.ds("a-study1-ct1")]
    sr = result.ds("a-study1-sr")
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == sr.StudyInstanceUID == cts[0].StudyInstanceUID
    series = evidence.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == cts[0].SeriesInstanceUID == cts[1].SeriesInstanceUID
    referenced = {ref.ReferencedSOPInstanceUID for ref in series.ReferencedSOPSequence}
    assert referenced == {ct.SOPInstanceUID for ct in cts}
    assert cts[0].FrameOfReferenceUID == cts[1].FrameOfReferenceUID
    assert result.ds("a-study2-ct0").StudyInstanceUID != cts[0].StudyInstanceUID
    for name, data in result.outputs.items():
        ds = read(data)
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID, name
        for uid in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID):
            assert uid.startswith("2.25.") and len(uid) <= 64 and uid.is_valid


def test_one_patient_one_pseudonym_and_the_interval_between_visits(runs: dict[str, Run]) -> None:
    result = runs["research"]
    a = [result.ds(n) for n in ("a-study1-ct0", "a-study1-sr", "a-study2-ct0", "a-study1-sc")]
    b = [result.ds(n) for n in ("b-ct-aged", "b-ct-no-age")]
    assert len({ds.PatientID for ds in a}) == len({ds.PatientID for ds in b}) == 1
    assert a[0].PatientID != b[0].PatientID
    assert all(str(ds.PatientName) == ds.PatientID for ds in a + b)

    def day(value: str) -> dt.date:
        return dt.datetime.strptime(value, "%Y%m%d").date()

    first, second = day(a[0].StudyDate), day(a[2].StudyDate)
    assert (second - first).days == INTERVAL_DAYS
    offset = (first - dt.date(2023, 3, 3)).days
    assert offset != 0 and abs(offset) <= 365
    assert a[0].AcquisitionDateTime == first.strftime("%Y%m%d") + "091502.123456+0100"
    request = a[0].RequestAttributesSequence[0]
    assert request.ScheduledProcedureStepStartDate == a[0].StudyDate  # nested dates move too
    assert a[0].StudyTime == "091500"  # times are kept


def test_subject_ids_come_from_the_callback(corpus: Corpus) -> None:
    ids = {"PID-778899": "TRIAL-001", "PID-445566": "TRIAL-002"}
    result = run(corpus, RESEARCH, subject_id_for=ids.__getitem__)
    assert result.ds("a-study2-ct0").PatientID == "TRIAL-001"
    assert result.ds("b-ct-aged").PatientName == "TRIAL-002"


def test_two_patients_never_share_a_pseudonym() -> None:
    engine = Deidentifier(Profile(), KEY)
    seen = set()
    for i in range(300):
        ds = Dataset()
        ds.PatientID = f"PID-{i:05d}"
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.SOPInstanceUID = ds.StudyInstanceUID = ds.SeriesInstanceUID = f"1.2.3.{i}"
        seen.add(engine.deidentify(ds).dataset.PatientID)
    assert len(seen) == 300


@pytest.mark.parametrize("label", PROFILES)
def test_pixel_data_of_images_not_at_risk_is_unchanged(
    runs: dict[str, Run], corpus: Corpus, label: str
) -> None:
    for name in ("a-study1-ct0", "a-study2-ct0", "b-ct-aged"):
        assert runs[label].ds(name).PixelData == read(corpus.objects[name]).PixelData
        assert runs[label].reports[name].pixels == "not at risk"


def test_clinical_words_are_kept(runs: dict[str, Run]) -> None:
    result = runs["research"]
    ct, sr = result.ds("a-study1-ct0"), result.ds("a-study1-sr")
    finding = sr.ContentSequence[0].ContentSequence[0].TextValue
    for words in CLINICAL:
        assert words in ct.StudyDescription and words in finding
    assert "pneumonia" in ct.ImageComments
    assert ct.StudyDescription == "CT Thorax [name] pneumonia left lower lobe"
    assert sr.ContentSequence[0].ConceptNameCodeSequence[0].CodeMeaning == "Findings"


def test_basic_profile_dummies_report_text_and_drops_descriptions(runs: dict[str, Run]) -> None:
    ct, sr = runs["basic"].ds("a-study1-ct0"), runs["basic"].ds("a-study1-sr")
    assert "StudyDescription" not in ct and "ImageComments" not in ct
    assert sr.ContentSequence[0].ContentSequence[0].TextValue == "ANONYMOUS"
    assert sr.ContentSequence[0].ConceptNameCodeSequence[0].CodeMeaning == "Findings"
    assert sr.ContentDate == "19000101"  # Type 1 in SR documents: Z/D becomes D
    assert ct.StudyDate == "" and "SeriesDate" not in ct


def test_the_same_input_and_key_give_the_same_bytes(corpus: Corpus, runs: dict[str, Run]) -> None:
    again = run(corpus, RESEARCH)
    assert again.outputs == runs["research"].outputs
    other = run(corpus, RESEARCH, key=KEY[::-1])
    assert all(other.outputs[n] != again.outputs[n] for n in again.outputs)


@pytest.mark.parametrize(
    ("options", "codes", "longitudinal"),
    [
        ((), ["113100"], "REMOVED"),
        (
            RESEARCH,
            ["113100", "113103", "113104", "113105", "113107", "113108", "113111"],
            "MODIFIED",
        ),
        (
            ("retain-longitudinal-full-dates", "retain-uids", "retain-institution-identity"),
            ["113100", "113106", "113110", "113112"],
            "UNMODIFIED",
        ),
    ],
)
def test_marks(corpus: Corpus, options, codes, longitudinal) -> None:
    data = Deidentifier(Profile.from_options(options), KEY).deidentify_bytes(
        corpus.objects["a-study1-ct1"]
    )[0]
    ds = read(data)
    assert ds.PatientIdentityRemoved == "YES"
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == codes
    assert {i.CodingSchemeDesignator for i in ds.DeidentificationMethodCodeSequence} == {"DCM"}
    assert ds.LongitudinalTemporalInformationModified == longitudinal
    assert "PS3.15" in ds.DeidentificationMethod[0]
    assert data[:128] == bytes(128)
    assert ds.file_meta.ImplementationClassUID == "1.2.826.0.1.3680043.10.1452.1"
    assert "SourceApplicationEntityTitle" not in ds.file_meta


def test_retained_uids_dates_institution_and_device(corpus: Corpus) -> None:
    options = (
        "retain-uids",
        "retain-longitudinal-full-dates",
        "retain-institution-identity",
        "retain-device-identity",
    )
    source = read(corpus.objects["a-study1-ct0"])
    ds = read(
        Deidentifier(Profile.from_options(options), KEY).deidentify_bytes(
            corpus.objects["a-study1-ct0"]
        )[0]
    )
    assert ds.SOPInstanceUID == source.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
    assert ds.StudyDate == source.StudyDate and ds.AcquisitionDateTime == source.AcquisitionDateTime
    assert ds.InstitutionName == "Kantonsspital Nordstadt"
    assert (ds.StationName, ds.DeviceSerialNumber) == ("CTNORD01", "SN-4455667788")
    assert ds.PatientBirthDate == "" and "PatientAddress" not in ds


def test_ages_over_89_are_reported_as_90(runs: dict[str, Run]) -> None:
    assert runs["research"].ds("b-ct-aged").PatientAge == "090Y"
    assert runs["research"].ds("b-ct-no-age").PatientAge == "090Y"  # derived from birth date
    assert runs["research"].ds("a-study1-ct0").PatientAge == "061Y"
    assert runs["research"].reports["b-ct-no-age"].actions["age-derived"] == 1
    assert "PatientAge" not in runs["basic"].ds("b-ct-aged")


def test_private_attributes(runs: dict[str, Run]) -> None:
    kept = runs["research"].ds("a-study1-ct0")
    block = kept.private_block(0x0019, "GEMS_ACQU_01")
    assert block[0x23].value == "12.5"
    assert 0x0019_10E0 not in kept  # same creator, not in Table E.3.10-1
    assert not [t for t in tags(kept) if t.group == 0x0029]  # creator and block gone
    assert not [t for t in tags(runs["basic"].ds("a-study1-ct0")) if t.is_private]


def test_tcia_knowledge_base_widens_the_safe_list(corpus: Corpus, tmp_path: Path) -> None:
    kb = tmp_path / "tcia.csv"
    kb.write_text(
        "element_sig_pattern,tag_name,vr,private_disposition\n"
        '"(0029,ACME PHI 1.0"",12)",Dose,DS,k\n'
        '"(0029,ACME PHI 1.0"",10)",Name,LO,h\n'
        '"(0029,ACME PHI 1.0"",13)",Items,SQ,k\n'
        '"(0029,ACME PHI 1.0"",13)[<0>](0029,""ACME PHI 1.0"",20)",Inner,LO,d\n'
        '"(0029,ACME PHI 1.0"",11)",Id,LO,k\n'
        '"(0029,ACME PHI 1.0"",11)",Id,UN,d\n',
        encoding="utf-8",
    )
    result = run(corpus, RESEARCH, safe_private=SafePrivate.load(kb))
    ds = result.ds("a-study1-ct0")
    block = ds.private_block(0x0029, "ACME PHI 1.0")
    assert block[0x12].value == "3.5"
    assert 0x10 not in block and 0x11 not in block  # h, and k/d disagreeing: removed
    item = block[0x13].value[0]
    assert item.PatientName == "" and not [t for t in tags(item) if t.is_private]
    assert oracle_leaks(result.outputs["a-study1-ct0"], corpus.planted) == set()


def test_the_real_tcia_knowledge_base_loads_when_present() -> None:
    path = Path(__file__).parents[2].parent / "shared/data/dicom/tcia-private-tag-kb-2024-02-01.csv"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    safe = SafePrivate.load(path)
    assert len(safe.tcia) > 1000
    assert safe.is_safe((("p", 0x0019, "SIEMENS MR VA0  COAD", 0x50),))


def test_overlays_are_removed_unless_cleaned_and_curves_follow_the_table(
    runs: dict[str, Run], corpus: Corpus
) -> None:
    basic, research = runs["basic"].ds("a-study1-ct0"), runs["research"].ds("a-study1-ct0")
    for ds in (basic, research):
        assert not [t for t in tags(ds) if 0x6000 <= t.group <= 0x60FF]
    assert not [t for t in tags(basic) if 0x5000 <= t.group <= 0x50FF]
    assert research[0x50000022].value == "curve of [name]"  # clean-graphics: cleaned
    assert research[0x50003000].value == read(corpus.objects["a-study1-ct0"])[0x50003000].value
    assert "overlay removed" in runs["research"].reports["a-study1-ct0"].warnings[0]

    sc = read(corpus.objects["a-study1-sc"])
    plant_graphics(sc, A)
    options = (*RESEARCH, "clean-pixel-data")
    cleaner = FakePixelCleaner(overlays_cleaned=True)
    out = Deidentifier(Profile.from_options(options), KEY, pixel_cleaner=cleaner).deidentify(sc)
    assert out.dataset[0x60000022].value == "ROI by [name]"
    assert out.dataset[0x60003000].value  # the cleaner vouched for the bitmap


def test_objects_at_risk_need_a_pixel_cleaner(corpus: Corpus) -> None:
    options = (*RESEARCH, "clean-pixel-data")
    without = run(corpus, options)
    assert "no pixel cleaner is configured" in without.withheld["a-study1-sc"]
    assert "b-us" in without.withheld and "a-study1-ct0" in without.outputs

    cleaner = FakePixelCleaner()
    cleaned = run(corpus, options, pixel_cleaner=cleaner)
    for name in ("a-study1-sc", "b-us"):
        ds = cleaned.ds(name)
        assert ds.BurnedInAnnotation == "NO" and not any(ds.PixelData)
        assert cleaned.reports[name].pixels.startswith("cleaned")
        assert oracle_leaks(cleaned.outputs[name], corpus.planted) == set()
    assert any(MUELLER in k.names for k in cleaner.known)  # OCR gets the header's names
    assert len(cleaner.known) == 2  # and only objects at risk go through it

    plain = run(corpus, RESEARCH)
    assert "a-study1-sc" in plain.outputs
    assert plain.reports["a-study1-sc"].warnings == [
        "pixel data may show burned-in text (secondary capture); not cleaned"
    ]


def test_defacing_is_refused_rather_than_claimed() -> None:
    with pytest.raises(OptionUnavailable, match="defacing is not available"):
        Deidentifier(Profile.from_options(["clean-recognizable-visual-features"]), KEY)


def test_errors_carry_no_identifiers(corpus: Corpus) -> None:
    class Failing:
        def clean(self, text: str, known: KnownIdentifiers) -> str:
            raise ValueError(f"cannot clean {text!r} of {known.names}")

    engine = Deidentifier(Profile.from_options(RESEARCH), KEY, text_cleaner=Failing())
    with pytest.raises(RejectedObject) as caught:
        engine.deidentify_bytes(corpus.objects["a-study1-ct0"])
    assert str(caught.value) == "could not be de-identified: ValueError"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(RejectedObject, match="not a DICOM object"):
        engine.deidentify_bytes("Müller ".encode() * 100)


def test_identifiers_known_to_the_vault_are_cleaned_too(corpus: Corpus) -> None:
    ds = read(corpus.objects["a-study1-ct1"])
    ds.ImageComments = "compare with scan done for Obscurename last year: pneumonia"
    vault = KnownIdentifiers(names=("Obscurename^Alias",))
    engine = Deidentifier(Profile.from_options(RESEARCH), KEY, known_for=lambda key: vault)
    out = engine.deidentify_bytes(to_bytes(ds))[0]
    assert read(out).ImageComments == "compare with scan done for [name] last year: pneumonia"


def test_overrides_win_over_the_table(corpus: Corpus) -> None:
    profile = Profile.from_mapping(
        {
            "options": ["retain-safe-private"],
            "overrides": [
                {"keyword": "StudyDescription", "action": "keep"},
                {"keyword": "InstitutionName", "action": "replace", "value": "Site 7"},
                {"keyword": "Manufacturer", "action": "remove"},
                {"private_creator": "ACME PHI 1.0", "element": 0x12, "action": "keep"},
                {"private_creator": "GEMS_ACQU_01", "action": "remove"},
            ],
        }
    )
    result = Deidentifier(profile, KEY).deidentify_bytes(corpus.objects["a-study1-ct0"])
    ds = read(result[0])
    assert ds.StudyDescription == "CT Thorax Müller pneumonia left lower lobe"
    assert ds.InstitutionName == "Site 7" and "Manufacturer" not in ds
    assert ds.private_block(0x0029, "ACME PHI 1.0")[0x12].value == "3.5"
    assert 0x0029_1010 not in ds and not [t for t in tags(ds) if t.group == 0x0019]
    assert result[1].actions["override"] == 6  # per attribute: two in the GEMS block
    assert "with 5 project override(s)" in ds.DeidentificationMethod


def test_a_dataset_can_be_passed_directly(corpus: Corpus) -> None:
    source = read(corpus.objects["a-study1-ct0"])
    result = Deidentifier(Profile(), KEY).deidentify(source)
    assert result.dataset is source and result.report.sop_instance_uid == source.SOPInstanceUID
    assert json.loads(json.dumps(result.report.to_dict()))["options"] == ["basic"]
    assert np.frombuffer(result.to_bytes()[:128], np.uint8).sum() == 0
    assert "Müller" not in decoded_text(read(result.to_bytes()))


def test_the_vault_can_supply_date_offsets(corpus: Corpus) -> None:
    result = run(corpus, RESEARCH, date_offset_for=lambda key: -7)
    assert result.ds("a-study1-ct0").StudyDate == "20230224"
    assert result.ds("a-study1-sr").ContentSequence[2].Date == "20230224"
    with pytest.raises(RejectedObject, match="offset of 0 days"):
        engine = Deidentifier(Profile.from_options(RESEARCH), KEY, date_offset_for=lambda k: 0)
        engine.deidentify_bytes(corpus.objects["a-study1-ct0"])
