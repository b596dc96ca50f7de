"""The Deploy action's output variables, as a later action of the Terraform-applied pipeline reads
them: a stage added after Deploy runs a probe function whose UserParameters reference
#{DeployVariables.ProductionVersion} and #{codepipeline.PipelineExecutionId}; it posts the version
it received, and the status GetPipelineExecution gives for that execution, as output variables."""

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from e2e.deployments import new_version, push
from local_aws.stack import LocalStack

PROBE = "variables-probe"
PROBE_SOURCE = """
import json
import boto3

def handler(event, context):
    job = event["CodePipeline.job"]
    received = json.loads(job["data"]["actionConfiguration"]["configuration"]["UserParameters"])
    pipelines = boto3.client("codepipeline")
    execution = pipelines.get_pipeline_execution(pipelineName=received["pipeline"], pipelineExecutionId=received["execution_id"])["pipelineExecution"]
    outputs = {"ProductionVersion": received["production_version"], "ExecutionStatus": execution["status"]}
    pipelines.put_job_success_result(jobId=job["id"], outputVariables=outputs)
"""
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["codepipeline:GetPipelineExecution", "codepipeline:PutJobSuccessResult"], "Resource": "*"}]}


@pytest.fixture
def probe_stage(stack: LocalStack) -> Iterator[None]:
    """The probe function, and a Probe stage after Deploy that invokes it; the pipeline's own
    definition is restored afterwards."""
    iam, functions, pipelines = boto3.client("iam"), boto3.client("lambda"), boto3.client("codepipeline")
    role = iam.create_role(RoleName=PROBE, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName=PROBE, PolicyName="post-job-results", PolicyDocument=json.dumps(POLICY))
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", PROBE_SOURCE)
    functions.create_function(FunctionName=PROBE, Runtime="python3.12", Role=role, Handler="handler.handler", Code={"ZipFile": code.getvalue()})
    original = pipelines.get_pipeline(name=stack.outputs["pipeline_name"])["pipeline"]
    user_parameters = {"production_version": "#{DeployVariables.ProductionVersion}", "pipeline": original["name"], "execution_id": "#{codepipeline.PipelineExecutionId}"}
    probe: dict[str, Any] = {
        "name": "ReadDeployVariables",
        "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
        "namespace": "ProbeVariables",
        "configuration": {"FunctionName": PROBE, "UserParameters": json.dumps(user_parameters)},
    }
    pipelines.update_pipeline(pipeline=original | {"stages": [*original["stages"], {"name": "Probe", "actions": [probe]}]})
    try:
        yield
    finally:
        pipelines.update_pipeline(pipeline=original)
        functions.delete_function(FunctionName=PROBE)
        iam.delete_role_policy(RoleName=PROBE, PolicyName="post-job-results")
        iam.delete_role(RoleName=PROBE)


def test_a_later_action_reads_the_production_version_the_deploy_action_output(stack: LocalStack, probe_stage: None, tmp_path: Path) -> None:
    outcome = push(stack, tmp_path, "vars0001", new_version("1.9.0"))

    assert outcome.execution["status"] == "SUCCEEDED", f"{outcome.execution.get('error')}: {outcome.execution.get('cause')}"
    deploy, probe = outcome.run.action("Deploy"), outcome.run.action("Probe")
    assert probe is not None and probe.status == "Succeeded", outcome.run.actions
    assert probe.output_variables["ProductionVersion"] == outcome.live_after["production"] != outcome.live_before["production"]
    assert deploy is not None and deploy.output_variables["ProductionVersion"] == outcome.live_after["production"]
    # The execution id the probe resolved is the push's execution, in progress while the probe ran.
    assert probe.output_variables["ExecutionStatus"] == "InProgress"
    assert stack.pipeline_execution(outcome.run.execution_id)["status"] == "Succeeded"
