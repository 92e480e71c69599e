"""WADO-RS: instances as Part 10 files, metadata from the index, bulk data by URI.

Instances go out as ``multipart/related; type="application/dicom"``, each part the
stored bytes unchanged when Accept allows their transfer syntax (or ``*``), otherwise
transcoded to Explicit/Implicit VR Little Endian if the pixels can be decoded; a
syntax that can be neither is answered 406 before anything is sent.

``/metadata`` never reads a stored file: it serves each instance's DICOM JSON from the
index (one query for the whole study or series), with every ``BulkDataURI`` made an
absolute URL of :func:`bulkdata`.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from sqlalchemy.orm import Session

from vesalius.core.errors import NotFound, StorageError
from vesalius.core.model import Instance, Series
from vesalius.web.deps import DB
from vesalius.web.dicomweb import media, pixels
from vesalius.web.dicomweb.frames import frame_parts, plan_frames
from vesalius.web.dicomweb.scope import (
    Scope,
    ScopeDep,
    StoredObject,
    find_objects,
    instance_rows,
)

log = logging.getLogger(__name__)
router = APIRouter()

AS_STORED = ""
AVAILABLE_TRANSFER_SYNTAX = "00083002"
HEX = frozenset("0123456789abcdefABCDEF")


def acceptable_syntaxes(accept: str | None) -> list[str]:
    """Transfer syntaxes the client takes application/dicom parts in (``*`` = any)."""
    out = []
    for part in media.multipart_ranges(accept):
        if part.type in (media.DICOM, "application/*", "*/*"):
            if part.type == "*/*" and part.transfer_syntax is None:
                out.append("*")  # no preference at all: as stored
            else:
                out.append(part.transfer_syntax or pixels.ExplicitVRLittleEndian)
    if not out:
        raise media.NotAcceptable(
            'instances are sent as multipart/related; type="application/dicom"'
        )
    return out


def plan(stored: str, acceptable: list[str]) -> str | None:
    """AS_STORED, a transfer syntax to transcode to, or None if none fits."""
    for syntax in acceptable:
        if syntax == "*" or (stored and syntax == stored):
            return AS_STORED
        if pixels.can_transcode(stored, syntax):
            return syntax
    return None


def _instance_parts(
    request: Request, objects: list[StoredObject], plans: list[str]
) -> Iterator[tuple[str, bytes]]:
    store = request.app.state.home.store
    for obj, target in zip(objects, plans, strict=True):
        try:
            data = store.get(obj.blob_hash)
            if target == AS_STORED:
                body = pixels.as_part10(data, obj.transfer_syntax_uid)
                syntax = obj.transfer_syntax_uid
            else:
                body, syntax = pixels.transcode(data, target), target
        except (StorageError, pixels.Unreadable) as exc:
            # headers are sent: leave the part out and say so in the log (UIDs only)
            log.error("WADO-RS: instance %s left out: %s", obj.sop_uid, type(exc).__name__)
            continue
        content_type = media.DICOM + (f"; transfer-syntax={syntax}" if syntax else "")
        yield content_type, body


def retrieve(request: Request, session: Session, objects: list[StoredObject]) -> Response:
    session.close()  # what follows reads the storage area only; free the connection
    acceptable = acceptable_syntaxes(request.headers.get("accept"))
    plans = [plan(obj.transfer_syntax_uid, acceptable) for obj in objects]
    refused = {o.transfer_syntax_uid for o, p in zip(objects, plans, strict=True) if p is None}
    if refused:
        raise media.NotAcceptable(
            f"stored in transfer syntax {', '.join(sorted(refused))}, which cannot be "
            "converted to the requested one(s); accept transfer-syntax=* for the stored form"
        )
    parts = _instance_parts(request, objects, [p or AS_STORED for p in plans])
    first = next(parts, None)  # fail with a proper status while one still can
    if first is None:  # the index names objects the storage area cannot give
        raise StorageError("the stored object(s) could not be read")
    boundary = media.new_boundary()

    def chain() -> Iterator[tuple[str, bytes]]:
        yield first
        yield from parts

    return StreamingResponse(
        media.multipart_stream(chain(), boundary),
        media_type=media.multipart_content_type(media.DICOM, boundary),
    )


@router.get("/studies/{study}")
def retrieve_study(study: str, request: Request, session: DB, scope: ScopeDep) -> Response:
    return retrieve(request, session, find_objects(session, scope, study))


@router.get("/studies/{study}/series/{series}")
def retrieve_series(
    study: str, series: str, request: Request, session: DB, scope: ScopeDep
) -> Response:
    return retrieve(request, session, find_objects(session, scope, study, series))


@router.get("/studies/{study}/series/{series}/instances/{instance}")
def retrieve_instance(
    study: str, series: str, instance: str, request: Request, session: DB, scope: ScopeDep
) -> Response:
    return retrieve(request, session, find_objects(session, scope, study, series, instance))


# --- metadata ---------------------------------------------------------------------


def with_bulk_urls(dicom_json: dict[str, Any], instance_url: str) -> dict[str, Any]:
    """A copy whose ``BulkDataURI`` values are absolute URLs of the bulkdata resource.

    The index stores ``bulkdata/<TAG>`` relative to the instance; nested elements get
    their path through the sequence (``<SQ>/<item>/<TAG>``) so that each URI names one
    value.
    """
    out = copy.deepcopy(dicom_json)
    _absolute_bulk_urls(out, instance_url, "")
    return out


def _absolute_bulk_urls(dataset: dict[str, Any], instance_url: str, prefix: str) -> None:
    """:func:`with_bulk_urls` in place (for JSON decoded for this response only)."""
    for tag, element in dataset.items():
        if not isinstance(element, dict):
            continue
        if "BulkDataURI" in element:
            element["BulkDataURI"] = f"{instance_url}/bulkdata/{prefix}{tag}"
        if element.get("vr") == "SQ":
            for index, item in enumerate(element.get("Value") or []):
                if isinstance(item, dict):
                    _absolute_bulk_urls(item, instance_url, f"{prefix}{tag}/{index}/")


def _metadata_rows(
    session: Session,
    scope: Scope,
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
) -> list[Any]:
    """(series UID, SOP UID, transfer syntax, DICOM JSON) of the latest version of every
    instance under the path, in one query, ordered as :func:`find_objects` orders them;
    404 if the path names none."""
    return instance_rows(
        session,
        scope,
        study_uid,
        series_uid,
        sop_uid,
        Series.series_uid,
        Instance.sop_uid,
        Instance.transfer_syntax_uid,
        Instance.dicom_json,
    )


def metadata(
    request: Request,
    session: Session,
    scope: Scope,
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
) -> Response:
    rows = _metadata_rows(session, scope, study_uid, series_uid, sop_uid)
    session.close()  # the rest is building the body; free the connection
    media_type = media.negotiate(
        request.headers.get("accept"), [media.DICOM_JSON, "application/json"]
    )
    items = []
    for series, sop, syntax, item in rows:  # each row's JSON was decoded for this request
        _absolute_bulk_urls(item, scope.instance_url(study_uid, series, sop), "")
        if syntax and AVAILABLE_TRANSFER_SYNTAX not in item:
            item[AVAILABLE_TRANSFER_SYNTAX] = {"vr": "UI", "Value": [syntax]}
        items.append(dict(sorted(item.items())))
    body = json.dumps(items, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, media_type=media_type)


@router.get("/studies/{study}/metadata")
def study_metadata(study: str, request: Request, session: DB, scope: ScopeDep) -> Response:
    return metadata(request, session, scope, study)


@router.get("/studies/{study}/series/{series}/metadata")
def series_metadata(
    study: str, series: str, request: Request, session: DB, scope: ScopeDep
) -> Response:
    return metadata(request, session, scope, study, series)


@router.get("/studies/{study}/series/{series}/instances/{instance}/metadata")
def instance_metadata(
    study: str, series: str, instance: str, request: Request, session: DB, scope: ScopeDep
) -> Response:
    return metadata(request, session, scope, study, series, instance)


# --- bulk data --------------------------------------------------------------------


def _element(ds: Dataset, path: str) -> tuple[Dataset, Any]:
    """The element at ``TAG`` or ``SQTAG/ITEM/TAG/...``, with the dataset holding it."""
    segments = path.strip("/").split("/")
    tags_ok = all(len(t) == 8 and all(c in HEX for c in t) for t in segments[::2])
    if len(segments) % 2 != 1 or not tags_ok or not all(i.isdigit() for i in segments[1::2]):
        raise NotFound("no bulk data at this path")
    current = ds
    try:
        for i in range(0, len(segments) - 1, 2):
            sequence = current[Tag(int(segments[i], 16))]
            current = sequence.value[int(segments[i + 1])]
        element = current[Tag(int(segments[-1], 16))]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise NotFound("no bulk data at this path") from exc
    return current, element


@router.get("/studies/{study}/series/{series}/instances/{instance}/bulkdata/{path:path}")
def bulkdata(
    study: str,
    series: str,
    instance: str,
    path: str,
    request: Request,
    session: DB,
    scope: ScopeDep,
) -> Response:
    (obj,) = find_objects(session, scope, study, series, instance)
    data = request.app.state.home.store.get(obj.blob_hash)
    try:
        ds = pixels.read(data)
    except pixels.Unreadable as exc:
        raise NotFound("the stored object cannot be read") from exc
    holder, element = _element(ds, path)
    ranges = media.multipart_ranges(request.headers.get("accept"))
    boundary = media.new_boundary()
    is_pixels = holder is ds and element.keyword in pixels.PIXEL_KEYWORDS
    if is_pixels:
        # pixel data: as frames, compressed or not as the client accepts
        syntax = str(ds.file_meta.get("TransferSyntaxUID", "") or obj.transfer_syntax_uid)
        mode, part_type = plan_frames(ranges, syntax)
        numbers = list(range(1, pixels.frame_count(ds) + 1))
        parts = list(frame_parts(ds, numbers, mode, part_type))
    else:
        if element.VR == "SQ" or not isinstance(element.value, bytes | bytearray):
            raise NotFound("no bulk data at this path")
        if not any(
            r.type in (media.OCTET_STREAM, "application/*", "*/*")
            and r.transfer_syntax in (None, "*", pixels.ExplicitVRLittleEndian)
            for r in ranges
        ):
            raise media.NotAcceptable(
                'bulk data is sent as multipart/related; type="application/octet-stream"'
            )
        part_type = media.OCTET_STREAM
        parts = [(part_type, bytes(element.value))]
    main_type = part_type.split(";", 1)[0]
    return Response(
        b"".join(media.multipart_stream(parts, boundary)),
        media_type=media.multipart_content_type(main_type, boundary),
    )
