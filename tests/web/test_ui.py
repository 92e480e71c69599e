"""The web UI in a real browser (headless Chromium) against a real ``vesalius serve``.

One server and one browser serve the whole module: the data (30 studies, two
projects, two users) is built once, and each test gets a fresh browser context, so
tests share no cookies. Tests only read, apart from sessions of their own.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless

from vesalius.core.config import load_settings
from vesalius.core.dicom.synthetic import StudySpec, make_study

from conftest import PG_URL, Cli, Server, require_tool

PASSWORD = "secret-password"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TRICKY = '<b>bold</b> & "quoted" <script>alert(1)</script>'


@dataclass
class Site:
    server: Server
    study_uid: str  # in p1: a CT and an MR series
    series_uids: list[str]
    broken_series_uid: str  # in p1: pixel data no decoder can read
    other_study_uid: str  # in p2, where bob has no role
    other_series_uid: str

    @property
    def url(self) -> str:
        return self.server.url


def _write(
    folder: Path, spec: StudySpec, series: list[tuple[str, str, int]], size: int = 32
) -> list:
    datasets = make_study(spec, series, size=size)
    for ds in datasets:
        ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
    return datasets


def _build_data(folder: Path) -> dict[str, list]:
    """p1: 27 routine studies + one to look at + one with markup + one undecodable."""
    p1, p2 = folder / "p1", folder / "p2"
    p1.mkdir(parents=True)
    p2.mkdir()
    for i in range(27):
        spec = StudySpec(
            patient_id=f"SUBJ-{i:03d}",
            patient_name=f"Filler^Nr{i:02d}",
            study_date=dt.date(2020, 1, 1) + dt.timedelta(days=10 * i),
            description=f"Routine scan {i}",
        )
        _write(p1, spec, [("CT", "Axial", 1)])
    main = _write(
        p1,
        StudySpec(
            patient_id="SUBJ-900",
            patient_name="Visible^Vera",
            study_date=dt.date(2025, 6, 1),
            description="Needle biopsy planning",
            accession="ACC900",
        ),
        [("CT", "Chest 2.5mm", 5), ("MR", "T1 axial", 3)],
        size=96,
    )
    _write(
        p1,
        StudySpec(
            patient_id="SUBJ-901",
            patient_name="Markup^Mia",
            study_date=dt.date(2025, 5, 1),
            description=TRICKY,
        ),
        [("CT", "Axial", 1)],
    )
    broken = _write(
        p1,
        StudySpec(
            patient_id="SUBJ-902",
            patient_name="Broken^Bo",
            study_date=dt.date(2019, 1, 1),
            description="Broken pixels",
        ),
        [("CT", "Garbled", 1)],
    )
    ds = broken[0]
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([b"not a JPEG 2000 codestream" * 4])
    ds["PixelData"].VR = "OB"
    ds.save_as(p1 / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
    other = _write(
        p2,
        StudySpec(
            patient_id="OTHER-1",
            patient_name="Other^Olga",
            study_date=dt.date(2024, 1, 1),
            description="Private study",
        ),
        [("CT", "Axial", 2)],
    )
    return {"main": main, "broken": broken, "other": other}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A served home with projects p1 (bob: member) and p2 (eve: member)."""
    tmp = tmp_path_factory.mktemp("ui")
    database = f"sqlite:///{tmp / 'home' / 'vesalius.db'}"
    pg_name = None
    if PG_URL:
        pg_name = f"vt_{uuid.uuid4().hex[:16]}"
        base = PG_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        database = base.rsplit("/", 1)[0] + "/" + pg_name
    with pytest.MonkeyPatch.context() as env:
        for key in list(os.environ):
            if key.startswith("VESALIUS_") and key != "VESALIUS_TEST_DATABASE_URL":
                env.delenv(key)
        env.setenv("VESALIUS_HOME", str(tmp / "home"))
        env.setenv("VESALIUS_DATABASE_URL", database)
        settings = load_settings(tmp / "home")
        cli = Cli()
        cli("init")
        for user, project in (("bob", "p1"), ("eve", "p2")):
            cli("project", "create", project)
            cli("user", "create", user, "--password-stdin", input=f"{PASSWORD}\n")
            cli("grant", user, project, "member")
        data = _build_data(tmp / "dicom")
        cli("import", "-p", "p1", str(tmp / "dicom" / "p1"), "--json", "--workers", "1")
        cli("import", "-p", "p2", str(tmp / "dicom" / "p2"), "--json", "--workers", "1")
        server = Server(settings, tmp / "serve.log")
        try:
            main = data["main"]
            yield Site(
                server=server,
                study_uid=main[0].StudyInstanceUID,
                series_uids=sorted({ds.SeriesInstanceUID for ds in main}),
                broken_series_uid=data["broken"][0].SeriesInstanceUID,
                other_study_uid=data["other"][0].StudyInstanceUID,
                other_series_uid=data["other"][0].SeriesInstanceUID,
            )
        finally:
            server.stop()
            if pg_name is not None:
                with psycopg.connect(base, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = require_tool("chromium", "chromium")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
    finally:
        playwright.stop()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, site: Site, user: str = "bob", next_path: str = "") -> None:
    page.goto(f"{site.url}/ui/login" + (f"?next={next_path}" if next_path else ""))
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")


