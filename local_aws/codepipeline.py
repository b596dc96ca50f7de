"""Pushing a commit through the pipeline that Terraform defined, read back from the local AWS.

moto stores pipelines but runs nothing. `push_commit` runs the stages the pipeline declares, the way
CodePipeline runs them:
- each push is an execution of the pipeline that the API shows (GetPipelineExecution,
  ListPipelineExecutions): InProgress, then Succeeded, Failed or Stopped, whose id is what
  #{codepipeline.PipelineExecutionId} resolves to (`Execution`); each change of its state puts a
  "CodePipeline Pipeline Execution State Change" event on the default event bus
  (`pipeline_execution_event`);
- before an action runs, the variable references in every string of its configuration are
  resolved (`resolve_configuration`);
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
StopPipelineExecution (`stop_pipeline_execution`) stops an execution: with abandon, the runner
abandons the in-progress action (it re-invokes a Lambda action no more; an invocation already
running completes and its result is ignored), otherwise the action runs to its end; no later action
starts, and the execution ends Stopped, releasing its stage.
Gaps: moto has no PutJobSuccessResult / PutJobFailureResult (`JobResults.patch_moto` adds both), no
StopPipelineExecution, and its executions are Succeeded the moment they start.
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, cast

import boto3
import yaml
from moto.core.exceptions import JsonRESTError
from moto.core.utils import utcnow

from local_aws import events

VARIABLE = re.compile(r"#\{([A-Za-z0-9_@-]+)\.([A-Za-z0-9_@-]+)\}")
UNRESOLVED = "An action in this pipeline failed because one or more variables could not be resolved: Action name={}"
EVENT_SOURCE = "aws.codepipeline"
EXECUTION_STATE_CHANGE = "CodePipeline Pipeline Execution State Change"
_stage_locks: dict[tuple[str, str], threading.Lock] = {}
_stage_locks_guard = threading.Lock()
# Held while an execution changes state, so a stop request and the end of a run never cross.
_transitions = threading.RLock()


def stage_lock(pipeline: dict[str, Any], stage: str) -> "threading.Lock | None":
    """What an execution holds while it runs in a stage: the stage's lock in a QUEUED pipeline."""
    if pipeline.get("executionMode") != "QUEUED":
        return None
    with _stage_locks_guard:
        return _stage_locks.setdefault((pipeline["name"], stage), threading.Lock())


@contextlib.contextmanager
def stage_entry(pipeline: dict[str, Any], stage: str, execution: "Execution") -> Iterator[bool]:
    """Holds the stage for `execution` until exit; yields False if the execution was stopped while
    it waited for the stage (it then holds nothing)."""
    lock = stage_lock(pipeline, stage)
    if lock is None:
        yield True
        return
    while not lock.acquire(timeout=0.05):
        if execution.stop_request() is not None:
            yield False
            return
    try:
        yield True
    finally:
        lock.release()


@dataclass
class ActionRun:
    stage: str
    action: str
    status: str  # Succeeded | Failed | Abandoned
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
    stopped: bool = False  # StopPipelineExecution ended the run

    @property
    def status(self) -> str:
        """The execution's final status: Stopped, Failed or Succeeded."""
        if self.stopped:
            return "Stopped"
        return "Failed" if any(action.status == "Failed" for action in self.actions) else "Succeeded"

    def action(self, stage: str) -> ActionRun | None:
        """The last action run in `stage`, or None if the run did not reach it."""
        return next((action for action in reversed(self.actions) if action.stage == stage), None)


@dataclass(frozen=True)
class StopRequest:
    abandon: bool
    reason: str | None


