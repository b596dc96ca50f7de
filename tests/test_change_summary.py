"""The change summary shown for approval (lambda_src/shared/change_summary.py): listing a package's
files, comparing it with production's release copy, the summary's rows and text, their caps."""

import io
import json
import zipfile
from typing import Any

import pytest

from shared import change_summary
from shared.change_summary import MAX_LISTED_CASES, MAX_LISTED_FILES, MAX_LISTED_FINDINGS, compare, human_size, package_files, summary_rows, summary_text
from shared.errors import InvalidArtifact
from zip_craft import damaged, deflated

COMMIT = "9f1c2e7ab34d5e6f7a8b9c0d1e2f3a4b5c6d7e8f"
PRODUCTION = {"version": "3", "commit_id": "5d2e9b0c1a2b3c4d5e6f", "release_copy": "s3://artifacts/releases/clock/3.zip", "note": None}
NO_COPY_NOTE = "production runs version 1, which the platform did not deploy (no release copy)."
COMMON = {f"lib/dep{index}.py": f"x = {index}\n" * 300 for index in range(14)}


def make_zip(files: dict[str, str | bytes], compression: int = zipfile.ZIP_STORED, date: tuple[int, int, int, int, int, int] = (2024, 1, 1, 0, 0, 0)) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(name, date), content)
    return buffer.getvalue()


def listing(files: dict[str, str | bytes]) -> dict[str, tuple[int, str]]:
    return package_files(io.BytesIO(make_zip(files)))


def release() -> tuple[dict[str, tuple[int, str]], dict[str, tuple[int, str]]]:
    """Production's package and the new one: one file grown, one shrunk, one added, one removed."""
    before = listing(COMMON | {"src/app.py": "a" * 1250, "src/handler.py": "h" * 900, "old.py": "o" * 2048})
    after = listing(COMMON | {"src/app.py": "b" * 1460, "src/handler.py": "H" * 850, "src/pricing.py": "p" * 812})
    return before, after


def run_result(phase: str, outcomes: dict[str, bool]) -> dict[str, Any]:
    failed = sum(not passed for passed in outcomes.values())
    return {
        "phase": phase,
        "passed": not failed,
        "total": len(outcomes),
        "failed": failed,
        "cases": [{"name": name, "passed": passed, "differences": [] if passed else ["statusCode: expected 200, got 500"]} for name, passed in outcomes.items()],
        "summary": f"{len(outcomes) - failed} of {len(outcomes)} test cases passed",
    }


def summary(**more: Any) -> dict[str, Any]:
    before, after = release()
    fields: dict[str, Any] = {
        "commit_id": COMMIT,
        "production": PRODUCTION,
        "staging_version": "5",
        "files": compare(before, after),
        "package_tests": run_result("package", {"answers": True, "refunds": True}),
        "staging_tests": run_result("staging", {"answers": True}),
        "validation": {"valid": True, "findings": [], "summary": "valid"},
    }
    return change_summary.change_summary(**(fields | more))


def row(built: dict[str, Any], label: str) -> str:
    values = [item["value"] for item in summary_rows(built) if item["label"] == label]
    assert values, f"no row {label!r} in {summary_rows(built)}"
    return values[0]


# --- sizes and listings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (812, "812 B"), (1023, "1023 B"), (1024, "1.0 KB"), (1250, "1.2 KB"), (3_565_158, "3.4 MB"), (1024 * 1024 - 1, "1.0 MB"), (5 * 1024**3, "5.0 GB"), (-210, "-210 B")],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_package_files_lists_sizes_and_hashes_of_files_not_directories() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("src/", b"")
        archive.writestr("src/app.py", b"print('hi')\n" * 100)
    files = package_files(io.BytesIO(buffer.getvalue()))
    assert list(files) == ["src/app.py"]
    size, sha = files["src/app.py"]
    assert size == 1200
    assert len(sha) == 64


