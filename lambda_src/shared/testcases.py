"""The test cases an application declares in its artifact, at TEST_CASES_PATH (run_tests documents
the format). validate_code checks the declaration; run_tests runs it."""

import json
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from shared.artifacts import read_entry
from shared.errors import InvalidArtifact

PHASES = ("package", "staging", "production")
DEFAULT_PATH = "test_cases.json"
MAX_FILE_BYTES = 1024 * 1024
MAX_CASES = 100
CASE_KEYS = frozenset({"name", "event", "expect", "phases", "description"})


class InvalidTestCases(ValueError):
    """The declaration is missing or malformed; the message says what is wrong, without the path."""


@dataclass(frozen=True)
class DeclaredCase:
    name: str
    event: Any
    expect: dict[str, Any]
    phases: tuple[str, ...]


def entry_named(archive: zipfile.ZipFile, path: str) -> zipfile.ZipInfo | None:
    """The archive entry at `path`, also when the zip spells it with a leading './'."""
    wanted = PurePosixPath(path)
    for entry in archive.infolist():
        if not entry.is_dir() and PurePosixPath(entry.filename) == wanted:
            return entry
    return None


def load_test_cases(archive: zipfile.ZipFile, path: str) -> list[DeclaredCase]:
    entry = entry_named(archive, path)
    if entry is None:
        raise InvalidTestCases("missing from the artifact")
    try:
        data = read_entry(archive, entry, MAX_FILE_BYTES)
    except InvalidArtifact as error:
        raise InvalidTestCases(str(error)) from None
    return parse_test_cases(data)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise InvalidTestCases(f"repeats the key {duplicates[0]!r} in one object (JSON keeps only the last)")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise InvalidTestCases(f"uses {name}, which is not JSON")


def parse_test_cases(data: bytes) -> list[DeclaredCase]:
    try:
        document = json.loads(data.decode("utf-8-sig"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise InvalidTestCases("is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise InvalidTestCases(f"is not valid JSON: {error.msg} (line {error.lineno} column {error.colno})") from None
    except RecursionError:
        raise InvalidTestCases("is nested too deeply") from None
    if not isinstance(document, dict) or not isinstance(document.get("cases"), list):
        raise InvalidTestCases('must be a JSON object with a "cases" array')
    cases = document["cases"]
    if not cases:
        raise InvalidTestCases("declares no test cases")
    if len(cases) > MAX_CASES:
        raise InvalidTestCases(f"declares {len(cases)} test cases; the limit is {MAX_CASES}")
    parsed = [parse_case(case, number) for number, case in enumerate(cases, start=1)]
    names = [case.name for case in parsed]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidTestCases(f"names two test cases {repeated[0]!r}; names must be unique")
    return parsed


def parse_case(case: Any, number: int) -> DeclaredCase:
    where = f"test case {number}"
    if not isinstance(case, dict):
        raise InvalidTestCases(f"{where} must be a JSON object")
    name = case.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidTestCases(f'{where} needs a "name" (a non-empty string)')
    where = f"test case {number} ({name[:60]!r})"
    unknown = sorted(set(case) - CASE_KEYS)
    if unknown:
        raise InvalidTestCases(f"{where} has unknown key {unknown[0]!r}; the keys are {', '.join(sorted(CASE_KEYS))}")
    if "event" not in case:
        raise InvalidTestCases(f'{where} needs an "event" (any JSON value, null included)')
    expect = case.get("expect")
    if not isinstance(expect, dict) or not expect:
        raise InvalidTestCases(f'{where} needs an "expect" object mapping at least one dotted path to its expected value')
    for path in expect:
        if not path or any(not step for step in path.split(".")):
            raise InvalidTestCases(f"{where} has the expected path {path!r}, which has an empty step")
    phases = case.get("phases", list(PHASES))
    if not isinstance(phases, list) or not phases or any(phase not in PHASES for phase in phases):
        raise InvalidTestCases(f'{where} has "phases" {json.dumps(phases)[:80]}; it must be a non-empty array of {", ".join(PHASES)}')
    return DeclaredCase(name=name, event=case["event"], expect=expect, phases=tuple(dict.fromkeys(phases)))


def phases_without_cases(cases: list[DeclaredCase]) -> list[str]:
    return [phase for phase in PHASES if not any(phase in case.phases for case in cases)]
