"""The real DeploymentStateMachine, run by moto's Step Functions interpreter, invoking the real
handlers from the zips `make package` builds: a commit is promoted through both environments, or
stopped, or rolled back, and the aliases, the record and the execution's error say so."""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from aws_fixtures import app_zip
from local_aws.compat import LocalAws
from local_aws.platform import ALIAS, ARTIFACT_BUCKET, ROLE, LocalPlatform


@pytest.fixture
def local(step_zips: dict[str, bytes]) -> Iterator[tuple[LocalAws, LocalPlatform]]:
    from moto import mock_aws

    from shared import aws as shared_aws

    shared_aws.reset()
    patches = LocalAws()
    patches.install()
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            yield patches, LocalPlatform(app_code=app_zip("1"), step_zips=step_zips).create()
    finally:
        patches.uninstall()
        shared_aws.reset()


def deploy(platform: LocalPlatform, code: bytes, commit: str) -> dict:
    return platform.wait(platform.start(code, commit))


def notifications() -> list[tuple[str, str, dict[str, Any]]]:
    """Each published notification: its subject, its e-mail text and the notification itself."""
    from moto.sns.models import sns_backends

    (topic,) = sns_backends["123456789012"]["us-east-1"].topics.values()
    sent = []
    for _, message, subject, *_ in topic.sent_notifications:
        structure = json.loads(message)
        assert json.loads(structure["default"]) == json.loads(structure["https"]) and structure["sqs"] == structure["lambda"]
        sent.append((subject, structure["email"], json.loads(structure["lambda"])))
    return sent


def test_a_good_commit_reaches_production(local: tuple[LocalAws, LocalPlatform]) -> None:
    _, platform = local
    execution = deploy(platform, app_zip("2"), "good")

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert platform.live_versions() == {"staging": "2", "production": "2"}
    record = platform.record("good", "good-run")
    assert record["status"] == "SUCCEEDED" and record["production"]["previous_version"] == "1" and record["service"] == "app"
    entered = platform.states_entered(execution["executionArn"])
    assert entered[-1] == "DeploymentSucceeded" and "Rollback" not in entered
    started, (subject, message, notification) = notifications()
    assert started[0] == "app: deployment started" and started[2]["status"] == "started" and started[2]["input"]["commit_id"] == "good"
    assert subject == "app: deployment succeeded" and message.startswith("Service app: commit good is live. Staging runs version 2, production runs version 2.")
    assert notification == {
        "schema": "serverless-cd.notification/1",
        "kind": "deployment",
        "status": "succeeded",
        "title": subject,
        "text": message,
        "service": "app",
        "execution_arn": execution["executionArn"],
        "execution_name": "good-run",
        "input": json.loads(execution["input"]),
    }


def test_the_same_commit_twice_is_a_no_op(local: tuple[LocalAws, LocalPlatform]) -> None:
    _, platform = local
    deploy(platform, app_zip("2"), "first")
    again = deploy(platform, app_zip("2"), "again")

    assert again["status"] == "SUCCEEDED", again.get("cause")
    assert platform.live_versions() == {"staging": "2", "production": "2"}
    assert platform.record("again", "again-run")["production"]["new_version"] == "2"


def test_a_commit_with_a_secret_is_stopped_before_staging(local: tuple[LocalAws, LocalPlatform]) -> None:
    _, platform = local
    execution = deploy(platform, app_zip("2", extra={"settings.py": "KEY = 'AKIAABCDEFGHIJKLMNOP'\n"}), "leaky")

    assert execution["status"] == "FAILED" and execution["error"] == "ValidationFailed"
    assert "settings.py" in execution["cause"] and "AKIAABCDEFGHIJKLMNOP" not in execution["cause"]
    assert platform.live_versions() == {"staging": "1", "production": "1"}
    assert platform.record("leaky", "leaky-run")["status"] == "FAILED"


def test_failing_package_tests_deploy_nothing(local: tuple[LocalAws, LocalPlatform]) -> None:
    _, platform = local
    cases = {"cases": [{"name": "wants three", "event": {}, "expect": {"version": "3"}}]}
    execution = deploy(platform, app_zip("2", extra={"test_cases.json": json.dumps(cases)}), "untested")

    assert execution["status"] == "FAILED" and execution["error"] == "TestsFailed"
    assert "wants three" in execution["cause"]
    assert platform.live_versions() == {"staging": "1", "production": "1"}


def test_a_failed_staging_deployment_is_rolled_back(local: tuple[LocalAws, LocalPlatform]) -> None:
    patches, platform = local
    patches.failing_deployment_groups.add("staging")
    execution = deploy(platform, app_zip("2"), "unlucky")

    assert execution["status"] == "FAILED" and execution["error"] == "StagingDeploymentFailed"
    assert "to staging failed" in execution["cause"]
    assert platform.live_versions() == {"staging": "1", "production": "1"}
    assert "Rollback" in platform.states_entered(execution["executionArn"])


