"""validate_code against moto S3: the verdict's hashes, every named finding, malformed zips and events."""

import base64
import functools
import hashlib
import io
import json
import struct
import zipfile
from typing import Any

import boto3
import pytest

from conftest import ROOT, load_handler
from shared import aws as shared_aws, errors

BUCKET = "artifacts"
KEY = "pipeline/BuildOutput/artifact.zip"
APP = "import json\n\n\ndef handler(event, context):\n    return {'statusCode': 200, 'body': json.dumps({'ok': True})}\n"
CASES = json.dumps({"cases": [{"name": "answers", "event": {}, "expect": {"statusCode": 200, "body.ok": True}}]})
# Built from parts so that this file is not itself a committed secret to scanners.
KEY_ID = "AKIA" + "Z7QW3K5N2XJ4TP6D"
PRIVATE_KEY_HEADER = "-----BEGIN " + "RSA PRIVATE KEY-----"


def make_zip(files: dict[str, str | bytes | zipfile.ZipInfo], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in files.items():
            if isinstance(content, zipfile.ZipInfo):
                archive.writestr(content, b"target")
            else:
                archive.writestr(name, content)
    return buffer.getvalue()


def package(changes: dict[str, str | bytes | None] | None = None) -> bytes:
    """The valid two-file package, with files added, replaced, or removed (None)."""
    files: dict[str, str | bytes] = {"app.py": APP, "test_cases.json": CASES}
    for path, content in (changes or {}).items():
        if content is None:
            files.pop(path, None)
        else:
            files[path] = content
    return make_zip(files)  # type: ignore[arg-type]


def central_header(data: bytes, name: str) -> int:
    """Offset of `name`'s central directory header."""
    offset = data.find(b"PK\x01\x02")
    while offset >= 0:
        name_length = struct.unpack_from("<H", data, offset + 28)[0]
        if data[offset + 46 : offset + 46 + name_length] == name.encode():
            return offset
        offset = data.find(b"PK\x01\x02", offset + 4)
    raise AssertionError(f"{name} is not in the central directory")


def patch_central(data: bytes, name: str, *, flags: int | None = None, compression: int | None = None, crc: int | None = None, size: int | None = None) -> bytes:
    """Rewrite fields of one central directory header, as a hand-crafted zip would have them."""
    patched = bytearray(data)
    offset = central_header(data, name)
    for value, position, layout in ((flags, 8, "<H"), (compression, 10, "<H"), (crc, 16, "<I"), (size, 24, "<I")):
        if value is not None:
            struct.pack_into(layout, patched, offset + position, value)
    return bytes(patched)


def flags_of(data: bytes, name: str) -> int:
    return int(struct.unpack_from("<H", data, central_header(data, name) + 8)[0])


@functools.cache
def warm_session() -> boto3.Session:
    """One boto3 session for the module: moto resets boto3's default session for every test, and a
    fresh session loads every service model again (a tenth of a second per client)."""
    return boto3.Session()


@pytest.fixture
def bucket(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", warm_session())
    monkeypatch.setenv("APP_HANDLER", "app.handler")
    monkeypatch.setenv("TEST_CASES_PATH", "test_cases.json")
    shared_aws.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


def state(key: str = KEY) -> dict[str, Any]:
    return {
        "commit_id": "9fceb02d0ae598e95dc970b74767f19372d61af8",
        "artifact": {"bucket": BUCKET, "key": key, "version_id": None},
        "pipeline": {"name": "sls-cd-pipeline", "execution_id": "e-1", "job_id": "j-1"},
        "execution": {"arn": "arn:aws:states:us-east-1:123456789012:execution:deploy:run-1", "name": "run-1", "started_at": "2026-01-01T00:00:00Z"},
    }


def validate(context: Any, data: bytes) -> dict[str, Any]:
    shared_aws.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=data)
    return load_handler("validate_code").handler(state(), context)  # type: ignore[no-any-return]


def findings(verdict: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(finding["check"], finding["path"]) for finding in verdict["findings"]]


def message_of(verdict: dict[str, Any], check: str) -> str:
    return next(str(finding["message"]) for finding in verdict["findings"] if finding["check"] == check)


# --- valid packages ------------------------------------------------------------------------------


def test_a_valid_package_passes_with_its_hashes(bucket: str, context: Any) -> None:
    data = package({"lib/helpers/text.py": "GREETING = 'hi'\n"})
    verdict = validate(context, data)

    digest = hashlib.sha256(data).digest()
    assert verdict["valid"] is True and verdict["findings"] == []
    assert verdict["sha256"] == digest.hex()
    assert verdict["code_sha256"] == base64.b64encode(digest).decode()
    unzipped = len(APP) + len(CASES) + len("GREETING = 'hi'\n")
    assert verdict["summary"] == f"code is valid: 3 files, {unzipped} bytes unzipped, sha256 {digest.hex()}"


def test_the_sample_application_passes_validation(bucket: str, context: Any) -> None:
    data = make_zip({"app.py": (ROOT / "app/src/app.py").read_bytes(), "test_cases.json": (ROOT / "app/test_cases.json").read_bytes()})

    verdict = validate(context, data)

    assert verdict["valid"] is True, verdict["summary"]


@pytest.mark.parametrize(
    "files",
    [
        {"app/__init__.py": APP},
        {"app.py": "def make():\n    return lambda event, context: {}\n\nhandler = make()\n"},
        {"app.py": "from impl import handler\n", "impl.py": APP},
        {"app.py": "try:\n    from fast import handler\nexcept ImportError:\n    def handler(event, context):\n        return {}\n"},
    ],
    ids=["package-init", "assigned", "imported", "conditional"],
)
def test_the_handler_may_be_bound_in_any_top_level_way(bucket: str, context: Any, files: dict[str, str]) -> None:
    verdict = validate(context, make_zip({**files, "test_cases.json": CASES}))

    assert findings(verdict) == []


def test_a_nested_handler_module_is_found_under_its_dotted_path(bucket: str, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_HANDLER", "service/api.handler")

    assert validate(context, make_zip({"service/api.py": APP, "test_cases.json": CASES}))["valid"] is True
    assert findings(validate(context, make_zip({"api.py": APP, "test_cases.json": CASES}))) == [("handler_missing", None)]


# --- findings about entries: names, links, flags, sizes -----------------------------------------


@pytest.mark.parametrize("name", ["../escape.py", "lib/../../escape.py", "/etc/cron.d/job", "..\\windows.py", "C:/Windows/evil.dll"])
def test_an_entry_that_escapes_the_package_directory_is_an_unsafe_path(bucket: str, context: Any, name: str) -> None:
    verdict = validate(context, make_zip({"app.py": APP, "test_cases.json": CASES, name: "x = 1\n"}))

    assert findings(verdict) == [("unsafe_path", name)]
    assert verdict["valid"] is False
    assert "outside the package directory" in message_of(verdict, "unsafe_path")


def symlink(name: str) -> zipfile.ZipInfo:
    link = zipfile.ZipInfo(name)
    link.external_attr = 0o120777 << 16
    return link


def test_a_symbolic_link_is_a_finding(bucket: str, context: Any) -> None:
    verdict = validate(context, make_zip({"app.py": APP, "test_cases.json": CASES, "config.py": symlink("config.py")}))

    assert findings(verdict) == [("symlink", "config.py")]


def test_a_symbolic_link_outside_the_package_is_both_findings(bucket: str, context: Any) -> None:
    verdict = validate(context, make_zip({"app.py": APP, "test_cases.json": CASES, "../link": symlink("../link")}))

    assert findings(verdict) == [("unsafe_path", "../link"), ("symlink", "../link")]


def test_a_directory_entry_outside_the_package_is_an_unsafe_path(bucket: str, context: Any) -> None:
    verdict = validate(context, make_zip({"app.py": APP, "test_cases.json": CASES, "../outside/": b""}))

    assert findings(verdict) == [("unsafe_path", "../outside/")]


def test_an_artifact_over_50_mb_is_refused_without_downloading_it(bucket: str, context: Any) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    # Straight into moto's store: uploading 50 MB through the S3 API takes seconds.
    s3_backends[DEFAULT_ACCOUNT_ID]["global"].put_object(BUCKET, KEY, b"\0" * (50 * 1024 * 1024 + 1))
    downloads: list[str] = []
    shared_aws.client("s3").meta.events.register("before-call.s3.GetObject", lambda **kwargs: downloads.append("GetObject"))

    verdict = load_handler("validate_code").handler(state(), context)

    assert findings(verdict) == [("too_large_zipped", None)]
    assert "52428801 bytes" in verdict["summary"] and verdict["sha256"] is None and verdict["code_sha256"] is None
    assert downloads == []


def test_declared_sizes_over_250_mb_unzipped_are_a_finding(bucket: str, context: Any) -> None:
    data = patch_central(package({"data/blob.bin": "small"}), "data/blob.bin", size=260 * 1024 * 1024)

    verdict = validate(context, data)

    assert findings(verdict) == [("too_large_unzipped", None)]
    declared = 260 * 1024 * 1024 + len(APP) + len(CASES)
    assert message_of(verdict, "too_large_unzipped") == f"the entries declare {declared} bytes unzipped, over Lambda's 262144000-byte limit"


def test_a_huge_declared_size_is_not_read_into_memory(bucket: str, context: Any) -> None:
    data = patch_central(package(), "app.py", size=0xFFFFFFF0)

    verdict = validate(context, data)

    assert findings(verdict) == [("too_large_unzipped", None)]


# --- malformed zips --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"this is not a zip file at all",
        b"",
        package()[:-30],
        patch_central(package(), "app.py", flags=0x800).replace(b"app.py", b"\xff\xfep.py"),
    ],
    ids=["text", "empty", "truncated-central-directory", "invalid-utf8-name-flagged-utf8"],
)
def test_bytes_that_are_not_a_readable_zip_are_not_a_zip(bucket: str, context: Any, data: bytes) -> None:
    verdict = validate(context, data)

    assert findings(verdict) == [("not_a_zip", None)]
    assert verdict["sha256"] == hashlib.sha256(data).hexdigest()
    assert verdict["summary"] == "1 finding: not_a_zip: the artifact is not a zip archive"


