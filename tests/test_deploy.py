"""The staging and production handlers against moto: the alias, the AppSpec, the record, the errors."""

import io
import json
import os
import re
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from aws_fixtures import ALIAS, APPLICATION, FUNCTIONS, RELEASE_BUCKET, TABLE, Platform, Refusals, UpdateInProgress, app_zip, lambda_code_sha256, service_client, set_deployment_status
from conftest import load_handler
from shared import errors
from zip_craft import DAMAGE, damaged, deflated

EXECUTION = {"arn": "arn:aws:states:us-east-1:123456789012:execution:deploy:run-1", "name": "run-1"}


@pytest.fixture
def platform(aws: None, monkeypatch: pytest.MonkeyPatch) -> Platform:
    created = Platform().create()
    created.deploy_environment(monkeypatch, "staging")
    return created


def deploy(platform: Platform, context: Any, code: bytes, commit: str = "c0ffee1", environment: str = "staging") -> dict[str, Any]:
    event = {"action": "deploy", "commit_id": commit, "artifact": platform.upload_artifact(code), "execution": EXECUTION, "service": platform.service}
    return load_handler(environment).handler(event, context)  # type: ignore[no-any-return]


def check(platform: Platform, context: Any, deployment: dict[str, Any], environment: str = "staging") -> dict[str, Any]:
    return load_handler(environment).handler({"action": "check", "deployment": deployment, "service": platform.service}, context)  # type: ignore[no-any-return]


def appspec_of(deployment_id: str) -> dict[str, Any]:
    revision = boto3.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]["revision"]
    return json.loads(revision["appSpecContent"]["content"])  # type: ignore[no-any-return]


def test_deploy_publishes_a_version_and_asks_codedeploy_to_shift_live(platform: Platform, context: Any) -> None:
    code = app_zip("2")
    result = deploy(platform, context, code)

    assert result["previous_version"] == "1" and result["new_version"] == "2" and result["no_op"] is False
    properties = appspec_of(result["deployment_id"])["Resources"][0][FUNCTIONS["staging"]]["Properties"]
    assert properties == {"Name": FUNCTIONS["staging"], "Alias": ALIAS, "CurrentVersion": "1", "TargetVersion": "2"}
    published = boto3.client("lambda").get_function(FunctionName=FUNCTIONS["staging"], Qualifier="2")["Configuration"]
    assert published["CodeSha256"] == lambda_code_sha256(code) == result["code_sha256"]
    # CodeDeploy moves the alias, not the handler.
    assert platform.alias("staging")["FunctionVersion"] == "1"


def test_deploy_keeps_the_promoted_code_keyed_by_service_environment_and_commit(platform: Platform, context: Any) -> None:
    code = app_zip("2")
    result = deploy(platform, context, code, commit="abc123")

    stored = boto3.client("s3").get_object(Bucket=RELEASE_BUCKET, Key="app/staging/abc123.zip")
    assert stored["Body"].read() == code
    assert result["release"] == {"bucket": RELEASE_BUCKET, "key": "app/staging/abc123.zip"}


def test_deploy_records_versions_before_and_after(platform: Platform, context: Any) -> None:
    result = deploy(platform, context, app_zip("2"), commit="abc123")

    record = platform.record("abc123", "run-1")
    assert record is not None
    assert record["status"] == "IN_PROGRESS" and record["execution_arn"] == EXECUTION["arn"] and record["service"] == "app"
    assert record["staging"]["previous_version"] == "1" and record["staging"]["new_version"] == "2"
    assert record["staging"]["release_key"] == "app/staging/abc123.zip"
    assert record["staging"]["deployment_id"] == result["deployment_id"]


def test_deploying_the_code_live_already_runs_is_a_no_op(platform: Platform, context: Any) -> None:
    result = deploy(platform, context, app_zip("1"))

    assert result["no_op"] is True and result["deployment_id"] is None
    assert result["previous_version"] == result["new_version"] == "1" and result["wait_seconds"] == 0
    assert boto3.client("codedeploy").list_deployments(applicationName=APPLICATION, deploymentGroupName="staging")["deployments"] == []
    assert check(platform, context, result) == {"done": True, "status": "NoOp"}


