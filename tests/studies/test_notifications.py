"""Reminders and deviation notices against a local SMTP server (aiosmtpd) and HTTP receiver.

Each event reaches each recipient exactly once across runs; a failing webhook is retried
by the next run; a de-identified project's notices carry no planted identifier.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from studies_world import clock_ahead
from visits_world import TODAY, build

from conftest import Cli, free_port

SECRET = "hook-secret-for-tests-0123456789"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(
            {"to": envelope.rcpt_tos, "data": envelope.content.decode("utf-8", "replace")}
        )
        return "250 OK"


class Receiver:
    """A tiny HTTP receiver on a free loopback port; ``fail`` answers 500."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.fail = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail:
                    self.send_response(500)
                else:
                    receiver.posts.append((dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("VESALIUS_SMTP_URL", f"smtp://127.0.0.1:{controller.port}")
    monkeypatch.setenv("VESALIUS_SMTP_FROM", "trial@vesalius.test")
    monkeypatch.setenv("VESALIUS_WEBHOOK_SECRET", SECRET)
    yield box
    controller.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch):
    return lambda: clock_ahead(monkeypatch)


def section(url: str) -> str:
    return f"notifications:\n  emails: [team@example.org]\n  webhooks: ['{url}']\n"


def notify(cli: Cli, *args: str, expect: int | None = 0) -> dict:
    out = cli("notify", "--project", "trial", "--today", TODAY, "--json", *args, expect=expect)
    return json.loads(out.stdout)


# at TODAY: 001 month12 due, 002 month12 due, 003 month6 overdue, 003 baseline deviation
EVENTS = {
    ("visit.due", "001", "month12"),
    ("visit.due", "002", "month12"),
    ("visit.overdue", "003", "month6"),
}


def test_each_event_once_and_failed_webhook_retried(
    cli: Cli, tmp_path: Path, later, mailbox: Mailbox, receiver: Receiver
) -> None:
    uids = build(cli, tmp_path, later, notifications=section(receiver.url))
    expected = EVENTS | {("deviation", "003", uids["003-0"])}

    dry = notify(cli, "--dry-run")
    assert {(i["kind"], i["subject"], i["ref"]) for i in dry["would_send"]} == expected
    assert mailbox.messages == [] and receiver.posts == []

    receiver.fail = True
    first = notify(cli, expect=1)  # the webhook fails: exit 1, reasons given
    assert len(first["sent"]) == 4 and {i["channel"] for i in first["sent"]} == {"email"}
    assert len(first["failed"]) == 4
    assert all(i["error"] == "webhook: HTTP 500" for i in first["failed"])
    assert len(mailbox.messages) == 4

    receiver.fail = False
    second = notify(cli)
    assert len(second["sent"]) == 4 and {i["channel"] for i in second["sent"]} == {"webhook"}
    assert second["skipped"] == 4
    third = notify(cli)
    assert third["sent"] == [] and third["failed"] == [] and third["skipped"] == 8

    assert len(mailbox.messages) == 4 and len(receiver.posts) == 4
    assert all(m["to"] == ["team@example.org"] for m in mailbox.messages)
    payloads = []
    for headers, body in receiver.posts:
        signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Vesalius-Signature"] == f"sha256={signature}"
        payloads.append(json.loads(body))
    got = {
        (p["event"], p["subject"], p.get("visit") if p["event"] != "deviation" else p["study_uid"])
        for p in payloads
    }
    assert got == expected
    deviation = next(p for p in payloads if p["event"] == "deviation")
    assert deviation["missing"] == ["FLAIR"]
    overdue = next(p for p in payloads if p["event"] == "visit.overdue")
    assert overdue["window"] == {"from": "2024-12-16", "to": "2025-01-13"}
    assert overdue["days_late"] == 7
    subjects = sorted(str(m["data"]).split("Subject: ")[1].split("\n")[0] for m in mailbox.messages)
    assert "[vesalius trial] visit month6 of subject 003 is overdue" in "".join(
        str(m["data"]) for m in mailbox.messages
    ), subjects


def test_deidentified_notices_carry_no_identifier(
    cli: Cli, tmp_path: Path, later, mailbox: Mailbox, receiver: Receiver
) -> None:
    build(
        cli,
        tmp_path,
        later,
        notifications=section(receiver.url),
        deid=True,
        patient_prefix="MRN-PLANT-",
    )
    report = json.loads(cli("visits", "--project", "trial", "--json", "--today", TODAY).stdout)
    items = {(i["subject_id"], i["visit"]): i for i in report["items"]}
    assert all(not s.startswith("MRN-PLANT") for s, _ in items)
    # statuses are those of true time although the shown dates are shifted
    assert sorted(i["status"] for i in report["items"]) == sorted(
        ["received"] * 4 + ["due"] * 2 + ["overdue", "missed", "upcoming"]
    )
    assert all(i["true_time"] for i in report["items"])
    assert "2024-01-10" not in json.dumps(report)  # no true date shown

    sent = notify(cli)
    kinds = {i["kind"] for i in sent["sent"]}
    assert {"visit.due", "visit.overdue", "deviation"} <= kinds and sent["failed"] == []
    text = "".join(str(m["data"]) for m in mailbox.messages) + "".join(
        b.decode() for _, b in receiver.posts
    )
    for planted in ("MRN-PLANT", "Test", "2024-01-10", "20240110", "2024-07-01"):
        assert planted not in text
