"""C-FIND as an SCP (Patient Root and Study Root), over the shared query engine.

The request identifier becomes a :class:`vesalius.archive.query.Query`: every attribute
with a value is a matching key (wildcards, ranges and UID lists are the engine's
business), every attribute is a return key. Each response carries exactly the
attributes asked for (empty when the archive has no value), the Query/Retrieve Level,
Retrieve AE Title (the project's AE title) when asked, and Specific Character Set
(ISO_IR 192) when asked for or when a value needs more than ASCII.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)

from vesalius.archive.query import Query, search
from vesalius.core.errors import InvalidInput
from vesalius.core.home import Home
from vesalius.dimse.admission import Admission

log = logging.getLogger("vesalius.dimse")

PENDING = 0xFF00
CANCELLED = 0xFE00
NOT_AUTHORISED = 0x0124
IDENTIFIER_DOES_NOT_MATCH = 0xA900
UNABLE_TO_PROCESS = 0xC001

LEVELS = {
    PatientRootQueryRetrieveInformationModelFind: ("PATIENT", "STUDY", "SERIES", "IMAGE"),
    StudyRootQueryRetrieveInformationModelFind: ("STUDY", "SERIES", "IMAGE"),
}
QUERY_RETRIEVE_LEVEL = Tag("QueryRetrieveLevel")
SPECIFIC_CHARACTER_SET = Tag("SpecificCharacterSet")
RETRIEVE_AE_TITLE = Tag("RetrieveAETitle")
TEXT_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"}


class BadIdentifier(Exception):
    """The identifier does not fit the information model (a 0xA900 failure)."""


def match_string(value: Any) -> str:
    """An element's value as the DICOM match string it was sent as."""
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(match_string(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace")
    return str(value)


def identifier_query(identifier: Dataset, model: str) -> tuple[Query, str]:
    """The query an identifier asks for, and its level."""
    level = match_string(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    if level not in LEVELS.get(model, ()):
        raise BadIdentifier(f"query level {level!r} is not part of this information model")
    filters: dict[str, str] = {}
    for elem in identifier:
        if elem.tag in (QUERY_RETRIEVE_LEVEL, SPECIFIC_CHARACTER_SET) or elem.tag.is_private:
            continue
        if not elem.keyword:
            continue
        filters[elem.keyword] = "" if elem.VR == "SQ" else match_string(elem.value)
    query = Query(level=level, filters=filters, return_keys=list(filters))  # type: ignore[arg-type]
    return query, level


def response(identifier: Dataset, match: dict[str, Any], level: str, retrieve_ae: str) -> Dataset:
    """The response identifier: exactly the requested attributes, valued from ``match``."""
    found = Dataset.from_json(match)
    out = Dataset()
    for elem in identifier:
        tag = elem.tag
        if tag in (QUERY_RETRIEVE_LEVEL, SPECIFIC_CHARACTER_SET):
            continue
        if tag == RETRIEVE_AE_TITLE:
            out.RetrieveAETitle = retrieve_ae
        elif tag in found:
            out[tag] = found[tag]
        elif elem.VR == "SQ":
            out.add_new(tag, "SQ", [])
        else:
            out.add_new(tag, elem.VR, None)
    out.QueryRetrieveLevel = level
    wide = any(
        e.VR in TEXT_VRS and e.value is not None and not match_string(e.value).isascii()
        for e in out
    )
    if SPECIFIC_CHARACTER_SET in identifier or wide:
        out.SpecificCharacterSet = "ISO_IR 192"
    return out


class FindService:
    def __init__(self, home: Home, admission: Admission) -> None:
        self.home = home
        self.admission = admission

    def on_find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        peer = self.admission.peer(event.assoc)
        if peer is None:
            yield NOT_AUTHORISED, None
            return
        try:
            identifier = event.identifier
            query, level = identifier_query(identifier, str(event.request.AffectedSOPClassUID))
            with self.home.db.read() as session:
                matches = search(session, project_ids=[peer.principal.project_id], query=query)
        except (BadIdentifier, InvalidInput) as exc:
            log.info("C-FIND refused: %s", exc)
            yield IDENTIFIER_DOES_NOT_MATCH, None
            return
        except Exception:
            log.exception("C-FIND failed")
            yield UNABLE_TO_PROCESS, None
            return
        peer.count(queries=1)
        for match in matches:
            if event.is_cancelled:
                yield CANCELLED, None
                return
            yield PENDING, response(identifier, match, level, peer.principal.called_ae)