def test_a_rebuild_of_the_code_live_runs_is_a_no_op(platform: Platform, context: Any) -> None:
    first = deploy(platform, context, app_zip("2"), commit="abc123")
    set_deployment_status(first["deployment_id"], "Succeeded")
    shift_alias("staging", first["new_version"])
    # The same files zipped again by a second build: other timestamps, other zip bytes.
    rebuilt = rezip(app_zip("2"), date_time=(2026, 11, 23, 12, 0, 0))
    assert lambda_code_sha256(rebuilt) != first["code_sha256"]

    again = deploy(platform, context, rebuilt, commit="abc123")

    assert again["no_op"] is True and again["new_version"] == first["new_version"]
    described = boto3.client("lambda").get_function(FunctionName=FUNCTIONS["staging"], Qualifier=first["new_version"])["Configuration"]
    assert described["Description"].startswith("content ") and described["Description"].endswith(" commit abc123")


def test_other_files_are_a_new_version_after_a_content_digest_was_published(platform: Platform, context: Any) -> None:
    first = deploy(platform, context, app_zip("2"), commit="abc123")
    set_deployment_status(first["deployment_id"], "Succeeded")
    shift_alias("staging", first["new_version"])

    second = deploy(platform, context, app_zip("3"), commit="def456")

    assert second["no_op"] is False and second["new_version"] != first["new_version"]


