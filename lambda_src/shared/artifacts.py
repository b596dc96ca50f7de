"""Reading the build artifact from S3 and checking it as a Lambda deployment package."""

import base64
import hashlib
import lzma
import shutil
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.errors import ArtifactUnavailable, InvalidArtifact
from shared.events import ArtifactLocation

# Lambda's quota for a .zip deployment package, layers included, once unzipped. (Its 50 MB zipped
# quota applies to direct uploads only; the platform updates functions from a copy in S3.)
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024


def _version(location: ArtifactLocation) -> dict[str, str]:
    return {"VersionId": location.version_id} if location.version_id else {}


def _unavailable(location: ArtifactLocation, error: ClientError) -> ArtifactUnavailable:
    code = str(error.response.get("Error", {}).get("Code", "Unknown"))
    status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return ArtifactUnavailable(f"cannot read the artifact {location.uri}: {code if code == status else f'{status} {code}'.strip()}")


@dataclass
class Artifact:
    """The artifact's bytes in an anonymous temporary file (in /tmp on Lambda), gone once closed."""

    file: IO[bytes]
    size: int
    sha256: str  # hex
    code_sha256: str  # base64, the form Lambda reports as CodeSha256

    def __enter__(self) -> "Artifact":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        self.file.close()


def read_artifact(location: ArtifactLocation) -> Artifact:
    """Stream the artifact from S3 into a temporary file, hashing it on the way."""
    s3 = aws.client("s3")
    try:
        response = s3.get_object(Bucket=location.bucket, Key=location.key, **_version(location))
    except ClientError as error:
        raise _unavailable(location, error) from None
    body, size = response["Body"], int(response["ContentLength"])
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if size > free:
        body.close()
        raise ArtifactUnavailable(f"the artifact {location.uri} is {size} bytes, more than the {free} bytes free in this function's /tmp; raise its ephemeral_storage in lambda.tf")
    file = tempfile.TemporaryFile(prefix="artifact-")
    digest = hashlib.sha256()
    try:
        for chunk in body.iter_chunks(CHUNK_BYTES):
            digest.update(chunk)
            file.write(chunk)
    except (BotoCoreError, OSError) as error:
        file.close()
        raise ArtifactUnavailable(f"reading the artifact {location.uri} failed: {error}") from None
    finally:
        body.close()
    file.seek(0)
    return Artifact(file, size, digest.hexdigest(), base64.b64encode(digest.digest()).decode())


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_sha256(file: IO[bytes]) -> str:
    """SHA-256 (hex) of what the zip holds: each file's path, executable bit and bytes, in path
    order. Two builds of one commit differ in timestamps and compression, not in this.
    InvalidArtifact names the first entry that cannot be unpacked."""
    digest = hashlib.sha256()
    with open_zip(file) as archive:
        for entry in sorted(archive.infolist(), key=lambda item: item.filename):
            if entry.is_dir():
                continue
            executable = bool((entry.external_attr >> 16) & 0o111)
            digest.update(f"{entry.filename}\0{int(executable)}\0".encode())
            for chunk in entry_chunks(archive, entry):
                digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()


def open_zip(file: IO[bytes], what: str = "the artifact") -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, ValueError, OSError):
        raise InvalidArtifact(f"{what} is not a zip archive") from None


def unsafe_entry_reason(entry: zipfile.ZipInfo) -> str | None:
    """Why an entry could escape the folder it is extracted into, or None when it is safe."""
    name = entry.filename
    if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "path with '..'"
    if stat.S_ISLNK(entry.external_attr >> 16):
        return "symbolic link"
    return None


def unzipped_size(archive: zipfile.ZipFile) -> int:
    return sum(entry.file_size for entry in archive.infolist())


def safe_extract(archive: zipfile.ZipFile, destination: Path) -> None:
    """Extract after refusing unsafe entries and archives over Lambda's unzipped limit;
    InvalidArtifact names the first entry that cannot be unpacked."""
    for entry in archive.infolist():
        reason = unsafe_entry_reason(entry)
        if reason:
            raise InvalidArtifact(f"the artifact has an unsafe entry {entry.filename!r}: {reason}")
    size = unzipped_size(archive)
    if size > MAX_UNZIPPED_BYTES:
        raise InvalidArtifact(f"the artifact unzips to {size} bytes, over Lambda's {MAX_UNZIPPED_BYTES}-byte limit")
    for entry in archive.infolist():
        try:
            archive.extract(entry, destination)
        except ENTRY_READ_ERRORS as error:
            raise unpacking_failed(entry, error) from None


# What zipfile raises for an entry it cannot unpack: a bad CRC or truncated data, encryption
# (RuntimeError), an unsupported compression method, or a corrupt compressed stream.
ENTRY_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    RuntimeError,
    NotImplementedError,
    EOFError,
    OSError,
    ValueError,
    zlib.error,
    lzma.LZMAError,
    struct.error,
)


def entry_problem(entry: zipfile.ZipInfo, error: BaseException) -> str:
    """What is wrong with an entry that zipfile failed to unpack, as the end of a sentence naming it."""
    if isinstance(error, RuntimeError) and entry.flag_bits & 0x1:
        return "is encrypted; Lambda cannot unpack it"
    if isinstance(error, NotImplementedError):
        return f"uses compression method {entry.compress_type}, which cannot be unpacked"
    if isinstance(error, (zlib.error, lzma.LZMAError)):
        return f"has corrupt compressed data ({error})"
    if isinstance(error, EOFError):
        return "is truncated: its compressed data ends early"
    if isinstance(error, OSError) and error.strerror:
        return f"cannot be unpacked: {error.strerror}"
    return f"cannot be read: {error}"


def unpacking_failed(entry: zipfile.ZipInfo, error: BaseException) -> InvalidArtifact:
    return InvalidArtifact(f"the artifact's entry {entry.filename!r} {entry_problem(entry, error)}")


def entry_chunks(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> Iterator[bytes]:
    """An entry's bytes, a chunk at a time; zipfile checks the CRC-32 at the end. InvalidArtifact
    names the entry when it cannot be unpacked."""
    try:
        with archive.open(entry) as member:
            while chunk := member.read(CHUNK_BYTES):
                yield chunk
    except ENTRY_READ_ERRORS as error:
        raise unpacking_failed(entry, error) from None


def read_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, limit: int) -> bytes:
    """The bytes of one entry, reading no more than `limit`; InvalidArtifact when it cannot be read
    or is declared larger than `limit`."""
    if entry.file_size > limit:
        raise InvalidArtifact(f"{entry.filename!r} is {entry.file_size} bytes, over the {limit}-byte limit for reading it")
    try:
        with archive.open(entry) as member:
            data = member.read(limit + 1)
    except ENTRY_READ_ERRORS as error:
        raise InvalidArtifact(f"{entry.filename!r} {entry_problem(entry, error)}") from None
    if len(data) > limit:
        raise InvalidArtifact(f"{entry.filename!r} unpacks to more than the {limit}-byte limit for reading it")
    return data
