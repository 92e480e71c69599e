"""STOW-RS (PS3.18 10.5): store ``multipart/related; type="application/dicom"`` bodies.

The body is read as a stream (chunked or with a length, any size); each part is
spooled durably in a worker thread as soon as it is complete, so memory holds one part
at a time, and the spooled parts go through the intake pipeline in batches
(:func:`vesalius.ingest.pipeline.process_batch`, the chain behind ``receive``: parse,
route, store, index, one commit per batch).

Outcomes (DESIGN.md contracts): stored, duplicate and new version are all successes;
an object of another study than the one in the path is refused unread (409 when
nothing else was stored); what cannot be read is quarantined by the pipeline and
reported as failed. Failure Reason values follow PS3.18 Table I.2-2:

======  =========================================================================
0xA700  refused, out of resources (the storage area or spool failed)
0xA900  the object's Study Instance UID is not the study of the request path
0xC000  cannot understand (not DICOM, required UIDs missing, quarantined, wrong type)
0x0110  processing failure (anything else)
0x0122  SOP class not supported (a DICOMDIR)
======  =========================================================================

A gateway names its site in an ``X-Vesalius-Site`` header; the code (checked against
the user's site-limited roles, :func:`vesalius.archive.deliveries.sender_site`) is
recorded with every object stored or quarantined, as is the user.

A refused object's item also carries the quarantine reason as Error Comment (0000,0902),
so that a sender (a site gateway) can show why without access to this archive; reasons
name attributes and kinds of problem, never values.

**Projects that de-identify at intake** (``project create KEY --deid``) store another
object than the one sent: new Study, Series and SOP Instance UIDs (``2.25.`` + keyed
HMAC), the research ID as patient, shifted dates. The response (PS3.18 10.5.3, the Store
Instances Response Module of Annex I, Table I.1-1) then says:

- each Referenced SOP Sequence (0008,1199) item's Retrieve URL (0008,1190), and the
  study-level Retrieve URL, point at the *stored* (de-identified) instance and study:
  Table I.1-1 defines them as "the URL where the SOP Instance [the Study] is available
  for retrieval via a Studies Retrieve Transaction", so they must resolve here;
- Referenced SOP Class UID and Referenced SOP Instance UID (0008,1150/1155) stay the
  UIDs *as sent*: they are how a sender correlates each item with what it sent (as the
  Affected SOP Instance UID of a C-STORE response names the request's instance, PS3.7
  9.3.1), they tell the sender nothing it did not send, and senders such as our own
  gateway (``vesalius.gateway.transport``) confirm delivery by them. Items stay in
  request order;
- every such item carries Warning Reason (0008,1196) 0xB000, "Coercion of Data Elements"
  (Annex I, Table I.2-1): the object was accepted and modified, so its Retrieve URL, not
  the UIDs sent, names it. The status stays 200 when every object was stored (Table
  10.5.3-1: 200 "successfully stored all Instances"; 202 "stored some of the Instances
  but warnings or failures exist for others", which stays the answer to a partial store),
  so that de-identification at intake looks like success to a sender, as it is;
- no Original Attributes Sequence (0400,0561): 10.5.3 allows it in the response ("may")
  but Table I.1-1 wants it to hold *all* replaced attributes, i.e. the patient's name,
  ID, birth date and accession number. Identifiers go to the honest-broker vault only,
  and PS3.15 Table E.1-1 removes (X) that sequence from the stored object too;
- the study URL is given when every stored object is in one study (the path's study,
  when the request names one, as sent).

Nothing else of the sent header reaches the response (patient name, ID, accession), nor
the log: for a ``--deid`` project the log never names a sent UID either. Projects that
store what they receive answer exactly as before: sent and stored UIDs are the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from vesalius.archive.deliveries import SITE_HEADER, sender_site
from vesalius.core.auth.policy import UPLOAD_ROLES, project_for
from vesalius.core.errors import InvalidInput, StorageError
from vesalius.core.model import User
from vesalius.ingest.context import IntakeContext, Outcome
from vesalius.ingest.pipeline import StoredUids, process_batch_with_uids
from vesalius.ingest.spool import Spool
from vesalius.web.deps import DB, CurrentUser
from vesalius.web.dicomweb import media, pixels
from vesalius.web.dicomweb.scope import Scope, service_root

log = logging.getLogger(__name__)
router = APIRouter()

OUT_OF_RESOURCES = 0xA700
STUDY_MISMATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
PROCESSING_FAILURE = 0x0110
SOP_CLASS_NOT_SUPPORTED = 0x0122
COERCED = 0xB000  # Warning Reason: Coercion of Data Elements (PS3.18 Table I.2-1)
BATCH_OBJECTS = 50
BATCH_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Result:
    sop_class_uid: str
    sop_uid: str
    study_uid: str
    series_uid: str
    failure: int | None = None
    reason: str = ""  # why the archive refused it (quarantine reason), for the sender
    # UIDs of the de-identified object as stored (``--deid`` projects); None: as sent
    stored: StoredUids | None = None

    @property
    def where(self) -> StoredUids:
        """Study, Series and SOP Instance UID under which the archive holds the object."""
        return self.stored or (self.study_uid, self.series_uid, self.sop_uid)


def _uids(data: bytes) -> tuple[str, str, str, str]:
    """SOP Class, SOP Instance, Study and Series UIDs as sent ('' when unreadable)."""
    try:
        ds = pixels.read(data, stop_before_pixels=True)
    except pixels.Unreadable:
        return "", "", "", ""
    return tuple(  # type: ignore[return-value]
        str(ds.get(k, "") or "").strip()
        for k in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
    )


class Store:
    """One STOW-RS request: its project, path study and the results of its parts.

    Accepted parts are spooled as they arrive (durable before anything is answered)
    and run through the pipeline in batches: one index commit per batch.
    """

    def __init__(
        self,
        request: Request,
        key: str,
        actor: str,
        study_uid: str | None,
        site: str | None = None,
        deid: bool = False,
    ) -> None:
        home = request.app.state.home
        self.deid = deid  # the project de-identifies at intake: stored UIDs differ
        self.home = home
        self.spool = Spool.for_home(home.settings)
        self.context = IntakeContext(source="stow-rs", actor=actor, project_key=key, site=site)
        self.study_uid = study_uid
        self.results: list[Result] = []
        self._pending: list[tuple[int, Path]] = []
        self._pending_bytes = 0

    def part(self, part: media.Part, default_type: str) -> None:
        content_type = part.content_type or default_type
        result = Result(*_uids(part.data))
        if media.parse_media_type(content_type).type != media.DICOM:
            self.results.append(replace(result, failure=CANNOT_UNDERSTAND))
            return
        # (an unreadable object has no study: it is the pipeline's to quarantine)
        mismatch = self.study_uid is not None and result.study_uid not in ("", self.study_uid)
        if mismatch:
            self.results.append(replace(result, failure=STUDY_MISMATCH))
            return
        try:
            entry = self.spool.write(part.data, self.context)
        except StorageError as exc:
            # a sent UID is an identifier in a --deid project (PS3.15 replaces it)
            what = f"part {len(self.results) + 1}" if self.deid else f"object {result.sop_uid}"
            log.error("STOW-RS: %s not spooled: %s", what, type(exc).__name__)
            self.results.append(replace(result, failure=OUT_OF_RESOURCES))
            return
        self.results.append(result)
        self._pending.append((len(self.results) - 1, entry))
        self._pending_bytes += len(part.data)
        if len(self._pending) >= BATCH_OBJECTS or self._pending_bytes >= BATCH_BYTES:
            self.flush()

    def discard(self) -> None:
        """Drop spooled parts not yet processed (the request failed)."""
        for _, entry in self._pending:
            self.spool.remove(entry)
        self._pending, self._pending_bytes = [], 0

    def flush(self) -> None:
        """Run the spooled parts through the pipeline and record their outcomes."""
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        if not pending:
            return
        failure: int | None = None
        try:
            outcomes = process_batch_with_uids(
                self.home.db, self.home.store, self.spool, [entry for _, entry in pending]
            )
        except StorageError as exc:
            log.error("STOW-RS: a batch was not stored: %s", type(exc).__name__)
            outcomes, failure = [], OUT_OF_RESOURCES
        except Exception as exc:  # the type only: messages may quote header values (PHI)
            log.error("STOW-RS: a batch was not stored: %s", type(exc).__name__)
            outcomes, failure = [], PROCESSING_FAILURE
        for n, (index, _) in enumerate(pending):
            reason = ""
            stored: StoredUids | None = None
            if failure is None:
                outcome, reason, stored = outcomes[n]
                failure_of = {
                    Outcome.QUARANTINED: CANNOT_UNDERSTAND,
                    Outcome.SKIPPED: SOP_CLASS_NOT_SUPPORTED,
                }.get(outcome)
            else:
                failure_of = failure
            self.results[index] = replace(
                self.results[index],
                failure=failure_of,
                reason=reason if failure_of else "",
                stored=stored if self.deid and failure_of is None else None,
            )

    def response(self, scope: Scope) -> JSONResponse:
        stored = [r for r in self.results if r.failure is None]
        failed = [r for r in self.results if r.failure is not None]
        # one study, and (when the path names one) the path's study as sent
        studies = {r.where[0] for r in stored}
        in_path = self.study_uid is None or all(r.study_uid == self.study_uid for r in stored)
        body: dict[str, Any] = {
            "00081190": {"vr": "UR"}
            if len(studies) != 1 or not stored or not in_path
            else {"vr": "UR", "Value": [scope.study_url(next(iter(studies)))]}
        }
        if failed:
            body["00081198"] = {"vr": "SQ", "Value": [_failed_item(r) for r in failed]}
        if stored:
            body["00081199"] = {"vr": "SQ", "Value": [_stored_item(r, scope) for r in stored]}
        if not failed:
            status = 200
        elif stored:
            status = 202
        elif all(r.failure == CANNOT_UNDERSTAND for r in failed):
            status = 400
        else:
            status = 409
        return JSONResponse(body, status_code=status, media_type=media.DICOM_JSON)


def _reference(r: Result) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if r.sop_class_uid:
        item["00081150"] = {"vr": "UI", "Value": [r.sop_class_uid]}
    if r.sop_uid:
        item["00081155"] = {"vr": "UI", "Value": [r.sop_uid]}
    return item


def _failed_item(r: Result) -> dict[str, Any]:
    item = {**_reference(r), "00081197": {"vr": "US", "Value": [r.failure]}}
    if r.reason:  # Error Comment (LO), as dcm4chee-arc sends it: why, for the sender
        item["00000902"] = {"vr": "LO", "Value": [r.reason[:64]]}
    return item


def _stored_item(r: Result, scope: Scope) -> dict[str, Any]:
    """The item of a stored object: referenced as sent, retrievable where it is stored."""
    item = {**_reference(r), "00081190": {"vr": "UR", "Value": [scope.instance_url(*r.where)]}}
    if r.stored is not None:  # de-identified at intake: stored as another object
        item["00081196"] = {"vr": "US", "Value": [COERCED]}
    return item


def _body_type(request: Request) -> tuple[str, str]:
    """Boundary and part type of a STOW-RS body; 415 for anything but DICOM parts."""
    header = request.headers.get("content-type")
    if not header:
        raise media.UnsupportedMediaType('send multipart/related; type="application/dicom"')
    content_type = media.parse_media_type(header)
    if content_type.type != media.MULTIPART:
        raise media.UnsupportedMediaType(
            f"{content_type.type} is not supported: "
            'send multipart/related; type="application/dicom"'
        )
    part_type = content_type.params.get("type", media.DICOM).strip().lower()
    if part_type != media.DICOM:
        raise media.UnsupportedMediaType(
            f"parts of type {part_type} are not supported: only application/dicom is stored"
        )
    boundary = content_type.params.get("boundary")
    if not boundary:
        raise InvalidInput("the Content-Type of a multipart body must name its boundary")
    return boundary, part_type


def _check_upload(
    session: Session, user: User, key: str, claimed_site: str | None
) -> tuple[int, str, str, str | None, bool]:
    """Project, user name, the sender's site code (a gateway's ``X-Vesalius-Site``) and
    whether the project de-identifies at intake."""
    project = project_for(session, user, key, need=UPLOAD_ROLES)
    site = sender_site(session, user=user, project=project, claimed=claimed_site)
    found = (project.id, project.key, user.name, site, bool(project.deid_profile))
    session.rollback()  # end the read transaction before a long upload
    return found


async def store(
    request: Request, key: str, study: str | None, session: Session, user: User
) -> JSONResponse:
    claimed = request.headers.get(SITE_HEADER)
    project_id, project_key, actor, site, deid = await run_in_threadpool(
        _check_upload, session, user, key, claimed
    )
    scope = Scope([project_id], service_root(request, project_key))
    boundary, part_type = _body_type(request)
    reader = media.MultipartReader(boundary)
    job = Store(request, project_key, actor, study, site, deid)
    try:
        async for chunk in request.stream():
            for part in reader.feed(chunk):
                await run_in_threadpool(job.part, part, part_type)
            if reader.finished:
                break
        reader.close()
    except BaseException:  # a malformed body or a client gone: store no more of it
        job.discard()  # a few unlinks; no await, which a cancelled task could not do
        raise
    await run_in_threadpool(job.flush)
    if not job.results:
        raise InvalidInput("the multipart body holds no parts")
    return job.response(scope)


@router.post("/projects/{key}/studies")
async def store_instances(
    key: str, request: Request, session: DB, user: CurrentUser
) -> JSONResponse:
    """Store the instances of a multipart/related body in project ``key``."""
    return await store(request, key, None, session, user)


@router.post("/projects/{key}/studies/{study}")
async def store_study_instances(
    key: str, study: str, request: Request, session: DB, user: CurrentUser
) -> JSONResponse:
    """Store instances that belong to study ``study``; others fail with 0xA900."""
    return await store(request, key, study, session, user)
