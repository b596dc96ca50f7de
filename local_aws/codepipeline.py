"""Pushing a commit through the pipeline that Terraform defined, read back from the local AWS.

moto stores pipelines but runs nothing. `push_commit` runs the stages the pipeline declares, the way
CodePipeline runs them:
- Source: the commit's files, zipped, become the source output artifact in the artifact bucket, and
  the action's namespace gets CommitId (or VersionId for S3);
- Build (CodeBuild): the project's buildspec runs locally, phase by phase, in a copy of the source;
  the files it names under `artifacts` become the build output artifact;
- Invoke (Lambda): the function is invoked with a CodePipeline job event; a success with a
  continuation token invokes it again with that token (as a new job), until it posts a final
  success or a failure.
A pipeline in QUEUED execution mode (V2) runs each stage for one execution at a time: a commit
pushed while another is in a stage waits until that stage is free. Other execution modes
(SUPERSEDED, PARALLEL) are run as PARALLEL.
Gap: moto has no PutJobSuccessResult / PutJobFailureResult; `JobResults.patch_moto` adds both.
"""

import contextlib
import io
import json
import os
import re
import subprocess
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml

VARIABLE = re.compile(r"#\{([A-Za-z0-9_@-]+)\.([A-Za-z0-9_@-]+)\}")
_stage_locks: dict[tuple[str, str], threading.Lock] = {}
_stage_locks_guard = threading.Lock()


def stage_guard(pipeline: dict[str, Any], stage: str) -> contextlib.AbstractContextManager[Any]:
    """What an execution holds while it runs in a stage: the stage's lock in a QUEUED pipeline."""
    if pipeline.get("executionMode") != "QUEUED":
        return contextlib.nullcontext()
    with _stage_locks_guard:
        return _stage_locks.setdefault((pipeline["name"], stage), threading.Lock())


@dataclass
class ActionRun:
    stage: str
    action: str
    status: str  # Succeeded | Failed
    summary: str
    seconds: float
    output_variables: dict[str, str] = field(default_factory=dict)
    external_execution_id: str | None = None  # what the action ran, e.g. a state machine execution


@dataclass
class PipelineRun:
    pipeline: str
    execution_id: str
    commit_id: str
    actions: list[ActionRun] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "Failed" if any(action.status == "Failed" for action in self.actions) else "Succeeded"

    def action(self, stage: str) -> ActionRun | None:
        """The last action run in `stage`, or None if the run did not reach it."""
        return next((action for action in reversed(self.actions) if action.stage == stage), None)


class JobResults:
    """What Lambda actions posted about their jobs."""

    def __init__(self) -> None:
        self.by_job: dict[str, dict[str, Any]] = {}

    def patch_moto(self) -> list[tuple[Any, str, Any]]:
        """Gap: moto has no PutJobSuccessResult / PutJobFailureResult. AWS records the result of the
        job; a success with a continuationToken makes CodePipeline invoke the action again."""
        from moto.codepipeline.responses import CodePipelineResponse

        results = self

        def put_job_success_result(response: Any) -> str:
            body = json.loads(response.body)
            results.by_job[body["jobId"]] = {"result": "success"} | body
            return "{}"

        def put_job_failure_result(response: Any) -> str:
            body = json.loads(response.body)
            results.by_job[body["jobId"]] = {"result": "failure"} | body
            return "{}"

        restore = [(CodePipelineResponse, name, getattr(CodePipelineResponse, name, None)) for name in ("put_job_success_result", "put_job_failure_result")]
        CodePipelineResponse.put_job_success_result = put_job_success_result  # type: ignore[attr-defined]
        CodePipelineResponse.put_job_failure_result = put_job_failure_result  # type: ignore[attr-defined]
        return restore


def push_commit(
    pipeline_name: str,
    source: Path,
    commit_id: str,
    results: JobResults,
    continuation_interval_seconds: float = 1.0,
    max_invocations: int = 600,
) -> PipelineRun:
    """Run every stage of the pipeline for the files in `source` as commit `commit_id`."""
    pipeline = boto3.client("codepipeline").get_pipeline(name=pipeline_name)["pipeline"]
    bucket = pipeline["artifactStore"]["location"]
    run = PipelineRun(pipeline_name, str(uuid.uuid4()), commit_id)
    variables = {"codepipeline": {"PipelineExecutionId": run.execution_id}}
    artifacts: dict[str, tuple[str, str]] = {}
    for stage in pipeline["stages"]:
        with stage_guard(pipeline, stage["name"]):
            for action in stage["actions"]:
                started = time.monotonic()
                kind = action["actionTypeId"]["category"]
                external_id = None
                try:
                    if kind == "Source":
                        summary, outputs = run_source(action, source, commit_id, bucket, pipeline_name, artifacts)
                    elif kind == "Build":
                        summary, outputs = run_build(action, bucket, pipeline_name, artifacts)
                    elif kind == "Invoke":
                        summary, outputs, external_id = run_invoke(action, variables, artifacts, results, continuation_interval_seconds, max_invocations)
                    else:
                        raise ActionFailed(f"the local pipeline cannot run {kind} actions")
                except ActionFailed as failure:
                    seconds = time.monotonic() - started
                    run.actions.append(ActionRun(stage["name"], action["name"], "Failed", str(failure), seconds, external_execution_id=failure.external_id))
                    return run
                if action.get("namespace"):
                    variables[action["namespace"]] = outputs
                seconds = time.monotonic() - started
                run.actions.append(ActionRun(stage["name"], action["name"], "Succeeded", summary, seconds, outputs, external_id))
    return run


