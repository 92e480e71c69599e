"""STOW-RS into a ``--deid`` project de-identifies before storing."""

from __future__ import annotations

import json
from pathlib import Path

from deid_corpus import build_corpus
from test_intake import fixed_key, leaks_in_home, leaks_in_index

from vesalius.core.config import Settings

from conftest import Cli, token_for

SENT = ["a-study1-ct0", "a-study1-ct1", "b-ct-aged"]


def multipart(parts: list[bytes], boundary: str = "deid-stow-boundary") -> tuple[bytes, str]:
    body = b"".join(
        b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n"
        for p in parts
    )
    body += b"--" + boundary.encode() + b"--\r\n"
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def test_stow_rs_into_a_deid_project(
    cli: Cli, settings: Settings, server_factory, tmp_path: Path
) -> None:
    corpus = build_corpus()
    cli("init")
    fixed_key(settings, "dx")
    cli("project", "create", "dx", "--deid")
    token = token_for(cli, "admin")
    server = server_factory()
    body, content_type = multipart([corpus.objects[name] for name in SENT])
    with server.client(token) as http:
        response = http.post(
            "/dicom-web/projects/dx/studies", content=body, headers={"Content-Type": content_type}
        )
        assert response.status_code == 200, response.text
        studies = http.get("/api/projects/dx/studies").json()
        subjects = http.get("/api/projects/dx/subjects").json()
    assert studies["total"] == 2
    assert sorted(s["subject_id"] for s in subjects["items"]) == ["dx-0001", "dx-0002"]
    assert leaks_in_home(settings, corpus.planted) == {}
    assert leaks_in_index(settings, corpus.planted) == set()
    log = server.log.read_text(errors="replace")
    text = json.dumps([studies, subjects], ensure_ascii=False) + log
    assert not [v for v in corpus.planted if v in text]