def test_a_broken_zip_raises_invalid_artifact() -> None:
    with pytest.raises(InvalidArtifact, match="not a zip"):
        package_files(io.BytesIO(b"not a zip at all"))
    data = damaged(deflated(make_zip({"src/app.py": "x = 1\n" * 200})), "src/app.py", "corrupt-data")
    with pytest.raises(InvalidArtifact, match="src/app.py"):
        package_files(io.BytesIO(data))


# --- comparing ---------------------------------------------------------------------------------


def test_compare_lists_changed_added_and_removed_and_counts_the_unchanged() -> None:
    before, after = release()
    result = compare(before, after)
    assert result["compared"] is True
    assert result["changed"] == [{"path": "src/app.py", "size_before": 1250, "size_after": 1460}, {"path": "src/handler.py", "size_before": 900, "size_after": 850}]
    assert result["added"] == [{"path": "src/pricing.py", "size": 812}]
    assert result["removed"] == [{"path": "old.py", "size": 2048}]
    assert (result["changed_count"], result["added_count"], result["removed_count"], result["unchanged"]) == (2, 1, 1, 14)
    assert (result["files_before"], result["files_after"]) == (17, 17)
    assert result["bytes_after"] == sum(size for size, _ in after.values())
    assert result["listed_all"] is True
    json.dumps(result)


def test_a_rebuild_with_other_timestamps_and_compression_is_no_change() -> None:
    files = COMMON | {"src/app.py": "print('hi')\n"}
    before = package_files(io.BytesIO(make_zip(files)))
    after = package_files(io.BytesIO(make_zip(files, zipfile.ZIP_DEFLATED, date=(2025, 6, 30, 12, 0, 0))))
    result = compare(before, after)
    assert (result["changed_count"], result["added_count"], result["removed_count"], result["unchanged"]) == (0, 0, 0, 15)
    built = summary(files=result)
    assert row(built, "Package").startswith("identical to production's: 15 files")
    assert "Changed files" not in [item["label"] for item in summary_rows(built)]


def test_same_size_but_other_bytes_is_a_change() -> None:
    result = compare(listing({"config.json": '{"a": 1}'}), listing({"config.json": '{"a": 2}'}))
    assert result["changed"] == [{"path": "config.json", "size_before": 8, "size_after": 8}]
    assert "~ config.json 8 B -> 8 B (same size)" in row(summary(files=result), "Changed files")


def test_compare_caps_the_listing_changed_first_and_keeps_true_counts() -> None:
    before = listing({f"old/{index:02}.py": "o" for index in range(10)} | {f"mod/{index:02}.py": "a" for index in range(20)})
    after = listing({f"mod/{index:02}.py": "b" for index in range(20)} | {f"new/{index:02}.py": "n" for index in range(10)})
    result = compare(before, after)
    assert len(result["changed"]) == 20
    assert [entry["path"] for entry in result["added"]] == [f"new/{index:02}.py" for index in range(5)]
    assert result["removed"] == []
    assert (result["changed_count"], result["added_count"], result["removed_count"]) == (20, 10, 10)
    assert result["listed_all"] is False
    assert len(result["changed"]) + len(result["added"]) + len(result["removed"]) == MAX_LISTED_FILES
    changed_files = row(summary(files=result), "Changed files")
    assert changed_files.splitlines()[0].startswith("~ mod/00.py")
    assert changed_files.endswith("... and 15 more")


def test_without_a_release_copy_nothing_is_compared_but_the_new_package_is_measured() -> None:
    _, after = release()
    result = compare(None, after)
    assert result["compared"] is False
    assert (result["added"], result["removed"], result["changed"]) == ([], [], [])
    assert (result["added_count"], result["removed_count"], result["changed_count"], result["files_before"]) == (None, None, None, None)
    assert (result["files_after"], result["bytes_after"]) == (17, sum(size for size, _ in after.values()))
    built = summary(production={"version": "1", "commit_id": None, "release_copy": None, "note": NO_COPY_NOTE}, files=result)
    package = row(built, "Package")
    assert package.startswith("not compared: production runs version 1, which the platform did not deploy (no release copy); the new package has 17 files, ")
    assert "Changed files" not in [item["label"] for item in summary_rows(built)]
    assert row(built, "Production now") == "version 1"


