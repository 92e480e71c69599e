"""WADO-RS frames and rendered images of one instance.

Frames of a native object go out as ``application/octet-stream`` (little endian).
Frames of an encapsulated object go out compressed, as stored, in their media type
(``image/jpeg``, ``image/jp2`` …) or as ``application/octet-stream; transfer-syntax=<ts>``
when the client asks for octet-stream with ``transfer-syntax=*`` (as OHIF does); a client
that takes uncompressed octet-stream only gets them decoded.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydicom.dataset import Dataset

from vesalius.core.errors import InvalidInput, NotFound, VesaliusError
from vesalius.web.deps import DB
from vesalius.web.dicomweb import media, pixels, render
from vesalius.web.dicomweb.scope import ScopeDep, StoredObject, find_objects

router = APIRouter()

NATIVE, RAW, DECODE = "native", "raw", "decode"
UNCOMPRESSED = f"{media.OCTET_STREAM}; transfer-syntax={pixels.ExplicitVRLittleEndian}"


def plan_frames(ranges: list[media.PartRange], syntax: str) -> tuple[str, str]:
    """How frames stored in ``syntax`` are sent: (mode, part content type); else 406."""
    native = not syntax or pixels.is_native(syntax)
    compressed_type = pixels.MEDIA_TYPES.get(syntax)
    for part in ranges:
        wanted, ts = part.type, part.transfer_syntax
        octet = wanted in (media.OCTET_STREAM, "application/*")
        if native:
            if (octet or wanted == "*/*") and ts in (None, "*", pixels.ExplicitVRLittleEndian):
                return NATIVE, UNCOMPRESSED
            continue
        if octet and ts in ("*", syntax):
            return RAW, f"{media.OCTET_STREAM}; transfer-syntax={syntax}"
        matches = compressed_type and media.MediaRange(wanted).matches(compressed_type)
        if matches and ts in (None, "*", syntax):
            return RAW, f"{compressed_type}; transfer-syntax={syntax}"
        uncompressed = ts in (None, pixels.ExplicitVRLittleEndian)
        if (octet or wanted == "*/*") and uncompressed and pixels.can_decode(syntax):
            return DECODE, UNCOMPRESSED
    offered = "application/octet-stream"
    if compressed_type:
        offered = f"{compressed_type} or application/octet-stream"
    raise media.NotAcceptable(f"frames of this instance are available as {offered}")


def frame_parts(
    ds: Dataset, numbers: list[int], mode: str, content_type: str
) -> Iterator[tuple[str, bytes]]:
    extract = {
        NATIVE: pixels.native_frame,
        RAW: pixels.encapsulated_frame,
        DECODE: pixels.decoded_frame,
    }[mode]
    for number in numbers:
        try:
            yield content_type, extract(ds, number)
        except pixels.Unreadable as exc:
            if mode == DECODE:
                raise media.NotAcceptable(
                    f"frame {number} cannot be decoded here ({exc}); accept its compressed form"
                ) from exc
            raise VesaliusError(f"frame {number} cannot be read ({exc})") from exc


def load(request: Request, obj: StoredObject) -> Dataset:
    data = request.app.state.home.store.get(obj.blob_hash)
    try:
        return pixels.read(data)
    except pixels.Unreadable as exc:
        raise NotFound("the stored object cannot be read") from exc


def _syntax(ds: Dataset, obj: StoredObject) -> str:
    return str(ds.file_meta.get("TransferSyntaxUID", "") or obj.transfer_syntax_uid)


@router.get("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}")
def retrieve_frames(
    study: str,
    series: str,
    instance: str,
    frames: str,
    request: Request,
    session: DB,
    scope: ScopeDep,
) -> Response:
    numbers = pixels.parse_frame_list(frames)
    (obj,) = find_objects(session, scope, study, series, instance)
    ds = load(request, obj)
    pixels.check_frames(ds, numbers)
    mode, part_type = plan_frames(
        media.multipart_ranges(request.headers.get("accept")), _syntax(ds, obj)
    )
    boundary = media.new_boundary()
    body = b"".join(media.multipart_stream(frame_parts(ds, numbers, mode, part_type), boundary))
    return Response(
        body, media_type=media.multipart_content_type(part_type.split(";", 1)[0], boundary)
    )


def rendered(request: Request, obj: StoredObject, number: int) -> Response:
    media_type = media.negotiate(request.headers.get("accept"), ["image/jpeg", "image/png"])
    options = render.options_from_query(request.query_params)
    ds = load(request, obj)
    pixels.check_frames(ds, [number])
    try:
        body = render.render(ds, number, options, media_type)
    except render.Undecodable as exc:
        raise NotFound(f"this instance cannot be rendered ({exc})") from exc
    return Response(body, media_type=media_type)


@router.get("/studies/{study}/series/{series}/instances/{instance}/rendered")
def instance_rendered(
    study: str, series: str, instance: str, request: Request, session: DB, scope: ScopeDep
) -> Response:
    """The first frame as PNG or JPEG (``window``, ``viewport``, ``quality``)."""
    (obj,) = find_objects(session, scope, study, series, instance)
    return rendered(request, obj, 1)


@router.get("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered")
def frame_rendered(
    study: str,
    series: str,
    instance: str,
    frames: str,
    request: Request,
    session: DB,
    scope: ScopeDep,
) -> Response:
    numbers = pixels.parse_frame_list(frames)
    if len(numbers) != 1:
        raise InvalidInput("a rendered frame is one frame number")
    (obj,) = find_objects(session, scope, study, series, instance)
    return rendered(request, obj, numbers[0])
