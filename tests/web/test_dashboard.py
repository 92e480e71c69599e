"""The management report over REST and the dashboard page from a real ``vesalius serve``:
scoped by site (a role limited to site B sees B only; no role: 404), and in headless
Chromium the dashboard shows the numbers of ``vesalius report --format json``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "studies"))

from studies_world import clock_ahead
from test_reports import add_site_b
from visits_world import TODAY, build

from conftest import Cli, require_tool, token_for

PASSWORD = "a-long-test-password"
PROBLEM = "application/problem+json"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture
def world(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Sites A (three subjects) and B (one); alice project-wide, carol at site B only,
    bob without a role. Returns the CLI's JSON report."""
    later = lambda: clock_ahead(monkeypatch)  # noqa: E731
    build(cli, tmp_path, later)
    add_site_b(cli, tmp_path, later)
    for user in ("alice", "bob", "carol"):
        cli("user", "create", user, "--password-stdin", input=f"{PASSWORD}\n")
    cli("grant", "alice", "trial", "member")
    cli("grant", "carol", "trial", "member", "--site", "B")
    cli("project", "create", "other")
    cli("grant", "bob", "other", "member")
    out = cli("report", "--project", "trial", "--today", TODAY, "--format", "json").stdout
    return json.loads(out)


def _comparable(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "generated_at"}


def test_report_api_and_dashboard_scoping(cli: Cli, world: dict, server_factory) -> None:
    server = server_factory()
    alice = server.client(token_for(cli, "alice"))
    bob = server.client(token_for(cli, "bob"))
    carol = server.client(token_for(cli, "carol"))
    params = {"today": TODAY}

    full = alice.get("/api/projects/trial/report", params=params)
    assert full.status_code == 200
    assert _comparable(full.json()) == _comparable(world)
    assert [s["site"] for s in full.json()["sites"]] == ["A", "B"]

    scoped = carol.get("/api/projects/trial/report", params=params).json()
    assert scoped["scope"] == ["B"] and [s["site"] for s in scoped["sites"]] == ["B"]
    site_b = next(s for s in world["sites"] if s["site"] == "B")
    assert scoped["sites"][0] == site_b
    assert scoped["overall"]["subjects"] == site_b["subjects"] == 1
    assert scoped["overall"]["visits_expected"] == site_b["visits_expected"]
    denied = carol.get("/api/projects/trial/report", params={"site": "A"})
    assert denied.status_code == 404 and denied.headers["content-type"] == PROBLEM

    nobody = bob.get("/api/projects/trial/report")
    assert nobody.status_code == 404 and nobody.headers["content-type"] == PROBLEM
    assert server.client().get("/api/projects/trial/report").status_code == 401
    assert "/api/projects/{key}/report" in alice.get("/api/openapi.json").json()["paths"]

    for user, sites in (("alice", ["A", "B", "overall"]), ("carol", ["B", "overall"])):
        with server.client() as browser:
            signed = browser.post("/ui/login", data={"username": user, "password": PASSWORD})
            assert signed.status_code == 303
            html = browser.get("/ui/projects/trial/dashboard", params=params).text
            for code in ("A", "B"):
                assert (f'<tr data-site="{code}"' in html) == (code in sites), (user, code)
            assert 'data-chart="adherence"' in html and "<script" not in html
            assert "/ui/projects/trial/dashboard" in browser.get("/ui/projects/trial").text
    with server.client() as browser:
        browser.post("/ui/login", data={"username": "bob", "password": PASSWORD})
        assert browser.get("/ui/projects/trial/dashboard").status_code == 404


@pytest.fixture
def chromium() -> Iterator[Browser]:
    executable = require_tool("chromium", "chromium")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
    finally:
        playwright.stop()


def test_dashboard_in_chromium_shows_report_numbers(
    world: dict, server_factory, chromium: Browser
) -> None:
    server = server_factory()
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{server.url}/ui/login?next=/ui/projects/trial")
        page.fill("#username", "alice")
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("button[type=submit]")
        with page.expect_navigation():
            page.click("#dashboard-link")
        page.goto(page.url + f"?today={TODAY}")
        assert page.locator("h1").inner_text() == "Dashboard"
        for row in [*world["sites"], world["overall"]]:
            tr = page.locator(f'#report tr[data-site="{row["site"]}"]')
            for column in ("subjects", "studies", "visits_expected", "visits_received",
                           "visits_overdue", "visits_missed", "qc_failures",
                           "studies_checked", "delay_median_hours"):  # fmt: skip
                shown = tr.locator(f'td[data-column="{column}"]').inner_text()
                expected = "" if row[column] is None else str(row[column])
                assert shown == expected, (row["site"], column, shown, expected)
            rate = tr.locator('td[data-column="adherence_rate"]').inner_text()
            assert float(rate) == pytest.approx(row["adherence_rate"])
        for row in world["sites"]:
            bars = page.locator(f'svg[data-chart="received"] rect[data-site="{row["site"]}"]')
            values = [bars.nth(i).get_attribute("data-value") for i in range(bars.count())]
            assert values == [str(row["visits_received"]), str(row["visits_expected"])]
            bar = page.locator(f'svg[data-chart="adherence"] rect[data-site="{row["site"]}"]').first
            assert bar.get_attribute("data-value") == f"{row['adherence_rate'] * 100:.0f}%"
            qc = page.locator(f'svg[data-chart="qc"] rect[data-site="{row["site"]}"]').first
            assert qc.get_attribute("data-value") == str(row["qc_failures"])
            assert bar.bounding_box() is not None  # drawn
        assert errors == []
    finally:
        context.close()