def test_without_any_listing_the_package_row_says_why() -> None:
    built = summary(production={"version": "1", "note": None}, files=None)
    assert built["files"] is None
    assert row(built, "Package") == "not compared: there is no release copy of production's package to compare with"


# --- the summary and its rows ------------------------------------------------------------------


def test_rows_read_at_a_glance() -> None:
    built = summary()
    json.dumps(built)
    rows = summary_rows(built)
    assert [item["label"] for item in rows] == ["Production now", "Staging runs", "Package", "Changed files", "Tests", "Validation"]
    assert row(built, "Production now") == "version 3 (commit 5d2e9b0c1a2b)"
    assert row(built, "Staging runs") == "version 5"
    assert row(built, "Package") == "2 changed, 1 added, 1 removed, 14 unchanged; 29.9 KB -> 28.8 KB"
    assert row(built, "Changed files").splitlines() == [
        "~ src/app.py 1.2 KB -> 1.4 KB (+210 B)",
        "~ src/handler.py 900 B -> 850 B (-50 B)",
        "+ src/pricing.py 812 B",
        "- old.py 2.0 KB",
    ]
    assert row(built, "Tests") == "package 2/2 passed; staging 1/1 passed"
    assert row(built, "Validation") == "no findings"


def test_failed_cases_come_first_and_are_named() -> None:
    outcomes = {f"case-{index:02}": index % 10 != 7 for index in range(40)}
    built = summary(package_tests=run_result("package", outcomes))
    package = built["tests"][0]
    assert (package["phase"], package["total"], package["failed"], package["passed"]) == ("package", 40, 4, False)
    assert len(package["cases"]) == MAX_LISTED_CASES
    assert [case["name"] for case in package["cases"][:4]] == ["case-07", "case-17", "case-27", "case-37"]
    assert not any(case["passed"] for case in package["cases"][:4])
    assert all(case["passed"] for case in package["cases"][4:])
    assert row(built, "Tests") == "package 36/40 passed, failed: case-07, case-17, case-27, case-37; staging 1/1 passed"


def test_failed_cases_beyond_the_listing_are_counted() -> None:
    built = summary(package_tests=run_result("package", {f"case-{index:02}": False for index in range(30)}), staging_tests=None)
    assert row(built, "Tests").startswith("package 0/30 passed, failed: case-00, ")
    assert row(built, "Tests").endswith(" and 5 more")


def test_errors_come_before_warnings_and_findings_are_capped() -> None:
    findings = [{"check": "not_checked", "path": f"src/m{index}.py", "message": "not compiled: too large", "severity": "warning"} for index in range(12)]
    findings.insert(5, {"check": "secret", "path": "src/app.py", "message": "looks like an AWS access key", "severity": "error"})
    built = summary(validation={"valid": False, "findings": findings, "summary": "invalid"})
    assert built["findings_count"] == 13
    assert len(built["findings"]) == MAX_LISTED_FINDINGS
    assert built["findings"][0] == {"severity": "error", "check": "secret", "path": "src/app.py", "message": "looks like an AWS access key"}
    lines = row(built, "Validation").splitlines()
    assert lines[0] == "13 findings: 1 error, 12 warnings"
    assert lines[1] == "error secret src/app.py: looks like an AWS access key"
    assert lines[2] == "warning not_checked src/m0.py: not compiled: too large"
    assert lines[-1] == "... and 3 more"


