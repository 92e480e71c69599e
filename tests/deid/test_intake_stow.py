"""STOW-RS into a ``--deid`` project de-identifies before storing, and its response
points at what was stored (PS3.18 10.5.3, Annex I)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from deid_corpus import build_corpus, oracle_leaks, read
from test_intake import fixed_key, leaks_in_home, leaks_in_index

from vesalius.core.config import Settings

from conftest import Cli, token_for

SENT = ["a-study1-ct0", "a-study1-ct1", "b-ct-aged"]
REFERENCED, RETRIEVE_URL, WARNING = "00081199", "00081190", "00081196"
INSTANCE = 'multipart/related; type="application/dicom"; transfer-syntax=*'


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


def parts_of(response: httpx.Response) -> list[bytes]:
    """The bodies of a multipart/related answer (parsed here, not by the server's code)."""
    content_type = response.headers["content-type"]
    assert content_type.startswith("multipart/related"), content_type
    boundary = next(
        p.split("=", 1)[1].strip('"')
        for p in (x.strip() for x in content_type.split(";"))
        if p.lower().startswith("boundary=")
    ).encode()
    chunks = response.content.split(b"--" + boundary)
    assert chunks[-1].startswith(b"--"), "the body must end with the closing boundary"
    return [c.partition(b"\r\n\r\n")[2].removesuffix(b"\r\n") for c in chunks[1:-1]]


def retrieve(http: httpx.Client, url: str) -> list[bytes]:
    response = http.get(url, headers={"Accept": INSTANCE})
    assert response.status_code == 200, (url, response.status_code, response.text[:200])
    return parts_of(response)


def without_sent_uids(body: dict) -> dict:
    """The response without the Referenced SOP Instance UIDs, which are the sender's own."""
    items = [
        {k: v for k, v in item.items() if k != "00081155"}
        for item in body.get(REFERENCED, {}).get("Value", [])
    ]
    return {**body, REFERENCED: items}


def test_stow_rs_response_retrieve_urls_name_the_deidentified_objects(
    cli: Cli, settings: Settings, server_factory
) -> None:
    corpus = build_corpus()
    cli("init")
    fixed_key(settings, "dx")
    cli("project", "create", "dx", "--deid")
    cli("project", "create", "plain")
    token = token_for(cli, "admin")
    server = server_factory()
    sent = [read(corpus.objects[name]) for name in SENT]
    study1 = str(sent[0].StudyInstanceUID)
    with server.client(token) as http:
        # 1. one study, named in the path by its UID as sent
        body, content_type = multipart([corpus.objects[n] for n in SENT[:2]])
        answer = http.post(
            f"/dicom-web/projects/dx/studies/{study1}",
            content=body,
            headers={"Content-Type": content_type},
        )
        assert answer.status_code == 200, answer.text
        [study_url] = answer.json()[RETRIEVE_URL]["Value"]
        assert study_url.startswith(f"{server.url}/dicom-web/projects/dx/studies/2.25.")
        whole_study = retrieve(http, study_url)
        assert len(whole_study) == 2
        # 2. two studies in one request: the study URL is empty (Type 2), items are not
        body, content_type = multipart([corpus.objects[n] for n in SENT])
        answer = http.post(
            "/dicom-web/projects/dx/studies", content=body, headers={"Content-Type": content_type}
        )
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result[RETRIEVE_URL] == {"vr": "UR"}
        items = result[REFERENCED]["Value"]
        # referenced as sent, in request order: the sender correlates by them
        assert [i["00081155"]["Value"] for i in items] == [[str(d.SOPInstanceUID)] for d in sent]
        assert [i["00081150"]["Value"] for i in items] == [[str(d.SOPClassUID)] for d in sent]
        assert all(i[WARNING] == {"vr": "US", "Value": [0xB000]} for i in items)
        stored = []
        for item, original in zip(items, sent, strict=True):
            [url] = item[RETRIEVE_URL]["Value"]
            [data] = retrieve(http, url)
            ds = read(data)
            stored.append(data)
            assert url == (
                f"{server.url}/dicom-web/projects/dx/studies/{ds.StudyInstanceUID}"
                f"/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
            )
            assert str(ds.SOPInstanceUID).startswith("2.25.")
            assert ds.SOPInstanceUID != original.SOPInstanceUID
            assert ds.StudyInstanceUID != original.StudyInstanceUID
            assert str(ds.PatientIdentityRemoved) == "YES"
            assert str(ds.PatientID) in ("dx-0001", "dx-0002")
            assert oracle_leaks(data, corpus.planted) == set()
            # and the original UIDs name nothing here
            gone = http.get(
                f"/dicom-web/projects/dx/studies/{original.StudyInstanceUID}"
                f"/series/{original.SeriesInstanceUID}/instances/{original.SOPInstanceUID}",
                headers={"Accept": INSTANCE},
            )
            assert gone.status_code == 404
        # the study URL of request 1 holds exactly the two de-identified study-1 objects
        assert sorted(whole_study) == sorted(stored[:2])
        # no identifier of the sent headers in the answer, other than the sender's UIDs
        text = json.dumps(without_sent_uids(result), ensure_ascii=False)
        assert not [v for v in corpus.planted if v.casefold() in text.casefold()]

        # a project that stores what it receives answers as before: the UIDs sent, no warning
        body, content_type = multipart([corpus.objects[n] for n in SENT[:2]])
        answer = http.post(
            f"/dicom-web/projects/plain/studies/{study1}",
            content=body,
            headers={"Content-Type": content_type},
        )
        assert answer.status_code == 200, answer.text
        plain = answer.json()
        assert plain[RETRIEVE_URL]["Value"] == [
            f"{server.url}/dicom-web/projects/plain/studies/{study1}"
        ]
        for item, original in zip(plain[REFERENCED]["Value"], sent, strict=False):
            assert WARNING not in item
            assert item[RETRIEVE_URL]["Value"] == [
                f"{server.url}/dicom-web/projects/plain/studies/{study1}"
                f"/series/{original.SeriesInstanceUID}/instances/{original.SOPInstanceUID}"
            ]
            [data] = retrieve(http, item[RETRIEVE_URL]["Value"][0])
            assert data == corpus.objects[SENT[sent.index(original)]]
    # the access log holds the paths clients asked for (sent UIDs included), and nothing
    # of the headers the server read
    log = server.log.read_text(errors="replace")
    assert not [v for v in corpus.planted if v not in corpus.uids and v in log]
