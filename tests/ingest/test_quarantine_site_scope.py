"""The quarantine list of a curator whose roles are limited to sites: only what their
sites' gateways sent; project-wide roles see everything of the project."""

from __future__ import annotations

from sqlalchemy import select

from vesalius.archive import accounts
from vesalius.archive.projects import create_project
from vesalius.core.auth.policy import site_limits
from vesalius.core.home import Home
from vesalius.core.model import Site, User
from vesalius.ingest import quarantine


def test_site_limited_curators_see_their_sites_quarantine_only(home: Home) -> None:
    with home.db.write() as session, session.begin():
        trial = create_project(session, key="trial", name="trial", actor="t")
        other = create_project(session, key="other", name="other", actor="t")
        session.add_all([Site(project_id=trial.id, key=k, name=k) for k in ("A", "B")])
        for code in ("A", "B", None):
            quarantine.add(
                session, source="stow-rs", origin=f"from-{code}", reason="residual identifiers",
                project_id=trial.id, blob_hash=None, size=1, site_code=code,
            )  # fmt: skip
        quarantine.add(
            session, source="import", origin="other", reason="not DICOM",
            project_id=other.id, blob_hash=None, size=1,
        )  # fmt: skip
        for name in ("cora", "will"):
            accounts.create_user(session, name=name, actor="t")
        accounts.grant(
            session, user_name="cora", project_key="trial", role="curator", actor="t",
            site_key="A",
        )  # fmt: skip
        accounts.grant(session, user_name="will", project_key="trial", role="curator", actor="t")
        accounts.grant(session, user_name="cora", project_key="other", role="curator", actor="t")
        trial_id, other_id = trial.id, other.id

    with home.db.read() as session:

        def origins(name: str) -> list[str]:
            user = session.scalar(select(User).where(User.name == name))
            assert user is not None
            ids = [trial_id, other_id]
            items, total = quarantine.list_items(
                session, project_ids=ids, site_limits=site_limits(session, user, ids)
            )
            assert total == len(items)
            return sorted(item.origin for item in items)

        assert origins("cora") == ["from-A", "other"]  # limited in trial, not in other
        assert origins("will") == ["from-A", "from-B", "from-None", "other"]
