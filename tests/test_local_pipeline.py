"""A commit pushed through a pipeline shaped like main.tf's (S3 source, CodeBuild running
app/buildspec.yml, the waiter as a Lambda Invoke action), then through the state machine."""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from aws_fixtures import app_zip
from local_aws.codedeploy import restore
from local_aws.codepipeline import JobResults, push_commit
from local_aws.compat import LocalAws
from local_aws.platform import ARTIFACT_BUCKET, ROLE, LocalPlatform
from tools import package

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = "app-pipeline"


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[LocalPlatform, JobResults]]:
    from moto import mock_aws

    from shared import aws as shared_aws

    shared_aws.client.cache_clear()
    steps = {}
    for step in ("validate_code", "run_tests", "staging", "production", "rollback", "waiter"):
        package.write_zip(tmp_path / f"{step}.zip", package.handler_entries(step))
        steps[step] = (tmp_path / f"{step}.zip").read_bytes()
    patches, results = LocalAws(), JobResults()
    patches.install()
    job_patches = results.patch_moto()
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            platform = LocalPlatform(app_code=app_zip("1"), step_zips=steps).create()
            create_pipeline(platform, steps["waiter"])
            yield platform, results
    finally:
        restore(job_patches)
        patches.uninstall()
        shared_aws.client.cache_clear()


def create_pipeline(platform: LocalPlatform, waiter_zip: bytes) -> None:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    pipeline_role = boto3.client("iam").create_role(RoleName="pipeline", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    platform._create_function("waiter", "handler.handler", waiter_zip, {"STATE_MACHINE_ARN": platform.state_machine_arn, "POWERTOOLS_SERVICE_NAME": "waiter"})
    boto3.client("codebuild").create_project(
        name="build",
        serviceRole=ROLE,
        environment={"type": "LINUX_CONTAINER", "image": "local", "computeType": "BUILD_GENERAL1_SMALL"},
        source={"type": "CODEPIPELINE", "location": "pipeline", "buildspec": "app/buildspec.yml"},
        artifacts={"type": "CODEPIPELINE", "location": "pipeline"},
    )
    boto3.client("s3").create_bucket(Bucket="source")
    user_parameters = json.dumps({"commit_id": "#{SourceVariables.VersionId}", "pipeline_execution_id": "#{codepipeline.PipelineExecutionId}", "pipeline_name": PIPELINE})
    action = {"owner": "AWS", "version": "1"}
    boto3.client("codepipeline").create_pipeline(
        pipeline={
            "name": PIPELINE,
            "roleArn": pipeline_role,
            "artifactStore": {"type": "S3", "location": ARTIFACT_BUCKET},
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": action | {"category": "Source", "provider": "S3"},
                            "namespace": "SourceVariables",
                            "outputArtifacts": [{"name": "SourceOutput"}],
                            "configuration": {"S3Bucket": "source", "S3ObjectKey": "source.zip"},
                        }
                    ],
                },
                {
                    "name": "Build",
                    "actions": [
                        {
                            "name": "Build",
                            "actionTypeId": action | {"category": "Build", "provider": "CodeBuild"},
                            "inputArtifacts": [{"name": "SourceOutput"}],
                            "outputArtifacts": [{"name": "BuildOutput"}],
                            "configuration": {"ProjectName": "build"},
                        }
                    ],
                },
                {
                    "name": "Deploy",
                    "actions": [
                        {
                            "name": "DeploymentStateMachine",
                            "actionTypeId": action | {"category": "Invoke", "provider": "Lambda"},
                            "inputArtifacts": [{"name": "BuildOutput"}],
                            "configuration": {"FunctionName": "waiter", "UserParameters": user_parameters},
                        }
                    ],
                },
            ],
        }
    )


def repository_with(tmp_path: Path, version: str) -> Path:
    source = tmp_path / f"repository-{version}"
    shutil.copytree(ROOT / "app", source / "app", ignore=shutil.ignore_patterns("__pycache__"))
    app = source / "app" / "src" / "app.py"
    app.write_text(app.read_text().replace('VERSION = "1.0.0"', f'VERSION = "{version}"'))
    return source


def test_a_pushed_commit_is_built_and_deployed_to_production(pipeline: tuple[LocalPlatform, JobResults], tmp_path: Path) -> None:
    platform, results = pipeline
    run = push_commit(PIPELINE, repository_with(tmp_path, "1.1.0"), "c0ffee1", results, continuation_interval_seconds=0.05)

    assert run.status == "Succeeded", [(action.action, action.summary) for action in run.actions]
    deploy = run.actions[-1]
    assert deploy.output_variables["ProductionVersion"] == "2" and "succeeded" in deploy.summary
    assert platform.live_versions() == {"staging": "2", "production": "2"}
    answer = boto3.client("lambda").invoke(FunctionName="app-production:live", Payload=b"{}")
    assert json.loads(json.loads(answer["Payload"].read())["body"])["version"] == "1.1.0"


def test_a_failing_unit_test_stops_the_pipeline_in_build(pipeline: tuple[LocalPlatform, JobResults], tmp_path: Path) -> None:
    platform, results = pipeline
    source = repository_with(tmp_path, "1.1.0")
    (source / "app" / "tests" / "test_broken.py").write_text("import unittest\n\nclass Broken(unittest.TestCase):\n    def test_fails(self):\n        self.fail('broken on purpose')\n")
    run = push_commit(PIPELINE, source, "b0rken1", results)

    assert run.status == "Failed" and run.actions[-1].action == "Build"
    assert "broken on purpose" in run.actions[-1].summary
    assert platform.live_versions() == {"staging": "1", "production": "1"}


def test_a_failed_deployment_fails_the_deploy_action_with_the_error(pipeline: tuple[LocalPlatform, JobResults], tmp_path: Path) -> None:
    platform, results = pipeline
    source = repository_with(tmp_path, "1.1.0")
    (source / "app" / "src" / "settings.py").write_text("KEY = 'AKIAABCDEFGHIJKLMNOP'\n")
    run = push_commit(PIPELINE, source, "leaky01", results, continuation_interval_seconds=0.05)

    assert run.status == "Failed" and run.actions[-1].action == "DeploymentStateMachine"
    assert run.actions[-1].summary.startswith("ValidationFailed: ") and "settings.py" in run.actions[-1].summary
    assert platform.live_versions() == {"staging": "1", "production": "1"}
