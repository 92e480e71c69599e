"""DICOMweb over plain HTTP: exact media types, status codes, OHIF's queries, access.

Complements the dicomweb-client tests with what a client library hides: headers as
sent, every error status (400, 401, 404, 405, 406, 409, 415), chunked STOW-RS bodies,
byte-exact parts and the project scoping of the two service roots.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import pydicom
import pytest
from dicomweb_world import (
    DICOM_JSON,
    PROBLEM,
    VIEWER_ORIGIN,
    World,
    multipart,
    running_world,
    sample,
    split_multipart,
    stow,
    study,
)

from vesalius.core.dicom.synthetic import to_bytes

ROOT = "/dicom-web"
P1 = "/dicom-web/projects/p1"
FAILED, REFERENCED, REASON = "00081198", "00081199", "00081197"
ILE, JPEG = "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.50"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_world(tmp_path_factory.mktemp("dicomweb-http")) as running:
        yield running


@pytest.fixture(scope="module")
def ohif(world: World) -> dict[str, Any]:
    """Three studies as an OHIF study list would show them."""
    studies = {
        "ada": study(
            "OH1", "Lovelace^Ada", dt.date(2020, 2, 10), [("CT", "Chest", 2)], accession="ACC-OH1"
        ),
        "alan": study(
            "OH2",
            "Turing^Alan",
            dt.date(2020, 8, 1),
            [("MR", "Brain", 1), ("CT", "Scout", 1)],
            accession="ACC-OH2",
        ),
        "grace": study(
            "OH3", "Hopper^Grace", dt.date(2021, 1, 5), [("MR", "Knee", 2)], accession="ACC-OH3"
        ),
    }
    for datasets in studies.values():
        assert stow(world, "alice", datasets).status_code == 200
    return {name: datasets[0].StudyInstanceUID for name, datasets in studies.items()} | {
        "datasets": studies
    }


def uids(response: Any, tag: str = "0020000D") -> list[str]:
    return [item[tag]["Value"][0] for item in response.json()]


# --- QIDO-RS ------------------------------------------------------------------------


def test_search_answers_exactly_application_dicom_json(world: World, ohif: dict) -> None:
    with world.client("alice") as http:
        response = http.get(f"{ROOT}/studies", params={"PatientID": "OH1"})
    assert response.status_code == 200
    assert response.headers["content-type"] == DICOM_JSON
    assert uids(response) == [ohif["ada"]]
    [item] = response.json()
    assert item["00081190"] == {"vr": "UR", "Value": [f"{world.url}{ROOT}/studies/{ohif['ada']}"]}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"PatientName": "Lovelace*", "limit": "101"}, ["ada"]),
        ({"PatientName": "turing*", "limit": "101"}, ["alan"]),
        ({"StudyDate": "20200101-20201231", "limit": "101"}, ["ada", "alan"]),
        ({"ModalitiesInStudy": "CT", "limit": "101", "offset": "0"}, ["ada", "alan"]),
        ({"PatientID": "OH3"}, ["grace"]),
        ({"AccessionNumber": "ACC-OH2"}, ["alan"]),
        ({"00100010": "Hopper^Grace"}, ["grace"]),
        ({"PatientName": "ada", "fuzzymatching": "true"}, ["ada"]),
        ({"PatientName": "ada"}, []),
    ],
)
def test_ohif_study_list_queries(
    world: World, ohif: dict, params: dict[str, str], expected: list[str]
) -> None:
    with world.client("alice") as http:
        response = http.get(f"{ROOT}/studies", params=params)
    assert response.status_code == 200
    assert sorted(uids(response)) == sorted(ohif[name] for name in expected)


def test_study_list_without_filters_shows_readable_projects_only(world: World, ohif: dict) -> None:
    with world.client("alice") as http:
        mine = uids(http.get(f"{ROOT}/studies", params={"limit": "101"}))
        in_p1 = uids(http.get(f"{P1}/studies", params={"limit": "101"}))
    assert {ohif["ada"], ohif["alan"], ohif["grace"]} <= set(mine)
    assert sorted(mine) == sorted(in_p1)  # alice reads p1 only
    with world.client("bob") as http:  # bob reads p2 only
        response = http.get(f"{ROOT}/studies", params={"limit": "101"})
        assert [s["00100020"]["Value"][0] for s in response.json()] == ["P2X"]
        assert http.get(f"{ROOT}/studies", params={"PatientID": "OH1"}).json() == []
        assert http.get(f"{ROOT}/series", params={"PatientID": "OH*"}).json() == []


def test_no_match_is_200_with_an_empty_array(world: World, ohif: dict) -> None:
    with world.client("alice") as http:
        response = http.get(f"{ROOT}/studies", params={"PatientName": "Nobody^At All"})
    assert response.status_code == 200
    assert response.headers["content-type"] == DICOM_JSON
    assert response.content == b"[]"


def test_series_and_instance_searches_under_a_study(world: World, ohif: dict) -> None:
    alan = ohif["datasets"]["alan"]
    with world.client("alice") as http:
        series = http.get(f"{ROOT}/studies/{ohif['alan']}/series")
        assert sorted(uids(series, "00080060")) == ["CT", "MR"]
        assert "00100010" not in series.json()[0]  # scoped to the study: no study attributes
        url = f"{world.url}{ROOT}/studies/{ohif['alan']}/series/{alan[0].SeriesInstanceUID}"
        assert url in [s["00081190"]["Value"][0] for s in series.json()]
        everywhere = http.get(f"{ROOT}/series", params={"Modality": "MR", "PatientID": "OH2"})
        [mr] = everywhere.json()
        assert mr["0020000D"]["Value"] == [ohif["alan"]]  # study attributes come along
        instances = http.get(f"{ROOT}/studies/{ohif['alan']}/instances")
        assert sorted(uids(instances, "00080018")) == sorted(ds.SOPInstanceUID for ds in alan)
        in_series = http.get(
            f"{ROOT}/studies/{ohif['alan']}/series/{alan[1].SeriesInstanceUID}/instances"
        )
        assert uids(in_series, "00080018") == [alan[1].SOPInstanceUID]
        everything = http.get(f"{ROOT}/instances", params={"PatientID": "OH2"})
        assert sorted(uids(everything, "00080018")) == sorted(ds.SOPInstanceUID for ds in alan)


def test_includefield_adds_attributes(world: World, ohif: dict) -> None:
    grace = ohif["datasets"]["grace"][0]
    path = f"{ROOT}/studies/{grace.StudyInstanceUID}/series/{grace.SeriesInstanceUID}/instances"
    with world.client("alice") as http:
        plain = http.get(path).json()
        assert all("00200032" not in i and "00180050" not in i for i in plain)
        by_both = http.get(path, params=[("includefield", "ImagePositionPatient,00180050")])
        assert all("00200032" in i and "00180050" in i for i in by_both.json())
        repeated = http.get(
            path, params=[("includefield", "ImagePositionPatient"), ("includefield", "00180050")]
        )
        assert repeated.json() == by_both.json()
        everything = http.get(path, params={"includefield": "all"}).json()
        assert all("00200032" in i and "00280010" in i for i in everything)


def test_paging_with_limit_and_offset(world: World, ohif: dict) -> None:
    with world.client("alice") as http:
        full = uids(http.get(f"{ROOT}/instances", params={"PatientID": "OH*"}), "00080018")
        pages = [
            uids(
                http.get(f"{ROOT}/instances", params={"PatientID": "OH*", "limit": 2, "offset": o}),
                "00080018",
            )
            for o in range(0, 8, 2)
        ]
    assert len(full) == 6
    assert [len(p) for p in pages] == [2, 2, 2, 0]
    assert [u for page in pages for u in page] == full


def test_bad_search_parameters_are_400_with_a_reason(world: World, ohif: dict) -> None:
    with world.client("alice") as http:
        for params in (
            {"limit": "many"},
            {"offset": "-1"},
            {"NotAnAttribute": "x"},
            {"fuzzymatching": "perhaps"},
            {"includefield": "Bogus"},
        ):
            response = http.get(f"{ROOT}/studies", params=params)
            assert response.status_code == 400, params
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["detail"]


def test_unmatchable_attribute_is_named_in_a_warning(world: World, ohif: dict) -> None:
    with world.client("alice") as http:
        response = http.get(f"{ROOT}/studies", params={"PatientID": "OH1", "PatientComments": "x*"})
    assert response.status_code == 200
    warning = response.headers["warning"]
    assert warning.startswith("299 ")
    assert "The following attributes are not supported for matching: PatientComments" in warning


def test_xml_only_clients_get_406(world: World, ohif: dict) -> None:
    with world.client("alice") as http:
        response = http.get(f"{ROOT}/studies", headers={"Accept": "application/dicom+xml"})
    assert response.status_code == 406
    assert response.headers["content-type"] == PROBLEM


# --- WADO-RS ------------------------------------------------------------------------


def test_retrieve_sends_stored_bytes_in_multipart_related(world: World, ohif: dict) -> None:
    ada = ohif["datasets"]["ada"]
    sent = {ds.SOPInstanceUID: to_bytes(ds) for ds in ada}
    accepts = [
        'multipart/related; type="application/dicom"; transfer-syntax=*',
        "multipart/related; type=application/dicom",
        "*/*",
        None,
    ]
    with world.client("alice") as http:
        for accept in accepts:
            headers = {"Accept": accept} if accept else {}
            response = http.get(f"{ROOT}/studies/{ohif['ada']}", headers=headers)
            assert response.status_code == 200, accept
            content_type = response.headers["content-type"]
            assert content_type.startswith('multipart/related; type="application/dicom"; boundary=')
            parts = split_multipart(response)
            assert sorted(data for _, data in parts) == sorted(sent.values())
            assert {h["content-type"] for h, _ in parts} == {
                "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
            }


def test_retrieve_transcodes_or_refuses_transfer_syntaxes(world: World) -> None:
    data = sample("MR_small_implicit.dcm")  # stored Implicit VR Little Endian
    ds = pydicom.dcmread(io.BytesIO(data))
    body, content_type = multipart([data])
    path = f"{P1}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
    with world.client("alice") as http:
        stored = http.post(f"{P1}/studies", content=body, headers={"Content-Type": content_type})
        assert stored.status_code == 200
        url = f"{path}/instances/{ds.SOPInstanceUID}"
        as_stored = http.get(
            url,
            headers={"Accept": f"multipart/related; type=application/dicom; transfer-syntax={ILE}"},
        )
        assert split_multipart(as_stored)[0][1] == data
        explicit = http.get(url, headers={"Accept": 'multipart/related; type="application/dicom"'})
        [(headers, converted)] = split_multipart(explicit)
        assert headers["content-type"].endswith("transfer-syntax=1.2.840.10008.1.2.1")
        again = pydicom.dcmread(io.BytesIO(converted))
        assert again.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        assert again.PixelData == ds.PixelData and again.PatientName == ds.PatientName
        jpeg = http.get(
            url,
            headers={
                "Accept": f'multipart/related; type="application/dicom"; transfer-syntax={JPEG}'
            },
        )
        assert jpeg.status_code == 406
        assert jpeg.headers["content-type"] == PROBLEM
        single = http.get(url, headers={"Accept": "application/dicom"})
        assert single.status_code == 406


def test_metadata_is_dicom_json_with_bulk_data_urls(world: World, ohif: dict) -> None:
    ada = ohif["datasets"]["ada"][1]
    base = f"{ROOT}/studies/{ada.StudyInstanceUID}/series/{ada.SeriesInstanceUID}"
    with world.client("alice") as http:
        series = http.get(f"{base}/metadata")
        assert series.status_code == 200 and series.headers["content-type"] == DICOM_JSON
        assert len(series.json()) == 2
        response = http.get(f"{base}/instances/{ada.SOPInstanceUID}/metadata")
        [item] = response.json()
        assert item["00080018"]["Value"] == [ada.SOPInstanceUID]
        uri = item["7FE00010"]["BulkDataURI"]
        assert uri == f"{world.url}{base}/instances/{ada.SOPInstanceUID}/bulkdata/7FE00010"
        bulk = http.get(
            uri, headers={"Accept": 'multipart/related; type="application/octet-stream"'}
        )
        assert bulk.status_code == 200
        assert bulk.headers["content-type"].startswith(
            'multipart/related; type="application/octet-stream"; boundary='
        )
        assert [data for _, data in split_multipart(bulk)] == [ada.PixelData]
        for wrong in ("00100010", "7FE00010/0/7FE00010", "FFFFFFFFFF", "00081140/-1/00081155"):
            bad = http.get(f"{base}/instances/{ada.SOPInstanceUID}/bulkdata/{wrong}")
            assert bad.status_code == 404, wrong


def test_frames_of_a_compressed_instance(world: World) -> None:
    data = sample("SC_rgb_rle_2frame.dcm")
    ds = pydicom.dcmread(io.BytesIO(data))
    assert stow_bytes(world, data).status_code == 200
    url = (
        f"{ROOT}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}/frames"
    )
    ohif_accept = "multipart/related; type=application/octet-stream; transfer-syntax=*"
    with world.client("alice") as http:
        raw = http.get(f"{url}/2", headers={"Accept": ohif_accept})
        assert raw.status_code == 200
        [(headers, frame)] = split_multipart(raw)
        assert (
            headers["content-type"]
            == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.5"
        )
        assert frame == pydicom.encaps.get_frame(ds.PixelData, 1, number_of_frames=2)
        decoded = http.get(
            f"{url}/1,2", headers={"Accept": 'multipart/related; type="application/octet-stream"'}
        )
        parts = split_multipart(decoded)
        assert [h["content-type"] for h, _ in parts] == [
            "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
        ] * 2
        assert parts[1][1] == ds.pixel_array[1].tobytes()
        assert http.get(f"{url}/3").status_code == 404
        assert http.get(f"{url}/0").status_code == 400
        assert (
            http.get(
                f"{url}/1", headers={"Accept": 'multipart/related; type="image/jp2"'}
            ).status_code
            == 406
        )


def test_rendered_answers_by_accept(world: World, ohif: dict) -> None:
    ada = ohif["datasets"]["ada"][0]
    url = (
        f"{ROOT}/studies/{ada.StudyInstanceUID}/series/{ada.SeriesInstanceUID}"
        f"/instances/{ada.SOPInstanceUID}"
    )
    with world.client("alice") as http:
        png = http.get(f"{url}/rendered", headers={"Accept": "image/png"})
        assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
        default = http.get(f"{url}/frames/1/rendered")
        assert default.headers["content-type"] == "image/jpeg"
        assert http.get(f"{url}/rendered", headers={"Accept": "image/gif"}).status_code == 406
        assert http.get(f"{url}/rendered", params={"window": "40"}).status_code == 400
        assert http.get(f"{url}/rendered", params={"viewport": "0,10"}).status_code == 400


# --- STOW-RS ------------------------------------------------------------------------


def stow_bytes(world: World, data: bytes, user: str = "alice"):
    body, content_type = multipart([data])
    with world.client(user) as http:
        return http.post(f"{P1}/studies", content=body, headers={"Content-Type": content_type})


def test_chunked_stow_is_stored_byte_for_byte(world: World) -> None:
    datasets = study("CH1", "Chunked^Body", dt.date(2019, 4, 4), [("CT", "Chunks", 3)], size=128)
    sent = [to_bytes(ds) for ds in datasets]
    body, content_type = multipart(sent)

    def chunks() -> Iterator[bytes]:  # an iterator body makes httpx send it chunked
        for start in range(0, len(body), 7_777):
            yield body[start : start + 7_777]

    with world.client("alice") as http:
        response = http.post(
            f"{P1}/studies", content=chunks(), headers={"Content-Type": content_type}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == DICOM_JSON
        result = response.json()
        assert FAILED not in result
        assert len(result[REFERENCED]["Value"]) == 3
        study_uid = datasets[0].StudyInstanceUID
        assert result["00081190"]["Value"] == [f"{world.url}{P1}/studies/{study_uid}"]
        retrieved = http.get(
            f"{P1}/studies/{study_uid}",
            headers={"Accept": "multipart/related; type=application/dicom; transfer-syntax=*"},
        )
    assert sorted(data for _, data in split_multipart(retrieved)) == sorted(sent)


def test_duplicates_and_new_versions_are_success(world: World) -> None:
    [ds] = study("DV1", "Dup^Version", dt.date(2019, 5, 5), [("MR", "Once", 1)])
    assert stow(world, "alice", [ds]).status_code == 200
    again = stow(world, "alice", [ds])
    assert again.status_code == 200 and FAILED not in again.json()
    ds.SeriesDescription = "Corrected"
    changed = stow(world, "alice", [ds])
    assert changed.status_code == 200
    [item] = changed.json()[REFERENCED]["Value"]
    assert item["00081155"]["Value"] == [ds.SOPInstanceUID]


def test_instances_of_another_study_conflict(world: World) -> None:
    mine = study("CF1", "Conflict^One", dt.date(2019, 6, 6), [("CT", "a", 1)])
    other = study("CF2", "Conflict^Two", dt.date(2019, 6, 6), [("CT", "b", 1)])
    target = mine[0].StudyInstanceUID
    refused = stow(world, "alice", other, study_uid=target)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == DICOM_JSON
    [failed] = refused.json()[FAILED]["Value"]
    assert failed[REASON]["Value"] == [0xA900]
    assert failed["00081155"]["Value"] == [other[0].SOPInstanceUID]
    assert REFERENCED not in refused.json()
    mixed = stow(world, "alice", mine + other, study_uid=target)
    assert mixed.status_code == 202
    assert len(mixed.json()[REFERENCED]["Value"]) == 1
    assert len(mixed.json()[FAILED]["Value"]) == 1
    with world.client("alice") as http:
        found = http.get(f"{P1}/studies", params={"PatientID": "CF*"})
    assert uids(found) == [target]  # the other study was never stored


def test_unreadable_parts_are_400(world: World) -> None:
    response = stow_bytes(world, b"this is not a DICOM object at all" * 10)
    assert response.status_code == 400
    assert response.headers["content-type"] == DICOM_JSON
    [failed] = response.json()[FAILED]["Value"]
    assert failed[REASON]["Value"] == [0xC000]


def test_malformed_and_unsupported_bodies(world: World) -> None:
    first, data = (
        to_bytes(ds) for ds in study("MB1", "Malformed^Body", dt.date(2019, 7, 7), [("CT", "x", 2)])
    )
    with world.client("alice") as http:
        plain = http.post(
            f"{P1}/studies", content=data, headers={"Content-Type": "application/dicom"}
        )
        assert plain.status_code == 415 and plain.headers["content-type"] == PROBLEM
        json_parts = http.post(
            f"{P1}/studies",
            content=b"--b\r\n\r\n{}\r\n--b--",
            headers={
                "Content-Type": 'multipart/related; type="application/dicom+json"; boundary=b'
            },
        )
        assert json_parts.status_code == 415
        no_boundary = http.post(
            f"{P1}/studies",
            content=data,
            headers={"Content-Type": 'multipart/related; type="application/dicom"'},
        )
        assert no_boundary.status_code == 400
        body, content_type = multipart([first, data])
        truncated = http.post(
            f"{P1}/studies", content=body[: len(body) - 100], headers={"Content-Type": content_type}
        )
        assert truncated.status_code == 400 and truncated.headers["content-type"] == PROBLEM
        # the complete first part of a rejected body is not stored either
        assert http.get(f"{P1}/studies", params={"PatientID": "MB1"}).json() == []


# --- access and methods ---------------------------------------------------------------


def test_authentication_is_required(world: World, ohif: dict) -> None:
    with world.client(None) as http:
        for path in (f"{ROOT}/studies", f"{P1}/studies/{ohif['ada']}", f"{P1}/studies"):
            response = http.get(path)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.headers["content-type"] == PROBLEM


def test_projects_without_a_role_are_not_found(world: World, ohif: dict) -> None:
    ada = ohif["datasets"]["ada"][0]
    with world.client("bob") as http:
        for path in (
            f"{P1}/studies",
            f"{P1}/studies/{ohif['ada']}",
            f"{P1}/studies/{ohif['ada']}/metadata",
            f"{ROOT}/studies/{ohif['ada']}",
            f"{ROOT}/studies/{ohif['ada']}/series",
            f"{ROOT}/projects/nowhere/studies",
        ):
            response = http.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == PROBLEM
        body, content_type = multipart([to_bytes(ada)])
        stored = http.post(f"{P1}/studies", content=body, headers={"Content-Type": content_type})
        assert stored.status_code == 404
    # a member may read but not store
    with world.client("mel") as http:
        assert http.get(f"{P1}/studies/{ohif['ada']}/metadata").status_code == 200
        body, content_type = multipart([to_bytes(ada)])
        stored = http.post(f"{P1}/studies", content=body, headers={"Content-Type": content_type})
        assert stored.status_code == 403


def test_unknown_uids_are_not_found(world: World, ohif: dict) -> None:
    ada = ohif["datasets"]["ada"][0]
    with world.client("alice") as http:
        for path in (
            f"{ROOT}/studies/1.2.3.4",
            f"{ROOT}/studies/1.2.3.4/metadata",
            f"{ROOT}/studies/1.2.3.4/series",
            f"{ROOT}/studies/{ohif['ada']}/series/1.2.3.4",
            f"{ROOT}/studies/{ohif['ada']}/series/{ada.SeriesInstanceUID}/instances/1.2.3.4",
            f"{ROOT}/studies/{ohif['alan']}/series/{ada.SeriesInstanceUID}/metadata",
        ):
            response = http.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == PROBLEM


def test_other_methods_are_405_with_allow(world: World, ohif: dict) -> None:
    with world.client("alice") as http:
        cases = [
            ("DELETE", f"{ROOT}/studies/{ohif['ada']}", "GET"),
            ("POST", f"{ROOT}/studies", "GET"),
            ("PUT", f"{P1}/studies", "GET, POST"),
            ("DELETE", f"{P1}/studies/{ohif['ada']}", "GET, POST"),
            ("PATCH", f"{ROOT}/studies/{ohif['ada']}/metadata", "GET"),
        ]
        for method, path, allow in cases:
            response = http.request(method, path)
            assert response.status_code == 405, (method, path)
            assert response.headers["allow"] == allow
            assert response.headers["content-type"] == PROBLEM


def test_a_viewer_on_a_configured_origin_may_call_with_its_token(world: World, ohif: dict) -> None:
    """OHIF hosted elsewhere: the preflight allows the bearer header; the answer names
    the origin. Any other origin gets no CORS header, so browsers keep the data from it."""
    path = f"{ROOT}/studies"
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, accept",
    }
    with world.client(None) as http:
        allowed = http.options(path, headers={"Origin": VIEWER_ORIGIN, **preflight})
        refused = http.options(path, headers={"Origin": "http://evil.test", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == VIEWER_ORIGIN
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in refused.headers
    with world.client("alice") as http:
        answer = http.get(path, params={"PatientID": "OH1"}, headers={"Origin": VIEWER_ORIGIN})
        other = http.get(path, params={"PatientID": "OH1"}, headers={"Origin": "http://evil.test"})
    assert answer.status_code == 200 and len(answer.json()) == 1
    assert answer.headers["access-control-allow-origin"] == VIEWER_ORIGIN
    assert "access-control-allow-origin" not in other.headers


def test_no_patient_data_in_headers(world: World, ohif: dict) -> None:
    with world.client("alice") as http:
        responses = [
            http.get(
                f"{ROOT}/studies", params={"PatientName": "Lovelace*", "PatientComments": "x"}
            ),
            http.get(f"{ROOT}/studies/{ohif['ada']}/metadata"),
            stow(world, "alice", ohif["datasets"]["ada"]),
        ]
    for response in responses:
        assert response.status_code == 200
        headers = json.dumps(dict(response.headers)).lower()
        assert "lovelace" not in headers and "oh1" not in headers


def test_a_study_in_two_projects_is_served_once_through_the_root(world: World) -> None:
    """Without de-identification one Study Instance UID can live in p1 and in p2."""
    datasets = study("TW1", "Twice^Stored", dt.date(2018, 8, 8), [("CT", "x", 2)])
    body, content_type = multipart([to_bytes(ds) for ds in datasets])
    study_uid = datasets[0].StudyInstanceUID
    with world.client("admin") as http:
        for key in ("p1", "p2"):
            stored = http.post(
                f"{ROOT}/projects/{key}/studies",
                content=body,
                headers={"Content-Type": content_type},
            )
            assert stored.status_code == 200
        series = http.get(f"{ROOT}/studies/{study_uid}/series")
        assert uids(series, "0020000E") == [datasets[0].SeriesInstanceUID]
        instances = http.get(f"{ROOT}/studies/{study_uid}/instances")
        assert len(instances.json()) == 2
        retrieved = http.get(f"{ROOT}/studies/{study_uid}")
        assert len(split_multipart(retrieved)) == 2
        in_p2 = http.get(f"{ROOT}/projects/p2/studies/{study_uid}/series")
        assert uids(in_p2, "0020000E") == [datasets[0].SeriesInstanceUID]
