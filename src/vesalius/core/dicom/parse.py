"""Turn received bytes into a checked dataset and the facts the index needs.

Object identity (DESIGN.md contracts): the *content digest* is the SHA-256 of the
dataset as received without the File Meta group, so the same object arriving by
C-STORE (no File Meta), STOW-RS or import (Part 10 files) is recognised as one. The
*blob hash* is the SHA-256 of the bytes kept in the storage area.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Any

import pydicom
from pydicom import filereader
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import UID

from vesalius.core.dicom.dicom_json import dataset_to_json
from vesalius.core.errors import RejectedObject

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
REQUIRED_UIDS = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


@dataclass(frozen=True)
class ParsedObject:
    """What the intake pipeline needs to know of one received object (picklable)."""

    digest: str
    blob_hash: str
    size: int
    transfer_syntax_uid: str
    sop_class_uid: str
    sop_uid: str
    study_uid: str
    series_uid: str
    fields: dict[str, Any]
    dicom_json: dict[str, Any]


class MediaDirectory(RejectedObject):
    """A DICOMDIR: an index of a medium, not an object to archive."""


def dataset_offset(data: bytes) -> int:
    """Byte offset where the dataset starts, after any preamble and File Meta group."""
    fp = io.BytesIO(data)
    try:
        preamble = filereader.read_preamble(fp, force=True)
    except InvalidDicomError:
        return 0
    if preamble is None and data[:2] != b"\x02\x00":
        return 0
    filereader._read_file_meta_info(fp)  # no public API gives the offset
    return fp.tell()


def read_dataset(data: bytes) -> Dataset:
    """Read and fully decode a dataset, raising ``RejectedObject`` with a reason."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            try:
                ds = pydicom.dcmread(io.BytesIO(data))
            except InvalidDicomError:
                # objects without a preamble (old exports, raw C-STORE payloads)
                ds = pydicom.dcmread(io.BytesIO(data), force=True)
        except Exception as exc:
            raise RejectedObject(f"not readable as DICOM: {type(exc).__name__}") from exc
    if ds.file_meta.get("MediaStorageSOPClassUID") == MEDIA_STORAGE_DIRECTORY or (
        ds.get("SOPClassUID") == MEDIA_STORAGE_DIRECTORY
    ):
        raise MediaDirectory("a DICOMDIR media directory, not an image object")
    missing = [name for name in REQUIRED_UIDS if not str(ds.get(name, "") or "").strip()]
    if missing:
        if "SOPInstanceUID" in missing and "SOPClassUID" not in ds:
            raise RejectedObject("not a DICOM object: no SOP Class or SOP Instance UID found")
        raise RejectedObject(f"missing required attribute(s): {', '.join(missing)}")
    _check_pixel_data_length(ds)
    return ds


def _check_pixel_data_length(ds: Dataset) -> None:
    """A truncated file still parses; its native Pixel Data is then too short."""
    if "PixelData" not in ds:
        return
    ts = ds.file_meta.get("TransferSyntaxUID")
    if ts is not None and UID(ts).is_compressed:
        return
    try:
        expected = int(get_expected_length(ds))
    except Exception:
        return  # not enough pixel description to know; the object is kept as received
    actual = len(ds.PixelData)
    if actual < expected:
        raise RejectedObject(f"truncated: Pixel Data has {actual} bytes, {expected} expected")


def _text(ds: Dataset, keyword: str, limit: int = 200) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    return str(value).replace("\x00", "").strip()[:limit]


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def index_fields(ds: Dataset) -> dict[str, Any]:
    """The header values that the index keeps in columns for search and lists."""
    return {
        "patient_id": _text(ds, "PatientID", 64),
        "patient_name": _text(ds, "PatientName"),
        "birth_date": _text(ds, "PatientBirthDate", 8),
        "sex": _text(ds, "PatientSex", 16),
        "study_date": _text(ds, "StudyDate", 8),
        "study_time": _text(ds, "StudyTime", 16),
        "study_description": _text(ds, "StudyDescription"),
        "accession_number": _text(ds, "AccessionNumber", 64),
        "study_id": _text(ds, "StudyID", 64),
        "referring_physician": _text(ds, "ReferringPhysicianName"),
        "modality": _text(ds, "Modality", 16),
        "series_number": _int(ds, "SeriesNumber"),
        "series_description": _text(ds, "SeriesDescription"),
        "body_part": _text(ds, "BodyPartExamined", 64),
        "performed_start_date": _text(ds, "PerformedProcedureStepStartDate", 8),
        "performed_start_time": _text(ds, "PerformedProcedureStepStartTime", 16),
        "instance_number": _int(ds, "InstanceNumber"),
    }


def parse_object(data: bytes) -> ParsedObject:
    """Check one received object and compute its identity and index facts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # odd values are kept as received, not reported
        try:
            return _parse(data)
        except RejectedObject:
            raise
        except Exception as exc:  # pydicom meets every kind of broken file; none may stop intake
            raise RejectedObject(f"could not be parsed: {type(exc).__name__}") from exc


def _parse(data: bytes) -> ParsedObject:
    ds = read_dataset(data)
    try:
        dicom_json = dataset_to_json(ds)
    except Exception as exc:
        raise RejectedObject(f"attributes could not be decoded: {type(exc).__name__}") from exc
    offset = dataset_offset(data)
    ts = ds.file_meta.get("TransferSyntaxUID") or ""
    return ParsedObject(
        digest=hashlib.sha256(memoryview(data)[offset:]).hexdigest(),
        blob_hash=hashlib.sha256(data).hexdigest(),
        size=len(data),
        transfer_syntax_uid=str(ts),
        sop_class_uid=_text(ds, "SOPClassUID", 64),
        sop_uid=_text(ds, "SOPInstanceUID", 64),
        study_uid=_text(ds, "StudyInstanceUID", 64),
        series_uid=_text(ds, "SeriesInstanceUID", 64),
        fields=index_fields(ds),
        dicom_json=dicom_json,
    )
