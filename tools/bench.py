"""Prints each zip's size and each handler's cold import time (`make bench`).

Cold import: a fresh interpreter imports `handler` from its zip, with the layer unpacked on the
path as Lambda mounts it under /opt/python and the environment Lambda sets, so Powertools enables
X-Ray tracing and patches boto3 as it would in AWS. Median of several runs; the interpreter's own
start is not counted. Targets: handler zips <= 100 KB, cold import <= 150 ms.

Then validate_code's checks of a large realistic package (the wheels of tests/vendored.py and a
generated 2 MiB module), in a fresh interpreter with the function's memory and timeout: the time,
and the peak memory of the handler's process and of its compile process (resource.getrusage).
Targets: within validate_code's timeout and memory.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tools.package import HANDLERS

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
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
    validation_bench()


# --- validate_code on a large realistic package --------------------------------------------------

# The application: a handler, its test cases, and a generated 2 MiB data module whose compile()
# alone takes about 870 MB, more than validate_code's 512 MB.
BUILD_PACKAGE = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import vendored
folder, out = Path(sys.argv[2]), Path(sys.argv[3])
vendored.install(folder)
out.write_bytes(vendored.package(folder, {
    "app.py": "from generated.tables import TABLE\\n\\ndef handler(event, context):\\n    return {'size': len(TABLE)}\\n",
    "generated/__init__.py": "",
    "generated/tables.py": "TABLE = [" + "{1:[2]}," * (2 * 1024 * 1024 // 8) + "]\\n",
    "test_cases.json": '{"cases": [{"name": "counts", "event": {}, "expect": {"size": 262144}}]}',
}))
"""

# validate_code's checks of that zip, in a fresh interpreter, with the function's memory and timeout.
MEASURE = """
import importlib.util, json, resource, sys, time
sys.path.insert(0, sys.argv[1])
spec = importlib.util.spec_from_file_location("validate_code_handler", sys.argv[1] + "/validate_code/handler.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
class Context:
    memory_limit_in_mb = int(sys.argv[3])
    @staticmethod
    def get_remaining_time_in_millis():
        return int(sys.argv[4]) * 1000
started = time.perf_counter()
with open(sys.argv[2], "rb") as file:
    findings, contents = module.inspect(file, module.Settings("app", "handler", "test_cases.json"), module.Limits.of(Context()))
print(json.dumps({
    "seconds": time.perf_counter() - started,
    "handler_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "compile_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    "contents": contents,
    "findings": [finding.describe() for finding in findings],
}))
"""

# Without the cap: compile() of the generated module alone.
UNBOUNDED = """
import resource, zipfile, sys
source = zipfile.ZipFile(sys.argv[1]).read("generated/tables.py")
compile(source, "generated/tables.py", "exec")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

VALIDATE_CODE_MEMORY_MB = 512
VALIDATE_CODE_TIMEOUT_SECONDS = 120


def run_probe(probe: str, *arguments: str) -> str:
    environment = {"PATH": os.environ.get("PATH", ""), "POWERTOOLS_SERVICE_NAME": "bench", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-c", probe, *arguments], env=environment, capture_output=True, text=True, check=True).stdout


def validation_bench() -> None:
    print("\nvalidate_code on boto3, numpy, pandas, requests and pydantic vendored with a generated 2 MiB module:")
    with tempfile.TemporaryDirectory() as work:
        package = Path(work) / "package.zip"
        try:
            run_probe(BUILD_PACKAGE, str(ROOT / "tests"), str(Path(work) / "vendored"), str(package))
        except subprocess.CalledProcessError as error:
            print(f"  could not build the package ({error.stderr.strip().splitlines()[-1:]}): run `make install` first")
            return
        result = json.loads(run_probe(MEASURE, str(ROOT / "lambda_src"), str(package), str(VALIDATE_CODE_MEMORY_MB), str(VALIDATE_CODE_TIMEOUT_SECONDS)))
        unbounded_mb = float(run_probe(UNBOUNDED, str(package)))
        total_mb = result["handler_mb"] + result["compile_mb"]
        print(f"  package       {package.stat().st_size:,} bytes zipped: {result['contents']}")
        print(f"  time          {result['seconds']:.1f} s  {verdict(result['seconds'] < VALIDATE_CODE_TIMEOUT_SECONDS)} (timeout {VALIDATE_CODE_TIMEOUT_SECONDS} s)")
        print(
            f"  peak memory   {result['handler_mb']:.0f} MB handler + {result['compile_mb']:.0f} MB compile process = {total_mb:.0f} MB  {verdict(total_mb < VALIDATE_CODE_MEMORY_MB)} (memory {VALIDATE_CODE_MEMORY_MB} MB)"
        )
        print(f"  unbounded     compile() of generated/tables.py alone peaks at {unbounded_mb:.0f} MB")
        for finding in result["findings"]:
            print(f"  finding       {finding}")


if __name__ == "__main__":
    main()
