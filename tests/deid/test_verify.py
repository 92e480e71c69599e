"""``vesalius deid verify``: clean output passes, every planted kind of identifier is found,
no finding repeats an identifier, exit codes; and OCR in ``deid run`` (burned-in text)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from burned_in import leaked, secondary_capture, ultrasound
from deid_corpus import (
    KEY,
    MUELLER,
    PLANTED_TEXT,
    RESEARCH,
    Corpus,
    FakePixelCleaner,
    build_corpus,
    plant_graphics,
    read,
)
from pydicom.dataset import Dataset
from sqlalchemy import select

from vesalius.core.audit import AuditEvent
from vesalius.core.config import Settings
from vesalius.core.home import open_home
from vesalius.deid import Deidentifier, KnownIdentifiers, Profile
from vesalius.deid.pixels import default_detector, find_text
from vesalius.deid.verify import Finding, Verifier, declared_options, load_known, mask

from conftest import Cli

PROFILES = {"basic": (), "research": RESEARCH}
# What the corpus's patients are known by (as a patient list or the vault would say).
KNOWN = KnownIdentifiers(
    names=(MUELLER, "Петров^Иван"),
    ids=("PID-778899", "PID-445566", "ACC5550101"),
    birth_dates=("19610412", "19280101"),
)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_corpus()


@pytest.fixture(scope="module")
def outputs(corpus: Corpus) -> dict[str, dict[str, bytes]]:
    """The corpus de-identified under each profile (pixels of objects at risk blanked)."""
    result: dict[str, dict[str, bytes]] = {}
    for label, options in PROFILES.items():
        engine = Deidentifier(
            Profile.from_options([*options, "clean-pixel-data"]),
            KEY,
            pixel_cleaner=FakePixelCleaner(),
        )
        result[label] = {
            name: engine.deidentify_bytes(data)[0] for name, data in corpus.objects.items()
        }
    return result


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def check(data: bytes, **kwargs) -> list[Finding]:
    return Verifier(ocr=False, **kwargs).verify_bytes(data, "object.dcm")


def no_value_in(findings: list[Finding], values: tuple[str, ...]) -> None:
    text = json.dumps([f.to_dict() for f in findings], ensure_ascii=False) + "\n".join(
        f.line() for f in findings
    )
    for value in values:
        if len(value) >= 3:
            assert value.casefold() not in text.casefold(), value


# -- the service ----------------------------------------------------------------------------


def test_mask_says_kind_and_length_not_the_value() -> None:
    assert mask("Müller^Jürgen") == "M… (13 chars)"
    assert mask("Bo") == "… (2 chars)"
    assert mask("   ") == "(empty)"


@pytest.mark.parametrize("label", PROFILES)
def test_clean_output_passes(outputs: dict[str, dict[str, bytes]], label: str) -> None:
    for name, data in outputs[label].items():
        assert check(data) == [], name
        assert check(data, known=KNOWN) == [], name  # the patients' own identifiers: gone


def test_declared_options_come_from_the_marks(outputs: dict[str, dict[str, bytes]]) -> None:
    ds = read(outputs["research"]["a-study1-ct0"])
    assert {o.value for o in declared_options(ds)} == {"basic", "clean-pixel-data", *RESEARCH}


def test_the_identified_input_fails_in_every_header_category(corpus: Corpus) -> None:
    categories: set[str] = set()
    for name, data in corpus.objects.items():
        findings = check(data)
        assert findings, name
        categories |= {f.category for f in findings}
        no_value_in(findings, PLANTED_TEXT)
    assert categories >= {
        "mark",
        "header",
        "file-meta",
        "private",
        "person-name",
        "date",
        "text",
        "overlay",
        "curve",
    }


def _plant(data: bytes, change: Callable[[Dataset], None]) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    change(ds)
    return to_bytes(ds)


def _private(ds: Dataset) -> None:
    ds.private_block(0x0029, "ACME PHI 1.0", create=True).add_new(0x10, "LO", MUELLER)


def _person(ds: Dataset) -> None:
    ds.EvaluatorName = "Welby^Marcus"  # not in Table E.1-1: judged as a person name


def _date(ds: Dataset) -> None:
    ds.ExpiryDate = "20230303"  # not in Table E.1-1, while the marks say dates were removed


def _text(ds: Dataset) -> None:
    ds.SeriesDescription = "call +41 44 123 45 67"  # kept (cleaned) under clean-descriptors


def _text_date(ds: Dataset) -> None:
    ds.SeriesDescription = "seen 12.04.1961"


def _email(ds: Dataset) -> None:
    ds.SeriesDescription = "ask j.mueller@example.org"


def _long_id(ds: Dataset) -> None:
    ds.SeriesDescription = "Thorax PID-778899"


def _header(ds: Dataset) -> None:
    ds.AccessionNumber = "ACC5550101"  # Z under every option


def _removed(ds: Dataset) -> None:
    ds.OtherPatientIDs = "OLD-112233"  # X


def _mark(ds: Dataset) -> None:
    del ds.PatientIdentityRemoved


def _meta(ds: Dataset) -> None:
    ds.file_meta.SourceApplicationEntityTitle = "ORIGINALSENDER"


def _age(ds: Dataset) -> None:
    ds.PatientAge = "095Y"


def _research_id(ds: Dataset) -> None:
    ds.PatientID = ds.PatientName = "PID-778899"


def _graphics(ds: Dataset) -> None:
    from deid_corpus import A

    plant_graphics(ds, A)


PLANTS: list[tuple[str, str, Callable[[Dataset], None], str]] = [
    # (profile, category expected, change, the planted value)
    ("basic", "mark", _mark, ""),
    ("basic", "header", _header, "ACC5550101"),
    ("basic", "header", _removed, "OLD-112233"),
    ("basic", "header", _research_id, "PID-778899"),
    ("basic", "file-meta", _meta, "ORIGINALSENDER"),
    ("basic", "private", _private, MUELLER),
    ("research", "private", _private, MUELLER),
    ("basic", "person-name", _person, "Welby"),
    ("basic", "date", _date, "20230303"),
    ("research", "text", _text, "+41 44 123 45 67"),
    ("research", "text", _text_date, "12.04.1961"),
    ("research", "text", _email, "j.mueller@example.org"),
    ("research", "text", _long_id, "PID-778899"),
    ("research", "age", _age, "095Y"),
    ("basic", "overlay", _graphics, "Müller"),
    ("basic", "curve", _graphics, "Müller"),
]


@pytest.mark.parametrize(("label", "category", "change", "value"), PLANTS)
def test_each_planted_category_is_found_without_repeating_it(
    outputs: dict[str, dict[str, bytes]],
    label: str,
    category: str,
    change: Callable[[Dataset], None],
    value: str,
) -> None:
    planted = _plant(outputs[label]["a-study1-ct0"], change)
    findings = check(planted)
    assert category in {f.category for f in findings}, findings
    no_value_in(findings, (value, *PLANTED_TEXT))


def test_known_identifiers_are_found_in_text_and_raw_bytes(
    outputs: dict[str, dict[str, bytes]],
) -> None:
    def describe(ds: Dataset) -> None:
        ds.SeriesDescription = "Thorax Muller axial"  # accents dropped: still the name

    planted = _plant(outputs["research"]["a-study1-ct0"], describe)
    assert check(planted) == []  # a name is not a pattern: only knowing it finds it
    findings = check(planted, known=KNOWN)
    assert [(f.category, f.keyword) for f in findings] == [("text", "SeriesDescription")]
    assert "name" in findings[0].detail

    data = outputs["basic"]["a-study1-ct0"]
    hidden = b"PID-445566".ljust(128, b"\0") + data[128:]  # in the preamble: no element
    assert [f.category for f in check(hidden, known=KNOWN)] == ["known"]
    no_value_in(check(hidden, known=KNOWN), ("PID-445566",))


def test_known_identifier_files(tmp_path: Path) -> None:
    listed = tmp_path / "known.txt"
    listed.write_text("Müller\n\nPID-778899\n", encoding="utf-8")
    assert load_known(listed).texts == ("Müller", "PID-778899")
    structured = tmp_path / "known.json"
    structured.write_text(json.dumps({"names": [MUELLER], "birth_dates": ["19610412"]}))
    assert load_known(structured) == KnownIdentifiers(names=(MUELLER,), birth_dates=("19610412",))
    structured.write_text(json.dumps({"people": []}))
    with pytest.raises(Exception, match="unknown keys"):
        load_known(structured)


def test_pseudonym_pattern(outputs: dict[str, dict[str, bytes]]) -> None:
    def rename(ds: Dataset) -> None:
        ds.PatientID = ds.PatientName = "TRIAL-0042"

    planted = _plant(outputs["basic"]["a-study1-ct0"], rename)
    assert check(planted) == []  # Patient Name repeats the research ID: a pseudonym

    def other(ds: Dataset) -> None:
        ds.PatientID, ds.PatientName = "TRIAL-0042", "Doe^Jane"

    named = _plant(outputs["basic"]["a-study1-ct0"], other)
    assert [f.category for f in check(named)] == ["person-name"]
    assert check(named, pseudonym=r"TRIAL-\d{4}|Doe\^Jane") == []


# -- the command ----------------------------------------------------------------------------


def write(folder: Path, objects: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in objects.items():
        (folder / f"{name}.dcm").write_bytes(data)
    return folder


def test_cli_exit_codes_and_no_identifier_in_the_output(
    cli: Cli, corpus: Corpus, outputs: dict[str, dict[str, bytes]], tmp_path: Path
) -> None:
    clean = write(tmp_path / "clean", outputs["research"])
    (clean / "README.txt").write_text("not DICOM")
    result = cli("deid", "verify", str(clean), "--no-ocr")
    assert "clean: 8 file(s) checked" in " ".join(result.stdout.split())

    identified = write(tmp_path / "identified", corpus.objects)
    for args in (("--no-ocr",), ("--no-ocr", "--json")):
        result = cli("deid", "verify", str(identified), str(clean), *args, expect=3)
        for value in PLANTED_TEXT:
            assert value.casefold() not in (result.stdout + result.stderr).casefold(), value
    summary = json.loads(result.stdout)
    assert summary["files"] == 16 and summary["files_with_findings"] == 8
    assert summary["skipped"] == 1 and summary["skipped_items"][0]["file"].endswith("README.txt")
    assert {i["category"] for i in summary["items"]} >= {"mark", "private", "person-name"}

    known = tmp_path / "known.txt"
    known.write_text("Jürgen\n", encoding="utf-8")
    cli("deid", "verify", str(clean), "--no-ocr", "--known", str(known))
    cli("deid", "verify", str(tmp_path / "missing"), expect=2)
    cli("deid", "verify", str(clean), "--no-ocr", "--pseudonym", "(", expect=2)


def test_cli_without_an_ocr_engine(
    cli: Cli, outputs: dict[str, dict[str, bytes]], tmp_path: Path, monkeypatch
) -> None:
    import vesalius.cli.deid as module

    monkeypatch.setattr(module, "rapidocr_missing", lambda: "not installed (test)")
    clean = write(tmp_path / "clean", outputs["basic"])
    result = cli("deid", "verify", str(clean), expect=1)
    assert "--no-ocr" in " ".join(result.stderr.split())
    cli("deid", "verify", str(clean), "--no-ocr")


def test_cli_verify_for_a_project_is_audited(
    cli: Cli, outputs: dict[str, dict[str, bytes]], tmp_path: Path, settings: Settings
) -> None:
    """``--project`` checks against the project's vault: a broker's act (test_verify_vault)."""
    clean = write(tmp_path / "clean", outputs["basic"])
    cli("init")
    cli("deid", "verify", str(clean), "--no-ocr", "--project", "nope", expect=1)
    cli("project", "create", "trial", "--deid")
    cli("user", "create", "ops")
    cli("grant", "ops", "trial", "broker")
    cli("deid", "verify", str(clean), "--no-ocr", "--project", "trial", expect=1)  # OS user
    cli("deid", "verify", str(clean), "--no-ocr", "--project", "trial", "--as", "ops")
    home = open_home(settings)
    try:
        with home.db.read() as session:
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.action == "deid.verify")
            ).all()
    finally:
        home.close()
    assert [e.target for e in events] == ["project:trial"]
    assert events[0].detail["files"] == 8 and events[0].detail["findings"] == 0


# -- OCR in deid run, checked by verify -----------------------------------------------------


def ocr_texts(ds: Dataset) -> list[str]:
    """Everything the OCR engine reads in the pixels (all regions, any confidence)."""
    return [region.text for region in find_text(ds, detector=default_detector())]


def test_deid_run_cleans_burned_in_text_and_verify_agrees(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    planted = {"us": ultrasound(), "sc": secondary_capture(), "sc16": secondary_capture(bits=16)}
    for name, item in planted.items():
        assert leaked(ocr_texts(item.ds)), name  # the OCR engine reads what was drawn
        item.ds.save_as(source / f"{name}.dcm", enforce_file_format=True)
    key = tmp_path / "key"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    key.chmod(0o600)

    out = tmp_path / "out"
    result = cli("deid", "run", str(source), str(out), "--key-file", str(key),
                 "-o", "clean-pixel-data", "--json", "--workers", "1")  # fmt: skip
    assert json.loads(result.stdout)["written"] == 3
    files = sorted(out.rglob("*.dcm"))
    assert len(files) == 3
    for path in files:
        ds = pydicom.dcmread(path)
        assert ds.BurnedInAnnotation == "NO"
        assert leaked(ocr_texts(ds)) == set(), path.name

    checked = cli("deid", "verify", str(out))
    assert "3 read by OCR" in " ".join(checked.stdout.split())
    failed = cli("deid", "verify", str(source), "--json", expect=3)
    items = json.loads(failed.stdout)["items"]
    pixels = [i for i in items if i["category"] == "pixels"]
    assert {Path(i["file"]).name for i in pixels} == {"us.dcm", "sc.dcm", "sc16.dcm"}
    assert len(pixels) == 3 * 4  # four lines of text each, every one once
    for token in ("DOE", "JOHN", "12345678", "ELSEWHERE"):
        assert token.casefold() not in failed.stdout.casefold()

    # without the option, or without an OCR engine: withheld, never passed through
    plain = cli("deid", "run", str(source), str(tmp_path / "plain"), "--key-file", str(key),
                "--json", expect=3)  # fmt: skip
    assert json.loads(plain.stdout)["withheld"] == 3


def test_deid_run_withholds_at_risk_objects_when_ocr_is_missing(
    cli: Cli, tmp_path: Path, monkeypatch
) -> None:
    import vesalius.cli.deid as module

    monkeypatch.setattr(module, "rapidocr_missing", lambda: "not installed (test)")
    source = tmp_path / "in"
    source.mkdir()
    ultrasound().ds.save_as(source / "us.dcm", enforce_file_format=True)
    key = tmp_path / "key"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    key.chmod(0o600)
    report = tmp_path / "report.json"
    result = cli("deid", "run", str(source), str(tmp_path / "out"), "--key-file", str(key),
                 "-o", "clean-pixel-data", "--report", str(report), expect=3)  # fmt: skip
    assert "OCR unavailable" in " ".join(result.stderr.split())
    (item,) = json.loads(report.read_text())["withheld_items"]
    assert "no pixel cleaner" in item["reason"]
    assert not list((tmp_path / "out").rglob("*.dcm"))