def test_an_entry_with_a_bad_crc_is_unreadable(bucket: str, context: Any) -> None:
    verdict = validate(context, patch_central(package(), "app.py", crc=0xDEADBEEF))

    assert ("unreadable_entry", "app.py") in findings(verdict)
    assert "Bad CRC-32" in message_of(verdict, "unreadable_entry")


def test_an_encrypted_entry_is_unreadable(bucket: str, context: Any) -> None:
    data = package({"secrets/vault.bin": b"\x00" * 32})
    data = patch_central(data, "secrets/vault.bin", flags=flags_of(data, "secrets/vault.bin") | 0x1)

    verdict = validate(context, data)

    assert findings(verdict) == [("unreadable_entry", "secrets/vault.bin")]
    assert "encrypted" in message_of(verdict, "unreadable_entry")


def test_an_unknown_compression_method_is_unreadable(bucket: str, context: Any) -> None:
    verdict = validate(context, patch_central(package({"lib/util.py": "x = 1\n"}), "lib/util.py", compression=99))

    assert findings(verdict) == [("unreadable_entry", "lib/util.py")]


def test_a_name_that_is_not_utf8_is_handled_like_any_other(bucket: str, context: Any) -> None:
    data = package({"docs/cafe.txt": "menu\n"}).replace(b"docs/cafe.txt", b"docs/caf\xe9.txt")

    verdict = validate(context, data)

    assert verdict["valid"] is True, verdict["summary"]
    assert "3 files" in verdict["summary"]


