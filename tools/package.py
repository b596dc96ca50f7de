"""Builds the Lambda zips reproducibly: the same sources always give byte-identical zips, so
Terraform's source_code_hash changes only when code changes.

    python tools/package.py handler NAME OUT.zip   # lambda_src/NAME/*.py + lambda_src/shared/ (+ HANDLER_FILES)
    python tools/package.py app OUT.zip            # app/src/ + app/test_cases.json
    python tools/package.py layer OUT.zip          # requirements-layer.txt under python/
"""

import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
# The one list of handlers: every lambda_src/<name>/handler.py. The Makefile, the local AWS, the
# bench and the tests read it; lambda.tf gives each one its settings and policy.
HANDLERS = tuple(sorted(path.parent.name for path in (ROOT / "lambda_src").glob("*/handler.py")))
# Files of the repository a handler reads at run time, by where its zip holds them: the release
# manifest's schema beside shared/manifest.py (the API's request validator reads the same file).
HANDLER_FILES = {"release_intake": {"shared/release-manifest.schema.json": ROOT / "schemas" / "release-manifest.schema.json"}}


def files_under(folder: Path, prefix: str) -> Iterable[tuple[Path, str]]:
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not SKIPPED_PARTS.intersection(relative.parts) and path.suffix != ".pyc":
            yield path, f"{prefix}{relative.as_posix()}"


def write_zip(out: Path, entries: Iterable[tuple[Path, str]]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path, name in sorted(entries, key=lambda entry: entry[1]):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    os.replace(temporary, out)


def handler_entries(name: str) -> list[tuple[Path, str]]:
    source = ROOT / "lambda_src" / name
    if not (source / "handler.py").is_file():
        sys.exit(f"no handler at {source / 'handler.py'}")
    extra = [(path, name) for name, path in HANDLER_FILES.get(name, {}).items()]
    return [*files_under(source, ""), *files_under(ROOT / "lambda_src" / "shared", "shared/"), *extra]


def app_entries() -> list[tuple[Path, str]]:
    return [*files_under(ROOT / "app" / "src", ""), (ROOT / "app" / "test_cases.json", "test_cases.json")]


def layer_entries(staging: Path) -> list[tuple[Path, str]]:
    # Pure-Python wheels only, so one layer serves x86_64 and arm64 and every supported runtime.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-compile",
            "--only-binary=:all:",
            "--platform",
            "any",
            "--implementation",
            "py",
            "--target",
            str(staging / "python"),
            "-r",
            str(ROOT / "requirements-layer.txt"),
        ],
        check=True,
    )
    return list(files_under(staging, ""))


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit(__doc__)
    kind, out = argv[0], Path(argv[-1])
    if kind == "handler" and len(argv) == 3:
        write_zip(out, handler_entries(argv[1]))
    elif kind == "app":
        write_zip(out, app_entries())
    elif kind == "layer":
        with tempfile.TemporaryDirectory() as staging:
            write_zip(out, layer_entries(Path(staging)))
    else:
        sys.exit(__doc__)
    print(f"{out}  {out.stat().st_size:>9,} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
