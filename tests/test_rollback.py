"""The rollback handler against moto: what it restores, what it stops, what it refuses to hide."""

from typing import Any

import boto3
import pytest

from aws_fixtures import ALIAS, FUNCTIONS, TABLE, Platform, Refusals, UpdateInProgress, app_zip, service_client, set_deployment_status
from conftest import load_handler
from shared import aws, errors

EXECUTION = {"arn": "arn:aws:states:us-east-1:123456789012:execution:deploy:run-1", "name": "run-1"}
FAILURE = {"error": "StagingTestsFailed", "cause": "1 of 1 test cases failed in staging"}
# The registry entry of the platform's service, as Platform().create() registers it.
SERVICE = Platform().service


@pytest.fixture
def platform(aws: None, monkeypatch: pytest.MonkeyPatch) -> Platform:
    created = Platform().create()
    created.rollback_environment(monkeypatch)
    return created


def deploy(monkeypatch: pytest.MonkeyPatch, context: Any, environment: str, version: str) -> dict[str, Any]:
    Platform.deploy_environment(monkeypatch, environment)
    event = {"action": "deploy", "commit_id": "c2", "artifact": Platform.upload_artifact(app_zip(version)), "execution": EXECUTION, "service": SERVICE}
    return load_handler(environment).handler(event, context)  # type: ignore[no-any-return]


def shift(environment: str, version: str, weights: dict[str, float] | None = None) -> None:
    """Move the alias as CodeDeploy would mid-deployment."""
    boto3.client("lambda").update_alias(FunctionName=FUNCTIONS[environment], Name=ALIAS, FunctionVersion=version, RoutingConfig={"AdditionalVersionWeights": weights or {}})


def rollback(context: Any) -> dict[str, Any]:
    return load_handler("rollback").handler({"commit_id": "c2", "execution": EXECUTION, "failure": FAILURE, "service": SERVICE}, context)  # type: ignore[no-any-return]


