"""What PS3.15 E.1.1 asks a de-identifier to write: the marks and a new File Meta.

Patient Identity Removed YES; De-identification Method (text) and its Code Sequence (CID
7050: 113100 plus one code per option applied); Longitudinal Temporal Information Modified.
The File Meta Information and the preamble are replaced by a description of vesalius
(E.1.1 item 7): nothing of the sending application survives, and the Media Storage SOP
Instance UID is the (pseudonymous) SOP Instance UID. Marks already present from an
earlier de-identification are kept and ours added, never duplicated.
"""

from __future__ import annotations

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from vesalius import __version__
from vesalius.deid.profile import OPTION_CODES, Option, Profile

IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1452.1"  # vesalius' UID branch
IMPLEMENTATION_VERSION_NAME = f"VESALIUS_{__version__}"[:16]
PREAMBLE = b"\x00" * 128


def longitudinal_status(profile: Profile) -> str:
    if profile.has(Option.RETAIN_LONGITUDINAL_MODIFIED_DATES):
        return "MODIFIED"
    if profile.has(Option.RETAIN_LONGITUDINAL_FULL_DATES):
        return "UNMODIFIED"
    return "REMOVED"


def method_text(profile: Profile, table_edition: str) -> list[str]:
    """De-identification Method values (LO, 64 characters each)."""
    values = [f"vesalius PS3.15 Table E.1-1 {table_edition}"]
    values += [OPTION_CODES[o][1] for o in profile.ordered_options]
    if profile.overrides:
        values.append(f"with {len(profile.overrides)} project override(s)")
    return [v[:64] for v in values]


def _values(ds: Dataset, keyword: str) -> list[str]:
    value = ds.get(keyword)
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def add_marks(ds: Dataset, profile: Profile, table_edition: str) -> None:
    ds.PatientIdentityRemoved = "YES"
    existing = _values(ds, "DeidentificationMethod")
    ours = method_text(profile, table_edition)
    ds.DeidentificationMethod = list(dict.fromkeys([*existing, *ours]))
    codes = ds.get("DeidentificationMethodCodeSequence") or []
    present = {(str(i.get("CodeValue")), str(i.get("CodingSchemeDesignator"))) for i in codes}
    items = list(codes)
    for option in profile.ordered_options:
        value, meaning = OPTION_CODES[option]
        if (value, "DCM") in present:
            continue
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = items
    status = longitudinal_status(profile)
    previous = str(ds.get("LongitudinalTemporalInformationModified", "") or "")
    if not (previous == "MODIFIED" and status == "UNMODIFIED"):
        ds.LongitudinalTemporalInformationModified = status


def transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("TransferSyntaxUID"):
        return str(meta.TransferSyntaxUID)
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRBigEndian if little is False else ExplicitVRLittleEndian


def replace_file_meta(ds: Dataset) -> None:
    """A File Meta that names vesalius and the object's (new) identity, nothing else."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax(ds)
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.file_meta = meta
    ds.preamble = PREAMBLE
