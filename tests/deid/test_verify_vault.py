"""``vesalius deid verify --project KEY``: files are searched for what the project's
honest-broker vault holds; brokers only, every attempt audited, no value in any output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pydicom
from deid_corpus import PLANTED_TEXT, _encodings, build_corpus, read
from pydicom.dataset import Dataset
from sqlalchemy import select
from test_intake import fixed_key

from vesalius.core.audit import AuditEvent, verify_chain
from vesalius.core.config import Settings
from vesalius.core.home import open_home
from vesalius.core.model import Instance
from vesalius.deid.vault_search import VaultIdentifiers, VaultMatcher
from vesalius.deid.verify import Verifier

from conftest import Cli

IMPORTED = ["a-study1-ct0", "a-study1-ct1", "a-study2-ct0", "b-ct-aged"]
KINDS = {
    "patient-id",
    "patient-name",
    "name-component",
    "birth-date",
    "accession-number",
    "study-uid",
    "series-uid",
    "sop-instance-uid",
}


def stored_objects(settings: Settings) -> list[bytes]:
    """The de-identified objects the project stored (what an export would hand out)."""
    home = open_home(settings)
    try:
        with home.db.read() as session:
            hashes = [i.blob_hash for i in session.scalars(select(Instance).order_by(Instance.id))]
        return [home.store.get(h) for h in hashes]
    finally:
        home.close()


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def plant(clean: bytes, study_uid: str) -> bytes:
    """A de-identified object of Müller with vault identifiers put back in six elements,
    and Петров's patient ID where only the raw bytes show it (a private OB value)."""
    ds = pydicom.dcmread(io.BytesIO(clean))
    ds.ImageComments = "seen as PID-778899 at intake"
    ds.StudyDescription = "follow-up for Jürgen"
    ds.AcquisitionDate = "19610412"
    request = Dataset()
    request.AccessionNumber = "ACC5550202"
    ds.RequestAttributesSequence = [request]
    reference = Dataset()
    reference.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    reference.ReferencedSOPInstanceUID = study_uid
    ds.ReferencedStudySequence = [reference]
    block = ds.private_block(0x0011, "VESALIUS TEST", create=True)
    block.add_new(0x01, "LO", "Müller^Jürgen")
    block.add_new(0x02, "OB", b"\x00\x01blob:PID-445566;\x00")
    return to_bytes(ds)


def broker_events(settings: Settings) -> list[tuple[str, dict]]:
    home = open_home(settings)
    try:
        with home.db.read() as session:
            events = session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.in_(["broker.verify", "deid.verify"]))
                .order_by(AuditEvent.id)
            ).all()
            assert verify_chain(session) is None
            return [(e.action, e.actor, e.detail) for e in events]
    finally:
        home.close()


def no_planted(text: str, uids: set[str]) -> None:
    data = text.encode()
    for value in (*PLANTED_TEXT, *uids):
        assert not any(e in data for e in _encodings(value)), value


