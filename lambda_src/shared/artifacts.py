"""Reading the build artifact from S3 and checking it as a Lambda deployment package."""

import base64
import hashlib
import io
import lzma
import stat
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from botocore.exceptions import ClientError

from shared import aws
from shared.errors import ArtifactUnavailable, InvalidArtifact
from shared.events import ArtifactLocation

# Lambda quotas for a .zip deployment package.
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024


def _version(location: ArtifactLocation) -> dict[str, str]:
    return {"VersionId": location.version_id} if location.version_id else {}


def _unavailable(location: ArtifactLocation, error: ClientError) -> ArtifactUnavailable:
    code = error.response.get("Error", {}).get("Code", "Unknown")
    return ArtifactUnavailable(f"cannot read the artifact {location.uri}: {code}")


def artifact_size(location: ArtifactLocation) -> int:
    try:
        head = aws.client("s3").head_object(Bucket=location.bucket, Key=location.key, **_version(location))
    except ClientError as error:
        raise _unavailable(location, error) from None
    return int(head["ContentLength"])


def read_artifact(location: ArtifactLocation) -> bytes:
    """The artifact's bytes; an artifact over Lambda's zipped limit is refused before download."""
    size = artifact_size(location)
    if size > MAX_ZIPPED_BYTES:
        raise InvalidArtifact(f"the artifact {location.uri} is {size} bytes, over Lambda's {MAX_ZIPPED_BYTES}-byte limit")
    try:
        body = aws.client("s3").get_object(Bucket=location.bucket, Key=location.key, **_version(location))["Body"]
        return bytes(body.read())
    except ClientError as error:
        raise _unavailable(location, error) from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lambda_code_sha256(data: bytes) -> str:
    """SHA-256 in the form Lambda reports as CodeSha256 (base64)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def content_sha256(data: bytes) -> str:
    """SHA-256 (hex) of what the zip holds: each file's path, executable bit and bytes, in path
    order. Two builds of one commit differ in timestamps and compression, not in this."""
    digest = hashlib.sha256()
    with open_zip(data) as archive:
        for entry in sorted(archive.infolist(), key=lambda item: item.filename):
            if entry.is_dir():
                continue
            executable = bool((entry.external_attr >> 16) & 0o111)
            digest.update(f"{entry.filename}\0{int(executable)}\0".encode())
            with archive.open(entry) as stream:
                for chunk in iter(lambda: stream.read(1 << 16), b""):
                    digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()


def open_zip(data: bytes, what: str = "the artifact") -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
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
    """Extract after refusing unsafe entries and archives over Lambda's unzipped limit."""
    for entry in archive.infolist():
        reason = unsafe_entry_reason(entry)
        if reason:
            raise InvalidArtifact(f"the artifact has an unsafe entry {entry.filename!r}: {reason}")
    size = unzipped_size(archive)
    if size > MAX_UNZIPPED_BYTES:
        raise InvalidArtifact(f"the artifact unzips to {size} bytes, over Lambda's {MAX_UNZIPPED_BYTES}-byte limit")
    try:
        archive.extractall(destination)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as error:
        raise InvalidArtifact(f"the artifact cannot be extracted: {error}") from None


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


def read_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, limit: int) -> bytes:
    """The bytes of one entry, reading no more than `limit`; InvalidArtifact when it cannot be read
    or is declared larger than `limit`."""
    if entry.file_size > limit:
        raise InvalidArtifact(f"{entry.filename!r} is {entry.file_size} bytes, over the {limit}-byte limit for reading it")
    try:
        with archive.open(entry) as member:
            data = member.read(limit + 1)
    except ENTRY_READ_ERRORS as error:
        raise InvalidArtifact(f"{entry.filename!r} cannot be read: {error}") from None
    if len(data) > limit:
        raise InvalidArtifact(f"{entry.filename!r} unpacks to more than the {limit}-byte limit for reading it")
    return data
