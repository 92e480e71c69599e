"""A home on the at-scale storage setting: objects in S3 (moto's server), same behaviour."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import boto3
import pytest

from vesalius.core.dicom.synthetic import StudySpec, make_study

from conftest import S3_BUCKET, Cli, token_for


def test_import_and_serve_with_objects_in_s3(
    cli: Cli, tmp_path: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, server_factory
) -> None:
    monkeypatch.setenv("VESALIUS_STORAGE_URL", f"s3://{S3_BUCKET}/homes/{tmp_path.name}")
    monkeypatch.setenv("VESALIUS_S3_ENDPOINT_URL", s3_endpoint)
    folder = tmp_path / "in"
    folder.mkdir()
    spec = StudySpec("S3P", "Bucket^Betty", dt.date(2024, 6, 1))
    files = {}
    for ds in make_study(spec, [("CT", "Axial", 3)], seed="s3-home"):
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files[ds.SOPInstanceUID] = path.read_bytes()
    cli("init")
    cli("project", "create", "p1")
    assert json.loads(cli("import", "-p", "p1", str(folder), "--json").stdout)["stored"] == 3
    assert json.loads(cli("import", "-p", "p1", str(folder), "--json").stdout)["duplicates"] == 3

    keys = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
        Bucket=S3_BUCKET, Prefix=f"homes/{tmp_path.name}/"
    )
    assert keys["KeyCount"] == 3
    assert not (cli_home_objects := tmp_path / "home" / "objects").exists(), cli_home_objects

    server = server_factory()
    client = server.client(token_for(cli, "admin"))
    for sop_uid, data in files.items():
        assert client.get(f"/api/projects/p1/instances/{sop_uid}/file").content == data
