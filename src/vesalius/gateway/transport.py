"""The port to the central archive: send one batch by STOW-RS, read back what was stored.

:class:`StowTransport` is the port (the worker knows nothing of HTTP); the tests give it
an in-memory double. :class:`HttpStowTransport` is the real one: httpx over HTTPS with
certificate verification (a private CA by ``ca_file``), bearer token, the site code in
an ``X-Vesalius-Site`` header (the central records which site sent what), a
``multipart/related; type="application/dicom"`` body per batch.

Delivery is confirmed from the STOW-RS response (PS3.18 10.5.3): an object is delivered
when its SOP Instance UID is in the Referenced SOP Sequence (stored, a duplicate or a new
version all count), and refused when it is in the Failed SOP Sequence, whose Failure
Reason says whether trying again can help. Everything lower (connection refused, TLS,
HTTP status) becomes a :class:`~vesalius.core.errors.DeliveryError` with a reason fit
for the gateway's status: no header values, no PHI.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from vesalius.core.errors import ConfigError, DeliveryError
from vesalius.core.secret_files import require_owner_only

REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"
ERROR_COMMENT = "00000902"
SITE_HEADER = "X-Vesalius-Site"  # the gateway's site code, recorded by the central archive

# Failure Reasons (PS3.18 Table I.2-2) after which sending the same bytes again cannot
# help: the central archive quarantined the object (0xC000), does not take its class
# (0x0122) or sees it in another study (0xA900). Anything else is tried again later.
PERMANENT_FAILURES = {0xC000: "cannot understand", 0x0122: "SOP class not supported",
                      0xA900: "study mismatch"}  # fmt: skip


@dataclass(frozen=True)
class Refusal:
    code: int
    comment: str

    @property
    def permanent(self) -> bool:
        return self.code in PERMANENT_FAILURES or self.code >> 12 == 0xC

    @property
    def reason(self) -> str:
        label = PERMANENT_FAILURES.get(self.code, "failure")
        text = f"central refused (0x{self.code:04X} {label})"
        return f"{text}: {self.comment}" if self.comment else text


@dataclass
class StowResult:
    """What the central archive said about each object of one batch, by SOP Instance UID."""

    stored: set[str] = field(default_factory=set)
    refused: dict[str, Refusal] = field(default_factory=dict)


class StowTransport(Protocol):
    def send(self, parts: Sequence[bytes]) -> StowResult:
        """Send Part 10 objects in one STOW-RS request; raises DeliveryError."""
        ...

    def close(self) -> None: ...


def read_token(path: Path) -> str:
    """The bearer token from a file only its owner can read (0600); refused otherwise,
    naming the path and never the content."""
    require_owner_only(path, what="the token file")
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the token file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the token file is not text") from None
    if not token or any(c.isspace() for c in token):
        raise ConfigError(f"{path}: the token file must hold one token")
    return token


def ssl_verification(ca_file: Path | None) -> ssl.SSLContext | bool:
    """Certificate verification always on: the system's CAs, or only ``ca_file``'s."""
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{ca_file}: cannot load the CA certificates ({exc})") from None


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _transport_reason(exc: httpx.HTTPError) -> str:
    for link in _cause_chain(exc):
        if isinstance(link, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
            link
        ):
            return (
                "TLS: the central archive's certificate could not be verified "
                "(a private CA needs --ca-file)"
            )
        if isinstance(link, ssl.SSLError):
            return f"TLS: handshake with the central archive failed ({type(link).__name__})"
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return "central archive unreachable (connection failed)"
    if isinstance(exc, httpx.TimeoutException):
        return "central archive did not answer in time"
    return f"connection to the central archive lost ({type(exc).__name__})"


def parse_response(body: Any) -> StowResult:
    """The stored and refused SOP Instance UIDs of a STOW-RS response body (DICOM JSON)."""
    if not isinstance(body, dict):
        raise DeliveryError("unreadable STOW-RS response from the central archive")
    result = StowResult()
    for item in (body.get(REFERENCED_SOP_SEQUENCE) or {}).get("Value") or []:
        uid = _first(item, REFERENCED_SOP_INSTANCE_UID)
        if uid:
            result.stored.add(str(uid))
    for item in (body.get(FAILED_SOP_SEQUENCE) or {}).get("Value") or []:
        uid = _first(item, REFERENCED_SOP_INSTANCE_UID)
        if uid:
            code = _first(item, FAILURE_REASON)
            comment = _first(item, ERROR_COMMENT)
            result.refused[str(uid)] = Refusal(
                int(code) if isinstance(code, int) else 0x0110,
                " ".join(str(comment).split())[:300] if comment else "",
            )
    return result


def _first(item: Any, tag: str) -> Any:
    if not isinstance(item, dict):
        return None
    values = (item.get(tag) or {}).get("Value") or []
    return values[0] if values else None


class HttpStowTransport:
    """STOW-RS to ``{central}/dicom-web/projects/{project}/studies`` with httpx."""

    def __init__(
        self,
        central: str,
        project: str,
        token: str,
        *,
        ca_file: Path | None = None,
        timeout: float = 300.0,
        client: httpx.Client | None = None,
        site: str | None = None,
    ) -> None:
        if not central.startswith(("https://", "http://")):
            raise ConfigError("--central must be an https:// (or http://) URL")
        self.url = f"{central.rstrip('/')}/dicom-web/projects/{quote(project, safe='')}/studies"
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/dicom+json"}
        if site:  # the central records which site sent each object (a code, never PHI)
            headers[SITE_HEADER] = site
        self._client = client or httpx.Client(
            verify=ssl_verification(ca_file),
            timeout=httpx.Timeout(timeout, connect=10.0),
            headers=headers,
        )

    def close(self) -> None:
        self._client.close()

    def send(self, parts: Sequence[bytes]) -> StowResult:
        boundary = f"vesalius-gateway-{uuid.uuid4().hex}"

        head = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        # one buffer, one send: a batch is bounded (--batch objects, 64 MB), and many
        # small writes cost the central more time to read than one large one
        body = b"".join(
            [chunk for part in parts for chunk in (head, part, b"\r\n")]
            + [f"--{boundary}--\r\n".encode()]
        )
        headers = {
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'
        }
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(_transport_reason(exc)) from None
        if response.status_code in (401, 403):
            raise DeliveryError(
                f"the central archive refused the token (HTTP {response.status_code})"
            )
        if response.status_code == 404:
            raise DeliveryError(
                "the central archive has no such project, or the token may not use it (HTTP 404)"
            )
        if response.status_code not in (200, 202, 400, 409):
            raise DeliveryError(f"the central archive answered HTTP {response.status_code}")
        try:
            return parse_response(response.json())
        except ValueError:
            raise DeliveryError("unreadable STOW-RS response from the central archive") from None
