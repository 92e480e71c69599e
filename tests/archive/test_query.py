"""The matching rules shared by C-FIND and QIDO-RS (PS3.4 C.2.2.2), on both databases."""

from __future__ import annotations

import datetime as dt

import pytest

from vesalius.archive.projects import create_project
from vesalius.archive.query import Query, search, unsupported_keys
from vesalius.core.dicom.synthetic import StudySpec, make_study, to_bytes
from vesalius.core.errors import InvalidInput
from vesalius.core.home import Home
from vesalius.ingest.context import IntakeContext
from vesalius.ingest.pipeline import receive
from vesalius.ingest.spool import Spool

PEOPLE = [
    ("ID1", "Doe^John", dt.date(2024, 1, 15), "ACC1", [("CT", "Chest", 2)]),
    ("ID2", "Doe^Jane", dt.date(2024, 2, 20), "ACC2", [("MR", "Brain", 1), ("CT", "Scout", 1)]),
    ("ID3", "Smith^Anna Maria", dt.date(2023, 12, 31), "ACC3", [("MR", "Knee", 3)]),
    ("ID4", "o'Brien^Liam", dt.date(2024, 3, 1), "A_4%", [("PT", "Whole body", 1)]),
]


@pytest.fixture
def projects(home: Home) -> dict[str, int]:
    ids = {}
    with home.db.write() as session, session.begin():
        for key in ("p1", "p2"):
            ids[key] = create_project(session, key=key, name=key, actor="t").id
    spool = Spool(home.settings.spool_dir)
    for pid, name, date, acc, series in PEOPLE:
        spec = StudySpec(pid, name, date, description=f"Study {pid}", accession=acc)
        for ds in make_study(spec, series, seed=pid):
            context = IntakeContext(source="test", actor="t", project_key="p1")
            receive(home.db, home.store, spool, context, to_bytes(ds))
    other = StudySpec("ID9", "Doe^Other", dt.date(2024, 1, 15), accession="ACC9")
    for ds in make_study(other, [("CT", "x", 1)], seed="other"):
        receive(
            home.db,
            home.store,
            spool,
            IntakeContext(source="test", actor="t", project_key="p2"),
            to_bytes(ds),
        )
    return ids


def ids(results, keyword="PatientID") -> list[str]:
    from pydicom.datadict import tag_for_keyword

    key = f"{tag_for_keyword(keyword):08X}"
    return sorted(str(r[key]["Value"][0]) for r in results if r[key].get("Value"))


def studies(home: Home, project_ids, **filters) -> list[str]:
    with home.db.read() as session:
        return ids(
            search(session, project_ids=project_ids, query=Query(level="STUDY", filters=filters))
        )


def test_study_matching_rules(home: Home, projects: dict[str, int]) -> None:
    p1 = [projects["p1"]]
    assert studies(home, p1) == ["ID1", "ID2", "ID3", "ID4"]
    assert studies(home, p1, PatientName="doe^j*") == ["ID1", "ID2"], "case-insensitive names"
    assert studies(home, p1, PatientName="DOE^JOHN") == ["ID1"]
    assert studies(home, p1, PatientName="Doe^Jo?n") == ["ID1"]
    assert studies(home, p1, PatientID="ID3") == ["ID3"]
    assert studies(home, p1, PatientID="id3") == [], "IDs are exact"
    assert studies(home, p1, StudyDate="20240101-20240229") == ["ID1", "ID2"]
    assert studies(home, p1, StudyDate="-20231231") == ["ID3"]
    assert studies(home, p1, StudyDate="20240220-") == ["ID2", "ID4"]
    assert studies(home, p1, StudyDate="20240115") == ["ID1"]
    assert studies(home, p1, ModalitiesInStudy="CT") == ["ID1", "ID2"]
    assert studies(home, p1, ModalitiesInStudy="PT\\MR") == ["ID2", "ID3", "ID4"]
    assert studies(home, p1, AccessionNumber="ACC2") == ["ID2"]
    assert studies(home, p1, AccessionNumber="A_4%") == ["ID4"], "LIKE characters are literal"
    assert studies(home, p1, AccessionNumber="A?4*") == ["ID4"]
    assert studies(home, p1, AccessionNumber="A%") == []
    assert studies(home, p1, PatientName="", StudyDate="") == ["ID1", "ID2", "ID3", "ID4"]