def test_a_failed_production_deployment_rolls_back_both_environments(local: tuple[LocalAws, LocalPlatform]) -> None:
    patches, platform = local
    patches.failing_deployment_groups.add("production")
    execution = deploy(platform, app_zip("2"), "halfway")

    assert execution["status"] == "FAILED" and execution["error"] == "ProductionDeploymentFailed"
    assert platform.live_versions() == {"staging": "1", "production": "1"}
    record = platform.record("halfway", "halfway-run")
    assert record["staging"]["rolled_back_to"] == "1" and record["status"] == "FAILED"
    assert record["failure_error"] == "ProductionDeploymentFailed" and record["service"] == "app"
    _, (subject, message, notification) = notifications()
    assert subject == "app: deployment failed" and message.startswith("Service app: deployment halfway-run failed with ProductionDeploymentFailed: ")
    assert notification["status"] == "failed" and notification["error"] == "ProductionDeploymentFailed" and notification["cause"] == execution["cause"]


def test_bad_input_ends_in_a_named_error(local: tuple[LocalAws, LocalPlatform]) -> None:
    _, platform = local
    execution = platform.wait(platform.start_raw({"artifact": 3, "service": platform.service}, "bad-input"))

    assert execution["status"] == "FAILED" and execution["error"] == "ValidationFailed"
    assert "commit_id" in execution["cause"]


def test_an_input_without_a_service_fails_before_any_handler_runs(local: tuple[LocalAws, LocalPlatform]) -> None:
    _, platform = local
    execution = platform.wait(platform.start_raw({"commit_id": "c1", "artifact": {"bucket": ARTIFACT_BUCKET, "key": "a.zip"}}, "no-service"))

    assert execution["status"] == "FAILED" and execution["error"] == "ValidationFailed"
    assert "the execution input has no 'service.name'" in execution["cause"]
    assert "ValidateCode" not in platform.states_entered(execution["executionArn"])
    assert platform.record("c1", "no-service")["status"] == "FAILED"
    ((subject, message, notification),) = notifications()
    assert subject == "(none): deployment failed" and message.startswith("Service (none): deployment no-service failed with ValidationFailed: ")
    assert notification["service"] == "(none)" and notification["input"] == {"commit_id": "c1", "artifact": {"bucket": ARTIFACT_BUCKET, "key": "a.zip"}}


def create_victim() -> dict[str, Any]:
    """A function no service registers, with a `live` alias on version 1: what a crafted input aims at."""
    functions = boto3.client("lambda")
    functions.create_function(FunctionName="victim-fn", Runtime="python3.12", Role=ROLE, Handler="app.handler", Code={"ZipFile": app_zip("victim")}, Publish=True)
    functions.create_alias(FunctionName="victim-fn", Name=ALIAS, FunctionVersion="1")
    return victim_state()


def victim_state() -> dict[str, Any]:
    functions = boto3.client("lambda")
    versions = [version["Version"] for version in functions.list_versions_by_function(FunctionName="victim-fn")["Versions"]]
    configuration = functions.get_function_configuration(FunctionName="victim-fn")
    return {"versions": versions, "alias": functions.get_alias(FunctionName="victim-fn", Name=ALIAS)["FunctionVersion"], "code": configuration["CodeSha256"]}


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_an_execution_started_with_a_crafted_target_is_refused_and_changes_nothing(local: tuple[LocalAws, LocalPlatform], environment: str) -> None:
    """Whoever may call states:StartExecution cannot point the platform at a function its services do not register."""
    _, platform = local
    before = create_victim()
    crafted = json.loads(json.dumps(platform.service))
    crafted["environments"][environment]["function_name"] = "victim-fn"

    execution = platform.wait(platform.start(app_zip("evil"), "crafted", extra_input={"service": crafted}))

    assert execution["status"] == "FAILED" and execution["error"] == "TargetNotAllowed", execution.get("cause")
    assert f"service app: 'environments.{environment}.function_name' is 'victim-fn' in the execution input, but 'app-{environment}' is registered" in execution["cause"]
    assert victim_state() == before == {"versions": ["$LATEST", "1"], "alias": "1", "code": before["code"]}
    assert platform.live_versions() == {"staging": "1", "production": "1"}
    entered = platform.states_entered(execution["executionArn"])
    assert "DeployStaging" not in entered and "Rollback" not in entered and entered[-1] == "TargetNotAllowed"
    record = platform.record("crafted", "crafted-run")
    assert record["status"] == "FAILED" and record["failure_error"] == "TargetNotAllowed" and record["service"] == "app"


def test_an_execution_for_a_service_that_is_not_registered_is_refused(local: tuple[LocalAws, LocalPlatform]) -> None:
    _, platform = local
    unknown = platform.service | {"name": "billing"}

    execution = platform.wait(platform.start(app_zip("2"), "unknown", extra_input={"service": unknown}))

    assert execution["status"] == "FAILED" and execution["error"] == "UnknownService"
    assert "service 'billing' is not registered with the platform: there is no SSM parameter /local/services/billing" in execution["cause"]
    assert platform.live_versions() == {"staging": "1", "production": "1"}
