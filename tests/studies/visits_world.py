"""A small visit world: three subjects on scanner A, imported and checked through the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from studies_world import FLAIR, PROTOCOL, SCANNER_A, T1, make_mr_study, series, write

from conftest import Cli

# baseline window 0..14 days, month6 182 ±14, month12 365 ±21; missed 30 days after
DATES = {
    "001": [dt.date(2024, 1, 10), dt.date(2024, 7, 10)],  # baseline, month6
    "002": [dt.date(2024, 1, 10)],  # baseline only
    "003": [dt.date(2024, 7, 1)],  # baseline only, missing FLAIR (a deviation)
}
TODAY = "2025-01-20"


def protocol_text(notifications: str = "") -> str:
    return PROTOCOL + notifications


def build(
    cli: Cli,
    tmp_path: Path,
    later,
    *,
    notifications: str = "",
    deid: bool = False,
    patient_prefix: str = "",
) -> dict[str, str]:
    """Create project ``trial``, load the protocol, import the studies, process events."""
    cli("init")
    cli("project", "create", "trial", *(["--deid"] if deid else []))
    protocol_file = tmp_path / "protocol.yaml"
    protocol_file.write_text(protocol_text(notifications))
    cli("protocol", "load", "--project", "trial", str(protocol_file))
    data = tmp_path / "data"
    uids = {}
    for subject, dates in DATES.items():
        for number, date in enumerate(dates):
            parts = [series(T1), series(FLAIR)] if subject != "003" else [series(T1)]
            uids[f"{subject}-{number}"] = write(
                data / f"{subject}-{number}",
                make_mr_study(
                    patient=patient_prefix + subject,
                    date=date,
                    scanner=SCANNER_A,
                    series_list=parts,
                ),
            )
    cli("import", "--project", "trial", str(data), "--json", expect=None)
    later()
    cli("events", "process")
    return uids


def visits(cli: Cli, *args: str) -> dict:
    return json.loads(cli("visits", "--project", "trial", "--json", *args).stdout)


def by_key(report: dict) -> dict[tuple[str, str], dict]:
    return {(i["subject_id"], i["visit"]): i for i in report["items"]}
