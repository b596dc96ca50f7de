"""Where moto differs from AWS in ways this platform depends on, one function per gap.

`install()` patches moto in this process. Each gap names the AWS behaviour it reproduces; nothing
here replaces what is under test: handlers run from the exact code bytes stored in Lambda, with the
function's handler string and environment variables.
"""

import contextlib
import io
import json
import os
import sys
import threading
import traceback
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from types import ModuleType
from typing import Any

# Invocations run one at a time: they swap process-wide state (modules, environment). The lock is
# re-entrant because a function may invoke another (run_tests invokes the application's alias).
_invoke_lock = threading.RLock()
_namespaces: dict[str, dict[str, ModuleType]] = {}
CODE_CACHE = Path(os.environ.get("LOCAL_AWS_CODE_CACHE", Path.home() / ".cache" / "serverless-cd-local-aws"))


@dataclass
class InvocationContext:
    """The Lambda context object a handler receives."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


def _extract(code: bytes, code_sha256: str) -> Path:
    """Unpack a code zip once per content; written to a temporary folder and renamed into place."""
    folder = CODE_CACHE / code_sha256.replace("/", "_").replace("+", "-")
    if not folder.is_dir():
        staging = folder.with_name(f"{folder.name}.{uuid.uuid4().hex}")
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            archive.extractall(staging)
        try:
            staging.rename(folder)
        except OSError:  # another process unpacked the same code first
            pass
    return folder


def _top_level_names(folder: Path) -> set[str]:
    return {path.stem for path in folder.iterdir() if path.suffix == ".py" or (path / "__init__.py").is_file()}


@contextlib.contextmanager
def _code_namespace(folder: Path, code_sha256: str) -> Iterator[None]:
    """Import from `folder` with modules of its own: two functions (or two versions of one)
    that both ship `shared/` or `handler.py` never see each other's modules."""
    names = _top_level_names(folder)

    def owned(module_name: str) -> bool:
        return module_name.split(".", 1)[0] in names

    saved = {name: module for name, module in sys.modules.items() if owned(name)}
    for name in saved:
        del sys.modules[name]
    sys.modules.update(_namespaces.get(code_sha256, {}))
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        _namespaces[code_sha256] = {name: module for name, module in sys.modules.items() if owned(name)}
        for name in _namespaces[code_sha256]:
            del sys.modules[name]
        sys.modules.update(saved)


@contextlib.contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(variables)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_lambda_in_process(function: Any, event: Any) -> tuple[str, bool, str]:
    """Gap: moto runs Lambda code only in Docker. AWS runs the handler named by the function's
    handler string from its deployment package, with its environment variables; so does this."""
    module_name, _, function_name = function.handler.rpartition(".")
    folder = _extract(function.code_bytes, function.code_sha_256)
    variables = {name: str(value) for name, value in (function.environment_vars or {}).items()}
    variables |= {"AWS_LAMBDA_FUNCTION_NAME": function.function_name, "AWS_LAMBDA_FUNCTION_VERSION": str(function.version)}
    context = InvocationContext(
        function_name=function.function_name,
        function_version=str(function.version),
        invoked_function_arn=function.function_arn,
        memory_limit_in_mb=int(function.memory_size or 128),
        aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{function.function_name}",
    )
    with _invoke_lock, _environment(variables), _code_namespace(folder, function.code_sha_256):
        try:
            module = __import__(module_name, fromlist=[function_name])
            result = getattr(module, function_name)(event, context)
            return json.dumps(result), False, ""
        except Exception as error:  # noqa: BLE001 - reported the way the Lambda runtime reports it
            payload = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
            return json.dumps(payload), True, ""


def _lambda_backend(account_id: str, region: str) -> Any:
    from moto.awslambda.models import lambda_backends

    return lambda_backends[account_id][region]


def finish_lambda_deployment(backend: Any, deployment: Any, failing_groups: set[str]) -> None:
    """Gap: moto's CodeDeploy deployments stay Created. For Lambda, AWS reads the AppSpec and moves
    the alias from CurrentVersion to TargetVersion; a failed deployment leaves it where it was."""
    if deployment.status != "Created":
        return
    if deployment.deployment_group_name in failing_groups:
        deployment.status = "Failed"
        return
    content = deployment.revision["appSpecContent"]["content"]
    lambdas = _lambda_backend(backend.account_id, backend.region_name)
    for resource in json.loads(content)["Resources"]:
        for properties in (spec["Properties"] for spec in resource.values()):
            lambdas.update_alias(properties["Alias"], properties["Name"], str(properties["TargetVersion"]), "", None)
    deployment.status = "Succeeded"


def iso_start_time(environment: Any) -> Any:
    """Gap: moto puts a datetime in the context object's Execution.StartTime; AWS gives an ISO 8601
    string such as 2026-01-31T12:00:00.123Z, which an execution may copy into its output."""
    execution = environment.states.context_object.context_object_data["Execution"]
    started = execution.get("StartTime")
    if hasattr(started, "isoformat"):
        execution["StartTime"] = started.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return environment


class LocalAws:
    """The patches in force, with the knobs tests use to inject failures."""

    def __init__(self) -> None:
        self.failing_deployment_groups: set[str] = set()

    def install(self) -> None:
        from moto.awslambda.models import LambdaFunction
        from moto.codedeploy.models import CodeDeployBackend
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

        local = self
        original_get_deployment = CodeDeployBackend.get_deployment

        def get_deployment(backend: Any, deployment_id: str) -> Any:
            deployment = original_get_deployment(backend, deployment_id)
            finish_lambda_deployment(backend, deployment, local.failing_deployment_groups)
            return deployment

        def invoke_lambda(function: Any, event: Any = None) -> tuple[str, bool, str]:
            return run_lambda_in_process(function, event if event is not None else {})

        original_environment = ExecutionWorker._get_evaluation_environment

        def evaluation_environment(worker: Any) -> Any:
            return iso_start_time(original_environment(worker))

        self._restore = [
            (CodeDeployBackend, "get_deployment", original_get_deployment),
            (LambdaFunction, "_invoke_lambda", LambdaFunction._invoke_lambda),
            (ExecutionWorker, "_get_evaluation_environment", original_environment),
        ]
        CodeDeployBackend.get_deployment = get_deployment  # type: ignore[method-assign]
        LambdaFunction._invoke_lambda = invoke_lambda  # type: ignore[method-assign,assignment]
        ExecutionWorker._get_evaluation_environment = evaluation_environment  # type: ignore[method-assign]

    def uninstall(self) -> None:
        for owner, name, original in self._restore:
            setattr(owner, name, original)