def test_verify_against_the_vault_finds_what_it_holds_for_brokers_only(
    cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    corpus = build_corpus()
    cli("init")
    fixed_key(settings, "dx")
    cli("project", "create", "dx", "--deid")
    cli("project", "create", "plain")
    source = tmp_path / "in"
    source.mkdir()
    for name in IMPORTED:
        (source / f"{name}.dcm").write_bytes(corpus.objects[name])
    cli("import", "-p", "dx", str(source), "--json")
    for name, role in (("bea", "broker"), ("max", "member")):
        cli("user", "create", name)
        cli("grant", name, "dx", role)
    cli("grant", "bea", "plain", "broker")

    stored = stored_objects(settings)
    clean = tmp_path / "export"
    clean.mkdir()
    for n, data in enumerate(stored):
        (clean / f"{n}.dcm").write_bytes(data)
    mueller = next(d for d in stored if read(d).PatientID == "dx-0001")
    original_study = str(read(corpus.objects["a-study1-ct0"]).StudyInstanceUID)
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    (leaky / "x.dcm").write_bytes(plant(mueller, original_study))

    # the broker: clean output has nothing the vault holds, planted identifiers are found
    result = cli("deid", "verify", str(clean), "--project", "dx", "--as", "bea", "--no-ocr",
                 "--json")  # fmt: skip
    report = json.loads(result.stdout)
    assert report["vault"] == {"project": "dx", "subjects": 2, "findings": 0}
    assert [i for i in report["items"] if i["category"] == "vault"] == []
    assert report["files"] == len(IMPORTED)

    result = cli("deid", "verify", str(leaky), "--project", "dx", "--as", "bea", "--no-ocr",
                 "--json", expect=3)  # fmt: skip
    report = json.loads(result.stdout)
    vault = [i for i in report["items"] if i["category"] == "vault"]
    assert {(i["tag"], i["hint"]) for i in vault} == {
        ("(0020,4000)", "patient-id"),
        ("(0008,1030)", "name-component"),
        ("(0008,0022)", "birth-date"),
        ("(0040,0275)[0](0008,0050)", "accession-number"),
        ("(0008,1110)[0](0008,1155)", "study-uid"),
        ("(0011,1001)", "patient-name"),
        ("", "patient-id"),  # Петров's ID, in the private OB value: raw bytes only
    }
    raw = next(i for i in vault if not i["tag"])
    assert "raw bytes (offset " in raw["detail"]
    assert report["vault"]["findings"] == 7
    no_planted(result.stdout + result.stderr, corpus.uids)
    # and as a person reads it
    text = cli("deid", "verify", str(leaky), "--project", "dx", "--as", "bea", "--no-ocr",
               expect=3)  # fmt: skip
    assert "(0011,1001) private: vault: " in text.stdout
    assert "checked against the vault of project dx (2 subject(s)): 7 finding(s)" in " ".join(
        text.stdout.split()
    )
    no_planted(text.stdout + text.stderr, corpus.uids)

    # not a broker (a member, a site admin without the role, nobody, the OS user): refused
    for who in (("--as", "max"), ("--as", "admin"), ("--as", "nobody"), ()):
        refused = cli("deid", "verify", str(leaky), "--project", "dx", *who, "--no-ocr",
                      expect=1)  # fmt: skip
        assert "broker" in refused.stderr and "refused" in refused.stderr
        assert "vault" not in refused.stdout  # nothing was checked
        no_planted(refused.stdout + refused.stderr, corpus.uids)
    # a project that stores what it receives has no vault: the check cannot run
    novault = cli("deid", "verify", str(leaky), "--project", "plain", "--as", "bea",
                  "--no-ocr", expect=1)  # fmt: skip
    assert "no vault" in novault.stderr
    cli("deid", "verify", str(leaky), "--as", "bea", "--no-ocr", expect=2)  # --as alone

    events = broker_events(settings)
    access = [(actor, d["outcome"]) for action, actor, d in events if action == "broker.verify"]
    assert access == [
        ("bea", "opened"),
        ("bea", "opened"),
        ("bea", "opened"),
        ("max", "refused"),
        ("admin", "refused"),
        ("unknown:nobody", "refused"),
        (access[6][0], "refused"),  # the OS user's name, no such vesalius user
        ("bea", "no-vault"),
    ]
    details = [d for action, _, d in events if action == "broker.verify"]
    assert all(d["via"] == "cli" and d["operator"].startswith("os:") for d in details)
    assert [d.get("subjects") for d in details[:3]] == [2, 2, 2]
    checks = [d for action, _, d in events if action == "deid.verify"]
    assert [d["vault_findings"] for d in checks] == [0, 7, 7]  # refusals checked nothing
    no_planted(json.dumps(events, ensure_ascii=False), corpus.uids)


def test_vault_matching_in_process() -> None:
    """Names in their written forms, IDs inside words but not inside longer IDs, research
    IDs and Retain UIDs respected; the identifiers never show in a repr."""
    identifiers = VaultIdentifiers.from_records(
        [
            {
                "research_id": "dx-0001",
                "patient_id": "778899",
                "patient_name": "Müller^Jürgen",
                "birth_date": "19610412",
                "accession_numbers": ["ACC55"],
                "studies": [{"original": "1.2.3.4", "research": "2.25.1"}],
                "series": [],
                "instances": [],
            }
        ]
    )
    assert "Müller" not in repr(identifiers) and "778899" not in repr(identifiers)
    matcher = VaultMatcher(identifiers)

    def kinds(value: str, vr: str = "LT") -> set[str]:
        return set().union(*matcher.in_value(value, vr).values())

    assert kinds("Juergen Mueller came back") == {"patient-name"}
    assert kinds("MULLER seen") == {"name-component"}
    assert kinds("id 778899/ACC55") == {"patient-id", "accession-number"}
    assert kinds("id 17788990") == set()  # a longer number is another number
    assert kinds("born 12.04.1961") == {"birth-date"}
    assert kinds("19610412093000", "DT") == {"birth-date"}
    assert kinds("1.2.3.4", "UI") == {"study-uid"} and kinds("1.2.3.45", "UI") == set()
    assert kinds("dx-0001", "LO") == set()

    ds = Dataset()
    ds.ReferencedSOPInstanceUID = "1.2.3.4"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "113110", "DCM"  # Retain UIDs Option
    verifier = Verifier(ocr=False, vault=matcher)
    assert {f.hint for f in verifier.verify_dataset(ds, "a") if f.category == "vault"} == {
        "study-uid"
    }
    ds.DeidentificationMethodCodeSequence = [code]
    assert [f for f in verifier.verify_dataset(ds, "a") if f.category == "vault"] == []
