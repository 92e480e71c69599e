"""``vesalius deid``: de-identify files, folders and zip archives into a folder, and
verify that files hold no residual identifiers.

``deid verify --project KEY`` also searches the files for what the project's
honest-broker vault holds (:mod:`vesalius.deid.vault_search`). That opens the vault, so
it is the broker's act, as ``vesalius broker lookup`` is: it runs as the vesalius user
named by ``--as`` (default: the account named like the OS user), who must hold the
``broker`` role in the project; every attempt is audited, and a refusal exits with 1.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vesalius.cli.context import (
    EXIT_FAILED,
    EXIT_PARTIAL,
    LazyConsole,
    err,
    failures,
    operator,
    print_json,
    state,
)
from vesalius.core.errors import InvalidInput, NotFound, PermissionDenied
from vesalius.deid.batch import BatchReport, BatchSpec, run_batch
from vesalius.deid.keys import project_key, read_key_file
from vesalius.deid.profile import Option, Profile
from vesalius.ingest.sources import Item, expand, read_item

if TYPE_CHECKING:
    from vesalius.deid.series import DefaceSettings
    from vesalius.deid.verify import VerifyReport

# Imported where used, not here: the database layer (only with --project), OCR and its
# models (only under clean-pixel-data), the verifier, and rich (only to print to a person).
# `deid run --json` starts in well under a second without them.
DEFAULT_PSEUDONYM = r"S-[0-9A-F]{12}"  # vesalius.deid.verify.DEFAULT_PSEUDONYM

out = LazyConsole()
deid_app = typer.Typer(
    help="De-identify DICOM objects (PS3.15 Annex E) with a project's key.",
    no_args_is_help=True,
)
_zips: dict[str, zipfile.ZipFile] = {}


def _read(item: Item) -> bytes:
    """Read one input (module level: worker processes receive it by reference)."""
    return read_item(item, _zips)


def _origin(item: Item) -> str:
    return item.origin


@contextmanager
def _progress(label: str, total: int, show: bool) -> Iterator[Callable[[int], None]]:
    """Advance a progress bar on stderr when ``show``; rich is imported only then."""
    if not show:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    if label == "de-identifying":
        from rich.progress import TimeRemainingColumn

        columns.append(TimeRemainingColumn())
    with Progress(*columns, console=err.console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def rapidocr_missing() -> str | None:
    """Why the OCR engine cannot run (``None`` when it can); imports nothing of OCR."""
    from vesalius.deid.pixels import rapidocr_missing as missing

    return missing()


def _deface_settings(all_volumes: bool) -> DefaceSettings | None:
    if not all_volumes:
        return None
    from vesalius.deid.series import DefaceSettings

    return DefaceSettings(all_volumes=True)


def _write_report(path: Path, report: BatchReport) -> None:
    """The report names inputs (paths may say who a patient is): owner-only, like secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(report.to_dict(), handle, indent=2)
        handle.write("\n")


