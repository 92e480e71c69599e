"""Protocol files: validation errors name the line and key; every load is a new version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from studies_world import PROTOCOL

from vesalius.core.errors import InvalidInput
from vesalius.studies.protocol import parse_protocol

from conftest import Cli

EXAMPLE = Path(__file__).parents[2] / "examples" / "protocol.yaml"


def errors_of(text: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse_protocol(text, source="p.yaml")
    return str(caught.value)


def test_example_and_test_protocols_parse() -> None:
    example = parse_protocol(EXAMPLE.read_text())
    assert [v.name for v in example.visits] == ["qualification", "baseline", "month6", "month12"]
    assert [s.name for s in example.expected(example.visits[1])] == ["T1w", "FLAIR", "T1w-post"]
    assert example.device("A-prisma").qualified  # type: ignore[union-attr]
    t1 = example.series[0]
    assert t1.require["RepetitionTime"].min == 2000
    assert t1.require["FlipAngle"].equals == 9  # shorthand: a value means equal
    assert t1.overrides[0].when.manufacturer.glob == "GE*"  # type: ignore[union-attr]
    parse_protocol(PROTOCOL)


def test_unknown_keyword_points_to_its_line() -> None:
    text = PROTOCOL.replace("SliceThickness: {max: 1.2}", "SliceThicknes: {max: 1.2}", 1)
    message = errors_of(text)
    line = text.splitlines().index("      SliceThicknes: {max: 1.2}") + 1
    assert (
        f"p.yaml line {line}: series[0].require.SliceThicknes: 'SliceThicknes' is not a DICOM "
        "keyword or one of ['contrast', 'slices']" in message
    )


def test_bad_constraint_and_unknown_field_name_their_lines() -> None:
    text = PROTOCOL.replace(
        "RepetitionTime: {min: 2000, max: 2400}", "RepetitionTime: {min: 2400, max: 2000}"
    ).replace("    window: {before: 14, after: 14}", "    windows: {before: 14, after: 14}")
    lines = text.splitlines()
    message = errors_of(text).splitlines()
    rt = next(i for i, t in enumerate(lines) if "RepetitionTime: {min: 2400" in t) + 1
    window = next(i for i, t in enumerate(lines) if "windows:" in t) + 1
    assert f"p.yaml line {rt}: series[0].require.RepetitionTime: min is greater than max" in message
    assert f"p.yaml line {window}: visits[2].windows: Extra inputs are not permitted" in message


def test_references_and_duplicates_are_checked() -> None:
    text = (
        PROTOCOL.replace("series: [T1w, FLAIR]\n", "series: [T1w, DWI]\n", 1)
        .replace("    site: B\n", "    site: C\n")
        .replace("  - {key: B, name: Hospital B}", "  - {key: A, name: Hospital B}")
    )
    message = errors_of(text)
    assert "visits[2].series[1]: no series 'DWI' in the series definitions" in message
    assert "devices[1].site: no site 'C' in sites" in message
    assert "sites[1].key: duplicate key 'A'" in message


def test_yaml_and_shape_errors() -> None:
    unclosed = errors_of("name: x\nvisits:\n  - [unclosed\n")
    assert "p.yaml line 4: not valid YAML" in unclosed
    assert "(while parsing a flow sequence on line 3)" in unclosed
    assert "a protocol file is a mapping" in errors_of("- just\n- a list\n")
    assert "visits: Field required" in errors_of("name: x\n")
    message = errors_of("visits:\n  - name: q\n    qualification: true\n")
    assert "line 2: visits[0]: a qualification visit needs match rules" in message
    bad_regex = errors_of("visits:\n  - name: v\n    match: {StudyDescription: {regex: '('}}\n")
    assert "not a regular expression" in bad_regex


def test_load_show_and_versions(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("project", "create", "trial")
    first = tmp_path / "v1.yaml"
    first.write_text(PROTOCOL)
    second = tmp_path / "v2.yaml"
    second.write_text(PROTOCOL.replace("name: TEST-MR 1.0", "name: TEST-MR 1.1"))
    out = cli("protocol", "load", "--project", "trial", str(first)).stdout
    assert "loaded as version 1" in out and "2 sites, 2 devices, 4 visits" in out
    assert (
        json.loads(cli("protocol", "load", "-p", "trial", str(second), "--json").stdout)["version"]
        == 2
    )

    shown = json.loads(cli("protocol", "show", "--project", "trial", "--json").stdout)
    assert shown["version"] == 2 and shown["name"] == "TEST-MR 1.1"
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert shown["protocol"]["devices"][0]["key"] == "A-prisma"
    old = cli("protocol", "show", "--project", "trial", "--version", "1").stdout
    assert "version 1 of 2" in old and "name: TEST-MR 1.0" in old

    broken = tmp_path / "broken.yaml"
    broken.write_text(PROTOCOL.replace("FlipAngle: 9", "FlipAngel: 9"))
    result = cli("protocol", "load", "--project", "trial", str(broken), expect=2)
    assert "'FlipAngel' is not a DICOM keyword" in result.output
    shown = json.loads(cli("protocol", "show", "--project", "trial", "--json").stdout)
    assert shown["version"] == 2, "an invalid file stores nothing"
    cli("protocol", "show", "--project", "trial", "--version", "9", expect=1)
    cli("protocol", "load", "--project", "nope", str(first), expect=1)
    cli("project", "create", "empty")
    assert "no protocol yet" in cli("protocol", "show", "-p", "empty", expect=1).output