def study_rows(page: Page) -> list[str]:
    return page.locator("#studies tbody tr td:first-child").all_inner_texts()


def test_signed_out_pages_redirect_to_login(site: Site, page: Page) -> None:
    with httpx.Client(base_url=site.url) as client:
        answer = client.get("/ui/projects/p1?q=x")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/login?next=%2Fui%2Fprojects%2Fp1%3Fq%3Dx"
        thumb = client.get(f"/ui/projects/p1/series/{site.series_uids[0]}/thumbnail.png")
        assert thumb.status_code == 303
    page.goto(f"{site.url}/")
    assert page.url == f"{site.url}/ui/login?next=%2Fui%2Fprojects"
    assert page.locator("#password").is_visible()
    assert page.get_by_text("Sign out").count() == 0


def test_wrong_password_is_rejected(site: Site, page: Page) -> None:
    page.goto(f"{site.url}/ui/login")
    page.fill("#username", "bob")
    page.fill("#password", "not-the-password")
    with page.expect_navigation() as navigation:
        page.click("button[type=submit]")
    assert navigation.value is not None and navigation.value.status == 401
    assert page.get_by_role("alert").inner_text() == "Wrong user name or password."
    assert page.input_value("#username") == "bob"
    page.screenshot(path="/tmp/ui-login.png")
    assert not [c for c in page.context.cookies() if c["name"] == "vesalius_session"]
    with httpx.Client(base_url=site.url) as client:
        # an unknown user gets the very same answer (no user enumeration)
        answer = client.post("/ui/login", data={"username": "nobody", "password": PASSWORD})
        assert answer.status_code == 401
        assert "Wrong user name or password." in answer.text
        assert "set-cookie" not in answer.headers
        # a form posted from another site's page is refused outright
        forged = client.post(
            "/ui/login",
            data={"username": "bob", "password": PASSWORD},
            headers={"Origin": "http://evil.example"},
        )
        assert forged.status_code == 403


