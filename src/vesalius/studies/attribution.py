"""Which site a subject belongs to: the one attribution rule of the archive.

Management reports count a subject's studies and visits for this site, and a role
limited to sites (``grant … --site``) reads exactly the subjects attributed to them, so
a site's report and what its users may open are the same set of studies.

**Site of a subject** (every study of the subject counts for it):

1. the subject's own site (``subject.site_id``) when one was recorded;
2. else the site of the inventory device of its earliest checked study (the adherence
   check's device match: manufacturer, model, station name … of the protocol's
   ``devices``, each of which names its ``site``);
3. else the site code a gateway declared when delivering its earliest study
   (``instance_version.site_code``, the ``X-Vesalius-Site`` header of its STOW-RS
   requests), if the protocol lists that site: an unlisted code is a sender's claim
   that nobody has vouched for;
4. else none: the subject is *unassigned*, seen only by project-wide roles.

The rule is per subject rather than per study because sites enrol subjects: a
follow-up scanned elsewhere still belongs to the enrolling site's subject. Attribution
by device needs the adherence check, which runs once a study is stable: until then a
study attributed only by its device is unassigned.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from vesalius.core.model import Instance, InstanceVersion, Project, Series, Site, Study, Subject
from vesalius.studies import protocols
from vesalius.studies.model import StudyAdherence
from vesalius.studies.protocol import Protocol


def default_protocol() -> Protocol:
    """What a project without a protocol is measured against: no sites, no devices."""
    return Protocol.model_validate({"visits": [{"name": "any"}]})


def subject_sites(session: Session, *, project: Project, protocol: Protocol) -> dict[int, str]:
    """Subject pk -> site code by the module's rule (unassigned subjects left out)."""
    known = {s.key for s in protocol.sites}
    device_site = {d.key: d.site for d in protocol.devices if d.site}
    out: dict[int, str] = {}
    for pk, key in session.execute(
        select(Subject.id, Site.key)
        .join(Site, Site.id == Subject.site_id)
        .where(Subject.project_id == project.id)
    ):
        out[pk] = key
    if device_site:
        by_device = session.execute(
            select(Study.subject_pk, StudyAdherence.device)
            .join(
                StudyAdherence,
                (StudyAdherence.project_id == Study.project_id)
                & (StudyAdherence.study_uid == Study.study_uid),
            )
            .where(Study.project_id == project.id, StudyAdherence.device.is_not(None))
            .order_by(Study.study_date, Study.study_time, Study.id)
        )
        for pk, device in by_device:
            site = device_site.get(device)
            if site is not None:
                out.setdefault(pk, site)
    if known:
        # one row per study and code (not per stored version), listed codes only
        by_gateway = session.execute(
            select(
                Study.subject_pk,
                InstanceVersion.site_code,
                Study.study_date,
                Study.study_time,
                Study.id,
            )
            .distinct()
            .join(Series, Series.study_pk == Study.id)
            .join(Instance, Instance.series_pk == Series.id)
            .join(InstanceVersion, InstanceVersion.instance_pk == Instance.id)
            .where(Study.project_id == project.id, InstanceVersion.site_code.in_(sorted(known)))
            .order_by(Study.study_date, Study.study_time, Study.id, InstanceVersion.site_code)
        )
        for pk, code, *_ in by_gateway:
            out.setdefault(pk, code)
    return out


def subjects_at(session: Session, *, project: Project, sites: Iterable[str]) -> frozenset[int]:
    """Keys of the subjects of ``project`` attributed to one of ``sites`` (under the
    current protocol)."""
    wanted = set(sites)
    current = protocols.protocol_version(session, project=project)
    protocol = current.protocol if current is not None else default_protocol()
    return frozenset(
        pk
        for pk, code in subject_sites(session, project=project, protocol=protocol).items()
        if code in wanted
    )
