"""Validates the build artifact before anything is deployed, and returns a verdict.

Payload: the whole state-machine state; `commit_id`, `artifact` and `service` are read from it. The
handler setting and the test cases' path are the service's registered `app_handler` and
`test_cases_path` (shared/services.py): a `service` that differs from its registry entry is refused
(TargetNotAllowed) before the artifact is read.
Returns {"valid", "sha256", "code_sha256", "findings": [{"check", "path", "message", "severity"}], "summary"}.
Raises InvalidInput, ConfigurationError, UnknownService, TargetNotAllowed, ArtifactUnavailable.

Every file of the package is the application's own or an installed distribution's: a file listed
in the RECORD of a `*.dist-info` folder (as `pip install --target` leaves them), or inside such a
folder, belongs to that distribution, unless the distribution provides app_handler's module: that
one is the application itself. Every file gets the safety checks (path, link, size, readability);
the application's own files also get the content checks (secret, syntax_error, handler_missing).

Findings of severity "error" make the verdict invalid. A "warning" (not_checked) says that a check
stopped at one of validation's bounds; the summary lists warnings, and they leave the verdict valid.

Checks, by finding name:
  not_a_zip           the artifact is not a readable zip archive
  unsafe_path         an entry with an absolute path or a '..' step
  symlink             an entry that is a symbolic link
  unreadable_entry    an entry that cannot be unpacked (encrypted, bad CRC, unknown compression,
                      corrupt data); every entry is read to its end
  too_large_unzipped  over Lambda's 250 MB unzipped limit, by the sizes the zip declares; the
                      entries are then not read
  handler_missing     app_handler's module is not at the zip root or defines no such function
  syntax_error        one of the application's .py files does not compile
  secret              an AWS access key id or a private key block in one of the application's text files
  test_cases_missing  test_cases_path is absent, not JSON, malformed, or leaves a phase untested
  not_checked         (warning) a file over MAX_READ_BYTES; a file whose compilation needs more
                      memory than one file is given (half the function's memory) or more than
                      COMPILE_SECONDS; entries left when the invocation's time runs out

Python is compiled in a separate process (compile_worker.py) whose address space is capped; a file
that exhausts the cap, outlives its time or ends the process is not checked, and the next file gets
a new process.
"""

import csv
import io
import json
import os
import re
import selectors
import stat
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, Any

from shared.artifacts import (
    CHUNK_BYTES,
    ENTRY_READ_ERRORS,
    MAX_UNZIPPED_BYTES,
    Artifact,
    entry_problem,
    open_zip,
    read_artifact,
    read_entry,
    unsafe_entry_reason,
    unzipped_size,
)
from shared.errors import InvalidArtifact
from shared.events import artifact_location, commit_id, ensure_object
from shared.isolation import child_environment, exit_description
from shared.observability import lambda_entry, logger
from shared.services import service_of
from shared.testcases import InvalidTestCases, load_test_cases, phases_without_cases

