"""Validates the build artifact before anything is deployed, and returns a verdict.

Payload: the whole state-machine state; `commit_id` and `artifact` are read from it.
Returns {"valid", "sha256", "code_sha256", "findings": [{"check", "path", "message"}], "summary"};
`sha256` and `code_sha256` are null only when the artifact is too large to download.
Raises InvalidInput, ConfigurationError, ArtifactUnavailable.

Checks, by finding name:
  not_a_zip           the artifact is not a readable zip archive
  unsafe_path         an entry with an absolute path or a '..' step
  symlink             an entry that is a symbolic link
  unreadable_entry    an entry that cannot be unpacked (encrypted, bad CRC, unknown compression)
  too_large_zipped    over Lambda's 50 MB zipped limit (checked before downloading)
  too_large_unzipped  over Lambda's 250 MB unzipped limit, by the sizes the zip declares
  handler_missing     APP_HANDLER's module is not at the zip root or defines no such function
  syntax_error        a .py file does not compile
  secret              an AWS access key id or a private key block in a text file
  test_cases_missing  TEST_CASES_PATH is absent, not JSON, malformed, or leaves a phase untested
"""

import ast
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from shared.artifacts import (
    MAX_UNZIPPED_BYTES,
    MAX_ZIPPED_BYTES,
    artifact_size,
    lambda_code_sha256,
    open_zip,
    read_artifact,
    read_entry,
    sha256_hex,
    unsafe_entry_reason,
    unzipped_size,
)
from shared.config import env_default, handler_env
from shared.errors import InvalidArtifact
from shared.events import artifact_location, commit_id, ensure_object
from shared.observability import lambda_entry, logger
from shared.testcases import DEFAULT_PATH, InvalidTestCases, load_test_cases, phases_without_cases

