"""Who may associate: the project's AE title as called AE, registered modalities as callers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from dimse_world import World, wait_until, world
from sqlalchemy import select

from vesalius.core.audit import AuditEvent
from vesalius.core.config import load_settings
from vesalius.core.home import open_home


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("association")) as built:
        built.cli("project", "create", "trial")  # AE title TRIAL
        built.cli("project", "create", "other")
        built.cli("project", "create", "open", "--ae-title", "OPEN_DOOR", "--accept-unknown-ae")
        for name, ae, project in (("ct1", "CT1", "trial"), ("mr9", "MR9", "other")):
            built.cli(
                "modality",
                "add",
                name,
                "--ae-title",
                ae,
                "--host",
                "127.0.0.1",
                "--port",
                "11104",
                "--project",
                project,
            )
        built.start()
        yield built


def output(result) -> str:
    return result.stdout + result.stderr


def test_a_registered_modality_echoes_its_project(w: World) -> None:
    result = w.scu("echoscu", "-v", calling="CT1", called="TRIAL")
    assert result.returncode == 0, output(result)
    assert "Received Echo Response (Success)" in output(result)


def test_an_unknown_called_ae_title_is_rejected(w: World) -> None:
    result = w.scu("echoscu", calling="CT1", called="NOBODY")
    assert result.returncode != 0
    assert "Association Rejected" in output(result)
    assert "Called AE Title Not Recognized" in output(result)
    assert w.scu("echoscu", calling="CT1", called="TRIAL").returncode == 0  # still serving


def test_an_unregistered_calling_ae_title_is_rejected(w: World) -> None:
    result = w.scu("echoscu", calling="STRANGER", called="TRIAL")
    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in output(result)


def test_a_modality_of_another_project_is_rejected(w: World) -> None:
    assert w.scu("echoscu", calling="MR9", called="OTHER").returncode == 0
    result = w.scu("echoscu", calling="MR9", called="TRIAL")
    assert "Calling AE Title Not Recognized" in output(result)


def test_a_project_may_accept_unknown_callers(w: World) -> None:
    result = w.scu("echoscu", calling="ANYONE", called="OPEN_DOOR")
    assert result.returncode == 0, output(result)


def test_registration_and_removal_apply_to_the_next_association(w: World) -> None:
    assert w.scu("echoscu", calling="LATE", called="TRIAL").returncode != 0
    w.cli(
        "modality",
        "add",
        "late",
        "--ae-title",
        "LATE",
        "--host",
        "10.0.0.9",
        "--port",
        "104",
        "-p",
        "trial",
    )
    assert w.scu("echoscu", calling="LATE", called="TRIAL").returncode == 0
    w.cli("modality", "remove", "late")
    assert w.scu("echoscu", calling="LATE", called="TRIAL").returncode != 0


def test_modality_commands_list_check_and_audit(w: World) -> None:
    listed = json.loads(w.cli("modality", "list", "--json").stdout)
    assert {m["name"]: (m["project"], m["ae_title"], m["port"]) for m in listed} == {
        "ct1": ("trial", "CT1", 11104),
        "mr9": ("other", "MR9", 11104),
    }
    only = json.loads(w.cli("modality", "list", "--json", "-p", "other").stdout)
    assert [m["name"] for m in only] == ["mr9"]
    add = ("modality", "add", "--host", "h", "--port", "104", "-p", "trial")
    w.cli(*add, "ct1", "--ae-title", "CTX", expect=1)  # name taken
    w.cli(*add, "ctx", "--ae-title", "CT1", expect=1)  # AE title taken in the project
    w.cli(*add, "cty", "--ae-title", "BAD\\AE", expect=2)
    w.cli(
        "modality",
        "add",
        "ctz",
        "--ae-title",
        "CTZ",
        "--host",
        "h",
        "--port",
        "0",
        "-p",
        "trial",
        expect=2,
    )
    w.cli(
        "modality",
        "add",
        "ctz",
        "--ae-title",
        "CTZ",
        "--host",
        "h",
        "--port",
        "104",
        "-p",
        "nope",
        expect=1,
    )
    w.cli("modality", "remove", "nope", expect=1)
    home = open_home(load_settings(w.home))
    try:
        with home.db.read() as session:
            actions = [
                (e.action, e.target)
                for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            ]
    finally:
        home.close()
    assert ("modality.add", "modality:ct1") in actions
    assert ("modality.remove", "modality:late") in actions


def audit_events(w: World, action: str) -> list[AuditEvent]:
    home = open_home(load_settings(w.home))
    try:
        with home.db.read() as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))
    finally:
        home.close()


def test_rejections_are_audited(w: World) -> None:
    w.scu("echoscu", calling="INTRUDER", called="TRIAL")

    def rejected() -> list[AuditEvent]:
        return [e for e in audit_events(w, "dimse.reject") if e.actor == "ae:INTRUDER"]

    wait_until(lambda: bool(rejected()), 10, "the audit of a rejection")
    assert rejected()[0].detail["reason"] == "calling AE title not recognised"
    assert rejected()[0].detail["called_ae"] == "TRIAL"
