"""Input no pipeline would send, given to every handler that reads it: each ends in a named error
whose cause is short enough to read (Step Functions keeps 32,768 characters of a Cause,
CodePipeline 5,000 of a message) and says which field is wrong, and nothing in AWS changes."""

from typing import Any

import pytest

from aws_fixtures import ARTIFACT_BUCKET, Platform, app_zip
from conftest import load_handler
from shared import errors
from shared.observability import MAX_CAUSE

EXECUTION = {"arn": "arn:aws:states:us-east-1:123456789012:execution:deploy:run-1", "name": "run-1"}
LONG = "x" * 100_000
SURROGATE = "release-\ud800.zip"


@pytest.fixture
def platform(aws: None, monkeypatch: pytest.MonkeyPatch) -> Platform:
    created = Platform().create()
    Platform.deploy_environment(monkeypatch, "staging")
    Platform.rollback_environment(monkeypatch)
    created.upload_artifact(app_zip("2"))
    return created


def event_for(handler: str, **changes: Any) -> dict[str, Any]:
    artifact = {"bucket": ARTIFACT_BUCKET, "key": "pipeline/BuildOutput/artifact.zip"} | changes.pop("artifact", {})
    base: dict[str, Any] = {"commit_id": "c0ffee1", "artifact": artifact, "execution": EXECUTION, "service": Platform().service}
    extra = {"run_tests": {"phase": "package"}, "staging": {"action": "deploy"}}.get(handler, {})
    return base | extra | changes


ARTIFACT_HANDLERS = ("validate_code", "run_tests", "staging")


@pytest.mark.parametrize("handler", ARTIFACT_HANDLERS)
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"artifact": {"bucket": LONG}}, "'artifact.bucket' is 100000 characters long; the limit is 2048"),
        ({"artifact": {"bucket": "my bucket!"}}, "'artifact.bucket' 'my bucket!' is not an S3 bucket name"),
        ({"artifact": {"key": LONG}}, "'artifact.key' is 100000 characters long; the limit is 2048"),
        ({"artifact": {"key": "é" * 600}}, "'artifact.key' is 1200 bytes long; S3 keys are at most 1024"),
        ({"artifact": {"key": SURROGATE}}, "'artifact.key' is not valid Unicode text: character 9 is a lone surrogate"),
        ({"commit_id": "c0ffee1\n"}, "'commit_id' 'c0ffee1\\n' is not a commit id"),
        ({"commit_id": "\udfff"}, "'commit_id' is not valid Unicode text"),
    ],
)
def test_unusable_fields_are_named_in_a_short_cause_and_nothing_is_deployed(handler: str, changes: dict[str, Any], message: str, platform: Platform, context: Any) -> None:
    with pytest.raises(errors.InvalidInput) as raised:
        load_handler(handler).handler(event_for(handler, **changes), context)

    cause = str(raised.value)
    assert cause.startswith(message), cause[:200]
    assert len(cause) <= MAX_CAUSE
    cause.encode("utf-8")  # a cause Lambda can serialize
    assert platform.alias("staging")["FunctionVersion"] == "1"


@pytest.mark.parametrize(
    ("execution", "message"),
    [
        ({"arn": LONG, "name": "run-1"}, "'execution.arn' is 100000 characters long; the limit is 256"),
        ({"arn": EXECUTION["arn"], "name": "n" * 81}, "'execution.name' is 81 characters long; the limit is 80"),
    ],
)
def test_an_unusable_execution_is_named_by_the_deploy_and_rollback_handlers(execution: dict[str, str], message: str, platform: Platform, context: Any) -> None:
    for handler in ("staging", "rollback"):
        with pytest.raises(errors.InvalidInput, match=message):
            load_handler(handler).handler(event_for(handler, execution=execution), context)


def test_an_aws_error_that_echoes_a_huge_message_is_cut_to_a_readable_cause(platform: Platform, context: Any) -> None:
    from botocore.stub import Stubber

    from shared import aws

    with Stubber(aws.client("s3")) as s3:
        s3.add_client_error("head_object", "InvalidRequest", "bad request: " + LONG, http_status_code=400)
        with pytest.raises(errors.DeploymentError) as raised:
            load_handler("validate_code").handler(event_for("validate_code"), context)
    assert len(str(raised.value)) <= MAX_CAUSE


def test_a_cause_with_a_lone_surrogate_from_aws_is_escaped(context: Any) -> None:
    from botocore.exceptions import ClientError

    from shared.observability import named_error

    reported = named_error(ClientError({"Error": {"Code": "ValidationException", "Message": "no such key \udc80"}}, "GetObject"))

    assert str(reported) == "GetObject failed: ValidationException: no such key \\udc80"
