"""TLS settings of registered modalities: validated, stored as absolute paths, audited."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from vesalius.archive import modalities
from vesalius.archive.projects import create_project
from vesalius.core.audit import AuditEvent
from vesalius.core.errors import InvalidInput
from vesalius.core.home import Home
from vesalius.core.model import Project


@pytest.fixture
def project(home: Home) -> Home:
    with home.db.write() as session, session.begin():
        create_project(session, key="p1", name=None, actor="test")
    return home


def add(home: Home, name: str, **kw: object) -> modalities.ModalityView:
    with home.db.write() as session, session.begin():
        return modalities.add_modality(
            session,
            name=name,
            project_key="p1",
            ae_title=name.upper(),
            host="pacs.example",
            port=104,
            actor="test",
            **kw,  # type: ignore[arg-type]
        )


def test_tls_paths_are_kept_absolute_and_shown(
    project: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pki").mkdir()
    os.symlink(tmp_path / "pki", tmp_path / "live")
    view = add(
        project,
        "pacs",
        tls=True,
        tls_ca=Path("live/ca.pem"),
        tls_cert=Path("live/me.crt"),
        tls_key=Path("live/me.key"),
    )
    # absolute, and the link is kept (a renewed certificate behind it is used as it comes)
    assert view.tls_ca == str(tmp_path / "live" / "ca.pem")
    assert (view.tls_cert, view.tls_key) == (
        str(tmp_path / "live" / "me.crt"),
        str(tmp_path / "live" / "me.key"),
    )
    plain = add(project, "plain")
    assert (plain.tls, plain.tls_ca, plain.tls_cert, plain.tls_key) == (False, None, None, None)
    with project.db.read() as session:
        assert modalities.get_modality(session, name="pacs") == view
        p1 = session.scalar(select(Project.id).where(Project.key == "p1"))
        assert modalities.move_destination(session, project_id=p1, ae_title="PACS") == view
        [detail] = [
            e.detail
            for e in session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "modality.add", AuditEvent.target == "modality:pacs"
                )
            )
        ]
    assert detail["tls"] is True and detail["tls_key"] == view.tls_key


def test_tls_files_need_tls_and_a_certificate_needs_its_key(project: Home) -> None:
    with pytest.raises(InvalidInput, match="TLS on"):
        add(project, "a", tls_ca=Path("/ca.pem"))
    with pytest.raises(InvalidInput, match="go together"):
        add(project, "b", tls=True, tls_cert=Path("/me.crt"))
    with pytest.raises(InvalidInput, match="go together"):
        add(project, "c", tls=True, tls_key=Path("/me.key"))
    with pytest.raises(InvalidInput, match="1024"):
        add(project, "d", tls=True, tls_ca=Path("/" + "x" * 1100))
    with project.db.read() as session:
        assert modalities.list_modalities(session) == []