@deid_app.command("run")
def deid_run(
    ctx: typer.Context,
    source: Path = typer.Argument(
        ..., metavar="INPUT", help="A file, folder, .zip archive or DICOMDIR."
    ),
    output: Path = typer.Argument(
        ..., metavar="OUTPUT", help="Folder for the de-identified copies."
    ),
    key_file: Path = typer.Option(
        None, "--key-file", help="File holding the key (mode 0600; group/others: refused)."
    ),
    project: str = typer.Option(None, "--project", "-p", help="Use this project's key."),
    options: list[str] = typer.Option(
        None,
        "--option",
        "-o",
        help="A PS3.15 option, repeatable: "
        + ", ".join(o.value for o in Option if o.value != "basic"),
    ),
    profile_file: Path = typer.Option(None, "--profile", help="Profile TOML (options, overrides)."),
    report_file: Path = typer.Option(None, "--report", help="Write the full report as JSON."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    workers: int = typer.Option(None, help="Worker processes (default: one per core)."),
    deface_all_volumes: bool = typer.Option(
        False,
        "--deface-all-volumes",
        help="Under clean-recognizable-visual-features, treat every MR/CT series as a head "
        "(default: only those whose body part or descriptions say head or brain).",
    ),
) -> None:
    """De-identify objects into OUTPUT/<study>/<series>/<sop>.dcm; exit 3 if some were withheld.

    Objects at risk of burned-in text (ultrasound, secondary captures, screen saves, colour
    images, Burned In Annotation YES) are cleaned by OCR under -o clean-pixel-data, and
    withheld without it (or when the OCR engine is not installed). Under
    -o clean-recognizable-visual-features, 3D head MR/CT series are defaced (Quickshear;
    the 'deface' extra) and head images that cannot be (localizers, too few slices) are
    withheld.
    """
    with failures():
        if (key_file is None) == (project is None):
            raise InvalidInput("give exactly one of --key-file and --project")
        profile = Profile.load(profile_file) if profile_file else Profile()
        profile = profile.with_options(options or [])
        if source.is_dir() and output.resolve().is_relative_to(source.resolve()):
            raise InvalidInput("OUTPUT must not be inside the input folder")
        cli = state(ctx)
        settings = cli.settings
        if project is not None:
            from vesalius.deid.runs import require_project

            home = cli.home()
            with home.db.read() as session:
                require_project(session, project=project)
            key = project_key(settings, project)
        else:
            key = read_key_file(key_file)
        items = list(expand([source]))
        cleaner = None
        if profile.has(Option.CLEAN_PIXEL_DATA):
            missing = rapidocr_missing()
            if missing is None:
                from vesalius.deid.pixels import OcrPixelCleaner

                cleaner = OcrPixelCleaner()
            else:
                err.print(
                    f"warning: OCR unavailable ({missing}): objects at risk of burned-in "
                    "text will be withheld",
                    highlight=False,
                )
        spec = BatchSpec(
            profile,
            key,
            settings.tcia_private_tags_path,
            pixel_cleaner=cleaner,
            withhold_uncleaned=True,  # at risk and not cleaned: never passed through
            deface=_deface_settings(deface_all_volumes),
        )
        show = not as_json and err.is_terminal
        with _progress("de-identifying", len(items), show) as advance:
            report = run_batch(
                items,
                read=_read,
                origin=_origin,
                output=output,
                spec=spec,
                workers=settings.import_workers if workers is None else workers,
                progress=advance,
            )
        if project is not None:
            from vesalius.deid.runs import record_run

            with cli.home().db.write() as session, session.begin():
                record_run(session, project=project, actor=operator(), summary=report.summary())
        if report_file is not None:
            _write_report(report_file, report)
    summary = report.summary()
    if as_json:
        print_json(summary)
    else:
        from rich.table import Table

        table = Table(*(k.replace("_", " ") for k in summary))
        table.add_row(*(str(v) for v in summary.values()))
        out.print(table)
        for item in report.withheld_items:
            out.print(f"withheld: {item['origin']}: {item['reason']}", highlight=False)
    if report.withheld:
        raise typer.Exit(EXIT_PARTIAL)


def _verify_items(paths: list[Path]) -> list[tuple[str, Callable[[], bytes]]]:
    return [(item.origin, functools.partial(_read, item)) for item in expand(paths)]


def _print_findings(report: VerifyReport) -> None:
    for finding in report.findings:
        out.print(finding.line(), highlight=False, markup=False, soft_wrap=True)
    for item in report.skipped:
        err.print(f"skipped: {item['file']}: {item['reason']}", highlight=False, markup=False)
    summary = report.summary()
    verdict = "clean" if report.clean else "IDENTIFIERS FOUND"
    out.print(
        f"{verdict}: {summary['files']} file(s) checked, {summary['files_with_findings']} with "
        f"findings ({summary['findings']} finding(s)), {summary['pixels_read']} read by OCR, "
        f"{summary['skipped']} skipped",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@deid_app.command("verify")
def deid_verify(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        ..., metavar="PATH...", help="Files, folders, .zip archives or DICOMDIRs to check."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
    no_ocr: bool = typer.Option(
        False, "--no-ocr", help="Do not read the pixels of objects at risk of burned-in text."
    ),
    project: str = typer.Option(
        None,
        "--project",
        "-p",
        help="Also search for the identifiers this project's vault holds (broker role; audited).",
    ),
    as_user: str = typer.Option(
        None,
        "--as",
        help="With --project: the vesalius user checking, a broker of the project "
        "(default: the OS user name).",
    ),
    known_file: Path = typer.Option(
        None,
        "--known",
        help="Identifiers to look for: JSON (names, ids, birth_dates, dates, texts) or one "
        "per line.",
    ),
    pseudonym: str = typer.Option(
        DEFAULT_PSEUDONYM, "--pseudonym", help="Regular expression research IDs match in full."
    ),
) -> None:
    """Scan DICOM files for residual identifiers (header and OCR of the pixels).

    Prints one line per finding (file, tag, keyword, kind, a masked hint: never the value).
    With --project, also every identifier the project's vault holds (patient IDs, names
    and their parts, birth dates, accession numbers, original UIDs), reported by element
    and kind only; only a broker of the project may, and every attempt is audited.
    Exit codes: 0 nothing found; 3 identifiers found (or pixels that could not be read);
    1 the check could not run (OCR engine missing: use --no-ocr; not a broker; a project
    without a vault); 2 usage error.
    """
    from vesalius.deid.private import SafePrivate
    from vesalius.deid.runs import record_verify, require_project
    from vesalius.deid.text import KnownIdentifiers
    from vesalius.deid.vault_search import VaultMatcher, open_for_verify
    from vesalius.deid.verify import Verifier, load_known, verify

    with failures():
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise InvalidInput(f"no such file or folder: {', '.join(missing)}")
        if as_user is not None and project is None:
            raise InvalidInput("--as names the broker of a --project check: give --project")
        known = load_known(known_file) if known_file is not None else KnownIdentifiers()
        cli = state(ctx)
        if project is not None:
            with cli.home().db.read() as session:
                require_project(session, project=project)
        if not no_ocr and (reason := rapidocr_missing()) is not None:
            err.print(
                f"[red]error:[/red] OCR unavailable ({reason}); install it or pass --no-ocr",
                highlight=False,
            )
            raise typer.Exit(EXIT_FAILED)
        vault: VaultMatcher | None = None
        if project is not None:
            # committed before anything is reported or checked: the attempt is on record
            with cli.home().db.write() as session, session.begin():
                access = open_for_verify(
                    session,
                    settings=cli.settings,
                    project=project,
                    user_name=as_user or _os_user(),
                    via="cli",
                    operator=operator(),
                )
            if access.outcome == "refused":
                raise PermissionDenied(f"verify against the vault refused: {access.reason}")
            if access.identifiers is None:
                raise NotFound(access.reason)
            vault = VaultMatcher(access.identifiers)
        verifier = Verifier(
            known=known,
            ocr=not no_ocr,
            safe_private=SafePrivate.load(cli.settings.tcia_private_tags_path),
            pseudonym=pseudonym,
            vault=vault,
        )
        items = _verify_items(paths)
        show = not as_json and err.is_terminal
        with _progress("verifying", len(items), show) as advance:
            report = verify(items, verifier, progress=advance)
        if project is not None:
            summary = report.summary() | {"vault_findings": _vault_findings(report)}
            with cli.home().db.write() as session, session.begin():
                record_verify(session, project=project, actor=operator(), summary=summary)
    if as_json:
        data = report.to_dict()
        if vault is not None:
            data["vault"] = {"project": project, "subjects": vault.subjects,
                             "findings": _vault_findings(report)}  # fmt: skip
        print_json(data)
    else:
        _print_findings(report)
        if vault is not None:
            out.print(
                f"checked against the vault of project {project} ({vault.subjects} "
                f"subject(s)): {_vault_findings(report)} finding(s)",
                highlight=False,
                markup=False,
            )
    if not report.clean:
        raise typer.Exit(EXIT_PARTIAL)


def _vault_findings(report: VerifyReport) -> int:
    return sum(1 for f in report.findings if f.category == "vault")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
