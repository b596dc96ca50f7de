"""validate_code against moto S3: the verdict's hashes, every named finding, malformed zips and events."""

import base64
import functools
import hashlib
import io
import json
import os
import zipfile
from typing import Any

import boto3
import pytest

import vendored
from aws_fixtures import register_service, registered_document, use_registry
from conftest import ROOT, FakeLambdaContext, load_handler
from shared import aws as shared_aws, errors
from zip_craft import DAMAGE, damaged, flags_of, patch_central

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


@functools.cache
def warm_session() -> boto3.Session:
    """One boto3 session for the module: moto resets boto3's default session for every test, and a
    fresh session loads every service model again (a tenth of a second per client)."""
    return boto3.Session()


@pytest.fixture
def bucket(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", warm_session())
    use_registry(monkeypatch)
    shared_aws.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


def registered_with(**changes: Any) -> None:
    """Change the service's registry entry (the next input carries the changed entry)."""
    register_service(registered_document() | changes)


def state(key: str = KEY) -> dict[str, Any]:
    return {
        "commit_id": "9fceb02d0ae598e95dc970b74767f19372d61af8",
        "artifact": {"bucket": BUCKET, "key": key, "version_id": None},
        "pipeline": {"name": "sls-cd-pipeline", "execution_id": "e-1", "job_id": "j-1"},
        "execution": {"arn": "arn:aws:states:us-east-1:123456789012:execution:deploy:run-1", "name": "run-1", "started_at": "2026-01-01T00:00:00Z"},
        "service": registered_document(),
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
    registered_with(app_handler="service/api.handler")

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


def test_findings_about_very_long_entry_names_stay_a_few_kb(bucket: str, context: Any) -> None:
    # Zip entry names can be 64 KB long; the verdict travels in a Step Functions state (256 KB at most).
    hostile = {f"../{index:02d}-{'x' * 20_000}.py": "x = 1\n" for index in range(60)}

    verdict = validate(context, make_zip({"app.py": APP, "test_cases.json": CASES, **hostile}))

    assert len(verdict["findings"]) == 50 and all(finding["check"] == "unsafe_path" for finding in verdict["findings"])
    assert len(json.dumps(verdict)) < 40_000
    assert verdict["summary"].startswith("60 findings: unsafe_path in ../00-xxx")


def test_a_directory_entry_outside_the_package_is_an_unsafe_path(bucket: str, context: Any) -> None:
    verdict = validate(context, make_zip({"app.py": APP, "test_cases.json": CASES, "../outside/": b""}))

    assert findings(verdict) == [("unsafe_path", "../outside/")]


def store(data: bytes) -> None:
    """Straight into moto's store: uploading tens of MB through the S3 API takes seconds."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    s3_backends[DEFAULT_ACCOUNT_ID]["global"].put_object(BUCKET, KEY, data)


def test_a_package_over_50_mb_zipped_is_validated_like_any_other(bucket: str, context: Any) -> None:
    # Lambda's 50 MB limit is for zips uploaded directly; the deploy handlers update functions from S3.
    data = package({"models/weights.bin": os.urandom(51 * 1024 * 1024)})
    store(data)

    verdict = load_handler("validate_code").handler(state(), context)

    assert verdict["valid"] is True, verdict["summary"]
    assert verdict["sha256"] == hashlib.sha256(data).hexdigest()


def test_declared_sizes_over_250_mb_unzipped_are_a_finding(bucket: str, context: Any) -> None:
    data = patch_central(package({"data/blob.bin": "small"}), "data/blob.bin", size=260 * 1024 * 1024)

    verdict = validate(context, data)

    assert findings(verdict) == [("too_large_unzipped", None)]
    declared = 260 * 1024 * 1024 + len(APP) + len(CASES)
    assert message_of(verdict, "too_large_unzipped") == f"the entries declare {declared} bytes unzipped, over Lambda's 262144000-byte limit; they were not read"


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


@pytest.mark.parametrize("kind", ["unsupported-compression", "bad-crc", "corrupt-data"])
def test_damage_to_a_file_that_is_neither_scanned_nor_compiled_is_an_unreadable_entry(bucket: str, context: Any, kind: str) -> None:
    data = damaged(package({"lib/native.so": os.urandom(4096) + b"\0" * 65536}), "lib/native.so", kind)

    verdict = validate(context, data)

    assert findings(verdict) == [("unreadable_entry", "lib/native.so")]
    assert DAMAGE[kind] in message_of(verdict, "unreadable_entry")


def test_a_name_that_is_not_utf8_is_handled_like_any_other(bucket: str, context: Any) -> None:
    data = package({"docs/cafe.txt": "menu\n"}).replace(b"docs/cafe.txt", b"docs/caf\xe9.txt")

    verdict = validate(context, data)

    assert verdict["valid"] is True, verdict["summary"]
    assert "3 files" in verdict["summary"]


# --- findings about contents ----------------------------------------------------------------------


@pytest.mark.parametrize("app_handler", ["app.handler", "app.main"])
def test_a_missing_handler_module_is_handler_missing(bucket: str, context: Any, monkeypatch: pytest.MonkeyPatch, app_handler: str) -> None:
    registered_with(app_handler=app_handler)

    verdict = validate(context, package({"app.py": None, "main.py": APP}))

    assert findings(verdict) == [("handler_missing", None)]
    assert message_of(verdict, "handler_missing") == f"app_handler {app_handler} needs app.py or app/__init__.py at the zip root; the artifact has neither"


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
    assert message_of(verdict, "handler_missing") == "defines no top-level function 'handler' (app_handler app.handler)"


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


# --- a real application's package: vendored libraries -----------------------------------------------


@pytest.fixture(scope="session")
def vendored_zip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The pinned wheels of tests/vendored-requirements.txt installed with `pip install --target`,
    zipped with the two-file application."""
    missing = vendored.missing_wheels()
    if missing:
        pytest.fail(f"the wheels of {', '.join(missing)} are not in {vendored.WHEELS}: run `make install`", pytrace=False)
    folder = tmp_path_factory.mktemp("vendored")
    vendored.install(folder)
    return vendored.package(folder, {"app.py": APP, "test_cases.json": CASES})


def with_files(data: bytes, files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_vendored_libraries_are_not_the_applications_secrets_or_syntax_errors(bucket: str, context: Any, vendored_zip: bytes) -> None:
    names = zipfile.ZipFile(io.BytesIO(vendored_zip)).namelist()
    # botocore's documentation examples hold a private key block.
    assert "botocore/data/iam/2010-05-08/examples-1.json" in names
    assert {"numpy/__init__.py", "pandas/__init__.py", "requests/__init__.py", "pydantic/__init__.py"} <= set(names)
    store(vendored_zip)

    verdict = load_handler("validate_code").handler(state(), context)

    assert verdict["findings"] == []
    assert verdict["summary"].startswith(f"code is valid: {len(names)} files ({len(names) - 2} of them from 20 installed distributions, given the safety checks only)")


@pytest.mark.parametrize("installed", [False, True], ids=["app-files-loose", "app-pip-installed"])
def test_the_applications_own_files_get_every_check_beside_vendored_libraries(bucket: str, context: Any, vendored_zip: bytes, installed: bool) -> None:
    own: dict[str, str | bytes] = {"settings.py": f"KEY = '{KEY_ID}'\n", "lib/broken.py": "def greet(name)\n    return name\n"}
    if installed:
        # The application installed into the package like its libraries: its distribution provides app.py.
        record = "".join(f"{path},,\n" for path in ("app.py", "settings.py", "lib/broken.py", "myapp-1.0.dist-info/METADATA", "myapp-1.0.dist-info/RECORD"))
        own |= {"myapp-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: myapp\nVersion: 1.0\n", "myapp-1.0.dist-info/RECORD": record}
    store(with_files(vendored_zip, own))

    verdict = load_handler("validate_code").handler(state(), context)

    assert findings(verdict) == [("secret", "settings.py"), ("syntax_error", "lib/broken.py")]


def distribution(name: str, files: dict[str, str | bytes | zipfile.ZipInfo]) -> dict[str, str | bytes | zipfile.ZipInfo]:
    """`files` as an installed distribution: with its .dist-info folder, whose RECORD lists them."""
    folder = f"{name}-1.0.dist-info"
    listed = [*files, f"{folder}/METADATA", f"{folder}/RECORD"]
    record = "".join(f"{path},sha256=AAAA,1\n" for path in listed[:-1]) + f"{folder}/RECORD,,\n"
    return files | {f"{folder}/METADATA": f"Name: {name}\n", f"{folder}/RECORD": record}


def test_a_distributions_files_get_the_safety_checks_and_no_content_checks(bucket: str, context: Any) -> None:
    library = distribution(
        "vendorlib",
        {
            "vendorlib/__init__.py": f"print 'a Python 2 module'\nEXAMPLE_KEY = '{KEY_ID}'\n",
            "vendorlib/_native.so": os.urandom(1024),
            "vendorlib/current": symlink("vendorlib/current"),
        },
    )
    data = damaged(make_zip({"app.py": APP, "test_cases.json": CASES, **library}), "vendorlib/_native.so", "bad-crc")

    verdict = validate(context, data)

    assert findings(verdict) == [("unreadable_entry", "vendorlib/_native.so"), ("symlink", "vendorlib/current")]


def test_a_record_that_stops_being_csv_still_classifies_the_files_it_lists_before(bucket: str, context: Any) -> None:
    record = "vendorlib/examples.json,,\nvendorlib/other.json,,\n\0 not CSV\n"
    example = f'{{"key": "{PRIVATE_KEY_HEADER}"}}\n'
    data = make_zip({"app.py": APP, "test_cases.json": CASES, "vendorlib/examples.json": example, "vendorlib-1.0.dist-info/RECORD": record})

    verdict = validate(context, data)

    assert verdict["valid"] is True, verdict["summary"]


# --- validation's own bounds: memory, time, file size ---------------------------------------------------

# Generated data: compiling these 2 MiB takes about 870 MB and 3 s.
GENERATED = "TABLE = [" + "{1:[2]}," * (2 * 1024 * 1024 // 8) + "]\n"
# Many small functions: compiling these 2 MiB takes about 1 s and 300 MB.
SLOW = "".join(f"def f{index}(a, b):\n    return a * {index} + b\n\n" for index in range(50_000))


def test_a_module_that_needs_more_memory_to_compile_than_validation_has_is_a_warning(bucket: str, context: Any) -> None:
    verdict = validate(context, package({"generated/tables.py": GENERATED}))

    assert verdict["valid"] is True
    assert verdict["findings"] == [
        {
            "check": "not_checked",
            "path": "generated/tables.py",
            "message": "not compiled: compiling it needs more than 128 MB, the memory one file is given (half of this function's 256 MB)",
            "severity": "warning",
        }
    ]
    assert verdict["summary"].endswith("; 1 warning: not_checked in generated/tables.py: " + verdict["findings"][0]["message"])
    assert verdict["summary"].startswith("code is valid: 3 files")


def test_files_after_one_that_exhausts_the_memory_are_still_compiled(bucket: str, context: Any) -> None:
    verdict = validate(context, package({"generated/tables.py": GENERATED, "lib/after.py": "if True\n    pass\n"}))

    assert findings(verdict) == [("syntax_error", "lib/after.py"), ("not_checked", "generated/tables.py")]
    assert [finding["severity"] for finding in verdict["findings"]] == ["error", "warning"]
    assert verdict["valid"] is False
    assert verdict["summary"].startswith("1 finding: syntax_error in lib/after.py: line 1: expected ':'; 1 warning: not_checked in generated/tables.py")


def test_a_module_that_compiles_for_longer_than_one_file_may_is_a_warning(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_handler("validate_code"), "COMPILE_SECONDS", 0.25)
    roomy = FakeLambdaContext(memory_limit_in_mb=4096)

    verdict = validate(roomy, package({"lib/slow.py": SLOW, "lib/after.py": "if True\n    pass\n"}))

    assert findings(verdict) == [("syntax_error", "lib/after.py"), ("not_checked", "lib/slow.py")]
    assert message_of(verdict, "not_checked") == "not compiled: compiling it takes more than 0.25 s, the time one file is given"


class ShortContext(FakeLambdaContext):
    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000  # what validation keeps back to report: nothing left to read or compile


def test_when_the_invocation_s_time_runs_out_what_is_left_is_a_warning(bucket: str) -> None:
    verdict = validate(ShortContext(), make_zip({"app.py": APP, "test_cases.json": CASES, "../escape.py": "x = 1\n"}))

    assert findings(verdict) == [("unsafe_path", "../escape.py"), ("not_checked", "app.py")]
    assert message_of(verdict, "not_checked") == (
        "this entry and the 2 after it were not read (CRC-32, secrets, syntax): validation's time ran out (0 s: this invocation's time less 10 s to report)"
    )


def test_an_own_file_too_large_to_read_is_a_warning(bucket: str, context: Any) -> None:
    data = package({"data/catalog.json": b"[" + b"0," * (9 * 1024 * 1024) + b"0]"})

    verdict = validate(context, data)

    assert verdict["valid"] is True
    assert findings(verdict) == [("not_checked", "data/catalog.json")]
    assert message_of(verdict, "not_checked") == f"not scanned for secrets: it is {18 * 1024 * 1024 + 3} bytes, over the 16777216 bytes validation reads of one file"


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


def test_the_test_cases_path_comes_from_the_service(bucket: str, context: Any) -> None:
    registered_with(test_cases_path="ci/cases.json")

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
        ({"commit_id": "abc", "artifact": {"bucket": BUCKET, "key": "missing.zip"}}, errors.ArtifactUnavailable, "cannot read the artifact s3://artifacts/missing.zip: 404 NoSuchKey"),
        ({"commit_id": "abc", "artifact": {"bucket": "no-such-bucket", "key": KEY}}, errors.ArtifactUnavailable, "s3://no-such-bucket/"),
    ],
    ids=["array", "no-commit", "bad-commit", "artifact-string", "bucket-number", "blank-key", "no-object", "no-bucket"],
)
def test_malformed_events_raise_named_errors(bucket: str, context: Any, event: Any, error: type[Exception], match: str) -> None:
    if isinstance(event, dict):
        event = event | {"service": registered_document()}
    with pytest.raises(error, match=match):
        load_handler("validate_code").handler(event, context)


@pytest.mark.parametrize(
    ("value", "match"),
    [(None, "it has no 'app_handler'"), ("app", "'app_handler' 'app' is not a handler like 'app.handler'"), ("app.handler()", "is not a handler like")],
)
def test_a_bad_app_handler_setting_is_a_configuration_error(bucket: str, context: Any, value: str | None, match: str) -> None:
    document = registered_document()
    if value is None:
        del document["app_handler"]
    else:
        document["app_handler"] = value
    register_service(document)
    shared_aws.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=package())

    with pytest.raises(errors.ConfigurationError, match=match):
        load_handler("validate_code").handler(state(), context)
