"""The change summary a person reads before approving a production deployment: the commit, the
versions production and staging run, how the new package differs from the one production runs (its
release copy), the test cases' results and the validation findings.

`package_files` lists a zip's files, `compare` diffs two listings, `change_summary` gathers what
the caller knows into a JSON-serializable dict (read leniently: any input may be None or partial),
and `summary_rows` and `summary_text` render it as a notification's detail rows and as plain text.
Every list is capped, so the summary stays small whatever the package or the test cases hold.
"""

import hashlib
from collections.abc import Mapping
from typing import IO, Any

from shared.artifacts import entry_chunks, open_zip
from shared.notifications import text_of
from shared.observability import readable

MAX_LISTED_FILES = 25  # per summary, across added/removed/changed; the rest counted, not listed
MAX_LISTED_CASES = 25
MAX_LISTED_FINDINGS = 10
MAX_ROW_VALUE = 1000
MAX_TEXT = 4000
COMMIT_PREFIX = 12
MAX_PATH = 120
MAX_NAME = 100
MAX_MESSAGE = 200
MAX_NOTE = 500
NO_RELEASE_COPY = "there is no release copy of production's package to compare with"


def human_size(size: int) -> str:
    """`size` bytes for a person: "812 B", "1.2 KB", "3.4 MB" (1 KB = 1024 B)."""
    sign, value = ("-" if size < 0 else ""), float(abs(size))
    if value < 1024:
        return f"{sign}{int(value)} B"
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if round(value, 1) < 1024:
            return f"{sign}{value:.1f} {unit}"
    return f"{sign}{value:.1f} TB"


def package_files(file: IO[bytes]) -> dict[str, tuple[int, str]]:
    """path -> (uncompressed size in bytes, sha256 hex of the bytes) of each file in the zip,
    directories skipped. InvalidArtifact when it is not a zip or an entry cannot be unpacked."""
    files: dict[str, tuple[int, str]] = {}
    with open_zip(file, "the package") as archive:
        for entry in archive.infolist():
            if entry.is_dir():
                continue
            digest, size = hashlib.sha256(), 0
            for chunk in entry_chunks(archive, entry):
                digest.update(chunk)
                size += len(chunk)
            files[entry.filename] = (size, digest.hexdigest())
    return files


def compare(before: Mapping[str, tuple[int, str]] | None, after: Mapping[str, tuple[int, str]]) -> dict[str, Any]:
    """How `after` differs from `before` (package_files listings): the files added, removed and
    changed (their bytes differ), sorted by path and at most MAX_LISTED_FILES of them in all,
    changed first; the counts are the true totals. Without `before` nothing is compared, and the
    lists are empty and the counts None."""
    result: dict[str, Any] = {
        "compared": before is not None,
        "added": [],
        "removed": [],
        "changed": [],
        "added_count": None,
        "removed_count": None,
        "changed_count": None,
        "unchanged": None,
        "files_before": None,
        "files_after": len(after),
        "bytes_before": None,
        "bytes_after": sum(size for size, _ in after.values()),
        "listed_all": True,
    }
    if before is None:
        return result
    changed = [{"path": path, "size_before": before[path][0], "size_after": size} for path, (size, sha) in sorted(after.items()) if path in before and before[path][1] != sha]
    added = [{"path": path, "size": size} for path, (size, _) in sorted(after.items()) if path not in before]
    removed = [{"path": path, "size": size} for path, (size, _) in sorted(before.items()) if path not in after]
    room = MAX_LISTED_FILES
    for name, entries in (("changed", changed), ("added", added), ("removed", removed)):
        result[name] = entries[:room]
        result[f"{name}_count"] = len(entries)
        room -= len(result[name])
    result |= {
        "unchanged": len(after) - len(added) - len(changed),
        "files_before": len(before),
        "bytes_before": sum(size for size, _ in before.values()),
        "listed_all": len(changed) + len(added) + len(removed) <= MAX_LISTED_FILES,
    }
    return result


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any, limit: int) -> str | None:
    text = text_of(value)
    return readable(text, limit) if text else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _tests(result: Any, phase: str) -> dict[str, Any] | None:
    if not isinstance(result, Mapping):
        return None
    cases = [case for case in result.get("cases") or [] if isinstance(case, Mapping)]
    listed: list[dict[str, Any]] = [{"name": readable(text_of(case.get("name")) or "(unnamed)", MAX_NAME), "passed": case.get("passed") is True} for case in cases]
    listed.sort(key=lambda case: case["passed"])
    total = _int(result.get("total"))
    failed = _int(result.get("failed"))
    if total is None and cases:
        total = len(cases)
    if failed is None and cases:
        failed = sum(not case["passed"] for case in listed)
    passed = result.get("passed")
    return {
        "phase": text_of(result.get("phase")) or phase,
        "passed": passed if isinstance(passed, bool) else failed == 0 and bool(total),
        "total": total,
        "failed": failed,
        "summary": text_of(result.get("summary")),
        "cases": listed[:MAX_LISTED_CASES],
    }