MAX_SOURCE_BYTES = 2 * 1024 * 1024
MAX_SCANNED_BYTES = 1024 * 1024
SCANNED_SUFFIXES = frozenset({".py", ".json", ".txt", ".cfg", ".conf", ".ini", ".toml", ".yaml", ".yml", ".env", ".pem", ".key", ".properties", ".sh", ".js"})
SCANNED_NAMES = frozenset({"credentials", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"})
ACCESS_KEY_ID = re.compile(rb"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
PRIVATE_KEY = re.compile(rb"-----BEGIN (RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----")
# AWS's documentation uses key ids ending in EXAMPLE; they are not credentials.
DOCUMENTATION_KEY_SUFFIX = b"EXAMPLE"
MAX_SECRETS_PER_FILE = 10
BLOCKS = tuple(getattr(ast, kind) for kind in ("If", "Try", "TryStar", "With") if hasattr(ast, kind))
MAX_FINDINGS = 50
SUMMARY_LIMIT = 1500


@dataclass(frozen=True)
class Finding:
    check: str
    path: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "path": self.path, "message": self.message}

    def describe(self) -> str:
        return f"{self.check} in {self.path}: {self.message}" if self.path else f"{self.check}: {self.message}"


@dataclass(frozen=True)
class Settings:
    module: str
    function: str
    test_cases_path: str

    @property
    def handler(self) -> str:
        return f"{self.module}.{self.function}"


@lambda_entry
def handler(event: Any, context: Any) -> dict[str, Any]:
    ensure_object(event)
    commit = commit_id(event)
    location = artifact_location(event)
    module, function = handler_env("APP_HANDLER")
    settings = Settings(module, function, env_default("TEST_CASES_PATH", DEFAULT_PATH))
    logger.info("validating the artifact", extra={"commit_id": commit, "artifact": location.uri, "handler": settings.handler})

    size = artifact_size(location)
    if size > MAX_ZIPPED_BYTES:
        message = f"the artifact is {size} bytes, over Lambda's {MAX_ZIPPED_BYTES}-byte limit for a zipped package"
        return verdict(None, [Finding("too_large_zipped", None, message)], "")
    data = read_artifact(location)
    findings, contents = inspect(data, settings)
    return verdict(data, findings, contents)


def inspect(data: bytes, settings: Settings) -> tuple[list[Finding], str]:
    """Every finding for the zip in `data`, and a description of its contents."""
    try:
        archive = open_zip(data)
    except InvalidArtifact as error:
        return [Finding("not_a_zip", None, str(error))], ""
    with archive:
        files = [entry for entry in archive.infolist() if not entry.is_dir()]
        unpacked = unzipped_size(archive)
        findings = [finding for entry in archive.infolist() for finding in entry_findings(entry)]
        if unpacked > MAX_UNZIPPED_BYTES:
            message = f"the entries declare {unpacked} bytes unzipped, over Lambda's {MAX_UNZIPPED_BYTES}-byte limit"
            findings.append(Finding("too_large_unzipped", None, message))
        findings += content_findings(archive, files)
        findings += handler_findings(archive, files, settings)
        findings += test_case_findings(archive, settings.test_cases_path)
    return findings, f"{len(files)} files, {unpacked} bytes unzipped"


def is_symlink(entry: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(entry.external_attr >> 16)


def is_encrypted(entry: zipfile.ZipInfo) -> bool:
    return bool(entry.flag_bits & 0x1)


def entry_findings(entry: zipfile.ZipInfo) -> list[Finding]:
    """Findings about an entry's name and flags, without reading it."""
    findings = []
    # The shared rules applied to the name alone: a fresh ZipInfo carries no file mode.
    path_reason = unsafe_entry_reason(zipfile.ZipInfo(entry.filename))
    if path_reason:
        findings.append(Finding("unsafe_path", entry.filename, f"{path_reason}: it would be written outside the package directory"))
    if is_symlink(entry):
        findings.append(Finding("symlink", entry.filename, "is a symbolic link; a Lambda package must hold regular files"))
    if is_encrypted(entry):
        findings.append(Finding("unreadable_entry", entry.filename, "is encrypted; Lambda cannot unpack it"))
    return findings


def is_scanned(name: str) -> bool:
    path = PurePosixPath(name)
    return path.suffix.lower() in SCANNED_SUFFIXES or path.name.lower() in SCANNED_NAMES or path.name.lower().startswith(".env")


def content_findings(archive: zipfile.ZipFile, files: list[zipfile.ZipInfo]) -> list[Finding]:
    """Syntax errors in .py files and secrets in text files, reading each entry once."""
    findings: list[Finding] = []
    for entry in files:
        python = entry.filename.endswith(".py")
        limit = MAX_SOURCE_BYTES if python else MAX_SCANNED_BYTES
        if is_encrypted(entry) or not (python or is_scanned(entry.filename)) or entry.file_size > limit:
            continue
        try:
            data = read_entry(archive, entry, limit)
        except InvalidArtifact as error:
            findings.append(Finding("unreadable_entry", entry.filename, str(error)))
            continue
        if python:
            problem = compile_problem(data, entry.filename)
            if problem:
                findings.append(Finding("syntax_error", entry.filename, problem))
        findings += secret_findings(data, entry.filename)
    return findings


def compile_problem(source: bytes, path: str) -> str | None:
    """Why `source` does not compile, with its line, or None."""
    try:
        compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as error:
        line = f"line {error.lineno}: " if error.lineno else ""
        return f"{line}{error.msg}"
    except (ValueError, RecursionError, MemoryError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def secret_findings(data: bytes, path: str) -> list[Finding]:
    """Committed credentials, named by kind and line; the secret itself never leaves this function."""
    findings = []
    for match in ACCESS_KEY_ID.finditer(data):
        if match.group().endswith(DOCUMENTATION_KEY_SUFFIX):
            continue
        prefix = match.group(1).decode()
        findings.append(Finding("secret", path, f"line {line_of(data, match.start())}: AWS access key id {prefix}****"))
    for match in PRIVATE_KEY.finditer(data):
        kind = (match.group(1) or b"").decode().strip() or "PKCS#8"
        findings.append(Finding("secret", path, f"line {line_of(data, match.start())}: private key block ({kind})"))
    return findings[:MAX_SECRETS_PER_FILE]


def module_candidates(module: str) -> tuple[str, str]:
    base = module.replace(".", "/")
    return f"{base}.py", f"{base}/__init__.py"


def handler_findings(archive: zipfile.ZipFile, files: list[zipfile.ZipInfo], settings: Settings) -> list[Finding]:
    by_path = {PurePosixPath(entry.filename): entry for entry in files}
    candidates = module_candidates(settings.module)
    entry = next((by_path[PurePosixPath(path)] for path in candidates if PurePosixPath(path) in by_path), None)
    if entry is None:
        message = f"APP_HANDLER {settings.handler} needs {candidates[0]} or {candidates[1]} at the zip root; the artifact has neither"
        return [Finding("handler_missing", None, message)]
    try:
        tree = ast.parse(read_entry(archive, entry, MAX_SOURCE_BYTES), entry.filename)
    except (InvalidArtifact, SyntaxError, ValueError, RecursionError, MemoryError):
        # Too large to check, unreadable or not Python: reported by content_findings, or beyond a cheap check.
        return []
    kinds = definitions(tree.body, settings.function)
    if not kinds:
        message = f"defines no top-level function {settings.function!r} (APP_HANDLER {settings.handler})"
        return [Finding("handler_missing", entry.filename, message)]
    if kinds == {"async"}:
        message = f"defines {settings.function!r} with 'async def'; Lambda's Python runtime calls handlers synchronously"
        return [Finding("handler_missing", entry.filename, message)]
    return []


def definitions(body: list[ast.stmt], name: str) -> set[str]:
    """How `name` is bound at module level: 'async' for an async def, 'bound' for anything else.

    Looks into if/try/with blocks (conditional definitions) but not into functions or classes."""
    kinds: set[str] = set()
    for node in body:
        if isinstance(node, ast.AsyncFunctionDef) and node.name == name:
            kinds.add("async")
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            kinds.add("bound")
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(assigns(target, name) for target in targets):
                kinds.add("bound")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((alias.asname or alias.name.split(".")[0]) == name or alias.name == "*" for alias in node.names):
                kinds.add("bound")
        elif isinstance(node, BLOCKS):
            for block in ("body", "orelse", "finalbody"):
                kinds |= definitions(getattr(node, block, []), name)
            for except_handler in getattr(node, "handlers", []):
                kinds |= definitions(except_handler.body, name)
    return kinds


def assigns(target: ast.expr, name: str) -> bool:
    return any(isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name for node in ast.walk(target))


def test_case_findings(archive: zipfile.ZipFile, path: str) -> list[Finding]:
    try:
        cases = load_test_cases(archive, path)
    except InvalidTestCases as error:
        return [Finding("test_cases_missing", path, str(error))]
    untested = phases_without_cases(cases)
    if untested:
        message = f"no test case runs in the {' and '.join(untested)} phase{'s' if len(untested) > 1 else ''}; every phase needs one"
        return [Finding("test_cases_missing", path, message)]
    return []


def verdict(data: bytes | None, findings: list[Finding], contents: str) -> dict[str, Any]:
    digest = sha256_hex(data) if data is not None else None
    if findings:
        listed = "; ".join(finding.describe() for finding in findings)
        summary = truncate(f"{len(findings)} finding{'s' if len(findings) > 1 else ''}: {listed}", SUMMARY_LIMIT)
    else:
        summary = f"code is valid: {contents}, sha256 {digest}"
    logger.info("validation finished", extra={"valid": not findings, "checks": sorted({finding.check for finding in findings})})
    return {
        "valid": not findings,
        "sha256": digest,
        "code_sha256": lambda_code_sha256(data) if data is not None else None,
        "findings": [finding.as_dict() for finding in findings[:MAX_FINDINGS]],
        "summary": summary,
    }


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