# --- findings about contents ----------------------------------------------------------------------


@pytest.mark.parametrize("app_handler", ["app.handler", "app.main"])
def test_a_missing_handler_module_is_handler_missing(bucket: str, context: Any, monkeypatch: pytest.MonkeyPatch, app_handler: str) -> None:
    monkeypatch.setenv("APP_HANDLER", app_handler)

    verdict = validate(context, package({"app.py": None, "main.py": APP}))

    assert findings(verdict) == [("handler_missing", None)]
    assert message_of(verdict, "handler_missing") == f"APP_HANDLER {app_handler} needs app.py or app/__init__.py at the zip root; the artifact has neither"


@pytest.mark.parametrize(
    "source",
    [
        "def handle(event, context):\n    return {}\n",
        "class Api:\n    def handler(self, event, context):\n        return {}\n",
        "def outer():\n    def handler(event, context):\n        return {}\n",
        "settings = {}\nsettings['handler'] = print\n",
    ],
    ids=["other-name", "method", "nested", "subscript"],
)
def test_a_module_without_a_top_level_handler_is_handler_missing(bucket: str, context: Any, source: str) -> None:
    verdict = validate(context, package({"app.py": source}))

    assert findings(verdict) == [("handler_missing", "app.py")]
    assert message_of(verdict, "handler_missing") == "defines no top-level function 'handler' (APP_HANDLER app.handler)"