def test_missing_results_say_not_run() -> None:
    built = summary(package_tests=None, staging_tests=None, validation=None, staging_version=None)
    assert built["tests"] == []
    assert row(built, "Tests") == "not run"
    assert row(built, "Validation") == "not run"
    assert row(built, "Staging runs") == "an unknown version"


def test_partial_inputs_never_raise() -> None:
    built = change_summary.change_summary(
        commit_id=COMMIT,
        production={},
        staging_version=None,
        files={"compared": True},
        package_tests={"cases": [{"name": "a", "passed": False}, {"passed": True}, "junk"]},
        staging_tests={"phase": "staging", "passed": True, "summary": "all passed"},
        validation={"findings": [{"message": "broken"}, None]},
    )
    json.dumps(built)
    assert built["production"] == {"version": None, "commit_id": None, "release_copy": None, "note": None}
    assert built["tests"][0] | {"cases": None} == {"phase": "package", "passed": False, "total": 2, "failed": 1, "summary": None, "cases": None}
    assert row(built, "Tests") == "package 1/2 passed, failed: a; staging: all passed"
    assert row(built, "Validation").splitlines() == ["1 finding: 1 error", "error unknown: broken"]
    assert row(built, "Package") == "identical to production's"
    assert summary_text(built).startswith("Commit 9f1c2e7ab34d -> production: runs an unknown version, staging runs an unknown version")
    assert summary_rows({})
    assert summary_text({}).startswith("Commit (unknown) -> production")


# --- plain text and bounds ---------------------------------------------------------------------


def test_text_has_a_heading_and_indents_file_lines() -> None:
    lines = summary_text(summary()).splitlines()
    assert lines[0] == "Commit 9f1c2e7ab34d -> production: runs version 3 (commit 5d2e9b0c1a2b), staging runs version 5"
    assert "Package: 2 changed, 1 added, 1 removed, 14 unchanged; 29.9 KB -> 28.8 KB" in lines
    start = lines.index("Changed files:")
    assert lines[start + 1 : start + 3] == ["  ~ src/app.py 1.2 KB -> 1.4 KB (+210 B)", "  ~ src/handler.py 900 B -> 850 B (-50 B)"]
    assert "Tests: package 2/2 passed; staging 1/1 passed" in lines


def test_everything_stays_bounded() -> None:
    long = "very/" * 300 + "deep.py"
    before = listing({f"{long}{index}": "a" for index in range(100)})
    after = listing({f"{long}{index}": "b" for index in range(100)})
    outcomes = {f"{'n' * 500}{index}": False for index in range(200)}
    findings = [{"check": "compile", "path": long, "message": "m" * 5000, "severity": "error"} for _ in range(50)]
    built = summary(
        commit_id="c" * 200,
        production={"version": "v" * 2000, "commit_id": "d" * 2000, "note": "n" * 5000},
        staging_version="s" * 2000,
        files=compare(before, after),
        package_tests=run_result("package", outcomes),
        staging_tests=run_result("staging", outcomes),
        validation={"findings": findings},
    )
    assert len(built["production"]["note"]) <= 500
    assert all(len(built["production"][name]) <= 100 for name in ("version", "commit_id"))
    assert all(len(finding["message"]) <= 200 and len(finding["path"]) <= 300 for finding in built["findings"])
    assert all(len(case["name"]) <= 100 for case in built["tests"][0]["cases"])
    rows = summary_rows(built)
    assert all(len(item["value"]) <= 1000 for item in rows)
    assert row(built, "Changed files").endswith(" more")
    assert len(summary_text(built)) <= 4000


def test_a_text_too_long_is_cut_at_a_line_saying_how_much_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    full = summary_text(summary()).splitlines()
    monkeypatch.setattr(change_summary, "MAX_TEXT", 300)
    lines = summary_text(summary()).splitlines()
    assert len("\n".join(lines)) <= 300
    assert lines[:-1] == full[: len(lines) - 1]
    assert lines[-1] == f"... {len(full) - len(lines) + 1} more lines left out"
