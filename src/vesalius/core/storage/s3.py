"""Storage area in an S3-compatible bucket: key ``prefix/ab/cd/<digest>``, via s3fs.

An S3 PUT is atomic (readers see the old state or the whole object, never a part) and
durable once answered, so no temporary object is needed. "Never overwrite" is asked of
the service with a conditional PUT (``If-None-Match: *``, s3fs ``mode="create"``); where
a service ignores the condition, or for multipart uploads (over 100 MB) where s3fs does
not send it, the worst case is rewriting identical bytes, since put checks the digest.
The listings cache is off: several nodes write to the same bucket, and a stale cache
would answer ``exists`` wrongly.
"""

from __future__ import annotations

import hashlib

import s3fs
from botocore.exceptions import BotoCoreError, ClientError

from vesalius.core.errors import BlobNotFound, ConfigError, IntegrityError, StorageError
from vesalius.core.storage import check_digest, check_range

# What s3fs lets through: its translations of S3 errors (OSError subclasses) and the
# botocore errors it does not translate (no credentials, endpoint unreachable).
_S3_ERRORS = (OSError, BotoCoreError, ClientError)


def _is_invalid_range(exc: BaseException) -> bool:
    """S3 answers 416 for a range that starts at or after the end of the object."""
    cause = exc.__cause__
    return isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in (
        "InvalidRange",
        "416",
    )


class S3BlobStore:
    """Blobs as objects in ``bucket/prefix``; credentials come from the AWS environment."""

    def __init__(self, bucket_and_prefix: str, endpoint_url: str | None = None) -> None:
        bucket, _, prefix = bucket_and_prefix.strip("/").partition("/")
        if not bucket:
            raise ConfigError("an s3:// storage URL must name a bucket: s3://bucket/prefix")
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self._prefix}" if self._prefix else f"s3://{bucket}"
        self._fs = s3fs.S3FileSystem(
            skip_instance_cache=True,  # never share a cached instance with other settings
            use_listings_cache=False,
            client_kwargs={"endpoint_url": endpoint_url} if endpoint_url else {},
        )

    def _key(self, digest: str) -> str:
        fanned = f"{digest[:2]}/{digest[2:4]}/{digest}"
        return f"{self._prefix}/{fanned}" if self._prefix else fanned

    def _path(self, digest: str) -> str:
        return f"{self._bucket}/{self._key(digest)}"

    def _head(self, digest: str) -> bool:
        # A direct HEAD: fs.exists() would follow a miss with a LIST ("is it a folder?").
        try:
            self._fs.call_s3("head_object", Bucket=self._bucket, Key=self._key(digest))
        except FileNotFoundError:
            return False
        return True

    def put(self, digest: str, data: bytes) -> bool:
        check_digest(digest)
        if hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(f"data does not match digest {digest}")
        try:
            if self._head(digest):
                return False  # cheaper than uploading the bytes only to be refused
            try:
                self._fs.pipe_file(self._path(digest), bytes(data), mode="create")
            except FileExistsError:
                return False  # a concurrent writer won the conditional PUT
            return True
        except _S3_ERRORS as exc:
            raise StorageError(f"cannot store blob {digest} in {self.url}") from exc

    def get(self, digest: str, start: int = 0, end: int | None = None) -> bytes:
        check_digest(digest)
        check_range(start, end)
        path = self._path(digest)
        try:
            if end == start:  # an empty range cannot be sent as an HTTP Range header
                if not self._head(digest):
                    raise FileNotFoundError(path)
                return b""
            if start == 0 and end is None:
                return self._fs.cat_file(path)
            return self._fs.cat_file(path, start=start, end=end)
        except FileNotFoundError as exc:
            raise BlobNotFound(f"no blob {digest} in {self.url}") from exc
        except _S3_ERRORS as exc:
            if _is_invalid_range(exc):
                return b""  # start is past the end: clipped, as in the other backends
            raise StorageError(f"cannot read blob {digest} from {self.url}") from exc

    def exists(self, digest: str) -> bool:
        check_digest(digest)
        try:
            return self._head(digest)
        except _S3_ERRORS as exc:
            raise StorageError(f"cannot check blob {digest} in {self.url}") from exc

    def remove(self, digest: str) -> None:
        check_digest(digest)
        try:
            self._fs.rm_file(self._path(digest))
        except FileNotFoundError:
            return
        except _S3_ERRORS as exc:
            raise StorageError(f"cannot remove blob {digest} from {self.url}") from exc
