"""DICOMweb against a real ``vesalius serve`` with dicomweb-client as the client.

One server and one STOW-RS batch (over 1 MB, so the client sends it chunked) serve the
whole module; every call must succeed without a warning from the client.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from dicomweb_world import World, running_world, sample, study
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels import apply_modality_lut, pixel_array

from vesalius.core.dicom.parse import dataset_offset

SAMPLES = ("JPEG2000.dcm", "JPEG-lossy.dcm", "SC_rgb_rle_2frame.dcm", "rtdose.dcm")


def encoded(ds: Dataset) -> bytes:
    """The bytes dicomweb-client sends for ``ds`` (it writes each dataset with dcmwrite)."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds)
    return buffer.getvalue()


def dataset_part(data: bytes) -> bytes:
    return data[dataset_offset(data) :]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_world(tmp_path_factory.mktemp("dicomweb-client")) as running:
        yield running


def client_for(world: World, user: str, scope: str = "/projects/p1") -> DICOMwebClient:
    return DICOMwebClient(
        url=f"{world.url}/dicom-web{scope}",
        headers={"Authorization": f"Bearer {world.tokens[user]}"},
    )


@contextmanager
def recorded_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Every warning raised meanwhile, but those that say nothing about our answers:
    ResourceWarnings come from the garbage collector finalising objects of earlier tests
    (a pooled database connection of an in-process CLI call) whenever it happens to run."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=ResourceWarning)
        # pydicom's own sample files carry a UID with a leading zero; not our answer's fault
        warnings.filterwarnings("ignore", message="Invalid value for VR UI")
        yield caught


@pytest.fixture(autouse=True)
def no_client_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """dicomweb-client warns (warnings and its logger) about non-conformant answers."""
    with recorded_warnings() as caught, caplog.at_level(logging.WARNING, logger="dicomweb_client"):
        yield
    assert [str(w.message) for w in caught] == []
    assert [r.getMessage() for r in caplog.records if r.name.startswith("dicomweb_client")] == []


@pytest.fixture(scope="module")
def batch(world: World) -> dict[str, Any]:
    """Two synthetic studies (one of 256x256 CT images) and four pydicom samples."""
    alpha = study(
        "DWC1",
        "Client^Alpha",
        dt.date(2021, 3, 4),
        [("CT", "Axial", 6), ("CT", "Scout", 3)],
        accession="CA1",
        size=256,
    )
    beta = study("DWC2", "Client^Beta", dt.date(2021, 6, 1), [("MR", "T1", 4)], accession="CB2")
    samples = [pydicom.dcmread(io.BytesIO(sample(name))) for name in SAMPLES]
    datasets = alpha + beta + samples
    sent = {ds.SOPInstanceUID: encoded(ds) for ds in datasets}
    with recorded_warnings() as caught:
        response = client_for(world, "alice").store_instances(datasets)
    assert [str(w.message) for w in caught] == []
    return {
        "alpha": alpha,
        "beta": beta,
        "samples": dict(zip(SAMPLES, samples, strict=True)),
        "sent": sent,
        "response": response,
    }


def test_store_of_a_batch_over_one_megabyte_succeeds(batch: dict[str, Any]) -> None:
    assert sum(len(b) for b in batch["sent"].values()) > 1_000_000  # sent chunked
    response: Dataset = batch["response"]
    assert "FailedSOPSequence" not in response
    stored = {item.ReferencedSOPInstanceUID for item in response.ReferencedSOPSequence}
    assert stored == set(batch["sent"])
    first = response.ReferencedSOPSequence[0]
    assert first.RetrieveURL.endswith(f"/instances/{first.ReferencedSOPInstanceUID}")
    assert first.ReferencedSOPClassUID == batch["alpha"][0].SOPClassUID


def test_search_for_studies_with_filters(world: World, batch: dict[str, Any]) -> None:
    client = client_for(world, "alice")
    alpha_uid = batch["alpha"][0].StudyInstanceUID
    by_name = client.search_for_studies(search_filters={"PatientName": "Client^A*"})
    assert [s["0020000D"]["Value"][0] for s in by_name] == [alpha_uid]
    assert by_name[0]["00100010"]["Value"][0]["Alphabetic"] == "Client^Alpha"
    assert by_name[0]["00201208"]["Value"] == [9]  # Number of Study Related Instances
    by_date = client.search_for_studies(search_filters={"StudyDate": "20210101-20210401"})
    assert [s["0020000D"]["Value"][0] for s in by_date] == [alpha_uid]
    by_tag = client.search_for_studies(search_filters={"00080050": "CB2"})
    assert [s["0020000D"]["Value"][0] for s in by_tag] == [batch["beta"][0].StudyInstanceUID]
    assert client.search_for_studies(search_filters={"PatientName": "Nobody*"}) == []


def test_search_for_series_and_instances(world: World, batch: dict[str, Any]) -> None:
    client = client_for(world, "alice")
    alpha = batch["alpha"]
    series = client.search_for_series(alpha[0].StudyInstanceUID)
    assert sorted(s["00200011"]["Value"][0] for s in series) == [1, 2]
    mr = client.search_for_series(search_filters={"Modality": "MR", "PatientID": "DWC2"})
    assert [s["0020000E"]["Value"][0] for s in mr] == [batch["beta"][0].SeriesInstanceUID]
    scout = alpha[-1]
    instances = client.search_for_instances(
        alpha[0].StudyInstanceUID, scout.SeriesInstanceUID, search_filters={"InstanceNumber": "2"}
    )
    assert [i["00080018"]["Value"][0] for i in instances] == [alpha[-2].SOPInstanceUID]


