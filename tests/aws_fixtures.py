"""The application's resources in moto, for the handler tests (see local_aws/platform.py)."""

import base64
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The names below are re-exported for the tests that import them from here.
from local_aws.platform import (  # noqa: E402
    ALIAS,
    ALL_AT_ONCE,
    APPLICATION as APPLICATION,
    ARTIFACT_BUCKET,
    FUNCTIONS,
    PIPELINE as PIPELINE,
    RELEASE_BUCKET as RELEASE_BUCKET,
    ROLE as ROLE,
    SERVICE as SERVICE,
    SERVICES_PREFIX as SERVICES_PREFIX,
    TABLE as TABLE,
    LocalPlatform,
    register_service as register_service,
    service_document as service_document,
    step_environment,
)


def lambda_code_sha256(data: bytes) -> str:
    """SHA-256 in the form Lambda reports as CodeSha256 (base64), computed here apart from the handlers."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def app_zip(version: str, extra: dict[str, str] | None = None) -> bytes:
    """A deployable application zip whose handler reports `version`; `extra` adds or replaces files."""
    files = {
        "app.py": f"VERSION = {version!r}\n\ndef handler(event, context):\n    return {{'version': VERSION}}\n",
        "test_cases.json": json.dumps({"cases": [{"name": "reports its version", "event": {}, "expect": {"version": version}}]}),
    } | (extra or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content)
    return buffer.getvalue()


def registered_document(name: str = SERVICE) -> dict[str, Any]:
    """The registry entry of service `name` as it is now: what the waiter would put into an
    execution's input."""
    value = boto3.client("ssm").get_parameter(Name=SERVICES_PREFIX + name)["Parameter"]["Value"]
    return json.loads(value)  # type: ignore[no-any-return]


def use_registry(monkeypatch: Any, document: dict[str, Any] | None = None) -> dict[str, Any]:
    """Point the handlers at the local registry and register `document` (the local service's
    entry by default) in it; returns the document."""
    monkeypatch.setenv("SERVICES_PARAMETER_PREFIX", SERVICES_PREFIX)
    return register_service(document or service_document())


class Platform(LocalPlatform):
    """The application's resources without the step handlers: what the handler tests need."""

    def __init__(self, group_configs: dict[str, str] | None = None) -> None:
        super().__init__(app_code=app_zip("1"), step_zips={})
        self.deployment_configs = group_configs or {"staging": ALL_AT_ONCE, "production": "CodeDeployDefault.LambdaCanary10Percent5Minutes"}

    def create(self) -> "Platform":
        self.create_resources()
        return self

    @staticmethod
    def upload_artifact(data: bytes, key: str = "pipeline/BuildOutput/artifact.zip") -> dict[str, Any]:
        boto3.client("s3").put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=data)
        return {"bucket": ARTIFACT_BUCKET, "key": key}

    @staticmethod
    def deploy_environment(monkeypatch: Any, environment: str) -> None:
        for name, value in step_environment(environment).items():
            monkeypatch.setenv(name, value)

    @staticmethod
    def rollback_environment(monkeypatch: Any) -> None:
        for name, value in step_environment("rollback").items():
            monkeypatch.setenv(name, value)

    @staticmethod
    def alias(environment: str) -> dict[str, Any]:
        return boto3.client("lambda").get_alias(FunctionName=FUNCTIONS[environment], Name=ALIAS)  # type: ignore[no-any-return]


def set_deployment_status(deployment_id: str, status: str) -> None:
    """moto leaves deployments `Created`; this plays CodeDeploy's part of moving them on."""
    from moto.codedeploy.models import codedeploy_backends

    for backend in codedeploy_backends.values():
        for regional in backend.values():
            deployment = regional.deployments.get(deployment_id)
            if deployment is not None:
                deployment.status = status
                return
    raise AssertionError(f"no deployment {deployment_id} in moto")


class Refusals:
    """The next `times` calls of `operation` on `client` are refused with the AWS error `code`, as
    the service answers them; every other call reaches moto."""

    def __init__(self, client: Any, operation: str, code: str, times: int, message: str = "", status: int = 409) -> None:
        self.code, self.message, self.status, self.remaining, self.refused = code, message or f"{operation} refused", status, times, 0
        client.meta.events.register(f"before-call.{client.meta.service_model.endpoint_prefix}.{operation}", self._answer)

    def _answer(self, **_: Any) -> Any:
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        self.refused += 1
        from botocore.awsrequest import AWSResponse

        return AWSResponse("", self.status, {}, None), {"Error": {"Code": self.code, "Message": self.message}, "ResponseMetadata": {"HTTPStatusCode": self.status}}


class UpdateInProgress:
    """GetFunctionConfiguration reports the function busy (`State`, `LastUpdateStatus`) for its next
    `times` reads, as Lambda does while an earlier change is applied."""

    def __init__(self, client: Any, times: int, state: str = "Active", last_update_status: str = "InProgress") -> None:
        self.remaining, self.changes = times, {"State": state, "LastUpdateStatus": last_update_status}
        client.meta.events.register("after-call.lambda.GetFunctionConfiguration", self._busy)

    def _busy(self, parsed: dict[str, Any], **_: Any) -> None:
        if self.remaining > 0:
            self.remaining -= 1
            parsed.update(self.changes)


def service_client(name: str, handler: str, service: str = SERVICE, **settings: Any) -> Any:
    """The client `handler` uses for a registered service's functions, deployment groups or
    pipeline: its access role's (shared/services.py acting_for), the same object the handler will use."""
    from shared import aws
    from shared.services import acting_for, registered

    with acting_for(registered(service), handler):
        return aws.client(name, **settings)
