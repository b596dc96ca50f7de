"""`make package`: reproducible zips with the layout Lambda and Terraform expect."""

import zipfile
from pathlib import Path

import pytest

from conftest import HANDLERS
from tools import package


def build_twice(tmp_path: Path, entries: list[tuple[Path, str]]) -> tuple[bytes, bytes]:
    package.write_zip(tmp_path / "first.zip", entries)
    package.write_zip(tmp_path / "second.zip", list(reversed(entries)))
    return (tmp_path / "first.zip").read_bytes(), (tmp_path / "second.zip").read_bytes()


@pytest.mark.parametrize("handler", HANDLERS)
def test_two_builds_of_a_handler_are_byte_identical(tmp_path: Path, handler: str) -> None:
    first, second = build_twice(tmp_path, package.handler_entries(handler))
    assert first == second


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_zip_has_its_handler_and_the_shared_package_at_the_root(tmp_path: Path, handler: str) -> None:
    package.write_zip(tmp_path / "handler.zip", package.handler_entries(handler))
    with zipfile.ZipFile(tmp_path / "handler.zip") as archive:
        names = archive.namelist()
        assert "handler.py" in names and "shared/__init__.py" in names
        assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
        assert {info.date_time for info in archive.infolist()} == {package.FIXED_DATE}


def test_a_changed_source_changes_the_zip(tmp_path: Path) -> None:
    entries = package.handler_entries("rollback")
    package.write_zip(tmp_path / "before.zip", entries)
    changed = tmp_path / "handler.py"
    changed.write_text((package.ROOT / "lambda_src" / "rollback" / "handler.py").read_text() + "\n# changed\n")
    package.write_zip(tmp_path / "after.zip", [(changed, "handler.py") if name == "handler.py" else (path, name) for path, name in entries])
    assert (tmp_path / "before.zip").read_bytes() != (tmp_path / "after.zip").read_bytes()


def test_the_app_zip_is_the_deployment_package_with_its_test_cases(tmp_path: Path) -> None:
    first, second = build_twice(tmp_path, package.app_entries())
    assert first == second
    with zipfile.ZipFile(tmp_path / "first.zip") as archive:
        assert {"app.py", "test_cases.json"} <= set(archive.namelist())