def test_paging_collects_every_result_once(world: World, batch: dict[str, Any]) -> None:
    client = client_for(world, "alice")
    study_uid = batch["alpha"][0].StudyInstanceUID
    first_page = client.search_for_instances(study_uid, limit=4)
    assert len(first_page) == 4
    everything = client.search_for_instances(study_uid, limit=4, get_remaining=True)
    uids = [i["00080018"]["Value"][0] for i in everything]
    assert len(uids) == 9 and set(uids) == {ds.SOPInstanceUID for ds in batch["alpha"]}


def test_retrieved_objects_are_the_objects_sent(world: World, batch: dict[str, Any]) -> None:
    client = client_for(world, "alice")
    alpha, sent = batch["alpha"], batch["sent"]
    for ds in client.retrieve_study(alpha[0].StudyInstanceUID):
        assert dataset_part(encoded(ds)) == dataset_part(sent[ds.SOPInstanceUID])
    series = client.retrieve_series(alpha[-1].StudyInstanceUID, alpha[-1].SeriesInstanceUID)
    assert {ds.SOPInstanceUID for ds in series} == {ds.SOPInstanceUID for ds in alpha[-3:]}
    for ds in [*batch["beta"], *batch["samples"].values()]:  # compressed ones as stored
        got = client.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        assert got.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
        assert dataset_part(encoded(got)) == dataset_part(sent[ds.SOPInstanceUID])


def test_metadata_and_its_bulk_data(world: World, batch: dict[str, Any]) -> None:
    client = client_for(world, "alice")
    ds = batch["beta"][0]
    metadata = client.retrieve_instance_metadata(
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    )
    assert metadata["00100010"]["Value"][0]["Alphabetic"] == "Client^Beta"
    assert metadata["00083002"]["Value"] == [ds.file_meta.TransferSyntaxUID]
    uri = metadata["7FE00010"]["BulkDataURI"]
    assert uri.startswith(f"{world.url}/dicom-web/projects/p1/studies/{ds.StudyInstanceUID}/")
    assert client.retrieve_bulkdata(uri) == [ds.PixelData]
    study_metadata = client.retrieve_study_metadata(ds.StudyInstanceUID)
    assert {m["00080018"]["Value"][0] for m in study_metadata} == {
        d.SOPInstanceUID for d in batch["beta"]
    }


def test_frames_native_compressed_and_decoded(world: World, batch: dict[str, Any]) -> None:
    client = client_for(world, "alice")
    octet = (("application/octet-stream", "1.2.840.10008.1.2.1"),)

    def frames(ds: Dataset, numbers: list[int], media_types: Any = None) -> list[bytes]:
        return client.retrieve_instance_frames(
            ds.StudyInstanceUID,
            ds.SeriesInstanceUID,
            ds.SOPInstanceUID,
            numbers,
            media_types=media_types,
        )

    ct = batch["alpha"][0]
    assert frames(ct, [1], octet) == [ct.PixelData]
    dose = batch["samples"]["rtdose.dcm"]  # 15 frames, implicit VR, 32 bits
    size = dose.Rows * dose.Columns * 4
    assert frames(dose, [2, 15], octet) == [
        dose.PixelData[size : 2 * size],
        dose.PixelData[14 * size : 15 * size],
    ]
    j2k = batch["samples"]["JPEG2000.dcm"]
    assert frames(j2k, [1]) == [get_frame(j2k.PixelData, 0, number_of_frames=1)]
    assert frames(j2k, [1], (("image/jp2", "1.2.840.10008.1.2.4.91"),)) == frames(j2k, [1])
    [decoded] = frames(j2k, [1], octet)
    assert decoded == pixel_array(j2k).astype("<u2").tobytes()
    rle = batch["samples"]["SC_rgb_rle_2frame.dcm"]
    [second] = frames(rle, [2], (("image/dicom-rle", "1.2.840.10008.1.2.5"),))
    assert second == get_frame(rle.PixelData, 1, number_of_frames=2)


def test_rendered_png_honours_window_and_viewport(world: World, batch: dict[str, Any]) -> None:
    client = client_for(world, "alice")
    ct = batch["alpha"][2]

    def rendered(params: dict[str, str], media_type: str = "image/png") -> bytes:
        return client.retrieve_instance_rendered(
            ct.StudyInstanceUID,
            ct.SeriesInstanceUID,
            ct.SOPInstanceUID,
            media_types=(media_type,),
            params=params,
        )

    image = Image.open(io.BytesIO(rendered({"window": "100,300,linear"})))
    assert image.format == "PNG" and image.mode == "L" and image.size == (256, 256)
    hu = apply_modality_lut(ct.pixel_array, ct).astype(np.float64)
    expected = np.clip(np.rint(((hu - 99.5) / 299 + 0.5) * 255), 0, 255).astype(np.uint8)
    assert np.array_equal(np.asarray(image), expected)
    default = np.asarray(Image.open(io.BytesIO(rendered({}))))  # the header's 40/400
    assert not np.array_equal(default, expected)
    small = Image.open(io.BytesIO(rendered({"viewport": "64,32"})))
    assert small.size == (32, 32)
    jpeg = rendered({"quality": "80"}, "image/jpeg")
    assert jpeg[:2] == b"\xff\xd8" and Image.open(io.BytesIO(jpeg)).size == (256, 256)


def test_the_all_projects_root_serves_the_same(world: World, batch: dict[str, Any]) -> None:
    client = client_for(world, "alice", scope="")
    studies = client.search_for_studies(search_filters={"PatientID": "DWC*"})
    assert {s["00100020"]["Value"][0] for s in studies} == {"DWC1", "DWC2"}
    url = studies[0]["00081190"]["Value"][0]
    assert url.startswith(f"{world.url}/dicom-web/studies/")
    ds = batch["beta"][1]
    got = client.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert got.SOPInstanceUID == ds.SOPInstanceUID