def test_project_scoping(home: Home, projects: dict[str, int]) -> None:
    assert studies(home, [projects["p2"]]) == ["ID9"]
    assert studies(home, None, PatientName="Doe*") == ["ID1", "ID2", "ID9"]
    assert studies(home, []) == []


def test_uid_lists_and_fuzzy_names(home: Home, projects: dict[str, int]) -> None:
    p1 = [projects["p1"]]
    with home.db.read() as session:
        all_studies = search(session, project_ids=p1, query=Query(level="STUDY"))
        uids = [s["0020000D"]["Value"][0] for s in all_studies]
        two = search(
            session,
            project_ids=p1,
            query=Query(level="STUDY", filters={"StudyInstanceUID": "\\".join(uids[:2])}),
        )
        assert len(two) == 2
        fuzzy = search(
            session,
            project_ids=p1,
            query=Query(level="STUDY", filters={"PatientName": "mar"}, fuzzy=True),
        )
        assert ids(fuzzy) == ["ID3"], "start of any name component"
        exact = search(
            session, project_ids=p1, query=Query(level="STUDY", filters={"PatientName": "mar"})
        )
        assert exact == []


def test_series_and_instance_levels_carry_study_attributes(home: Home, projects) -> None:
    p1 = [projects["p1"]]
    with home.db.read() as session:
        series = search(
            session, project_ids=p1, query=Query(level="SERIES", filters={"Modality": "CT"})
        )
        assert len(series) == 2
        assert all("00100010" in s and "0020000D" in s for s in series)
        study_uid = series[0]["0020000D"]["Value"][0]
        scoped = search(session, project_ids=p1, query=Query(level="SERIES", study_uid=study_uid))
        assert scoped and all("00100010" not in s for s in scoped)
        images = search(
            session,
            project_ids=p1,
            query=Query(level="IMAGE", filters={"PatientID": "ID3", "InstanceNumber": "2"}),
        )
        assert len(images) == 1
        image = images[0]
        assert image["00280010"]["Value"] == [64]  # Rows, from the stored JSON
        assert image["00200013"]["Value"] == [2]
        numbers = search(
            session, project_ids=p1, query=Query(level="SERIES", filters={"SeriesNumber": "2"})
        )
        assert ids(numbers) == ["ID2"]


def test_counts_paging_and_return_keys(home: Home, projects) -> None:
    p1 = [projects["p1"]]
    with home.db.read() as session:
        [jane] = search(
            session,
            project_ids=p1,
            query=Query(level="STUDY", filters={"PatientID": "ID2"}, return_keys=["Manufacturer"]),
        )
        assert jane["00201206"]["Value"] == [2] and jane["00201208"]["Value"] == [2]
        assert jane["00080070"]["Value"] == ["vesalius phantom"], "filled from stored JSON"
        assert jane["00080061"]["Value"] == ["CT", "MR"]
        page1 = search(session, project_ids=p1, query=Query(level="STUDY", limit=3))
        page2 = search(session, project_ids=p1, query=Query(level="STUDY", limit=3, offset=3))
        assert len(page1) == 3 and len(page2) == 1
        assert not set(ids(page1)) & set(ids(page2))
        patients = search(
            session, project_ids=p1, query=Query(level="PATIENT", filters={"PatientName": "Doe*"})
        )
        assert ids(patients) == ["ID1", "ID2"]
        assert {p["00201200"]["Value"][0] for p in patients} == {1}


def test_bad_values_and_unsupported_keys(home: Home, projects) -> None:
    with home.db.read() as session, pytest.raises(InvalidInput):
        search(
            session, project_ids=None, query=Query(level="SERIES", filters={"SeriesNumber": "two"})
        )
    assert unsupported_keys("STUDY", {"PatientName": "x", "Manufacturer": "y", "Rows": ""}) == [
        "Manufacturer"
    ]