def test_an_async_handler_is_handler_missing(bucket: str, context: Any) -> None:
    verdict = validate(context, package({"app.py": "async def handler(event, context):\n    return {}\n"}))

    assert findings(verdict) == [("handler_missing", "app.py")]
    assert "async def" in message_of(verdict, "handler_missing")


def test_python_that_does_not_compile_is_a_syntax_error_with_its_line(bucket: str, context: Any) -> None:
    broken = "import os\n\ndef greet(name)\n    return name\n"
    verdict = validate(context, package({"lib/deep/nested/util.py": broken}))

    assert findings(verdict) == [("syntax_error", "lib/deep/nested/util.py")]
    assert message_of(verdict, "syntax_error") == "line 3: expected ':'"
    assert verdict["summary"] == "1 finding: syntax_error in lib/deep/nested/util.py: line 3: expected ':'"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = 1\nreturn x\n", "line 2: 'return' outside function"),
        (b"# -*- coding: utf-8 -*-\nname = '\xff'\n", "line 2:"),
        (b"x = 1\x00\n", "null bytes"),
    ],
    ids=["compiler-error", "bad-encoding", "null-byte"],
)
def test_errors_found_only_by_the_compiler_are_syntax_errors(bucket: str, context: Any, source: str | bytes, expected: str) -> None:
    verdict = validate(context, package({"lib/util.py": source}))

    assert findings(verdict) == [("syntax_error", "lib/util.py")]
    assert expected in message_of(verdict, "syntax_error")


def test_a_syntax_error_in_the_handler_module_is_reported_once(bucket: str, context: Any) -> None:
    verdict = validate(context, package({"app.py": "def handler(event, context):\n    return {\n"}))

    assert findings(verdict) == [("syntax_error", "app.py")]


def test_an_access_key_id_is_a_secret_reported_by_line_and_masked(bucket: str, context: Any) -> None:
    config = f"REGION = 'eu-west-1'\n\nKEY = '{KEY_ID}'\n"
    verdict = validate(context, package({"config.py": config}))

    assert findings(verdict) == [("secret", "config.py")]
    assert message_of(verdict, "secret") == "line 3: AWS access key id AKIA****"
    assert KEY_ID not in json.dumps(verdict) and KEY_ID[4:] not in json.dumps(verdict)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("certs/server.pem", f"# server\n{PRIVATE_KEY_HEADER}\nMIIEow\n", "line 2: private key block (RSA)"),
        (".env", f"DEBUG=1\nAWS_ACCESS_KEY_ID=ASIA{KEY_ID[4:]}\n", "line 2: AWS access key id ASIA****"),
        ("deploy/settings.yaml", f"key: {KEY_ID}\n", "line 1: AWS access key id AKIA****"),
        ("keys/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n", "line 1: private key block (OPENSSH)"),
    ],
    ids=["pem", "dotenv", "yaml", "ssh-key-without-suffix"],
)
def test_secrets_are_found_in_text_files(bucket: str, context: Any, name: str, content: str, expected: str) -> None:
    verdict = validate(context, make_zip({"app.py": APP, "test_cases.json": CASES, name: content}))

    assert findings(verdict) == [("secret", name)]
    assert message_of(verdict, "secret") == expected


def test_documentation_key_ids_and_lookalikes_are_not_secrets(bucket: str, context: Any) -> None:
    readme = "Use AKIAIOSFODNN7EXAMPLE as in the AWS docs.\nXAKIA" + KEY_ID[4:] + " is an id of another kind.\n"
    verdict = validate(context, package({"notes.txt": readme}))

    assert verdict["valid"] is True, verdict["summary"]


def test_every_finding_is_listed_in_the_summary(bucket: str, context: Any) -> None:
    data = package({"config.py": f"\n\nKEY = '{KEY_ID}'\n", "app.py": APP + "\n\nif True\n    pass\n"})

    verdict = validate(context, data)

    assert verdict["valid"] is False
    assert verdict["summary"] == ("2 findings: syntax_error in app.py: line 8: expected ':'; secret in config.py: line 3: AWS access key id AKIA****")


