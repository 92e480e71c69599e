"""Site limits of roles (``grant … --site``) as the read services apply them, in-process:
which grants limit a user (only when every read role in the project is limited; never in
a public project, never for an admin), and the one scope the browse and query builders
share, with out-of-scope rows answered exactly like unknown ones."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from vesalius.archive import access, accounts, browse
from vesalius.archive import query as matching
from vesalius.archive.projects import create_project
from vesalius.core.auth.policy import ReadScope, site_limits
from vesalius.core.errors import NotFound
from vesalius.core.home import Home
from vesalius.core.model import Group, GroupMember, Membership, Project, Site, Study, Subject


def _site(session: Session, project: Project, key: str) -> Site:
    site = Site(project_id=project.id, key=key, name=f"Hospital {key}")
    session.add(site)
    session.flush()
    return site


def _study(session: Session, project: Project, subject_id: str, site: Site | None) -> str:
    subject = Subject(
        project_id=project.id, subject_id=subject_id, site_id=site.id if site else None
    )
    session.add(subject)
    session.flush()
    uid = f"1.2.3.{project.id}.{subject.id}"
    session.add(
        Study(
            project_id=project.id,
            subject_pk=subject.id,
            study_uid=uid,
            modalities=",MR,",
            series_count=1,
            instance_count=1,
        )
    )
    session.flush()
    return uid


def _grant(session: Session, user: str, project: str, role: str, site: str | None = None) -> None:
    accounts.grant(
        session, user_name=user, project_key=project, role=role, actor="t", site_key=site
    )


def test_which_grants_limit_a_user_to_sites(home: Home) -> None:
    with home.db.write() as session, session.begin():
        trial = create_project(session, key="trial", name="trial", actor="t")
        public = create_project(session, key="pub", name="pub", actor="t", visibility="public")
        for project in (trial, public):
            _site(session, project, "A")
            _site(session, project, "B")
        names = ("carol", "dave", "erin", "frank", "root")
        users = {
            n: accounts.create_user(session, name=n, actor="t", admin=n == "root") for n in names
        }
        _grant(session, "carol", "trial", "member", "A")
        _grant(session, "carol", "pub", "member", "A")  # public: everyone reads it all
        _grant(session, "dave", "trial", "member", "A")
        _grant(session, "dave", "trial", "curator", "B")
        _grant(session, "erin", "trial", "member", "A")
        _grant(session, "erin", "trial", "contributor")  # one role without a site: all
        _grant(session, "root", "trial", "member", "A")  # an admin is never limited
        group = Group(name="site-b")
        session.add(group)
        session.flush()
        session.add(GroupMember(group_id=group.id, user_id=users["frank"].id))
        site_b = session.query(Site).filter_by(project_id=trial.id, key="B").one()
        session.add(
            Membership(project_id=trial.id, group_id=group.id, role="member", site_id=site_b.id)
        )
        session.flush()

        assert site_limits(session, users["carol"]) == {trial.id: frozenset({"A"})}
        assert site_limits(session, users["dave"]) == {trial.id: frozenset({"A", "B"})}
        assert site_limits(session, users["erin"]) == {}
        assert site_limits(session, users["frank"]) == {trial.id: frozenset({"B"})}
        assert site_limits(session, users["root"]) == {}
        assert site_limits(session, users["carol"], [public.id]) == {}


def test_browse_and_search_answer_a_limited_scope_only(home: Home) -> None:
    with home.db.write() as session, session.begin():
        trial = create_project(session, key="trial", name="trial", actor="t")
        a, b = _site(session, trial, "A"), _site(session, trial, "B")
        at_a = _study(session, trial, "A-001", a)
        at_b = _study(session, trial, "B-001", b)
        nowhere = _study(session, trial, "X-001", None)
        accounts.create_user(session, name="alice", actor="t")
        carol = accounts.create_user(session, name="carol", actor="t")
        _grant(session, "alice", "trial", "member")
        _grant(session, "carol", "trial", "member", "A")
        alice = accounts.get_user(session, "alice")

        project, scope = access.readable_project(session, user=carol, key="trial")
        assert scope.limited(trial.id) and scope.sites == {trial.id: frozenset({"A"})}
        items, total = browse.list_studies(session, project=project, scope=scope)
        assert [i["study_uid"] for i in items] == [at_a] and total == 1
        subjects, _ = browse.list_subjects(session, project=project, scope=scope)
        assert [s["subject_id"] for s in subjects] == ["A-001"]
        for hidden in (at_b, nowhere):
            with pytest.raises(NotFound) as out_of_scope:
                browse.get_study(session, project=project, scope=scope, study_uid=hidden)
            with pytest.raises(NotFound) as unknown:
                browse.get_study(session, project=project, scope=scope, study_uid="9.9.9")
            assert str(out_of_scope.value) == str(unknown.value)

        def found(scope: ReadScope, level: str = "STUDY") -> set[str]:
            query = matching.Query(level=level, return_keys=["StudyInstanceUID"])  # type: ignore[arg-type]
            results = matching.search(session, scope=scope, query=query)
            key = "0020000D" if level != "PATIENT" else "00100020"
            return {r[key]["Value"][0] for r in results}

        assert found(scope) == {at_a}
        assert found(scope, "PATIENT") == {"A-001"}
        assert found(access.readable_projects(session, user=carol)) == {at_a}
        _, wide = access.readable_project(session, user=alice, key="trial")
        assert found(wide) == {at_a, at_b, nowhere}
        assert found(ReadScope.everything()) == {at_a, at_b, nowhere}
        assert found(ReadScope([])) == set()  # no readable project reads nothing
        assert matching.search(
            session,
            project_ids=[trial.id],
            query=matching.Query(level="STUDY"),  # a DIMSE peer
        )