WORKER = Path(__file__).with_name("compile_worker.py")
ERROR, WARNING = "error", "warning"
# The most of one file that is read into memory, to scan or to compile it.
MAX_READ_BYTES = 16 * 1024 * 1024
MAX_RECORD_BYTES = 16 * 1024 * 1024
# The time one file may take to compile, and the time kept back from the invocation to report.
COMPILE_SECONDS = 10.0
REPORTING_SECONDS = 10.0
WORKER_START_SECONDS = 10.0
MIN_COMPILE_MEMORY_MB = 64
# Without a Lambda context: validate_code's memory and timeout in lambda.tf.
DEFAULT_MEMORY_MB = 512
DEFAULT_SECONDS = 120.0
SCANNED_SUFFIXES = frozenset({".py", ".json", ".txt", ".cfg", ".conf", ".ini", ".toml", ".yaml", ".yml", ".env", ".pem", ".key", ".properties", ".sh", ".js"})
SCANNED_NAMES = frozenset({"credentials", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"})
ACCESS_KEY_ID = re.compile(rb"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
PRIVATE_KEY = re.compile(rb"-----BEGIN (RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----")
# AWS's documentation uses key ids ending in EXAMPLE; they are not credentials.
DOCUMENTATION_KEY_SUFFIX = b"EXAMPLE"
MAX_SECRETS_PER_FILE = 10
MAX_FINDINGS = 50
# Entry names can be 64 KB long: each field of a finding is clipped, so the verdict stays a few KB.
FIELD_LIMIT = 300
SUMMARY_LIMIT = 1500


@dataclass(frozen=True)
class Finding:
    check: str
    path: str | None
    message: str
    severity: str = ERROR

    def as_dict(self) -> dict[str, Any]:
        path = truncate(self.path, FIELD_LIMIT) if self.path else self.path
        return {"check": self.check, "path": path, "message": truncate(self.message, FIELD_LIMIT), "severity": self.severity}

    def describe(self) -> str:
        fields = self.as_dict()
        return f"{self.check} in {fields['path']}: {fields['message']}" if self.path else f"{self.check}: {fields['message']}"


def not_checked(path: str, message: str) -> Finding:
    return Finding("not_checked", path, message, WARNING)


@dataclass(frozen=True)
class Settings:
    module: str
    function: str
    test_cases_path: str
    setting: str = ""  # app_handler as the service registers it, e.g. src/app.handler

    @property
    def handler(self) -> str:
        return f"{self.module}.{self.function}"

    @property
    def app_handler(self) -> str:
        return self.setting or self.handler


@dataclass(frozen=True)
class Limits:
    """The bounds validation works within, taken from the invocation."""

    deadline: float  # time.monotonic() after which no further entry is read or compiled
    budget_seconds: float
    memory_mb: int  # the function's memory
    compile_seconds: float

    @classmethod
    def of(cls, context: Any) -> "Limits":
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        seconds = int(remaining()) / 1000 if callable(remaining) else DEFAULT_SECONDS
        budget = max(0.0, seconds - REPORTING_SECONDS)
        memory_mb = int(getattr(context, "memory_limit_in_mb", 0) or DEFAULT_MEMORY_MB)
        return cls(time.monotonic() + budget, budget, memory_mb, COMPILE_SECONDS)

    @property
    def compile_memory_mb(self) -> int:
        return max(MIN_COMPILE_MEMORY_MB, self.memory_mb // 2)

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline

    def time_ran_out(self) -> str:
        return f"validation's time ran out ({self.budget_seconds:.0f} s: this invocation's time less {REPORTING_SECONDS:.0f} s to report)"


@lambda_entry
def handler(event: Any, context: Any) -> dict[str, Any]:
    ensure_object(event)
    commit = commit_id(event)
    location = artifact_location(event)
    service = service_of(event)
    module, function = service.handler
    settings = Settings(module, function, service.test_cases_path, service.app_handler)
    limits = Limits.of(context)
    logger.info("validating the artifact", extra={"commit_id": commit, "artifact": location.uri, "handler": settings.handler, "service": service.name})

    with read_artifact(location) as artifact:
        findings, contents = inspect(artifact.file, settings, limits)
    return verdict(artifact, findings, contents)


def inspect(file: IO[bytes], settings: Settings, limits: Limits) -> tuple[list[Finding], str]:
    """Every finding for the zip in `file`, errors first and in entry order, and a description of its contents."""
    try:
        archive = open_zip(file)
    except InvalidArtifact as error:
        return [Finding("not_a_zip", None, str(error))], ""
    with archive:
        entries = archive.infolist()
        files = [entry for entry in entries if not entry.is_dir()]
        unpacked = unzipped_size(archive)
        too_large = unpacked > MAX_UNZIPPED_BYTES
        third_party = {} if too_large else distribution_files(archive, files, settings)
        own = [entry for entry in files if path_key(entry.filename) not in third_party]
        handler_module = handler_entry(files, settings)
        findings = [finding for entry in entries for finding in entry_findings(entry)]
        if handler_module is None:
            candidates = module_candidates(settings.module)
            message = f"app_handler {settings.app_handler} needs {candidates[0]} or {candidates[1]} at the zip root; the artifact has neither"
            findings.append(Finding("handler_missing", None, message))
        findings += test_case_findings(archive, settings.test_cases_path)
        if too_large:
            message = f"the entries declare {unpacked} bytes unzipped, over Lambda's {MAX_UNZIPPED_BYTES}-byte limit; they were not read"
            findings.append(Finding("too_large_unzipped", None, message))
        else:
            read, unreadable = read_findings(archive, files, {entry.filename for entry in own}, limits)
            sources = [entry for entry in own if entry.filename.endswith(".py") and entry.filename not in unreadable]
            findings += read + compile_findings(archive, sources, handler_module, settings, limits)
    position = {entry.filename: index for index, entry in enumerate(entries)}
    findings.sort(key=lambda finding: (finding.severity != ERROR, position.get(finding.path or "", -1)))
    return findings, contents_of(files, third_party, unpacked)


def contents_of(files: list[zipfile.ZipInfo], third_party: dict[str, str], unpacked: int) -> str:
    if not third_party:
        return f"{len(files)} files, {unpacked} bytes unzipped"
    distributions = len(set(third_party.values()))
    installed = f"{len(third_party)} of them from {distributions} installed distribution{'s' if distributions > 1 else ''}, given the safety checks only"
    return f"{len(files)} files ({installed}), {unpacked} bytes unzipped"


# --- whose files: the application's own, or an installed distribution's ----------------------------


def path_key(name: str) -> str:
    """An entry's path as RECORD files spell them ('./app.py' is 'app.py')."""
    return PurePosixPath(name).as_posix()


def installed_path(root: PurePosixPath, recorded: str) -> str | None:
    """Where a path listed in a RECORD is in the zip, or None when it points outside it.

    RECORD paths are relative to the folder holding the .dist-info folder; `pip install --target`
    records scripts relative to the prefix it installed into first (../../bin/x) and then moves
    them to bin/ in the target, which is where leading '..' steps lead here."""
    path = PurePosixPath(recorded.replace("\\", "/"))
    parts = list(path.parts)
    while parts and parts[0] == "..":
        parts.pop(0)
    if not parts or path.is_absolute() or ".." in parts:
        return None
    return root.joinpath(*parts).as_posix()


def distribution_files(archive: zipfile.ZipFile, files: list[zipfile.ZipInfo], settings: Settings) -> dict[str, str]:
    """The files of installed distributions other than the application, each with its .dist-info folder."""
    present = {path_key(entry.filename) for entry in files}
    members: dict[str, set[str]] = {}
    for name in present:
        parts = PurePosixPath(name).parts
        folder = next((PurePosixPath(*parts[: index + 1]) for index, part in enumerate(parts[:-1]) if part.endswith(".dist-info")), None)
        if folder is not None:
            members.setdefault(folder.as_posix(), set()).add(name)
    for entry in files:
        record = PurePosixPath(entry.filename)
        if record.name != "RECORD" or not record.parent.name.endswith(".dist-info"):
            continue
        try:
            text = read_entry(archive, entry, MAX_RECORD_BYTES).decode("utf-8", "replace")
        except InvalidArtifact:
            continue  # an unreadable entry is a finding of its own; its distribution stays unknown
        listed = members.setdefault(record.parent.as_posix(), set())
        rows = csv.reader(io.StringIO(text))
        try:
            for row in rows:
                path = installed_path(record.parent.parent, row[0]) if row else None
                if path in present:
                    listed.add(path)
        except csv.Error:
            pass  # not CSV from here on: the files listed before count
    application = set(module_candidates(settings.module))
    return {path: folder for folder, paths in members.items() if not paths & application for path in paths}


# --- the safety checks: names, links, sizes, readability ------------------------------------------


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


def read_findings(archive: zipfile.ZipFile, files: list[zipfile.ZipInfo], own: set[str], limits: Limits) -> tuple[list[Finding], set[str]]:
    """Each entry read to its end, where zipfile checks its CRC-32, and the application's own text
    files scanned for secrets on the way; also the names of the entries that cannot be read."""
    findings: list[Finding] = []
    unreadable = {entry.filename for entry in files if is_encrypted(entry)}  # already a finding
    for index, entry in enumerate(files):
        if limits.out_of_time():
            message = f"this entry and the {len(files) - index - 1} after it were not read (CRC-32, secrets, syntax): {limits.time_ran_out()}"
            findings.append(not_checked(entry.filename, message))
            unreadable.update(rest.filename for rest in files[index:])
            break
        if entry.filename in unreadable:
            continue
        scanned = entry.filename in own and is_scanned(entry.filename)
        keep = scanned and entry.file_size <= MAX_READ_BYTES
        try:
            data = read_through(archive, entry, keep)
        except ENTRY_READ_ERRORS as error:
            findings.append(Finding("unreadable_entry", entry.filename, entry_problem(entry, error)))
            unreadable.add(entry.filename)
            continue
        if keep:
            findings += secret_findings(data, entry.filename)
        elif scanned:
            what = "not scanned for secrets nor compiled" if entry.filename.endswith(".py") else "not scanned for secrets"
            findings.append(not_checked(entry.filename, f"{what}: it is {entry.file_size} bytes, over the {MAX_READ_BYTES} bytes validation reads of one file"))
    return findings, unreadable


def read_through(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, keep: bool) -> bytes:
    """Read an entry to its end; its bytes when `keep` (zipfile never unpacks more than an entry declares)."""
    with archive.open(entry) as member:
        if keep:
            return member.read()
        while member.read(CHUNK_BYTES):
            pass
    return b""


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


# --- the application's Python: compiled in a separate process -------------------------------------


def module_candidates(module: str) -> tuple[str, str]:
    base = module.replace(".", "/")
    return f"{base}.py", f"{base}/__init__.py"


def handler_entry(files: list[zipfile.ZipInfo], settings: Settings) -> zipfile.ZipInfo | None:
    by_path = {path_key(entry.filename): entry for entry in files}
    return next((by_path[path] for path in module_candidates(settings.module) if path in by_path), None)


def compile_findings(archive: zipfile.ZipFile, sources: list[zipfile.ZipInfo], handler_module: zipfile.ZipInfo | None, settings: Settings, limits: Limits) -> list[Finding]:
    """Syntax errors in `sources`, and whether the handler module defines the handler function."""
    findings: list[Finding] = []
    with Compiler(limits) as compiler:
        for index, entry in enumerate(sources):
            if limits.out_of_time():
                findings.append(not_checked(entry.filename, f"this file and the {len(sources) - index - 1} .py files after it were not compiled: {limits.time_ran_out()}"))
                break
            if entry.file_size > MAX_READ_BYTES:
                continue  # reported by read_findings
            is_handler = entry is handler_module
            try:
                source = read_entry(archive, entry, MAX_READ_BYTES)
            except InvalidArtifact:
                continue  # reported by read_findings
            compiled = compiler.check(entry.filename, source, settings.function if is_handler else None)
            findings += compiled_findings(entry.filename, compiled, settings, is_handler)
    return findings


@dataclass(frozen=True)
class Compiled:
    problem: str | None = None  # why it does not compile, with its line
    kinds: tuple[str, ...] = ()  # how the handler function is bound, for the handler module
    unchecked: str | None = None  # the bound that stopped the check


def compiled_findings(path: str, compiled: Compiled, settings: Settings, is_handler: bool) -> list[Finding]:
    if compiled.unchecked:
        what = f"not compiled nor checked for {settings.function!r}" if is_handler else "not compiled"
        return [not_checked(path, f"{what}: {compiled.unchecked}")]
    if compiled.problem:
        return [Finding("syntax_error", path, compiled.problem)]
    if not is_handler:
        return []
    if not compiled.kinds:
        return [Finding("handler_missing", path, f"defines no top-level function {settings.function!r} (app_handler {settings.app_handler})")]
    if compiled.kinds == ("async",):
        return [Finding("handler_missing", path, f"defines {settings.function!r} with 'async def'; Lambda's Python runtime calls handlers synchronously")]
    return []


class Compiler:
    """compile_worker.py in a child process, with an address space of `limits.compile_memory_mb`."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.process: subprocess.Popen[bytes] | None = None
        self.pending = b""

    def __enter__(self) -> "Compiler":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        self.stop()

    def check(self, path: str, source: bytes, function: str | None) -> Compiled:
        process = self.process or self.start()
        if process is None:
            return Compiled(unchecked="the compile check process did not start")
        assert process.stdin is not None
        seconds = min(self.limits.compile_seconds, self.limits.deadline - time.monotonic())
        header = json.dumps({"path": path, "size": len(source), "function": function}).encode() + b"\n"
        try:
            process.stdin.write(header + source)
            process.stdin.flush()
            reply, status = self.reply(seconds)
        except BrokenPipeError:
            reply, status = None, "ended"
        if reply is not None and not reply.get("memory"):
            return Compiled(problem=reply.get("problem"), kinds=tuple(reply.get("kinds") or ()))
        self.stop(kill=status == "timeout")
        if reply is not None:
            return Compiled(
                unchecked=f"compiling it needs more than {self.limits.compile_memory_mb} MB, the memory one file is given (half of this function's {self.limits.memory_mb} MB)"
            )
        if status == "ended":
            return Compiled(unchecked=f"the compile check process {exit_description(process.returncode)} while compiling it")
        if seconds < self.limits.compile_seconds:
            return Compiled(unchecked=self.limits.time_ran_out())
        return Compiled(unchecked=f"compiling it takes more than {self.limits.compile_seconds:g} s, the time one file is given")

    def start(self) -> "subprocess.Popen[bytes] | None":
        cap = self.limits.compile_memory_mb * 1024 * 1024
        self.pending = b""
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(WORKER), str(cap)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=child_environment(),
            )
        except OSError as error:
            logger.warning("the compile check process did not start", extra={"error": str(error)})
            return None
        ready, _ = self.reply(WORKER_START_SECONDS)
        if not (ready and ready.get("ready")):
            logger.warning("the compile check process did not start")
            self.stop()
        return self.process

    def reply(self, seconds: float) -> tuple[dict[str, Any] | None, str]:
        """The worker's next line as JSON, or None and why: 'ended' (it exited) or 'timeout'."""
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + seconds
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while b"\n" not in self.pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, "timeout"
                if not selector.select(left):
                    continue
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    self.process.wait()
                    return None, "ended"
                self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except ValueError:
            return None, "ended"
        return (reply, "ok") if isinstance(reply, dict) else (None, "ended")

    def stop(self, kill: bool = False) -> None:
        """End the worker: it exits when its stdin closes; one that is still compiling is killed."""
        process, self.process = self.process, None
        if process is None:
            return
        if kill:
            process.kill()
        for stream in (process.stdin, process.stdout):
            try:
                if stream is not None:
                    stream.close()
            except BrokenPipeError:
                pass
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the declared test cases and the verdict ------------------------------------------------------


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


def counted(findings: list[Finding], noun: str) -> str:
    listed = "; ".join(finding.describe() for finding in findings)
    return f"{len(findings)} {noun}{'s' if len(findings) > 1 else ''}: {listed}"


def verdict(artifact: Artifact, findings: list[Finding], contents: str) -> dict[str, Any]:
    errors = [finding for finding in findings if finding.severity == ERROR]
    warnings = [finding for finding in findings if finding.severity == WARNING]
    summary = counted(errors, "finding") if errors else f"code is valid: {contents}, sha256 {artifact.sha256}"
    if warnings:
        summary += f"; {counted(warnings, 'warning')}"
    logger.info(
        "validation finished",
        extra={"valid": not errors, "checks": sorted({finding.check for finding in errors}), "warnings": sorted({finding.check for finding in warnings})},
    )
    return {
        "valid": not errors,
        "sha256": artifact.sha256,
        "code_sha256": artifact.code_sha256,
        "findings": [finding.as_dict() for finding in findings[:MAX_FINDINGS]],
        "summary": truncate(summary, SUMMARY_LIMIT),
    }


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