# --- the declared test cases ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "missing from the artifact"),
        ('{"cases": [', "is not valid JSON: Expecting value (line 1 column 12)"),
        ('{"tests": []}', 'must be a JSON object with a "cases" array'),
        ('{"cases": []}', "declares no test cases"),
        ('{"cases": [{"name": "a", "event": {}}]}', "test case 1 ('a') needs an \"expect\" object"),
        ('{"cases": [{"name": "a", "expect": {"x": 1}}]}', "test case 1 ('a') needs an \"event\""),
        ('{"cases": [{"name": "a", "event": {}, "expected": {"x": 1}}]}', "test case 1 ('a') has unknown key 'expected'"),
        ('{"cases": [{"name": "a", "event": {}, "expect": {"x": 1}, "phases": ["prod"]}]}', 'has "phases" ["prod"]'),
        ('{"cases": [{"name": "a", "event": {}, "expect": {"x..y": 1}}]}', "has the expected path 'x..y', which has an empty step"),
        ('{"cases": [{"name": "a", "event": {}, "expect": {"x": 1}}, {"name": "a", "event": {}, "expect": {"x": 2}}]}', "names two test cases 'a'"),
        ('{"cases": [{"name": "a", "event": {}, "expect": {"x": 1, "x": 2}}]}', "repeats the key 'x'"),
        ('{"cases": [{"name": "a", "event": {}, "expect": {"x": NaN}}]}', "uses NaN, which is not JSON"),
        ('{"cases": [{"name": "a", "event": {}, "expect": {"x": 1}, "phases": ["package"]}]}', "no test case runs in the staging and production phases"),
    ],
    ids=["absent", "not-json", "no-cases-key", "empty", "no-expect", "no-event", "typo-key", "unknown-phase", "empty-step", "duplicate-name", "duplicate-key", "nan", "untested-phases"],
)
def test_a_broken_test_declaration_is_test_cases_missing(bucket: str, context: Any, content: str | None, expected: str) -> None:
    verdict = validate(context, package({"test_cases.json": content}))

    assert findings(verdict) == [("test_cases_missing", "test_cases.json")]
    assert expected in message_of(verdict, "test_cases_missing")


def test_the_test_cases_path_comes_from_the_environment(bucket: str, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CASES_PATH", "ci/cases.json")

    assert findings(validate(context, package())) == [("test_cases_missing", "ci/cases.json")]
    assert validate(context, package({"test_cases.json": None, "ci/cases.json": CASES}))["valid"] is True


# --- malformed events and configuration -------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "error", "match"),
    [
        (["commit_id"], errors.InvalidInput, "the event must be a JSON object, got an array"),
        ({"artifact": {"bucket": BUCKET, "key": KEY}}, errors.InvalidInput, "the event has no 'commit_id'"),
        ({"commit_id": "abc; rm -rf /", "artifact": {"bucket": BUCKET, "key": KEY}}, errors.InvalidInput, "is not a commit id"),
        ({"commit_id": "abc", "artifact": "s3://artifacts/a.zip"}, errors.InvalidInput, "artifact must be a JSON object"),
        ({"commit_id": "abc", "artifact": {"bucket": 7, "key": KEY}}, errors.InvalidInput, "'artifact.bucket' must be a string, got a number"),
        ({"commit_id": "abc", "artifact": {"bucket": BUCKET, "key": "  "}}, errors.InvalidInput, "'artifact.key' must not be empty"),
        ({"commit_id": "abc", "artifact": {"bucket": BUCKET, "key": "missing.zip"}}, errors.ArtifactUnavailable, "cannot read the artifact s3://artifacts/missing.zip: 404"),
        ({"commit_id": "abc", "artifact": {"bucket": "no-such-bucket", "key": KEY}}, errors.ArtifactUnavailable, "s3://no-such-bucket/"),
    ],
    ids=["array", "no-commit", "bad-commit", "artifact-string", "bucket-number", "blank-key", "no-object", "no-bucket"],
)
def test_malformed_events_raise_named_errors(bucket: str, context: Any, event: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        load_handler("validate_code").handler(event, context)


@pytest.mark.parametrize(
    ("value", "match"),
    [(None, "APP_HANDLER is not set"), ("app", "is not a handler like 'app.handler'"), ("app.handler()", "is not a handler like")],
)
def test_a_bad_app_handler_setting_is_a_configuration_error(bucket: str, context: Any, monkeypatch: pytest.MonkeyPatch, value: str | None, match: str) -> None:
    if value is None:
        monkeypatch.delenv("APP_HANDLER")
    else:
        monkeypatch.setenv("APP_HANDLER", value)
    shared_aws.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=package())

    with pytest.raises(errors.ConfigurationError, match=match):
        load_handler("validate_code").handler(state(), context)