class ActionFailed(Exception):
    """The action failed; the message is what CodePipeline would show."""

    def __init__(self, message: str, external_id: str | None = None) -> None:
        super().__init__(message)
        self.external_id = external_id


def upload_artifact(bucket: str, pipeline_name: str, artifact_name: str, data: bytes) -> tuple[str, str]:
    # CodePipeline's own key layout: <pipeline, 20 chars>/<artifact, 10 chars>/<random>.
    key = f"{pipeline_name[:20]}/{artifact_name[:10]}/{uuid.uuid4().hex[:7]}"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=data)
    return bucket, key


def zip_folder(folder: Path) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and ".git" not in path.parts:
                archive.write(path, path.relative_to(folder).as_posix())
    return out.getvalue()


def run_source(action: dict[str, Any], source: Path, commit_id: str, bucket: str, pipeline_name: str, artifacts: dict[str, tuple[str, str]]) -> tuple[str, dict[str, str]]:
    name = action["outputArtifacts"][0]["name"]
    artifacts[name] = upload_artifact(bucket, pipeline_name, name, zip_folder(source))
    provider = action["actionTypeId"]["provider"]
    outputs = {"VersionId": commit_id} if provider == "S3" else {"CommitId": commit_id, "BranchName": action["configuration"].get("BranchName", "")}
    return f"commit {commit_id}", outputs


def run_build(action: dict[str, Any], bucket: str, pipeline_name: str, artifacts: dict[str, tuple[str, str]]) -> tuple[str, dict[str, str]]:
    project = boto3.client("codebuild").batch_get_projects(names=[action["configuration"]["ProjectName"]])["projects"][0]
    source_bucket, source_key = artifacts[action["inputArtifacts"][0]["name"]]
    with tempfile.TemporaryDirectory() as workdir:
        root = Path(workdir)
        body = boto3.client("s3").get_object(Bucket=source_bucket, Key=source_key)["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            archive.extractall(root)
        buildspec_path = project.get("source", {}).get("buildspec") or "buildspec.yml"
        spec = yaml.safe_load((root / buildspec_path).read_text()) if (root / buildspec_path).is_file() else yaml.safe_load(buildspec_path)
        run_buildspec_phases(spec, root)
        output = spec.get("artifacts", {})
        base = root / output.get("base-directory", ".")
        name = action["outputArtifacts"][0]["name"]
        artifacts[name] = upload_artifact(bucket, pipeline_name, name, zip_folder(base))
    return f"built {name} with {buildspec_path}", {}


def run_buildspec_phases(spec: dict[str, Any], root: Path) -> None:
    """The commands of each phase, in order, in one shell per command as CodeBuild runs them
    (runtime-versions is CodeBuild's image choice and is not applied locally)."""
    environment = os.environ | {str(k): str(v) for k, v in (spec.get("env", {}).get("variables") or {}).items()}
    for phase in ("install", "pre_build", "build", "post_build"):
        for command in (spec.get("phases", {}).get(phase) or {}).get("commands", []):
            finished = subprocess.run(["bash", "-c", command], cwd=root, env=environment, capture_output=True, text=True, timeout=600, check=False)
            if finished.returncode != 0:
                tail = (finished.stdout + finished.stderr).strip()[-1500:]
                raise ActionFailed(f"phase {phase} failed: command {command!r} exited {finished.returncode}: {tail}")


def resolve(text: str, variables: dict[str, dict[str, str]]) -> str:
    return VARIABLE.sub(lambda match: variables.get(match.group(1), {}).get(match.group(2), match.group(0)), text)


def job_event(job_id: str, action: dict[str, Any], user_parameters: str, artifacts: dict[str, tuple[str, str]], token: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "actionConfiguration": {"configuration": {"FunctionName": action["configuration"]["FunctionName"], "UserParameters": user_parameters}},
        "inputArtifacts": [
            {"name": item["name"], "revision": None, "location": {"type": "S3", "s3Location": {"bucketName": artifacts[item["name"]][0], "objectKey": artifacts[item["name"]][1]}}}
            for item in action.get("inputArtifacts", [])
        ],
        "outputArtifacts": [],
        "artifactCredentials": {"accessKeyId": "LOCALACCESSKEY", "secretAccessKey": "local-secret", "sessionToken": "local-session", "expirationTime": 0},
    }
    if token is not None:
        data["continuationToken"] = token
    return {"CodePipeline.job": {"id": job_id, "accountId": boto3.client("sts").get_caller_identity()["Account"], "data": data}}


def run_invoke(
    action: dict[str, Any],
    variables: dict[str, dict[str, str]],
    artifacts: dict[str, tuple[str, str]],
    results: JobResults,
    interval_seconds: float,
    max_invocations: int,
) -> tuple[str, dict[str, str], str | None]:
    user_parameters = resolve(action["configuration"].get("UserParameters", ""), variables)
    token: str | None = None
    for _ in range(max_invocations):
        job_id = str(uuid.uuid4())
        payload = json.dumps(job_event(job_id, action, user_parameters, artifacts, token))
        response = boto3.client("lambda").invoke(FunctionName=action["configuration"]["FunctionName"], Payload=payload)
        result = results.by_job.get(job_id)
        if result is None:
            error = response["Payload"].read().decode()[:1500]
            raise ActionFailed(f"the function posted no job result (it returned {error})")
        if result["result"] == "failure":
            raise ActionFailed(result["failureDetails"]["message"], result["failureDetails"].get("externalExecutionId"))
        details = result.get("executionDetails", {})
        token = result.get("continuationToken")
        if token is None:
            return details.get("summary", ""), dict(result.get("outputVariables") or {}), details.get("externalExecutionId")
        time.sleep(interval_seconds)
    raise ActionFailed(f"still in progress after {max_invocations} invocations")
