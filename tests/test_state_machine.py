"""The real DeploymentStateMachine, run by moto's Step Functions interpreter, invoking the real
handlers from the zips `make package` builds: a commit is promoted through both environments, or
stopped, or rolled back, and the aliases, the record and the execution's error say so."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from aws_fixtures import app_zip
from local_aws.compat import LocalAws
from local_aws.platform import STEPS, LocalPlatform
from tools import package


@pytest.fixture(scope="module")
def step_zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder: Path = tmp_path_factory.mktemp("build")
    for step in STEPS:
        package.write_zip(folder / f"{step}.zip", package.handler_entries(step))
    return {step: (folder / f"{step}.zip").read_bytes() for step in STEPS}


@pytest.fixture
def local(step_zips: dict[str, bytes]) -> Iterator[tuple[LocalAws, LocalPlatform]]:
    from moto import mock_aws

    from shared import aws as shared_aws

    shared_aws.client.cache_clear()
    patches = LocalAws()
    patches.install()
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            yield patches, LocalPlatform(app_code=app_zip("1"), step_zips=step_zips).create()
    finally:
        patches.uninstall()
        shared_aws.client.cache_clear()


def deploy(platform: LocalPlatform, code: bytes, commit: str) -> dict:
    return platform.wait(platform.start(code, commit))


def test_a_good_commit_reaches_production(local: tuple[LocalAws, LocalPlatform]) -> None:
    _, platform = local
    execution = deploy(platform, app_zip("2"), "good")

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert platform.live_versions() == {"staging": "2", "production": "2"}
    record = platform.record("good", "good-run")
    assert record["status"] == "SUCCEEDED" and record["production"]["previous_version"] == "1"
    entered = platform.states_entered(execution["executionArn"])
    assert entered[-1] == "DeploymentSucceeded" and "Rollback" not in entered


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
    assert record["failure_error"] == "ProductionDeploymentFailed"


def test_bad_input_ends_in_a_named_error(local: tuple[LocalAws, LocalPlatform]) -> None:
    _, platform = local
    execution = platform.wait(platform.start_raw({"artifact": 3}, "bad-input"))

    assert execution["status"] == "FAILED" and execution["error"] == "ValidationFailed"
    assert "commit_id" in execution["cause"]
