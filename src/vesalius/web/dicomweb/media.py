"""Media types of DICOMweb (PS3.18 8.7): Accept negotiation and multipart bodies.

Header values are parsed here once: media ranges with their parameters (quoted or not)
and quality values, the ``multipart/related`` responses that WADO-RS writes, and a
streaming reader for the ``multipart/related`` request bodies that STOW-RS receives
(chunked or not, any size: parts are handed over as soon as they are complete).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from vesalius.core.errors import InvalidInput, VesaliusError

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
OCTET_STREAM = "application/octet-stream"
MULTIPART = "multipart/related"


class NotAcceptable(VesaliusError):
    """None of the media types (or transfer syntaxes) in Accept can be produced."""

    status = 406
    title = "Not acceptable"


class UnsupportedMediaType(VesaliusError):
    """A request body in a media type this service does not take."""

    status = 415
    title = "Unsupported media type"


@dataclass(frozen=True)
class MediaRange:
    """One media type or range from a header, with lower-case parameter names."""

    type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    def matches(self, media_type: str) -> bool:
        """Whether this range (``*/*``, ``image/*`` or exact) covers ``media_type``."""
        if self.type == "*/*":
            return True
        major, _, minor = self.type.partition("/")
        if minor == "*":
            return media_type.split("/", 1)[0] == major
        return self.type == media_type


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double quotes."""
    parts, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            current.append(char)
            escaped = True
        elif char == '"':
            quoted = not quoted
            current.append(char)
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def parse_media_type(text: str) -> MediaRange:
    """``type/subtype; name=value; ...`` (a Content-Type value, or one Accept element)."""
    head, *rest = _split(text, ";")
    params: dict[str, str] = {}
    q = 1.0
    for item in rest:
        if not item:
            continue
        name, _, value = item.partition("=")
        name = name.strip().lower()
        if name == "q":
            try:
                q = float(value)
            except ValueError as exc:
                raise InvalidInput(f"invalid quality value {value!r} in a media range") from exc
        else:
            params[name] = _unquote(value)
    return MediaRange(head.strip().lower(), params, q)


def parse_accept(header: str | None) -> list[MediaRange]:
    """Media ranges of an Accept header, most preferred first; none given means ``*/*``."""
    if not header or not header.strip():
        return [MediaRange("*/*")]
    ranges = [parse_media_type(part) for part in _split(header, ",") if part]
    return sorted((r for r in ranges if r.q > 0), key=lambda r: -r.q)


def negotiate(header: str | None, offered: list[str]) -> str:
    """The first of ``offered`` (single-part media types) that Accept allows; else 406."""
    for media_range in parse_accept(header):
        for media_type in offered:
            if media_range.matches(media_type):
                return media_type
    raise NotAcceptable(f"this resource is available as {', '.join(offered)}")


@dataclass(frozen=True)
class PartRange:
    """What a client accepts inside ``multipart/related``: a part type and transfer syntax.

    ``transfer_syntax`` is None when the range names none (the media type's default
    applies), ``"*"`` for any.
    """

    type: str
    transfer_syntax: str | None


def multipart_ranges(header: str | None) -> list[PartRange]:
    """The part types a multipart resource may be sent in, most preferred first.

    ``multipart/related; type="X"; transfer-syntax=T`` gives ``(X, T)``; ``*/*`` and
    ``multipart/related`` without a type give ``("*/*", None)``. A bare single-part
    type (``application/dicom``) is not acceptable for a multipart resource.
    """
    out = []
    for media_range in parse_accept(header):
        if media_range.type == "*/*" or (
            media_range.type in (MULTIPART, "multipart/*") and "type" not in media_range.params
        ):
            out.append(PartRange("*/*", media_range.params.get("transfer-syntax")))
        elif media_range.type in (MULTIPART, "multipart/*"):
            part_type = media_range.params["type"].strip().lower()
            out.append(PartRange(part_type, media_range.params.get("transfer-syntax")))
    return out


def new_boundary() -> str:
    return uuid.uuid4().hex


def multipart_content_type(part_type: str, boundary: str) -> str:
    return f'{MULTIPART}; type="{part_type}"; boundary={boundary}'


def multipart_stream(parts: Iterable[tuple[str, bytes]], boundary: str) -> Iterator[bytes]:
    """Encode ``(content type, bytes)`` parts as a multipart/related body, part by part."""
    marker = b"--" + boundary.encode("ascii")
    for content_type, data in parts:
        yield marker + b"\r\nContent-Type: " + content_type.encode("ascii") + b"\r\n\r\n"
        yield data
        yield b"\r\n"
    yield marker + b"--\r\n"


@dataclass(frozen=True)
class Part:
    headers: dict[str, str]
    data: bytes

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


MAX_HEADER_BYTES = 16 * 1024


class MultipartReader:
    """Incremental ``multipart/related`` parser (RFC 2046 5.1): feed bytes, get parts.

    Tolerates a preamble (dicomweb-client starts its bodies with CRLF), transport
    padding after boundaries and an epilogue. Raises ``InvalidInput`` on bodies that
    are not multipart or end before the closing boundary (see :meth:`close`).
    """

    def __init__(self, boundary: str) -> None:
        if not boundary or len(boundary) > 200:
            raise InvalidInput("the multipart boundary is missing or too long")
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        # A body may open with the boundary itself: pretend a CRLF came before it.
        self._buffer = bytearray(b"\r\n")
        self._state = "preamble"
        self._part_headers: dict[str, str] = {}
        self._search_from = 0
        self.parts_seen = 0

    @property
    def finished(self) -> bool:
        return self._state == "done"

    def feed(self, chunk: bytes) -> list[Part]:
        self._buffer += chunk
        parts: list[Part] = []
        while True:
            step = getattr(self, f"_in_{self._state}")()
            if step is None:
                return parts
            if isinstance(step, Part):
                parts.append(step)

    def close(self) -> None:
        if self._state != "done":
            if self.parts_seen == 0 and self._state == "preamble":
                raise InvalidInput("the body holds no part delimited by the declared boundary")
            raise InvalidInput("the multipart body ends before its closing boundary")

    # Each state consumes what it can and returns True (go on), a Part, or None (need more).
    def _in_preamble(self) -> bool | None:
        at = self._buffer.find(self._delimiter)
        if at < 0:
            keep = len(self._delimiter) - 1
            if len(self._buffer) > keep:
                del self._buffer[: len(self._buffer) - keep]
            return None
        del self._buffer[: at + len(self._delimiter)]
        self._state = "boundary"
        return True

    def _in_boundary(self) -> bool | None:
        if len(self._buffer) < 2:
            return None
        if self._buffer.startswith(b"--"):
            self._state = "done"
            return True
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise InvalidInput("malformed multipart boundary line")
            return None
        if self._buffer[:end].strip(b" \t"):
            raise InvalidInput("malformed multipart boundary line")
        del self._buffer[: end + 2]
        self._state = "headers"
        return True

    def _in_headers(self) -> bool | None:
        if self._buffer.startswith(b"\r\n"):
            raw, skip = b"", 2
        else:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    raise InvalidInput("multipart part headers are too long")
                return None
            raw, skip = bytes(self._buffer[:end]), end + 4
        headers: dict[str, str] = {}
        for line in filter(None, raw.decode("latin-1").split("\r\n")):
            name, sep, value = line.partition(":")
            if not sep:
                raise InvalidInput("malformed multipart part header")
            headers[name.strip().lower()] = value.strip()
        del self._buffer[:skip]
        self._part_headers = headers
        self._search_from = 0
        self._state = "body"
        return True

    def _in_body(self) -> Part | None:
        at = self._buffer.find(self._delimiter, self._search_from)
        if at < 0:
            self._search_from = max(0, len(self._buffer) - len(self._delimiter) + 1)
            return None
        part = Part(self._part_headers, bytes(self._buffer[:at]))
        del self._buffer[: at + len(self._delimiter)]
        self._state = "boundary"
        self.parts_seen += 1
        return part

    def _in_done(self) -> None:
        self._buffer.clear()
        return None
