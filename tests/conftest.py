"""Shared fixtures: a moto-backed AWS, the handlers loaded from lambda_src/, a Lambda context."""

import importlib.util
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = ROOT / "lambda_src"
REGION = "us-east-1"

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "tests",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)
if str(LAMBDA_SRC) not in sys.path:
    sys.path.insert(0, str(LAMBDA_SRC))
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from shared.observability import logger  # noqa: E402  (needs LAMBDA_SRC on sys.path)
from tools.package import HANDLERS as HANDLERS  # noqa: E402  (needs ROOT on sys.path)


def load_handler(name: str) -> ModuleType:
    """Import lambda_src/<name>/handler.py under a unique module name (every handler is handler.py)."""
    module_name = f"handler_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, LAMBDA_SRC / name / "handler.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


@pytest.fixture
def context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def aws() -> Iterator[None]:
    """Every AWS call inside the test goes to moto; clients are created afresh for it."""
    from moto import mock_aws

    from shared import aws as shared_aws

    shared_aws.reset()
    with mock_aws():
        yield
    shared_aws.reset()


class CurrentStdout:
    """Writes to whatever sys.stdout is at the time, so capsys sees it."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def captured_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Powertools' logger keeps the stdout of its creation (pytest's); route it to capsys's."""
    handler = logger.registered_handler
    previous = handler.setStream(CurrentStdout())  # type: ignore[attr-defined]
    yield capsys
    handler.setStream(previous)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def step_zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The zips of the local platform's step handlers (local_aws/platform.py), as `make package` builds them."""
    from local_aws.platform import STEPS
    from tools import package

    folder: Path = tmp_path_factory.mktemp("build")
    for step in STEPS:
        package.write_zip(folder / f"{step}.zip", package.handler_entries(step))
    return {step: (folder / f"{step}.zip").read_bytes() for step in STEPS}