def rezip(code: bytes, date_time: tuple[int, int, int, int, int, int]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(code)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            target.writestr(zipfile.ZipInfo(entry.filename, date_time=date_time), source.read(entry))
    return out.getvalue()


def shift_alias(environment: str, version: str) -> None:
    boto3.client("lambda").update_alias(FunctionName=FUNCTIONS[environment], Name=ALIAS, FunctionVersion=version)


def test_wait_time_is_the_canary_interval_of_the_production_group(aws: None, monkeypatch: pytest.MonkeyPatch, context: Any) -> None:
    platform = Platform().create()
    platform.deploy_environment(monkeypatch, "production")
    result = deploy(platform, context, app_zip("2"), environment="production")

    assert result["wait_seconds"] == 300
    deadline = datetime.strptime(result["deadline"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    # The canary's 300 s plus DEPLOYMENT_TIMEOUT_SECONDS (60 in the local platform).
    assert timedelta(seconds=350) < deadline - datetime.now(UTC) <= timedelta(seconds=360)


@pytest.mark.parametrize(
    ("routing", "seconds"),
    [
        ({"type": "AllAtOnce"}, 0),
        ({"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 15}}, 900),
        ({"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 10, "linearInterval": 1}}, 540),
        ({"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 30, "linearInterval": 2}}, 360),
    ],
)
def test_shift_time_follows_the_deployment_config(routing: dict[str, Any], seconds: int) -> None:
    from shared.deploy import shift_seconds

    assert shift_seconds(routing) == seconds


def test_busy_deployment_group_is_retryable_not_a_failure(platform: Platform, context: Any) -> None:
    # moto allows any number of active deployments per group; AWS allows one and says so.

    with Stubber(service_client("codedeploy", "staging")) as codedeploy:
        codedeploy.add_client_error("create_deployment", "DeploymentLimitExceededException", "The deployment group has an active deployment")
        with pytest.raises(errors.DeploymentInProgress, match="staging already has a deployment in progress"):
            deploy(platform, context, app_zip("3"))


@pytest.fixture
def quick_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.function_updates.POLL_SECONDS", 0.0)


CONFLICT = "The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:app-staging"


def test_a_function_with_an_update_in_progress_is_waited_for_then_deployed(platform: Platform, context: Any, quick_waits: None) -> None:

    busy = UpdateInProgress(service_client("lambda", "staging"), times=3)
    refused = Refusals(service_client("lambda", "staging"), "UpdateFunctionCode", "ResourceConflictException", times=2, message=CONFLICT)

    result = deploy(platform, context, app_zip("2"))

    assert busy.remaining == 0 and refused.refused == 2
    assert result["new_version"] == "2" and result["deployment_id"]


def test_a_function_still_pending_is_waited_for(platform: Platform, context: Any, quick_waits: None) -> None:

    pending = UpdateInProgress(service_client("lambda", "staging"), times=2, state="Pending", last_update_status="Successful")

    result = deploy(platform, context, app_zip("2"))

    assert pending.remaining == 0 and result["new_version"] == "2"


def test_a_publish_that_conflicts_is_retried(platform: Platform, context: Any, quick_waits: None) -> None:

    refused = Refusals(service_client("lambda", "staging"), "PublishVersion", "ResourceConflictException", times=2, message=CONFLICT)

    result = deploy(platform, context, app_zip("2"))

    assert refused.refused == 2 and result["new_version"] == "2"


def test_a_conflict_that_persists_is_function_busy_which_the_state_machine_retries(platform: Platform, context: Any, quick_waits: None, monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setattr("shared.function_updates.BUSY_SECONDS", 0.05)
    Refusals(service_client("lambda", "staging"), "UpdateFunctionCode", "ResourceConflictException", times=1000, message=CONFLICT)

    with pytest.raises(errors.FunctionBusy, match="UpdateFunctionCode of app-staging kept conflicting with another change"):
        deploy(platform, context, app_zip("2"))
    assert platform.alias("staging")["FunctionVersion"] == "1"


def mark_stopped(commit: str = "c0ffee1") -> None:
    """What stop_deployment writes before it rolls back."""
    from shared.events import Execution
    from shared.records import record_stopped

    record_stopped(TABLE, commit, Execution(EXECUTION["arn"], EXECUTION["name"]), "2026-12-01T10:00:00Z", "pipeline sls-cd-pipeline execution x was stopped", "app")


def test_a_deployment_that_was_stopped_deploys_nothing(platform: Platform, context: Any) -> None:
    mark_stopped()

    with pytest.raises(errors.DeploymentStopped, match="deployment run-1 is no longer in progress"):
        deploy(platform, context, app_zip("2"))
    assert boto3.client("codedeploy").list_deployments(applicationName=APPLICATION, deploymentGroupName="staging")["deployments"] == []
    assert platform.record("c0ffee1", "run-1")["status"] == "STOPPED"


def test_a_stop_while_the_deployment_is_created_stops_that_deployment(platform: Platform, context: Any) -> None:

    codedeploy = service_client("codedeploy", "staging")
    stopped: list[dict[str, Any]] = []
    codedeploy.meta.events.register("after-call.codedeploy.CreateDeployment", lambda **_: mark_stopped())
    codedeploy.meta.events.register("before-parameter-build.codedeploy.StopDeployment", lambda params, **_: stopped.append(dict(params)))
    # moto has no StopDeployment: answered here.
    codedeploy.meta.events.register(
        "before-call.codedeploy.StopDeployment", lambda **_: (AWSResponse("", 200, {}, None), {"status": "Pending", "ResponseMetadata": {"HTTPStatusCode": 200}})
    )

    with pytest.raises(errors.DeploymentStopped):
        deploy(platform, context, app_zip("2"))

    (deployment_id,) = codedeploy.list_deployments(applicationName=APPLICATION, deploymentGroupName="staging")["deployments"]
    assert stopped == [{"deploymentId": deployment_id, "autoRollbackEnabled": True}]


def test_check_reports_progress_then_success(platform: Platform, context: Any) -> None:
    result = deploy(platform, context, app_zip("2"))

    assert check(platform, context, result) == {"done": False, "status": "Created"}
    set_deployment_status(result["deployment_id"], "Succeeded")
    assert check(platform, context, result) == {"done": True, "status": "Succeeded"}


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_check_raises_when_codedeploy_gives_up(platform: Platform, context: Any, status: str) -> None:
    result = deploy(platform, context, app_zip("2"))
    set_deployment_status(result["deployment_id"], status)

    with pytest.raises(errors.DeploymentFailed, match=f"{result['deployment_id']} to staging {status.lower()}"):
        check(platform, context, result)


def test_check_raises_timed_out_past_the_deadline(platform: Platform, context: Any) -> None:
    result = deploy(platform, context, app_zip("2"))
    late = result | {"deadline": "2000-01-01T00:00:00Z"}

    with pytest.raises(errors.DeploymentTimedOut, match=f"{result['deployment_id']} to staging is still Created"):
        check(platform, context, late)


def test_alias_on_latest_is_refused_with_a_fix(platform: Platform, context: Any) -> None:
    boto3.client("lambda").update_alias(FunctionName=FUNCTIONS["staging"], Name=ALIAS, FunctionVersion="$LATEST")

    with pytest.raises(errors.CodeUpdateFailed, match=r"points to \$LATEST"):
        deploy(platform, context, app_zip("2"))


def test_missing_artifact_is_named(platform: Platform, context: Any) -> None:
    event = {"action": "deploy", "commit_id": "c1", "artifact": {"bucket": "artifacts", "key": "missing.zip"}, "execution": EXECUTION, "service": platform.service}

    with pytest.raises(errors.ArtifactUnavailable, match="s3://artifacts/missing.zip"):
        load_handler("staging").handler(event, context)
    assert platform.alias("staging")["FunctionVersion"] == "1"


def test_missing_configuration_names_the_variable(platform: Platform, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELEASE_BUCKET")

    with pytest.raises(errors.ConfigurationError, match="RELEASE_BUCKET"):
        deploy(platform, context, app_zip("2"))


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (None, "must be a JSON object, got null"),
        ([], "must be a JSON object, got an array"),
        ({}, "no 'action'"),
        ({"action": "destroy"}, "'action' must be 'deploy', 'check' or 'describe'"),
        ({"action": 7}, "'action' must be a string"),
        ({"action": "deploy"}, "no 'commit_id'"),
        ({"action": "deploy", "commit_id": "a b"}, "is not a commit id"),
        ({"action": "deploy", "commit_id": "c1", "artifact": "s3://x/y"}, "artifact must be a JSON object"),
        ({"action": "deploy", "commit_id": "c1", "artifact": {"bucket": "bkt"}}, "no 'artifact.key'"),
        ({"action": "deploy", "commit_id": "c1", "artifact": {"bucket": "bkt", "key": ""}}, "'artifact.key' must not be empty"),
        ({"action": "deploy", "commit_id": "c1", "artifact": {"bucket": "bkt", "key": "k"}}, "no 'execution.arn'"),
        ({"action": "check"}, "no 'deployment'"),
        ({"action": "check", "deployment": {"deployment_id": "d-1"}}, "no 'deadline'"),
        ({"action": "check", "deployment": {"deployment_id": "d-1", "deadline": "tomorrow"}}, "is not a UTC timestamp"),
    ],
)
def test_malformed_events_end_in_invalid_input(platform: Platform, context: Any, event: Any, message: str) -> None:
    if isinstance(event, dict) and event.get("action") in ("deploy", "check"):
        event = event | {"service": platform.service}
    with pytest.raises(errors.InvalidInput, match=message):
        load_handler("staging").handler(event, context)


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_an_entry_that_cannot_be_unpacked_is_an_invalid_artifact_and_nothing_is_deployed(platform: Platform, context: Any, kind: str) -> None:
    code = damaged(deflated(app_zip("2", extra={"lib/util.py": "WORDS = ['hello'] * 100\n"})), "lib/util.py", kind)

    with pytest.raises(errors.InvalidArtifact, match=re.escape("the artifact's entry 'lib/util.py' ") + ".*" + re.escape(DAMAGE[kind])):
        deploy(platform, context, code)
    assert platform.alias("staging")["FunctionVersion"] == "1"
    assert boto3.client("s3").list_objects_v2(Bucket=RELEASE_BUCKET).get("KeyCount") == 0


def test_a_package_over_50_mb_zipped_is_deployed(platform: Platform, context: Any) -> None:
    # Lambda's 50 MB limit is for zips uploaded directly; functions are updated from the release copy in S3.
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    code = app_zip("2", extra={"models/weights.bin": os.urandom(51 * 1024 * 1024)})  # type: ignore[dict-item]
    # Straight into moto's store: uploading tens of MB through the S3 API takes seconds.
    s3_backends[DEFAULT_ACCOUNT_ID]["global"].put_object("artifacts", "big.zip", code)
    event = {"action": "deploy", "commit_id": "c0ffee1", "artifact": {"bucket": "artifacts", "key": "big.zip"}, "execution": EXECUTION, "service": platform.service}

    result = load_handler("staging").handler(event, context)

    assert result["new_version"] == "2" and result["no_op"] is False
    published = boto3.client("lambda").get_function(FunctionName=FUNCTIONS["staging"], Qualifier="2")["Configuration"]
    assert published["CodeSha256"] == lambda_code_sha256(code) == result["code_sha256"]