class RecordingCodeDeploy:
    """moto has no StopDeployment: this records it and passes every other call to moto."""

    def __init__(self, real: Any) -> None:
        self.real, self.stopped = real, []

    def stop_deployment(self, deploymentId: str, autoRollbackEnabled: bool) -> dict[str, str]:
        self.stopped.append((deploymentId, autoRollbackEnabled))
        set_deployment_status(deploymentId, "Stopped")
        return {"status": "Pending"}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def codedeploy(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> RecordingCodeDeploy:
    recording = RecordingCodeDeploy(service_client("codedeploy", "rollback"))
    real_client = aws.client
    monkeypatch.setattr(aws, "client", lambda service: recording if service == "codedeploy" else real_client(service))
    return recording


def test_restores_staging_after_its_tests_failed(platform: Platform, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    staging = deploy(monkeypatch, context, "staging", "2")
    set_deployment_status(staging["deployment_id"], "Succeeded")
    shift("staging", "2")

    result = rollback(context)

    assert platform.alias("staging")["FunctionVersion"] == "1"
    assert result["environments"]["staging"]["action"] == "restored"
    assert result["environments"]["production"] == {"action": "untouched"}
    assert platform.alias("production")["FunctionVersion"] == "1"
    record = platform.record("c2", "run-1")
    assert record is not None and record["staging"]["rolled_back_to"] == "1" and record["service"] == "app"


def test_stops_a_canary_in_progress_and_clears_its_weights(platform: Platform, context: Any, monkeypatch: pytest.MonkeyPatch, codedeploy: RecordingCodeDeploy) -> None:
    staging = deploy(monkeypatch, context, "staging", "2")
    set_deployment_status(staging["deployment_id"], "Succeeded")
    shift("staging", "2")
    production = deploy(monkeypatch, context, "production", "2")
    shift("production", "1", {"2": 0.1})

    result = rollback(context)

    assert codedeploy.stopped == [(production["deployment_id"], True)]
    assert platform.alias("staging")["FunctionVersion"] == "1"
    alias = platform.alias("production")
    assert alias["FunctionVersion"] == "1"
    assert not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert result["environments"]["production"]["stopped_deployment"] == production["deployment_id"]
    assert "production on version 1 (restored)" in result["summary"]


def test_running_it_twice_is_safe(platform: Platform, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    staging = deploy(monkeypatch, context, "staging", "2")
    set_deployment_status(staging["deployment_id"], "Succeeded")
    shift("staging", "2")

    rollback(context)
    second = rollback(context)

    assert second["environments"]["staging"]["action"] == "already_on_previous"
    assert platform.alias("staging")["FunctionVersion"] == "1"


def test_nothing_deployed_means_nothing_touched(platform: Platform, context: Any) -> None:
    result = rollback(context)

    assert result["environments"] == {"production": {"action": "untouched"}, "staging": {"action": "untouched"}}
    assert platform.alias("staging")["FunctionVersion"] == platform.alias("production")["FunctionVersion"] == "1"


def deny_update_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    lambda_client = service_client("lambda", "rollback")

    def denied(**_: Any) -> None:
        raise lambda_client.exceptions.ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "UpdateAlias")

    monkeypatch.setattr(lambda_client, "update_alias", denied)


def test_a_failed_restore_says_where_production_is(platform: Platform, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    staging = deploy(monkeypatch, context, "staging", "2")
    set_deployment_status(staging["deployment_id"], "Succeeded")
    production = deploy(monkeypatch, context, "production", "2")
    set_deployment_status(production["deployment_id"], "Succeeded")
    shift("production", "2")
    deny_update_alias(monkeypatch)
    with pytest.raises(errors.RollbackFailed, match=r"production: UpdateAlias failed: AccessDeniedException.*alias live of app-production is on version 2"):
        rollback(context)


def test_a_failed_restore_of_staging_says_production_is_untouched_and_where(platform: Platform, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    staging = deploy(monkeypatch, context, "staging", "2")
    set_deployment_status(staging["deployment_id"], "Succeeded")
    shift("staging", "2")
    deny_update_alias(monkeypatch)
    with pytest.raises(errors.RollbackFailed, match=r"staging: UpdateAlias failed.* Other environments: production untouched \(alias live of app-production is on version 1\)"):
        rollback(context)


CONFLICT = "The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:app-staging"


def test_an_alias_update_that_conflicts_with_a_function_update_is_waited_for(platform: Platform, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.function_updates.POLL_SECONDS", 0.0)
    staging = deploy(monkeypatch, context, "staging", "2")
    set_deployment_status(staging["deployment_id"], "Succeeded")
    shift("staging", "2")
    refused = Refusals(service_client("lambda", "rollback"), "UpdateAlias", "ResourceConflictException", times=2, message=CONFLICT)

    result = rollback(context)

    assert refused.refused == 2 and result["environments"]["staging"]["action"] == "restored"
    assert platform.alias("staging")["FunctionVersion"] == "1"


def test_a_conflict_that_persists_is_function_busy_for_the_state_machine_to_retry(platform: Platform, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.function_updates.POLL_SECONDS", 0.0)
    monkeypatch.setattr("shared.function_updates.BUSY_SECONDS", 0.05)
    staging = deploy(monkeypatch, context, "staging", "2")
    set_deployment_status(staging["deployment_id"], "Succeeded")
    shift("staging", "2")
    UpdateInProgress(service_client("lambda", "rollback"), times=1000)

    with pytest.raises(errors.FunctionBusy, match="app-staging still has an update in progress"):
        rollback(context)
    # Nothing was left half done: running it again once Lambda is done restores staging.
    assert platform.alias("staging")["FunctionVersion"] == "2"


def corrupt_record(environment: str, value: Any) -> None:
    from shared.records import _key

    boto3.client("dynamodb").update_item(
        TableName=TABLE,
        Key=_key("c2", "run-1"),
        UpdateExpression="SET #environment = :value",
        ExpressionAttributeNames={"#environment": environment},
        ExpressionAttributeValues={":value": value},
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"M": {"new_version": {"S": "2"}}}, "has no published version in 'staging.previous_version' (found nothing)"),
        ({"M": {"previous_version": {"N": "1"}, "new_version": {"S": "2"}}}, "has no published version in 'staging.previous_version' (found Decimal '1')"),
        ({"M": {"previous_version": {"S": "$LATEST"}, "new_version": {"S": "2"}}}, "has no published version in 'staging.previous_version' (found str '$LATEST')"),
        ({"M": {"previous_version": {"S": "1"}, "new_version": {"S": "2"}, "deployment_id": {"N": "7"}}}, "has 'staging.deployment_id' Decimal '7', not a CodeDeploy deployment id"),
        ({"S": "deployed"}, "has 'staging' as a str, not a map"),
    ],
)
def test_a_record_with_a_missing_or_mistyped_field_says_what_is_wrong(platform: Platform, context: Any, monkeypatch: pytest.MonkeyPatch, value: dict[str, Any], problem: str) -> None:
    staging = deploy(monkeypatch, context, "staging", "2")
    set_deployment_status(staging["deployment_id"], "Succeeded")
    shift("staging", "2")
    corrupt_record("staging", value)

    with pytest.raises(errors.RollbackFailed) as failure:
        rollback(context)

    message = str(failure.value)
    assert message.startswith(f"staging: the deployment record (commit c2, execution run-1) {problem}, so the version to restore is unknown"), message
    assert "alias live of app-staging is on version 2" in message
    assert "production untouched" in message


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("rollback", "must be a JSON object"),
        ({"execution": EXECUTION}, "no 'commit_id'"),
        ({"commit_id": "c2"}, "no 'execution.arn'"),
        ({"commit_id": "c2", "execution": {"arn": "x"}}, "no 'execution.name'"),
        ({"commit_id": "c2", "execution": EXECUTION}, "no 'service'"),
        ({"commit_id": "c2", "execution": EXECUTION, "service": "app"}, "'service' must be an object, got a string"),
        ({"commit_id": "c2", "execution": EXECUTION, "service": {"alias": "live"}}, "no 'service.name'"),
    ],
)
def test_malformed_events_end_in_invalid_input(platform: Platform, context: Any, event: Any, message: str) -> None:
    with pytest.raises(errors.InvalidInput, match=message):
        load_handler("rollback").handler(event, context)