def _findings(validation: Mapping[str, Any]) -> list[dict[str, Any]]:
    findings = []
    for finding in validation.get("findings") or []:
        if isinstance(finding, Mapping):
            findings.append(
                {
                    "severity": text_of(finding.get("severity")) or "error",
                    "check": text_of(finding.get("check")) or "unknown",
                    "path": _text(finding.get("path"), 300),
                    "message": readable(" ".join(str(finding.get("message") or "").split()), MAX_MESSAGE),
                }
            )
    return sorted(findings, key=lambda finding: finding["severity"] != "error")


def change_summary(
    *,
    commit_id: str,
    production: Mapping[str, Any],
    staging_version: str | None,
    files: Mapping[str, Any] | None,
    package_tests: Mapping[str, Any] | None,
    staging_tests: Mapping[str, Any] | None,
    validation: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The change summary as a JSON-serializable dict. `production` is what the caller knows of it:
    {"version", "commit_id", "release_copy" (an s3:// URI), "note" (e.g. why there is no release
    copy)}; `files` a compare() result; the tests run_tests results; `validation` validate_code's.
    "validated" says whether there was a validation result at all."""
    production = _mapping(production)
    findings = _findings(validation) if isinstance(validation, Mapping) else []
    return {
        "commit_id": text_of(commit_id),
        "production": {name: _text(production.get(name), limit) for name, limit in (("version", MAX_NAME), ("commit_id", MAX_NAME), ("release_copy", MAX_NOTE), ("note", MAX_NOTE))},
        "staging": {"version": _text(staging_version, MAX_NAME)},
        "files": dict(files) if isinstance(files, Mapping) else None,
        "tests": [tests for tests in (_tests(package_tests, "package"), _tests(staging_tests, "staging")) if tests],
        "findings": findings[:MAX_LISTED_FINDINGS],
        "findings_count": len(findings),
        "validated": isinstance(validation, Mapping),
    }


# --- rendering ---------------------------------------------------------------------------------


def short_commit(commit_id: Any) -> str | None:
    text = text_of(commit_id)
    return text[:COMMIT_PREFIX] if text else None


def short_path(path: Any) -> str:
    """A path of at most MAX_PATH characters, its middle cut: the file's name is what a reader needs."""
    text = readable(text_of(path) or "(unnamed)", 10 * MAX_PATH)
    return text if len(text) <= MAX_PATH else text[: MAX_PATH // 3] + "..." + text[-(MAX_PATH - MAX_PATH // 3 - 3) :]


def version_text(version: Any, commit_id: Any = None) -> str:
    """The version and its commit: "version 3 (commit 5d2e9b0)", "version 3", "an unknown version"."""
    version, commit = text_of(version), short_commit(commit_id)
    text = f"version {version}" if version else "an unknown version"
    return f"{text} (commit {commit})" if commit else text


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def fitted_lines(lines: list[str], more: int, limit: int = MAX_ROW_VALUE) -> str:
    """`lines` one a line, as many as fit in `limit` characters, then "... and N more" for those
    left out and `more` others."""
    kept: list[str] = []
    for index, line in enumerate(lines):
        rest = more + len(lines) - index - 1
        candidate = "\n".join([*kept, line] + ([f"... and {rest} more"] if rest else []))
        if len(candidate) > limit:
            break
        kept.append(line)
    left_out = more + len(lines) - len(kept)
    return readable("\n".join(kept + ([f"... and {left_out} more"] if left_out else [])), limit)


def _count(files: Mapping[str, Any], name: str) -> int:
    count = _int(files.get(f"{name}_count"))
    return count if count is not None else len(files.get(name) or [])


def package_text(summary: Mapping[str, Any]) -> str:
    files = _mapping(summary.get("files"))
    files_after, bytes_after = _int(files.get("files_after")), _int(files.get("bytes_after"))
    new = f"{files_after} files, {human_size(bytes_after)}" if files_after is not None and bytes_after is not None else None
    if not files.get("compared"):
        production = _mapping(summary.get("production"))
        note = (text_of(production.get("note")) or NO_RELEASE_COPY).strip().rstrip(".")
        return f"not compared: {note}" + (f"; the new package has {new}" if new else "")
    changed, added, removed = (_count(files, name) for name in ("changed", "added", "removed"))
    unchanged, bytes_before = _int(files.get("unchanged")), _int(files.get("bytes_before"))
    if not changed + added + removed:
        return f"identical to production's: {new}" if new else "identical to production's"
    text = f"{changed} changed, {added} added, {removed} removed" + (f", {unchanged} unchanged" if unchanged is not None else "")
    if bytes_before is not None and bytes_after is not None:
        text += f"; {human_size(bytes_before)} -> {human_size(bytes_after)}"
    return text


def file_lines(files: Mapping[str, Any]) -> tuple[list[str], int]:
    """One line per listed file, "~" changed, "+" added, "-" removed; and how many were not listed."""
    lines = []
    for entry in files.get("changed") or []:
        entry = _mapping(entry)
        before, after = _int(entry.get("size_before")) or 0, _int(entry.get("size_after")) or 0
        delta = after - before
        change = f"+{human_size(delta)}" if delta > 0 else human_size(delta) if delta < 0 else "same size"
        lines.append(f"~ {short_path(entry.get('path'))} {human_size(before)} -> {human_size(after)} ({change})")
    for mark, name in (("+", "added"), ("-", "removed")):
        for entry in files.get(name) or []:
            entry = _mapping(entry)
            lines.append(f"{mark} {short_path(entry.get('path'))} {human_size(_int(entry.get('size')) or 0)}")
    total = sum(_count(files, name) for name in ("changed", "added", "removed"))
    return lines, max(0, total - len(lines))


def phase_text(tests: Mapping[str, Any]) -> str:
    phase = text_of(tests.get("phase")) or "tests"
    total, failed, summary = _int(tests.get("total")), _int(tests.get("failed")), text_of(tests.get("summary"))
    if total is None or failed is None:
        return f"{phase}: {summary or ('passed' if tests.get('passed') else 'did not pass')}"
    if total == 0:
        return f"{phase}: no test cases"
    text = f"{phase} {total - failed}/{total} passed"
    names = [readable(text_of(case.get("name")) or "(unnamed)", MAX_NAME) for case in tests.get("cases") or [] if isinstance(case, Mapping) and not case.get("passed")]
    if names:
        more = failed - len(names)
        text += f", failed: {', '.join(names)}" + (f" and {more} more" if more > 0 else "")
    elif failed:
        text += f", {failed} failed"
    if tests.get("passed") is False and not failed:
        text += f" but did not pass ({summary})" if summary else " but did not pass"
    return text


def tests_text(summary: Mapping[str, Any]) -> str:
    phases = [phase_text(tests) for tests in summary.get("tests") or [] if isinstance(tests, Mapping)]
    return readable("; ".join(phases), MAX_ROW_VALUE) if phases else "not run"


def validation_text(summary: Mapping[str, Any]) -> str:
    if summary.get("validated") is False:
        return "not run"
    findings = [_mapping(finding) for finding in summary.get("findings") or []]
    count = _int(summary.get("findings_count"))
    count = count if count is not None else len(findings)
    if not count:
        return "no findings"
    errors = sum(text_of(finding.get("severity")) == "error" for finding in findings)
    # Errors are listed first: unless every listed finding is an error, the listing has them all.
    if errors < len(findings) or len(findings) >= count:
        kinds = [plural(errors, "error"), plural(count - errors, "warning")]
        heading = f"{plural(count, 'finding')}: {', '.join(kind for kind in kinds if not kind.startswith('0 '))}"
    else:
        heading = f"{plural(count, 'finding')}: at least {plural(errors, 'error')}"
    lines = []
    for finding in findings:
        where = text_of(finding.get("path"))
        label = " ".join(part for part in (text_of(finding.get("severity")), text_of(finding.get("check")), short_path(where) if where else None) if part)
        message = text_of(finding.get("message"))
        lines.append(f"{label}: {message}" if message else label)
    return heading + "\n" + fitted_lines(lines, count - len(findings), MAX_ROW_VALUE - len(heading) - 1)


def summary_rows(summary: Mapping[str, Any]) -> list[dict[str, str]]:
    """The summary as a notification's detail rows [{"label", "value"}], each value at most 1,000
    characters: Production now, Staging runs, Package, Changed files (when any), Tests, Validation."""
    production, staging = _mapping(summary.get("production")), _mapping(summary.get("staging"))
    rows = [
        ("Production now", version_text(production.get("version"), production.get("commit_id"))),
        ("Staging runs", version_text(staging.get("version"))),
        ("Package", package_text(summary)),
    ]
    files = _mapping(summary.get("files"))
    if files.get("compared"):
        lines, more = file_lines(files)
        if lines or more:
            rows.append(("Changed files", fitted_lines(lines, more)))
    rows += [("Tests", tests_text(summary)), ("Validation", validation_text(summary))]
    return [{"label": label, "value": readable(value, MAX_ROW_VALUE)} for label, value in rows]


def summary_text(summary: Mapping[str, Any]) -> str:
    """The summary as plain text, at most 4,000 characters: a heading line, then one line per row,
    a row of several lines indented under its label."""
    production, staging = _mapping(summary.get("production")), _mapping(summary.get("staging"))
    commit = short_commit(summary.get("commit_id")) or "(unknown)"
    lines = [f"Commit {commit} -> production: runs {version_text(production.get('version'), production.get('commit_id'))}, staging runs {version_text(staging.get('version'))}"]
    for row in summary_rows(summary):
        first, *rest = row["value"].split("\n")
        if rest:
            lines += [f"{row['label']}:", *(f"  {line}" for line in (first, *rest))]
        else:
            lines.append(f"{row['label']}: {first}")
    text = "\n".join(lines)
    if len(text) <= MAX_TEXT:
        return text
    kept: list[str] = []
    room = MAX_TEXT - len("\n... 9999 more lines left out")
    for line in lines:
        if len("\n".join([*kept, line])) > room:
            break
        kept.append(line)
    return "\n".join([*kept, f"... {len(lines) - len(kept)} more lines left out"])