def test_sign_in_lists_only_readable_projects(site: Site, page: Page) -> None:
    sign_in(page, site, next_path="/ui/projects")
    assert page.url == f"{site.url}/ui/projects"
    assert page.get_by_test_id("user-name").inner_text() == "bob"
    keys = page.locator("#projects tbody tr td:first-child").all_inner_texts()
    assert keys == ["p1"]  # p2 exists, but bob has no role in it
    assert page.locator("#projects tbody tr td.num").inner_text() == "30"
    cookie = next(c for c in page.context.cookies() if c["name"] == "vesalius_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    page.click("text=p1")
    assert page.url == f"{site.url}/ui/projects/p1"


def test_sign_in_never_redirects_off_site(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            answer = client.post(
                "/ui/login", data={"username": "bob", "password": PASSWORD, "next": target}
            )
            assert answer.status_code == 303
            assert answer.headers["location"] == "/ui/projects"


def test_study_list_pages_and_search(site: Site, page: Page) -> None:
    sign_in(page, site, next_path="/ui/projects/p1")
    assert page.get_by_test_id("total").inner_text() == "30 studies"
    first = study_rows(page)
    assert len(first) == 25
    assert first[0] == "SUBJ-900"  # newest first
    # header values are shown as text, never interpreted as markup
    markup = page.locator("#studies tbody tr", has_text="SUBJ-901").locator("td.description")
    assert markup.inner_text() == TRICKY
    page.screenshot(path="/tmp/ui-studies.png", full_page=True)
    page.click("a[rel=next]")
    assert page.url.endswith("/ui/projects/p1?page=2")
    second = study_rows(page)
    assert len(second) == 5 and not set(first) & set(second)
    assert page.get_by_test_id("total").inner_text() == "30 studies"

    page.fill("input[name=q]", "needle")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert study_rows(page) == ["SUBJ-900"]
    assert page.get_by_test_id("total").inner_text() == "1 study"

    page.goto(f"{site.url}/ui/projects/p1")
    page.select_option("select[name=modality]", "MR")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert study_rows(page) == ["SUBJ-900"]


def test_study_page_shows_series_with_thumbnails(site: Site, page: Page) -> None:
    console_errors: list[str] = []  # a CSP violation or a failed load shows up here
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    sign_in(page, site, next_path="/ui/projects/p1?q=SUBJ-900")
    with page.expect_navigation():
        page.click("#studies tbody tr >> text=Needle biopsy planning")
    assert page.url == f"{site.url}/ui/projects/p1/studies/{site.study_uid}"
    assert page.locator("h1").inner_text() == "Needle biopsy planning"
    rows = page.locator("#series tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).inner_text().split("\t")[1:4] == ["1", "CT", "Chest 2.5mm"]
    assert rows.nth(1).inner_text().split("\t")[1:4] == ["2", "MR", "T1 axial"]
    images = page.locator("#series img")
    images.nth(1).scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#series img')].every(i => i.complete)"
    )
    widths = images.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert widths and all(w > 0 for w in widths)
    page.screenshot(path="/tmp/ui-study.png", full_page=True)
    assert console_errors == []

    for series_uid in site.series_uids:
        answer = page.context.request.get(
            f"{site.url}/ui/projects/p1/series/{series_uid}/thumbnail.png"
        )
        assert answer.status == 200
        assert answer.headers["content-type"] == "image/png"
        assert answer.headers["cache-control"] == "private, max-age=3600"
        assert "x-vesalius-thumbnail" not in answer.headers
        image = Image.open(io.BytesIO(answer.body()))
        assert image.format == "PNG" and max(image.size) == 96  # never enlarged
        low, high = image.convert("L").getextrema()
        assert high - low > 100  # a phantom with contrast, not a flat tile

    broken = page.context.request.get(
        f"{site.url}/ui/projects/p1/series/{site.broken_series_uid}/thumbnail.png"
    )
    assert broken.status == 200
    assert broken.headers["x-vesalius-thumbnail"] == "placeholder"
    assert Image.open(io.BytesIO(broken.body())).format == "PNG"


def test_user_without_role_gets_404(site: Site, page: Page) -> None:
    sign_in(page, site)
    targets = [
        f"/ui/projects/p2/studies/{site.other_study_uid}",
        f"/ui/projects/p2/series/{site.other_series_uid}/thumbnail.png",
        "/ui/projects/p2",
        "/ui/projects/no-such-project",
        f"/ui/projects/p1/studies/{site.other_study_uid}",  # exists, but in p2
        "/ui/projects/p1/series/1.2.3.4/thumbnail.png",
        "/ui/no/such/page",
    ]
    bodies = set()
    for target in targets:
        answer = page.goto(site.url + target)
        assert answer is not None and answer.status == 404, target
        assert answer.headers["content-type"].startswith("text/html")
        bodies.add(page.locator("main").inner_text())
    assert len(bodies) == 1  # hidden and missing look exactly alike
    page.screenshot(path="/tmp/ui-404.png")


def test_sign_out_ends_the_session(site: Site, page: Page) -> None:
    sign_in(page, site)
    cookie = next(c for c in page.context.cookies() if c["name"] == "vesalius_session")
    with page.expect_navigation():
        page.click("text=Sign out")
    assert page.url == f"{site.url}/ui/login"
    assert not [c for c in page.context.cookies() if c["name"] == "vesalius_session"]
    page.goto(f"{site.url}/ui/projects")
    assert "/ui/login" in page.url
    # the token is revoked on the server, so a copy of the cookie is worthless too
    with httpx.Client(base_url=site.url, cookies={"vesalius_session": cookie["value"]}) as client:
        assert client.get("/ui/projects").status_code == 303
