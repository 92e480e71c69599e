"""The storage area's contract, run against every backend (file, memory, S3 on moto)."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest

from vesalius.core.errors import (
    BlobNotFound,
    ConfigError,
    IntegrityError,
    InvalidInput,
    StorageError,
)
from vesalius.core.storage import BlobStore, open_store
from vesalius.core.storage.file import FileBlobStore
from vesalius.core.storage.memory import MemoryBlobStore

from conftest import S3_BUCKET as BUCKET

DATA = b"The storage area knows four verbs and nothing of DICOM.\x00\xff" * 3
DIGEST = hashlib.sha256(DATA).hexdigest()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["file", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "file":
        return open_store(str(tmp_path / "blobs"))
    if request.param == "memory":
        return open_store("memory://")
    endpoint = request.getfixturevalue("s3_endpoint")
    # A prefix per test keeps tests independent while sharing one server and bucket.
    prefix = f"some/prefix/{request.node.name.replace('[', '-').rstrip(']')}"
    return open_store(f"s3://{BUCKET}/{prefix}", s3_endpoint_url=endpoint)


def test_store_satisfies_protocol(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)
    assert store.url


def test_round_trip(store: BlobStore) -> None:
    assert not store.exists(DIGEST)
    assert store.put(DIGEST, DATA) is True
    assert store.exists(DIGEST)
    assert store.get(DIGEST) == DATA


def test_empty_blob_round_trip(store: BlobStore) -> None:
    empty = _digest(b"")
    assert store.put(empty, b"") is True
    assert store.get(empty) == b""
    assert store.get(empty, 0, 10) == b""


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, None), (0, 1), (5, 17), (17, None), (0, len(DATA)), (10, 10), (len(DATA) - 1, None)],
)
def test_ranges(store: BlobStore, start: int, end: int | None) -> None:
    store.put(DIGEST, DATA)
    assert store.get(DIGEST, start, end) == DATA[start:end]


def test_ranges_past_the_end_are_clipped(store: BlobStore) -> None:
    store.put(DIGEST, DATA)
    assert store.get(DIGEST, 10, len(DATA) + 100) == DATA[10:]
    assert store.get(DIGEST, len(DATA)) == b""
    assert store.get(DIGEST, len(DATA) + 5, len(DATA) + 9) == b""


@pytest.mark.parametrize(("start", "end"), [(-1, None), (5, 4)])
def test_meaningless_range_is_rejected(store: BlobStore, start: int, end: int | None) -> None:
    store.put(DIGEST, DATA)
    with pytest.raises(InvalidInput):
        store.get(DIGEST, start, end)


def test_put_existing_returns_false_and_keeps_original(store: BlobStore) -> None:
    assert store.put(DIGEST, DATA) is True
    assert store.put(DIGEST, DATA) is False
    with pytest.raises(IntegrityError):
        store.put(DIGEST, b"other bytes under the same digest")
    assert store.get(DIGEST) == DATA


def test_wrong_digest_is_refused(store: BlobStore) -> None:
    with pytest.raises(IntegrityError):
        store.put(_digest(b"something else"), DATA)
    assert not store.exists(_digest(b"something else"))


def test_missing_blob(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        store.get(DIGEST)
    with pytest.raises(BlobNotFound):
        store.get(DIGEST, 3, 7)
    with pytest.raises(BlobNotFound):
        store.get(DIGEST, 3, 3)


def test_blob_not_found_is_a_storage_error() -> None:
    assert issubclass(BlobNotFound, StorageError)


def test_exists_and_remove(store: BlobStore) -> None:
    other = b"a second blob"
    store.put(DIGEST, DATA)
    store.put(_digest(other), other)
    store.remove(DIGEST)
    assert not store.exists(DIGEST)
    assert store.exists(_digest(other))  # remove touched only its own blob
    with pytest.raises(BlobNotFound):
        store.get(DIGEST)
    store.remove(DIGEST)  # removing a missing blob is not an error
    assert store.put(DIGEST, DATA) is True  # and the digest can be stored again


@pytest.mark.parametrize(
    "bad",
    [
        "../etc/passwd",
        "../../" + "a" * 58,
        DIGEST.upper(),
        DIGEST[:-1],
        DIGEST + "0",
        DIGEST + "\n",
        "g" * 64,
        "",
    ],
)
def test_invalid_digest_is_rejected_by_every_verb(store: BlobStore, bad: str) -> None:
    with pytest.raises(InvalidInput):
        store.put(bad, DATA)
    with pytest.raises(InvalidInput):
        store.get(bad)
    with pytest.raises(InvalidInput):
        store.exists(bad)
    with pytest.raises(InvalidInput):
        store.remove(bad)


# --- file backend -------------------------------------------------------------------


def test_file_layout_is_fanned_out_and_read_only(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    store.put(DIGEST, DATA)
    path = tmp_path / DIGEST[:2] / DIGEST[2:4] / DIGEST
    assert path.read_bytes() == DATA
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_file_put_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    store.put(DIGEST, DATA)
    store.put(DIGEST, DATA)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p.name for p in files] == [DIGEST]


def test_file_concurrent_puts_of_one_digest(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    barrier = threading.Barrier(8)
    results: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        try:
            created = store.put(DIGEST, DATA)
        except BaseException as exc:  # collected and asserted below
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(created)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [False] * 7 + [True]
    assert store.get(DIGEST) == DATA
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [DIGEST]


def test_file_put_fsyncs_the_blob_and_its_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[tuple[int, int]] = []  # (device, inode) of every fsynced file or folder
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        info = os.fstat(fd)
        synced.append((info.st_dev, info.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    store = FileBlobStore(tmp_path / "root")
    store.put(DIGEST, DATA)
    final = tmp_path / "root" / DIGEST[:2] / DIGEST[2:4] / DIGEST
    for path in (final, final.parent, final.parent.parent, tmp_path / "root", tmp_path):
        info = path.stat()
        assert (info.st_dev, info.st_ino) in synced, path


def test_file_never_overwrites_a_planted_object(tmp_path: Path) -> None:
    """Even a corrupt object under the name is left alone: put must not replace files."""
    store = FileBlobStore(tmp_path)
    path = tmp_path / DIGEST[:2] / DIGEST[2:4] / DIGEST
    path.parent.mkdir(parents=True)
    path.write_bytes(b"planted")
    assert store.put(DIGEST, DATA) is False
    assert path.read_bytes() == b"planted"


def test_file_os_errors_become_storage_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    store = FileBlobStore(blocker)
    with pytest.raises(StorageError) as info:
        store.put(DIGEST, DATA)
    assert isinstance(info.value.__cause__, OSError)


# --- open_store ---------------------------------------------------------------------


def test_open_store_picks_the_backend(tmp_path: Path, s3_endpoint: str) -> None:
    plain = open_store(str(tmp_path / "a"))
    assert isinstance(plain, FileBlobStore)
    assert plain.root == tmp_path / "a"
    file_url = open_store((tmp_path / "b").as_uri())
    assert isinstance(file_url, FileBlobStore)
    assert file_url.root == tmp_path / "b"
    assert isinstance(open_store("memory://"), MemoryBlobStore)

    from vesalius.core.storage.s3 import S3BlobStore

    s3 = open_store(f"s3://{BUCKET}/some/prefix/", s3_endpoint_url=s3_endpoint)
    assert isinstance(s3, S3BlobStore)
    assert s3.url == f"s3://{BUCKET}/some/prefix"


def test_s3_keys_are_fanned_out_under_the_prefix(s3_endpoint: str) -> None:
    import boto3

    store = open_store(f"s3://{BUCKET}/layout/prefix", s3_endpoint_url=s3_endpoint)
    store.put(DIGEST, DATA)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    key = f"layout/prefix/{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}"
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == DATA


def test_s3_conditional_put_refuses_to_overwrite(s3_endpoint: str) -> None:
    """A writer that lost the race after its existence check still gets False."""
    import boto3

    store = open_store(f"s3://{BUCKET}/race", s3_endpoint_url=s3_endpoint)
    key = f"race/{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}"
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    store._head = lambda digest: False  # type: ignore[method-assign]  # the race window
    client.put_object(Bucket=BUCKET, Key=key, Body=b"planted")
    assert store.put(DIGEST, DATA) is False
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"planted"


def test_s3_missing_bucket_is_a_storage_error(s3_endpoint: str) -> None:
    store = open_store("s3://no-such-bucket/p", s3_endpoint_url=s3_endpoint)
    with pytest.raises(StorageError):
        store.put(DIGEST, DATA)


@pytest.mark.parametrize("url", ["ftp://x", "http://example.org/blobs", "gs://bucket"])
def test_open_store_rejects_unknown_schemes(url: str) -> None:
    with pytest.raises(ConfigError, match="unsupported storage URL scheme"):
        open_store(url)


def test_open_store_rejects_bad_urls() -> None:
    with pytest.raises(ConfigError):
        open_store("file://remote-host/blobs")
    with pytest.raises(ConfigError):
        open_store("s3://")


def test_unknown_scheme_message_carries_no_credentials() -> None:
    with pytest.raises(ConfigError) as info:
        open_store("ftp://user:hunter2@host/blobs")
    assert "hunter2" not in str(info.value)