def pipeline_execution_event(record: Any, state: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Gap: moto's CodePipeline puts no events. AWS puts a "CodePipeline Pipeline Execution State
    Change" event on the default bus at each change of an execution's state (CodePipeline user
    guide, "Monitoring CodePipeline events", pipeline-level events); this is its `detail` for moto's
    execution `record`: pipeline, execution-id, start-time, state (STARTED, SUCCEEDED, FAILED,
    STOPPING, STOPPED, ...), version (the pipeline structure's), pipeline-execution-attempt, and
    `extra` (execution-trigger for STARTED, stop-execution-comments for STOPPING)."""
    started = record.start_time.replace(tzinfo=UTC)
    detail: dict[str, Any] = {
        "pipeline": record.pipeline_name,
        "execution-id": record.pipeline_execution_id,
        "start-time": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if extra and "execution-trigger" in extra:
        detail["execution-trigger"] = extra["execution-trigger"]
    detail |= {"state": state, "version": float(record.pipeline_version), "pipeline-execution-attempt": 1.0}
    return detail | {name: value for name, value in (extra or {}).items() if name != "execution-trigger"}


def put_execution_event(record: Any, account: str, region: str, state: str, extra: dict[str, Any] | None = None) -> None:
    resources = [f"arn:aws:codepipeline:{region}:{account}:{record.pipeline_name}"]
    events.put_service_event(account, region, EVENT_SOURCE, EXECUTION_STATE_CHANGE, pipeline_execution_event(record, state, extra), resources)


class Execution:
    """One push as CodePipeline's API shows it: an execution of the pipeline in moto's backend,
    InProgress until the runner ends it (moto would mark it Succeeded the moment it starts), with
    the event each change of its state puts."""

    def __init__(self, pipeline: dict[str, Any], variables: dict[str, str]) -> None:
        from moto.codepipeline.models import PipelineExecution, codepipeline_backends

        identity = boto3.client("sts").get_caller_identity()
        self.account, self.region = identity["Account"], boto3.client("codepipeline").meta.region_name
        self.record = cast(Any, PipelineExecution(pipeline["name"], pipeline["version"], [{"name": name, "value": value} for name, value in variables.items()]))
        self.record.status = "InProgress"
        self.record.stop_request = None
        self.record.source_revisions = []
        with _transitions:
            codepipeline_backends[self.account][self.region].pipelines[pipeline["name"]].executions[self.id] = self.record
            trigger = {"trigger-type": "StartPipelineExecution", "trigger-detail": identity["Arn"]}
            put_execution_event(self.record, self.account, self.region, "STARTED", {"execution-trigger": trigger})

    @property
    def id(self) -> str:
        return str(self.record.pipeline_execution_id)

    def stop_request(self) -> StopRequest | None:
        request: StopRequest | None = self.record.stop_request
        return request

    def abandoning(self) -> bool:
        request = self.stop_request()
        return request is not None and request.abandon

    def finish(self, outcome: str) -> str:
        """End the execution: Stopped if a stop was requested, otherwise `outcome` (Succeeded or
        Failed). Returns the final status."""
        with _transitions:
            status = "Stopped" if self.stop_request() is not None else outcome
            self.record.status = status
            self.record.last_update_time = utcnow()
            put_execution_event(self.record, self.account, self.region, status.upper())
        return status


class PipelineExecutionNotStoppable(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("PipelineExecutionNotStoppableException", message)


class DuplicatedStopRequest(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("DuplicatedStopRequestException", message)


def stop_pipeline_execution(response: Any) -> str:
    """Gap: moto lacks CodePipeline StopPipelineExecution. AWS (API reference, StopPipelineExecution)
    takes pipelineName, pipelineExecutionId, abandon and reason, and answers pipelineExecutionId; the
    execution goes Stopping: "stop and wait" (abandon false) lets the in-progress actions finish,
    "stop and abandon" abandons them; no later action starts, and the execution is then Stopped.
    Errors: PipelineNotFoundException for an unknown pipeline; PipelineExecutionNotStoppableException
    for an execution that is not in progress (already stopped, or no longer running);
    DuplicatedStopRequestException for a second stop and wait, or any stop after stop and abandon
    (stop and abandon after stop and wait is allowed)."""
    from moto.codepipeline.exceptions import PipelineNotFoundException

    backend = response.codepipeline_backend
    name, execution_id = response._get_param("pipelineName"), response._get_param("pipelineExecutionId")
    abandon, reason = bool(response._get_param("abandon")), response._get_param("reason")
    pipeline = backend.pipelines.get(name)
    if pipeline is None:
        raise PipelineNotFoundException(f"Account '{backend.account_id}' does not have a pipeline with name '{name}'")
    record = pipeline.executions.get(execution_id)
    with _transitions:
        if record is None or record.status not in ("InProgress", "Stopping"):
            status = "not found" if record is None else record.status
            raise PipelineExecutionNotStoppable(f"Unable to stop pipeline execution {execution_id} of pipeline {name}: it is not in progress ({status})")
        earlier: StopRequest | None = getattr(record, "stop_request", None)
        if earlier is not None and (earlier.abandon or not abandon):
            chosen = "stop and abandon" if earlier.abandon else "stop and wait"
            raise DuplicatedStopRequest(f"Pipeline execution {execution_id} is already Stopping: {chosen} was requested")
        record.stop_request = StopRequest(abandon, reason if reason is not None else getattr(earlier, "reason", None))
        if record.status == "InProgress":
            record.status = "Stopping"
            record.last_update_time = utcnow()
            put_execution_event(record, backend.account_id, backend.region_name, "STOPPING", {"stop-execution-comments": reason} if reason else None)
    return json.dumps({"pipelineExecutionId": execution_id})


def execution_summary(record: Any, summarize: Any) -> dict[str, Any]:
    """Gap: moto's ListPipelineExecutions leaves sourceRevisions empty and has no stopTrigger. AWS
    (API reference, PipelineExecutionSummary) lists the source revisions the execution ran
    (actionName, revisionId) and, for a stopped execution, stopTrigger with the reason given to
    StopPipelineExecution. `summarize` is moto's summary."""
    summary: dict[str, Any] = summarize(record)
    summary["sourceRevisions"] = list(getattr(record, "source_revisions", []))
    request = getattr(record, "stop_request", None)
    if request is not None:
        summary["stopTrigger"] = {"reason": request.reason} if request.reason else {}
    return summary


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
    """Run every stage of the pipeline for the files in `source` as commit `commit_id`, as one
    execution of the pipeline."""
    pipeline = boto3.client("codepipeline").get_pipeline(name=pipeline_name)["pipeline"]
    pipeline_variables = {item["name"]: item["defaultValue"] for item in pipeline.get("variables", []) if "defaultValue" in item}
    execution = Execution(pipeline, pipeline_variables)
    run = PipelineRun(pipeline_name, execution.id, commit_id)
    variables = {"codepipeline": {"PipelineExecutionId": execution.id}, "variables": pipeline_variables}
    outcome = "Failed"
    try:
        run_stages(pipeline, execution, run, variables, source, results, continuation_interval_seconds, max_invocations)
        outcome = "Failed" if any(action.status == "Failed" for action in run.actions) else "Succeeded"
    finally:
        run.stopped = execution.finish(outcome) == "Stopped"
    return run


def run_stages(
    pipeline: dict[str, Any],
    execution: Execution,
    run: PipelineRun,
    variables: dict[str, dict[str, str]],
    source: Path,
    results: JobResults,
    continuation_interval_seconds: float,
    max_invocations: int,
) -> None:
    """The actions of every stage, in order, until one fails or the execution is stopped."""
    bucket = pipeline["artifactStore"]["location"]
    artifacts: dict[str, tuple[str, str]] = {}
    for stage in pipeline["stages"]:
        with stage_entry(pipeline, stage["name"], execution) as entered:
            if not entered:
                return
            for action in stage["actions"]:
                if execution.stop_request() is not None:
                    return
                started = time.monotonic()
                kind = action["actionTypeId"]["category"]
                external_id = None
                try:
                    configuration = resolve_configuration(action, variables)
                    if kind == "Source":
                        summary, outputs = run_source(action, configuration, source, commit_id=run.commit_id, bucket=bucket, pipeline_name=pipeline["name"], artifacts=artifacts)
                        execution.record.source_revisions.append({"actionName": action["name"], "revisionId": run.commit_id})
                    elif kind == "Build":
                        summary, outputs = run_build(action, configuration, bucket, pipeline["name"], artifacts)
                    elif kind == "Invoke":
                        summary, outputs, external_id = run_invoke(action, configuration, artifacts, results, execution, continuation_interval_seconds, max_invocations)
                    else:
                        raise ActionFailed(f"the local pipeline cannot run {kind} actions")
                except ActionFailed as failure:
                    if not execution.abandoning():
                        seconds = time.monotonic() - started
                        run.actions.append(ActionRun(stage["name"], action["name"], "Failed", str(failure), seconds, external_execution_id=failure.external_id))
                        return
                if execution.abandoning():
                    reason = execution.stop_request().reason  # type: ignore[union-attr]
                    summary = "abandoned: the pipeline execution was stopped" + (f" ({reason})" if reason else "")
                    run.actions.append(ActionRun(stage["name"], action["name"], "Abandoned", summary, time.monotonic() - started, external_execution_id=external_id))
                    return
                if action.get("namespace"):
                    variables[action["namespace"]] = outputs
                seconds = time.monotonic() - started
                run.actions.append(ActionRun(stage["name"], action["name"], "Succeeded", summary, seconds, outputs, external_id))


def in_progress_execution(pipeline_name: str, commit_id: str | None = None, timeout_seconds: float = 30.0) -> str:
    """The id of the pipeline's InProgress execution (of `commit_id`, once its Source action ran,
    if given; the newest if several), from ListPipelineExecutions, waiting up to `timeout_seconds`."""
    pipelines = boto3.client("codepipeline")
    deadline = time.monotonic() + timeout_seconds
    while True:
        for summary in pipelines.list_pipeline_executions(pipelineName=pipeline_name)["pipelineExecutionSummaries"]:
            revisions = [revision["revisionId"] for revision in summary.get("sourceRevisions", [])]
            if summary["status"] == "InProgress" and (commit_id is None or commit_id in revisions):
                return str(summary["pipelineExecutionId"])
        if time.monotonic() > deadline:
            raise TimeoutError(f"no InProgress execution of {pipeline_name} after {timeout_seconds} s")
        time.sleep(0.02)


def stop_execution(pipeline_name: str, execution_id: str, abandon: bool = False, reason: str | None = None) -> None:
    """StopPipelineExecution: abandon the in-progress action, or let it finish (abandon=False)."""
    arguments: dict[str, Any] = {"pipelineName": pipeline_name, "pipelineExecutionId": execution_id, "abandon": abandon}
    if reason is not None:
        arguments["reason"] = reason
    boto3.client("codepipeline").stop_pipeline_execution(**arguments)


def get_execution(pipeline_name: str, execution_id: str) -> dict[str, Any]:
    """GetPipelineExecution: the execution's status, variables and trigger."""
    pipelines = boto3.client("codepipeline")
    return pipelines.get_pipeline_execution(pipelineName=pipeline_name, pipelineExecutionId=execution_id)["pipelineExecution"]  # type: ignore[no-any-return]


class ActionFailed(Exception):
    """The action failed; the message is what CodePipeline would show."""

    def __init__(self, message: str, external_id: str | None = None) -> None:
        super().__init__(message)
        self.external_id = external_id


def resolve_configuration(action: dict[str, Any], variables: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Gap: CodePipeline itself resolves variables; the local runner must do it as it does (user
    guide, "Variables reference"): before an action runs, every #{namespace.variable} in every
    string of its configuration is replaced by the value, from the namespaces `variables` holds:
    codepipeline (PipelineExecutionId), variables (the pipeline-level variables) and the namespace
    of each action that has run, with its output variables. A reference that cannot be resolved
    (an unknown namespace, one whose action has not run, a variable its action did not produce)
    fails the action before it starts, with CodePipeline's message."""
    configuration = action.get("configuration") or {}
    for value in configuration.values():
        for namespace, name in VARIABLE.findall(value) if isinstance(value, str) else []:
            if name not in variables.get(namespace, {}):
                raise ActionFailed(UNRESOLVED.format(action["name"]))
    return {key: VARIABLE.sub(lambda match: variables[match.group(1)][match.group(2)], value) if isinstance(value, str) else value for key, value in configuration.items()}


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


def run_source(
    action: dict[str, Any], configuration: dict[str, Any], source: Path, commit_id: str, bucket: str, pipeline_name: str, artifacts: dict[str, tuple[str, str]]
) -> tuple[str, dict[str, str]]:
    name = action["outputArtifacts"][0]["name"]
    artifacts[name] = upload_artifact(bucket, pipeline_name, name, zip_folder(source))
    provider = action["actionTypeId"]["provider"]
    outputs = {"VersionId": commit_id} if provider == "S3" else {"CommitId": commit_id, "BranchName": configuration.get("BranchName", "")}
    return f"commit {commit_id}", outputs


def run_build(action: dict[str, Any], configuration: dict[str, Any], bucket: str, pipeline_name: str, artifacts: dict[str, tuple[str, str]]) -> tuple[str, dict[str, str]]:
    project = boto3.client("codebuild").batch_get_projects(names=[configuration["ProjectName"]])["projects"][0]
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


def job_event(job_id: str, action: dict[str, Any], configuration: dict[str, Any], artifacts: dict[str, tuple[str, str]], token: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "actionConfiguration": {"configuration": configuration},
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
    configuration: dict[str, Any],
    artifacts: dict[str, tuple[str, str]],
    results: JobResults,
    execution: Execution,
    interval_seconds: float,
    max_invocations: int,
) -> tuple[str, dict[str, str], str | None]:
    """Invoke the function with job events until it posts a final result; stop re-invoking it
    once the execution is being abandoned (the caller ignores what was posted)."""
    token: str | None = None
    reported: str | None = None  # the externalExecutionId last posted, which the console keeps showing
    for _ in range(max_invocations):
        job_id = str(uuid.uuid4())
        payload = json.dumps(job_event(job_id, action, configuration, artifacts, token))
        response = boto3.client("lambda").invoke(FunctionName=configuration["FunctionName"], Payload=payload)
        result = results.by_job.get(job_id)
        if execution.abandoning():
            return "", {}, reported
        if result is None:
            error = response["Payload"].read().decode()[:1500]
            raise ActionFailed(f"the function posted no job result (it returned {error})")
        if result["result"] == "failure":
            raise ActionFailed(result["failureDetails"]["message"], result["failureDetails"].get("externalExecutionId"))
        details = result.get("executionDetails", {})
        reported = details.get("externalExecutionId", reported)
        token = result.get("continuationToken")
        if token is None:
            return details.get("summary", ""), dict(result.get("outputVariables") or {}), reported
        time.sleep(interval_seconds)
        if execution.abandoning():
            return "", {}, reported
    raise ActionFailed(f"still in progress after {max_invocations} invocations")
