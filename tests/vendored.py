"""Real wheels of libraries that applications vendor into their Lambda package, for validate_code's
tests and `make bench`.

`make install` runs `python tests/vendored.py download`: the wheels pinned in
tests/vendored-requirements.txt, built for Lambda's default runtime (python3.12 on arm64), go to
.cache/vendored-wheels. `install()` then installs them offline the way an application vendors its
dependencies, `pip install --target`, and `package()` zips such a folder with the application.
"""

import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "tests" / "vendored-requirements.txt"
WHEELS = ROOT / ".cache" / "vendored-wheels"
TARGET_PLATFORM = ("--only-binary=:all:", "--platform", "manylinux2014_aarch64", "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312")
PIP = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def pins() -> list[tuple[str, str]]:
    lines = [line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    return [(normalized(name), version) for name, version in (line.split("==") for line in lines if line)]


def missing_wheels() -> list[str]:
    """The pins without a downloaded wheel."""
    present = {tuple(normalized(part) for part in wheel.name.split("-")[:2]) for wheel in WHEELS.glob("*.whl")}
    return [f"{name}=={version}" for name, version in pins() if (name, normalized(version)) not in present]


def download() -> None:
    subprocess.run([*PIP, "download", "--no-deps", *TARGET_PLATFORM, "--dest", str(WHEELS), "-r", str(REQUIREMENTS)], check=True)


def install(target: Path) -> None:
    """`pip install --target`, offline from the downloaded wheels; no .pyc files, to save time."""
    subprocess.run(
        [*PIP, "install", "--no-index", "--find-links", str(WHEELS), "--no-deps", "--no-compile", *TARGET_PLATFORM, "--target", str(target), "-r", str(REQUIREMENTS)], check=True
    )


def package(folder: Path, files: dict[str, str | bytes]) -> bytes:
    """A deployment package: everything under `folder` plus `files`, deflated as `zip -r` does."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


if __name__ == "__main__" and sys.argv[1:] == ["download"]:
    download()
