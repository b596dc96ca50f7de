"""Prints each zip's size and each handler's cold import time (`make bench`).

Cold import: a fresh interpreter imports `handler` from its zip, with the layer unpacked on the
path as Lambda mounts it under /opt/python and the environment Lambda sets, so Powertools enables
X-Ray tracing and patches boto3 as it would in AWS. Median of several runs; the interpreter's own
start is not counted. Targets: handler zips <= 100 KB, cold import <= 150 ms.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
HANDLERS = ("validate_code", "run_tests", "staging", "production", "rollback", "waiter")
RUNS = 7
ZIP_TARGET_BYTES = 100 * 1024
IMPORT_TARGET_MS = 150.0

PROBE = """
import sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
started = time.perf_counter()
import {module}
print((time.perf_counter() - started) * 1000)
"""


def import_once(module: str, code_path: str, layer_path: str, environment: dict[str, str]) -> float:
    output = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module), code_path, layer_path],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(output.strip().splitlines()[-1])


def import_ms(code_path: str, layer_path: str, environment: dict[str, str]) -> tuple[float, float]:
    """Median cold import of `handler`, and the median of its paired difference with boto3 alone
    (each handler run is paired with a boto3-only run, so load on the machine cancels out)."""
    totals, beyond = [], []
    for _ in range(RUNS):
        alone = import_once("boto3", "", layer_path, environment)
        total = import_once("handler", code_path, layer_path, environment)
        totals.append(total)
        beyond.append(total - alone)
    return statistics.median(totals), statistics.median(beyond)


def lambda_environment(name: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "LAMBDA_TASK_ROOT": "/var/task",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": name,
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    }


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER TARGET"


def main() -> None:
    missing = [name for name in (*HANDLERS, "layer") if not (BUILD / f"{name}.zip").is_file()]
    if missing:
        sys.exit(f"missing zips {missing}: run `make package` first")
    with tempfile.TemporaryDirectory() as layer:
        with zipfile.ZipFile(BUILD / "layer.zip") as archive:
            archive.extractall(layer)
        layer_path = str(Path(layer) / "python")
        print(f"{'zip':<22}{'bytes':>12}  {'size':<12}{'cold import ms':>15}  {'import':<12}{'beyond boto3 ms':>16}")
        for name in HANDLERS:
            path = BUILD / f"{name}.zip"
            size = path.stat().st_size
            milliseconds, beyond_boto3 = import_ms(str(path), layer_path, lambda_environment(name))
            print(f"{path.name:<22}{size:>12,}  {verdict(size <= ZIP_TARGET_BYTES):<12}{milliseconds:>15.1f}  {verdict(milliseconds <= IMPORT_TARGET_MS):<12}{beyond_boto3:>16.1f}")
        for name in ("layer", "app"):
            path = BUILD / f"{name}.zip"
            if path.is_file():
                print(f"{path.name:<22}{path.stat().st_size:>12,}")
    print(f"\ncold import includes boto3, which the Lambda runtime provides; 'beyond boto3' is the median of {RUNS} paired differences")


if __name__ == "__main__":
    main()
