"""Running the pipelines that Terraform defined, read back from the local AWS, as CodePipeline runs them.

moto stores pipelines but runs nothing. Here executions really run the stages the pipeline
declares, started either way CodePipeline starts them:
- `push_commit` pushes a commit: the commit's files are what the Source action produces;
- StartPipelineExecution (`start_pipeline_execution`, the API a parent pipeline's action calls)
  starts an execution in the background, with the request's clientRequestToken, variables and
  sourceRevisions; its Source action fetches its own source (an S3 object, at the given or the
  latest version).
Either way, the runner acts in the pipeline's own account (an explicit boto3 session for every
call it makes; StartPipelineExecution acts as the pipeline's service role, whose credentials act in
its account), and:
- each execution is one that the API shows (GetPipelineExecution, ListPipelineExecutions,
  ListActionExecutions): InProgress, then Succeeded, Failed, Stopped or Superseded, whose id is what
  #{codepipeline.PipelineExecutionId} resolves to (`Execution`); each change of its state puts a
  "CodePipeline Pipeline Execution State Change" event on the account's default event bus
  (`pipeline_execution_event`), and each action it runs is recorded as it goes
  (`list_action_executions`), as are the revisions its Source actions produced
  (`execution_summary`, `execution_detail`);
- before an action runs, the variable references in every string of its configuration are
  resolved (`resolve_configuration`);
- Source: the commit's files, zipped (or the fetched S3 object), become the source output artifact
  in the artifact bucket, and the action's namespace gets CommitId (or VersionId for S3);
- Build (CodeBuild): the project's buildspec runs locally, phase by phase, in a copy of the source,
  with the action's EnvironmentVariables over the buildspec's (`build_environment`); the files it
  names under `artifacts` become the build output artifact;
- Invoke (Lambda): the function is invoked with a CodePipeline job event; a success with a
  continuation token invokes it again with that token (as a new job), until it posts a final
  success or a failure.
Execution modes (V2): QUEUED runs each stage for one execution at a time: an execution that reaches
a stage another is in waits until that stage is free. SUPERSEDED (the default) also runs each stage
for one execution at a time, but an execution waiting to enter a stage is Superseded when a newer
one arrives to wait for the same stage (`SupersedingGate`). PARALLEL runs executions independently.
StopPipelineExecution (`stop_pipeline_execution`) stops an execution: with abandon, the runner
abandons the in-progress action (it re-invokes a Lambda action no more; an invocation already
running completes and its result is ignored), otherwise the action runs to its end; no later action
starts, and the execution ends Stopped, releasing its stage.
Gaps: moto has no PutJobSuccessResult / PutJobFailureResult (`JobResults.patch_moto` adds both), no
StopPipelineExecution, no ListActionExecutions, ignores StartPipelineExecution's clientRequestToken
and sourceRevisions, and its executions are Succeeded the moment they start.
"""

import contextlib
import copy
import functools
import io
import itertools
import json
import logging
import os
import re
import subprocess
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import boto3
import botocore.loaders
import botocore.session
import yaml
from botocore.exceptions import ClientError
from moto.core.exceptions import JsonRESTError
from moto.core.utils import utcnow

from local_aws import events

VARIABLE = re.compile(r"#\{([A-Za-z0-9_@-]+)\.([A-Za-z0-9_@-]+)\}")
UNRESOLVED = "An action in this pipeline failed because one or more variables could not be resolved: Action name={}"
EVENT_SOURCE = "aws.codepipeline"
EXECUTION_STATE_CHANGE = "CodePipeline Pipeline Execution State Change"
# StartPipelineExecution's limits (API reference, StartPipelineExecution).
CLIENT_REQUEST_TOKEN = re.compile(r"[a-zA-Z0-9-]{1,128}")
VARIABLE_NAME = re.compile(r"[A-Za-z0-9@\-_]{1,128}")
# The revision types a source provider's action takes in sourceRevisions; any other provider takes COMMIT_ID.
REVISION_TYPES = {"S3": frozenset({"S3_OBJECT_VERSION_ID", "S3_OBJECT_KEY"}), "ECR": frozenset({"IMAGE_DIGEST"})}
# The session name the runner's calls carry when it acts as a pipeline's service role.
SERVICE_ROLE_SESSION = "local-codepipeline"
# How the runner paces a Lambda action of an execution StartPipelineExecution started (as LocalStack.push does).
START_CONTINUATION_INTERVAL_SECONDS = 0.05
START_MAX_INVOCATIONS = 100_000
logger = logging.getLogger(__name__)
_stage_locks: dict[tuple[str, str, str, str], threading.Lock] = {}
_stage_gates: dict[tuple[str, str, str, str], "SupersedingGate"] = {}
_stage_locks_guard = threading.Lock()
# Held while an execution changes state, so a stop request and the end of a run never cross.
_transitions = threading.RLock()
# Held while StartPipelineExecution looks for an execution of its clientRequestToken and starts one.
_starts = threading.Lock()
_action_order = itertools.count()


def execution_mode(pipeline: dict[str, Any]) -> str:
    """The pipeline's execution mode: QUEUED, PARALLEL or SUPERSEDED (AWS's default, also for V1)."""
    return str(pipeline.get("executionMode") or "SUPERSEDED")


def stage_lock(pipeline: dict[str, Any], stage: str, execution: "Execution") -> "threading.Lock | None":
    """What an execution holds while it runs in a stage: the stage's lock in a QUEUED pipeline."""
    if execution_mode(pipeline) != "QUEUED":
        return None
    with _stage_locks_guard:
        return _stage_locks.setdefault((execution.account, execution.region, pipeline["name"], stage), threading.Lock())


class SupersedingGate:
    """One stage of a pipeline in SUPERSEDED mode, the default. AWS (user guide, "How pipeline
    executions work": "a more recent execution can overtake an older one"; "Set or change the
    pipeline execution mode"): one execution runs in a stage at a time, and an execution waiting to
    enter the stage is superseded when a newer execution arrives to wait for it ("Superseded: While
    this pipeline execution was waiting for the next stage to be completed, a newer pipeline
    execution advanced and continued through the pipeline instead", API reference,
    PipelineExecution). So at most one execution waits, the newest; the execution that leaves the
    stage hands it to that one."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.occupant: Execution | None = None
        self.waiting: Execution | None = None

    def enter(self, execution: "Execution") -> bool:
        """Block until `execution` holds the stage (True), or it was superseded or stopped while it
        waited (False: it holds nothing; `execution.superseded_by` names the newer one)."""
        with self._changed:
            if self.occupant is None:
                self.occupant = execution
                return True
            if self.waiting is not None:
                self.waiting.superseded_by = execution.id
                self._changed.notify_all()
            self.waiting = execution
            while self.occupant is not execution:
                if execution.superseded_by is not None:
                    return False
                if execution.stop_request() is not None:
                    self.waiting = None
                    return False
                self._changed.wait(0.05)
            return True

    def leave(self, execution: "Execution") -> None:
        with self._changed:
            if self.occupant is execution:
                self.occupant, self.waiting = self.waiting, None
                self._changed.notify_all()


def superseding_gate(pipeline: dict[str, Any], stage: str, execution: "Execution") -> SupersedingGate:
    with _stage_locks_guard:
        return _stage_gates.setdefault((execution.account, execution.region, pipeline["name"], stage), SupersedingGate())


def waiting_execution(account: str, region: str, pipeline_name: str, stage: str) -> str | None:
    """The id of the execution waiting to enter `stage` of a SUPERSEDED pipeline, if one is."""
    with _stage_locks_guard:
        gate = _stage_gates.get((account, region, pipeline_name, stage))
    waiting = gate.waiting if gate is not None else None
    return waiting.id if waiting is not None else None


@contextlib.contextmanager
def stage_entry(pipeline: dict[str, Any], stage: str, execution: "Execution") -> Iterator[bool]:
    """Holds the stage for `execution` until exit; yields False if the execution was stopped (or,
    in a SUPERSEDED pipeline, superseded) while it waited for the stage (it then holds nothing)."""
    if execution_mode(pipeline) == "SUPERSEDED":
        gate = superseding_gate(pipeline, stage, execution)
        if not gate.enter(execution):
            yield False
            return
        try:
            yield True
        finally:
            gate.leave(execution)
        return
    lock = stage_lock(pipeline, stage, execution)
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
    commit_id: str  # the pushed commit; empty for an execution StartPipelineExecution started
    actions: list[ActionRun] = field(default_factory=list)
    stopped: bool = False  # StopPipelineExecution ended the run
    superseded: bool = False  # a newer execution superseded it while it waited for a stage

    @property
    def status(self) -> str:
        """The execution's final status: Stopped, Superseded, Failed or Succeeded."""
        if self.stopped:
            return "Stopped"
        if self.superseded:
            return "Superseded"
        return "Failed" if any(action.status == "Failed" for action in self.actions) else "Succeeded"

    def action(self, stage: str) -> ActionRun | None:
        """The last action run in `stage`, or None if the run did not reach it."""
        return next((action for action in reversed(self.actions) if action.stage == stage), None)

    def action_named(self, name: str) -> ActionRun | None:
        """The last run of the action `name`, or None if the run did not reach it."""
        return next((action for action in reversed(self.actions) if action.action == name), None)


@dataclass(frozen=True)
class StopRequest:
    abandon: bool
    reason: str | None


def epoch_seconds(moment: datetime) -> float:
    """A timestamp as AWS's JSON protocol sends it (moto's times are naive UTC)."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


@dataclass
class ActionExecutionRecord:
    """One action of one execution, as the runner goes: InProgress while it runs, then Succeeded,
    Failed or Abandoned."""

    pipeline_execution_id: str
    pipeline_version: int
    stage: str
    declaration: dict[str, Any]
    region: str
    action_execution_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    order: int = field(default_factory=lambda: next(_action_order))
    start_time: datetime = field(default_factory=utcnow)
    last_update_time: datetime | None = None
    status: str = "InProgress"
    resolved_configuration: dict[str, Any] | None = None
    input_artifacts: list[tuple[str, str, str]] = field(default_factory=list)  # (name, bucket, key)
    output_artifacts: list[tuple[str, str, str]] = field(default_factory=list)
    output_variables: dict[str, str] = field(default_factory=dict)
    external_execution_id: str | None = None
    summary: str | None = None
    error: tuple[str, str] | None = None  # (code, message) of a failed action

    def end(self, status: str, summary: str, external_execution_id: str | None = None, error_code: str | None = None) -> None:
        self.status, self.summary, self.external_execution_id = status, summary, external_execution_id
        self.error = (error_code, summary) if error_code is not None else None
        self.last_update_time = utcnow()

    def detail(self) -> dict[str, Any]:
        """The ActionExecutionDetail shape of the botocore model."""

        def artifact_details(artifacts: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
            return [{"name": name, "s3location": {"bucket": bucket, "key": key}} for name, bucket, key in artifacts]

        declaration = self.declaration
        action_input: dict[str, Any] = {
            "actionTypeId": declaration["actionTypeId"],
            "configuration": dict(declaration.get("configuration") or {}),
            "region": declaration.get("region") or self.region,
            "inputArtifacts": artifact_details(self.input_artifacts),
        }
        if self.resolved_configuration is not None:
            action_input["resolvedConfiguration"] = {key: str(value) for key, value in self.resolved_configuration.items()}
        for key in ("roleArn", "namespace"):
            if declaration.get(key):
                action_input[key] = declaration[key]
        result: dict[str, Any] = {}
        if self.external_execution_id is not None:
            result["externalExecutionId"] = self.external_execution_id
        if self.summary:
            result["externalExecutionSummary"] = self.summary
        if self.error is not None:
            result["errorDetails"] = {"code": self.error[0], "message": self.error[1]}
        output: dict[str, Any] = {"outputArtifacts": artifact_details(self.output_artifacts), "outputVariables": dict(self.output_variables)}
        if result:
            output["executionResult"] = result
        return {
            "pipelineExecutionId": self.pipeline_execution_id,
            "actionExecutionId": self.action_execution_id,
            "pipelineVersion": self.pipeline_version,
            "stageName": self.stage,
            "actionName": declaration["name"],
            "startTime": epoch_seconds(self.start_time),
            "lastUpdateTime": epoch_seconds(self.last_update_time or self.start_time),
            "status": self.status,
            "input": action_input,
            "output": output,
        }


def pipeline_execution_event(record: Any, state: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Gap: moto's CodePipeline puts no events. AWS puts a "CodePipeline Pipeline Execution State
    Change" event on the default bus at each change of an execution's state (CodePipeline user
    guide, "Monitoring CodePipeline events", pipeline-level events); this is its `detail` for moto's
    execution `record`: pipeline, execution-id, start-time, state (STARTED, SUCCEEDED, FAILED,
    STOPPING, STOPPED, SUPERSEDED, ...), version (the pipeline structure's), pipeline-execution-attempt,
    and `extra` (execution-trigger for STARTED, stop-execution-comments for STOPPING)."""
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


def default_session() -> Any:
    """boto3's default session (what `boto3.client` uses), which push_commit's callers act with."""
    return boto3._get_default_session()


_clients_guard = threading.Lock()


def client(session: Any, service: str) -> Any:
    """A client of `service` from `session` (None: boto3's default session), made once per session:
    an execution makes many calls, and a botocore client takes tens of milliseconds to make."""
    session = session or default_session()
    with _clients_guard:
        made: dict[str, Any] = session.__dict__.setdefault("_local_codepipeline_clients", {})
        if service not in made:
            made[service] = session.client(service)
        return made[service]


class Execution:
    """One execution as CodePipeline's API shows it: an execution of the pipeline in moto's backend
    of the account and Region `session` acts in, InProgress until the runner ends it (moto would
    mark it Succeeded the moment it starts), with the event each change of its state puts and the
    record of each action it runs. `trigger_detail` is who started it (default: `session`'s
    identity)."""

    def __init__(self, pipeline: dict[str, Any], variables: dict[str, str], session: Any, trigger_detail: str | None = None, client_request_token: str | None = None) -> None:
        from moto.codepipeline.models import PipelineExecution, codepipeline_backends

        identity = client(session, "sts").get_caller_identity()
        self.session = session
        self.account, self.region = identity["Account"], client(session, "codepipeline").meta.region_name
        self.superseded_by: str | None = None  # the newer execution that superseded this one
        self.record = cast(Any, PipelineExecution(pipeline["name"], pipeline["version"], [{"name": name, "value": value} for name, value in variables.items()]))
        self.record.status = "InProgress"
        self.record.stop_request = None
        self.record.source_revisions = []
        self.record.artifact_revisions = []
        self.record.action_executions = []
        self.record.client_request_token = client_request_token
        with _transitions:
            codepipeline_backends[self.account][self.region].pipelines[pipeline["name"]].executions[self.id] = self.record
            trigger = {"trigger-type": "StartPipelineExecution", "trigger-detail": trigger_detail or identity["Arn"]}
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

    def action_started(self, stage: str, action: dict[str, Any]) -> ActionExecutionRecord:
        """The record of an action that starts now, which ListActionExecutions shows InProgress."""
        started = ActionExecutionRecord(self.id, int(self.record.pipeline_version), stage, action, self.region)
        self.record.action_executions.append(started)
        return started

    def source_produced(self, action_name: str, artifact_name: str, revision: "SourceRevision") -> None:
        """What a Source action produced: the execution's source revision and artifact revision."""
        self.record.source_revisions.append({"actionName": action_name, "revisionId": revision.revision_id})
        self.record.artifact_revisions.append({"name": artifact_name, "revisionId": revision.revision_id, "created": revision.created})

    def finish(self, outcome: str) -> str:
        """End the execution: Stopped if a stop was requested, otherwise `outcome` (Succeeded,
        Failed or Superseded). Returns the final status."""
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


class CodePipelineValidation(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


class InvalidNextToken(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidNextTokenException", message)


def _pipeline_of(backend: Any, name: str) -> Any:
    from moto.codepipeline.exceptions import PipelineNotFoundException

    pipeline = backend.pipelines.get(name)
    if pipeline is None:
        raise PipelineNotFoundException(f"Account '{backend.account_id}' does not have a pipeline with name '{name}'")
    return pipeline


def stop_pipeline_execution(response: Any) -> str:
    """Gap: moto lacks CodePipeline StopPipelineExecution. AWS (API reference, StopPipelineExecution)
    takes pipelineName, pipelineExecutionId, abandon and reason, and answers pipelineExecutionId; the
    execution goes Stopping: "stop and wait" (abandon false) lets the in-progress actions finish,
    "stop and abandon" abandons them; no later action starts, and the execution is then Stopped.
    Errors: PipelineNotFoundException for an unknown pipeline; PipelineExecutionNotStoppableException
    for an execution that is not in progress (already stopped, or no longer running);
    DuplicatedStopRequestException for a second stop and wait, or any stop after stop and abandon
    (stop and abandon after stop and wait is allowed)."""
    backend = response.codepipeline_backend
    name, execution_id = response._get_param("pipelineName"), response._get_param("pipelineExecutionId")
    abandon, reason = bool(response._get_param("abandon")), response._get_param("reason")
    pipeline = _pipeline_of(backend, name)
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


def execution_detail(record: Any, describe: Any) -> dict[str, Any]:
    """Gap: moto's GetPipelineExecution answers artifactRevisions []. AWS (API reference,
    PipelineExecution, ArtifactRevision) lists the artifacts the execution's Source actions
    produced: name (the output artifact's), revisionId (the commit id, or the S3 object's version
    id) and created (when that revision was made). `describe` is moto's GetPipelineExecution answer
    (status, variables, trigger, ...), kept as it is otherwise."""
    detail: dict[str, Any] = describe(record)
    revisions = list(getattr(record, "artifact_revisions", []))
    detail["artifactRevisions"] = [{"name": item["name"], "revisionId": item["revisionId"], "created": epoch_seconds(item["created"])} for item in revisions]
    return detail


def execution_detail_of(describe: Any) -> Callable[[Any], dict[str, Any]]:
    """`execution_detail` over moto's `describe` (PipelineExecution.to_dict), to replace it."""
    return lambda record: execution_detail(record, describe)


def list_action_executions(response: Any) -> str:
    """Gap: moto lacks CodePipeline ListActionExecutions. AWS (API reference, ListActionExecutions,
    ActionExecutionDetail) lists the action executions of a pipeline, newest first, each with
    pipelineExecutionId, actionExecutionId, pipelineVersion, stageName, actionName, startTime,
    lastUpdateTime, status (InProgress, Abandoned, Succeeded, Failed), input (actionTypeId,
    configuration, resolvedConfiguration, region, inputArtifacts, namespace) and output
    (outputArtifacts, outputVariables, executionResult: externalExecutionId,
    externalExecutionSummary, errorDetails {code, message} of a failed action); filter
    pipelineExecutionId keeps one execution's; maxResults (default 100) and nextToken page.
    Errors: PipelineNotFoundException, PipelineExecutionNotFoundException for a filter naming no
    execution of the pipeline, InvalidNextTokenException. Here: the actions the local runner ran
    (filter latestInPipelineExecution is not applied)."""
    from moto.codepipeline.exceptions import PipelineExecutionNotFoundException

    backend = response.codepipeline_backend
    name = response._get_param("pipelineName")
    pipeline = _pipeline_of(backend, name)
    wanted = (response._get_param("filter") or {}).get("pipelineExecutionId")
    records = list(pipeline.executions.values())
    if wanted is not None:
        if wanted not in pipeline.executions:
            raise PipelineExecutionNotFoundException(f"Pipeline execution {wanted} of pipeline {name} in account {backend.account_id} does not exist")
        records = [pipeline.executions[wanted]]
    actions = sorted((action for record in records for action in list(getattr(record, "action_executions", []))), key=lambda action: action.order, reverse=True)
    token = response._get_param("nextToken") or "0"
    if not token.isdigit():
        raise InvalidNextToken(f"The next token {token!r} is not valid")
    start, page_size = int(token), int(response._get_param("maxResults") or 100)
    result: dict[str, Any] = {"actionExecutionDetails": [action.detail() for action in actions[start : start + page_size]]}
    if start + page_size < len(actions):
        result["nextToken"] = str(start + page_size)
    return json.dumps(result)


class JobResults:
    """What Lambda actions posted about their jobs."""

    def __init__(self) -> None:
        self.by_job: dict[str, dict[str, Any]] = {}

    def patch_moto(self) -> list[tuple[Any, str, Any]]:
        """Gap: moto has no PutJobSuccessResult / PutJobFailureResult. AWS records the result of the
        job; a success with a continuationToken makes CodePipeline invoke the action again. These
        results are also what the executions StartPipelineExecution starts read
        (CodePipelineResponse.job_results)."""
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

        names = ("put_job_success_result", "put_job_failure_result", "job_results")
        restore = [(CodePipelineResponse, name, getattr(CodePipelineResponse, name, None)) for name in names]
        CodePipelineResponse.put_job_success_result = put_job_success_result  # type: ignore[attr-defined]
        CodePipelineResponse.put_job_failure_result = put_job_failure_result  # type: ignore[attr-defined]
        CodePipelineResponse.job_results = self  # type: ignore[attr-defined]
        return restore


@dataclass
class SourceRevision:
    """What a Source action produced: the artifact's bytes (a zip) and its revision."""

    data: bytes
    revision_id: str
    outputs: dict[str, str]
    summary: str
    created: datetime


# What a Source action produces, given its declaration and resolved configuration.
SourceFetch = Callable[[dict[str, Any], dict[str, Any]], SourceRevision]


def pushed_source(folder: Path, commit_id: str) -> SourceFetch:
    """A Source action of a pushed commit: the commit's files, zipped; output variables VersionId
    (S3) or CommitId and BranchName."""

    def produce(action: dict[str, Any], configuration: dict[str, Any]) -> SourceRevision:
        provider = action["actionTypeId"]["provider"]
        outputs = {"VersionId": commit_id} if provider == "S3" else {"CommitId": commit_id, "BranchName": configuration.get("BranchName", "")}
        return SourceRevision(zip_folder(folder), commit_id, outputs, f"commit {commit_id}", utcnow())

    return produce


def fetched_source(overrides: dict[str, dict[str, str]], session: Any) -> SourceFetch:
    """Gap: the Source action of an execution StartPipelineExecution started must fetch its own
    source, as CodePipeline does ("it begins processing the latest commit to the source location
    specified as part of the pipeline", API reference, StartPipelineExecution; sourceRevisions pick
    another revision, SourceRevisionOverride). For an S3 source (user guide, "Amazon S3 source
    action reference": configuration S3Bucket and S3ObjectKey, a versioned bucket, output variables
    VersionId and ETag) the object at the given version (S3_OBJECT_VERSION_ID; S3_OBJECT_KEY names
    another key), else the latest, is the source artifact. The local runner fetches nothing else: an
    action of another provider fails, saying so. `overrides`: action name -> {revisionType: value}."""

    def produce(action: dict[str, Any], configuration: dict[str, Any]) -> SourceRevision:
        provider = action["actionTypeId"]["provider"]
        if provider != "S3":
            raise ActionFailed(
                f"the local pipeline runner fetches only S3 sources on StartPipelineExecution: it cannot fetch the {provider} source of action {action['name']} (push a commit instead)"
            )
        override = overrides.get(action["name"], {})
        bucket, key = configuration.get("S3Bucket", ""), override.get("S3_OBJECT_KEY", configuration.get("S3ObjectKey", ""))
        arguments = {"Bucket": bucket, "Key": key}
        if "S3_OBJECT_VERSION_ID" in override:
            arguments["VersionId"] = override["S3_OBJECT_VERSION_ID"]
        where = f"s3://{bucket}/{key}" + (f" version {arguments['VersionId']}" if "VersionId" in arguments else "")
        try:
            found = client(session, "s3").get_object(**arguments)
        except ClientError as error:
            raise ActionFailed(f"could not fetch the source {where}: {error.response['Error'].get('Code')}: {error.response['Error'].get('Message')}") from error
        version = found.get("VersionId")
        if not version or version == "null":
            raise ActionFailed(f"the source bucket {bucket} is not versioned: an S3 source action needs a versioned bucket")
        etag = str(found.get("ETag", "")).strip('"')
        return SourceRevision(found["Body"].read(), version, {"VersionId": version, "ETag": etag}, f"s3://{bucket}/{key} version {version}", found["LastModified"])

    return produce


def push_commit(
    pipeline_name: str,
    source: Path,
    commit_id: str,
    results: JobResults,
    continuation_interval_seconds: float = 1.0,
    max_invocations: int = 600,
    session: Any = None,
) -> PipelineRun:
    """Run every stage of the pipeline for the files in `source` as commit `commit_id`, as one
    execution of the pipeline, acting with `session` (default: boto3's default session) in its
    account."""
    session = session or default_session()
    pipeline = client(session, "codepipeline").get_pipeline(name=pipeline_name)["pipeline"]
    pipeline_variables = {item["name"]: item["defaultValue"] for item in pipeline.get("variables", []) if "defaultValue" in item}
    execution = Execution(pipeline, pipeline_variables, session)
    run = PipelineRun(pipeline_name, execution.id, commit_id)
    variables = {"codepipeline": {"PipelineExecutionId": execution.id}, "variables": pipeline_variables}
    outcome = "Failed"
    try:
        run_stages(pipeline, execution, run, variables, pushed_source(source, commit_id), results, continuation_interval_seconds, max_invocations, session)
        outcome = run.status
    finally:
        run.stopped = execution.finish(outcome) == "Stopped"
    return run


def run_stages(
    pipeline: dict[str, Any],
    execution: Execution,
    run: PipelineRun,
    variables: dict[str, dict[str, str]],
    source: SourceFetch,
    results: JobResults,
    continuation_interval_seconds: float,
    max_invocations: int,
    session: Any,
) -> None:
    """The actions of every stage, in order, until one fails or the execution is stopped (or
    superseded), each recorded on the execution as it runs; every call made with `session`."""
    bucket = pipeline["artifactStore"]["location"]
    artifacts: dict[str, tuple[str, str]] = {}
    for stage in pipeline["stages"]:
        with stage_entry(pipeline, stage["name"], execution) as entered:
            if not entered:
                run.superseded = execution.superseded_by is not None
                return
            for action in stage["actions"]:
                if execution.stop_request() is not None:
                    return
                started = time.monotonic()
                record = execution.action_started(stage["name"], action)
                kind = action["actionTypeId"]["category"]
                external_id = None
                try:
                    configuration = resolve_configuration(action, variables)
                    record.resolved_configuration = configuration
                    record.input_artifacts = [(item["name"], *artifacts[item["name"]]) for item in action.get("inputArtifacts", []) if item["name"] in artifacts]
                    if kind == "Source":
                        revision = source(action, configuration)
                        name = action["outputArtifacts"][0]["name"]
                        artifacts[name] = upload_artifact(bucket, pipeline["name"], name, revision.data, session)
                        execution.source_produced(action["name"], name, revision)
                        summary, outputs, external_id = revision.summary, revision.outputs, revision.revision_id
                    elif kind == "Build":
                        summary, outputs = run_build(action, configuration, bucket, pipeline["name"], artifacts, session)
                    elif kind == "Invoke":
                        summary, outputs, external_id = run_invoke(action, configuration, artifacts, results, execution, continuation_interval_seconds, max_invocations)
                    else:
                        raise ActionFailed(f"the local pipeline cannot run {kind} actions")
                except ActionFailed as failure:
                    if not execution.abandoning():
                        seconds = time.monotonic() - started
                        run.actions.append(ActionRun(stage["name"], action["name"], "Failed", str(failure), seconds, external_execution_id=failure.external_id))
                        record.end("Failed", str(failure), failure.external_id, failure.code)
                        return
                except Exception as error:
                    record.end("Failed", f"the local pipeline runner failed: {type(error).__name__}: {error}", error_code="JobFailed")
                    raise
                if execution.abandoning():
                    reason = execution.stop_request().reason  # type: ignore[union-attr]
                    summary = "abandoned: the pipeline execution was stopped" + (f" ({reason})" if reason else "")
                    run.actions.append(ActionRun(stage["name"], action["name"], "Abandoned", summary, time.monotonic() - started, external_execution_id=external_id))
                    record.end("Abandoned", summary, external_id)
                    return
                if action.get("namespace"):
                    variables[action["namespace"]] = outputs
                seconds = time.monotonic() - started
                run.actions.append(ActionRun(stage["name"], action["name"], "Succeeded", summary, seconds, outputs, external_id))
                record.output_artifacts = [(item["name"], *artifacts[item["name"]]) for item in action.get("outputArtifacts", []) if item["name"] in artifacts]
                record.output_variables = dict(outputs)
                record.end("Succeeded", summary, external_id)


def service_role_session(account: str, region: str, role_arn: str) -> Any:
    """The session the runner acts with for an execution StartPipelineExecution started: CodePipeline
    acts as the pipeline's service role (user guide, "Manage the CodePipeline service role"), so
    credentials of an AssumeRole of the pipeline's roleArn (session name local-codepipeline), which
    in moto act in the role's account. The local STS makes them itself: CodePipeline, not the
    caller, assumes the role, and the request may come from a function whose own calls are checked
    against its role's policies (local_aws/iam.py)."""
    from moto.sts.models import sts_backends

    # moto annotates policy and external_id as str; its own STS API passes None when they are absent.
    sts = sts_backends[account]["global"]
    role = sts.assume_role(region_name=region, role_session_name=SERVICE_ROLE_SESSION, role_arn=role_arn, policy=None, duration=3600, external_id=None)  # type: ignore[arg-type]
    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())  # service models parsed once, not per execution
    return boto3.session.Session(
        aws_access_key_id=role.access_key_id, aws_secret_access_key=role.secret_access_key, aws_session_token=role.session_token, region_name=region, botocore_session=core
    )


@functools.cache
def _shared_loader() -> Any:
    return botocore.loaders.create_loader()


def start_variables(pipeline: dict[str, Any], given: list[dict[str, Any]]) -> dict[str, str]:
    """The pipeline-level variables of a new execution: the values StartPipelineExecution gives
    over the defaults the pipeline declares (user guide, "Variables reference", pipeline-level
    variables: declared when the pipeline is created, values given at the start of an execution).
    A name the pipeline does not declare, a name outside [A-Za-z0-9@\\-_]{1,128}, an empty value or
    a value over 1,000 characters (API reference, StartPipelineExecution, PipelineVariable) is a
    ValidationException."""
    declared = {item["name"]: item.get("defaultValue") for item in pipeline.get("variables") or []}
    values = {name: value for name, value in declared.items() if value is not None}
    for item in given:
        name, value = item.get("name"), item.get("value")
        if not isinstance(name, str) or not VARIABLE_NAME.fullmatch(name):
            raise CodePipelineValidation(f"Pipeline variable name {name!r} must match [A-Za-z0-9@\\-_]+ and be at most 128 characters")
        if name not in declared:
            raise CodePipelineValidation(f"Pipeline variable {name} is not declared in pipeline {pipeline['name']} (declared: {', '.join(sorted(declared)) or 'none'})")
        if not isinstance(value, str) or not 1 <= len(value) <= 1000:
            raise CodePipelineValidation(f"The value of pipeline variable {name} must be 1 to 1000 characters")
        values[name] = value
    return values


def source_overrides(pipeline: dict[str, Any], given: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """StartPipelineExecution's sourceRevisions (API reference, SourceRevisionOverride: actionName,
    revisionType COMMIT_ID | IMAGE_DIGEST | S3_OBJECT_VERSION_ID | S3_OBJECT_KEY, revisionValue) by
    action name. An actionName that is not a Source action of the pipeline, or a revision type its
    provider has no use for (S3 takes S3_OBJECT_VERSION_ID and S3_OBJECT_KEY, ECR IMAGE_DIGEST, the
    repositories COMMIT_ID) is a ValidationException."""
    sources = {action["name"]: action for stage in pipeline["stages"] for action in stage["actions"] if action["actionTypeId"]["category"] == "Source"}
    overrides: dict[str, dict[str, str]] = {}
    for item in given:
        name, kind, value = item.get("actionName"), item.get("revisionType"), item.get("revisionValue")
        action = sources.get(str(name))
        if action is None:
            raise CodePipelineValidation(f"sourceRevisions: {name} is not a source action of pipeline {pipeline['name']} (source actions: {', '.join(sorted(sources))})")
        provider = action["actionTypeId"]["provider"]
        allowed = REVISION_TYPES.get(provider, frozenset({"COMMIT_ID"}))
        if kind not in allowed or not isinstance(value, str) or not value:
            raise CodePipelineValidation(f"sourceRevisions: the {provider} source action {name} takes a revision of type {' or '.join(sorted(allowed))}, not {kind}")
        overrides.setdefault(str(name), {})[str(kind)] = value
    return overrides


def caller_arn(response: Any) -> str:
    """Who made the request: the ARN GetCallerIdentity gives for its credentials."""
    from moto.sts.models import sts_backends

    backend = response.codepipeline_backend
    _, arn, _ = sts_backends[backend.account_id]["global"].get_caller_identity(response.get_access_key(), backend.region_name)
    return str(arn)


@dataclass
class StartedRun:
    """An execution StartPipelineExecution started, running in the background until `ended`."""

    ended: threading.Event = field(default_factory=threading.Event)
    run: PipelineRun | None = None


_started_runs: dict[str, StartedRun] = {}


def start_pipeline_execution(response: Any) -> str:
    """Gap: moto's StartPipelineExecution marks a new execution Succeeded at once, runs nothing,
    starts a new one for every request whatever its clientRequestToken, and ignores sourceRevisions.
    AWS (API reference, StartPipelineExecution) answers pipelineExecutionId and runs the execution:
    PipelineNotFoundException for an unknown pipeline; clientRequestToken ("the system-generated
    unique ID used to identify a unique execution request"; 1-128 of [a-zA-Z0-9-]): the same token
    for the same pipeline is the same request, answered with the same pipelineExecutionId, starting
    nothing new; variables override the pipeline's declared defaults (`start_variables`);
    sourceRevisions pick the revision a Source action fetches (`source_overrides`). The execution
    runs here in the background as push_commit's do (`run_stages`: events, stages, execution mode,
    StopPipelineExecution), as the pipeline's service role in its account (`service_role_session`),
    its Source actions fetching their own source (`fetched_source`); a COMMIT_ID or IMAGE_DIGEST
    revision is recorded as the execution's source revision (that action then fails: the local
    runner fetches only S3 sources). Lambda actions' job results are those of the JobResults whose
    patch_moto is in force."""
    backend = response.codepipeline_backend
    name = response._get_param("name")
    stored = _pipeline_of(backend, name)
    token = response._get_param("clientRequestToken")
    if token is not None and not (isinstance(token, str) and CLIENT_REQUEST_TOKEN.fullmatch(token)):
        raise CodePipelineValidation("clientRequestToken must be 1 to 128 characters of [a-zA-Z0-9-]")
    pipeline = copy.deepcopy(stored.pipeline)
    if str(pipeline["roleArn"]).split(":")[4:5] != [backend.account_id]:
        raise CodePipelineValidation(f"The service role {pipeline['roleArn']} of pipeline {name} is not a role of account {backend.account_id}")
    variables = start_variables(pipeline, response._get_param("variables") or [])
    overrides = source_overrides(pipeline, response._get_param("sourceRevisions") or [])
    results: JobResults = getattr(response, "job_results", None) or JobResults()
    with _starts:
        if token is not None:
            for record in list(stored.executions.values()):
                if getattr(record, "client_request_token", None) == token:
                    return json.dumps({"pipelineExecutionId": record.pipeline_execution_id})
        session = service_role_session(backend.account_id, backend.region_name, pipeline["roleArn"])
        execution = Execution(pipeline, variables, session, trigger_detail=caller_arn(response), client_request_token=token)
        for action_name, revisions in overrides.items():
            for kind in ("COMMIT_ID", "IMAGE_DIGEST"):
                if kind in revisions:
                    execution.record.source_revisions.append({"actionName": action_name, "revisionId": revisions[kind]})
        started = _started_runs[execution.id] = StartedRun()
        arguments = (pipeline, execution, variables, overrides, results, session, started)
        threading.Thread(target=run_started_execution, args=arguments, name=f"codepipeline-{name}-{execution.id[:8]}", daemon=True).start()
    return json.dumps({"pipelineExecutionId": execution.id})


def run_started_execution(
    pipeline: dict[str, Any], execution: Execution, variables: dict[str, str], overrides: dict[str, dict[str, str]], results: JobResults, session: Any, started: StartedRun
) -> None:
    """The run of an execution StartPipelineExecution started, to its end (Succeeded, Failed,
    Stopped or Superseded); an error of the runner itself fails the execution."""
    run = PipelineRun(pipeline["name"], execution.id, "")
    namespaces = {"codepipeline": {"PipelineExecutionId": execution.id}, "variables": dict(variables)}
    outcome = "Failed"
    try:
        source = fetched_source(overrides, session)
        run_stages(pipeline, execution, run, namespaces, source, results, START_CONTINUATION_INTERVAL_SECONDS, START_MAX_INVOCATIONS, session)
        outcome = run.status
    except Exception:  # a background run has no caller to raise to: the execution fails, and the log says why
        logger.exception("the local pipeline runner failed in execution %s of %s", execution.id, pipeline["name"])
    finally:
        with _transitions:  # whoever sees the execution ended finds its run
            run.stopped = execution.finish(outcome) == "Stopped"
            started.run = run
        started.ended.set()


def started_run(execution_id: str) -> PipelineRun | None:
    """The run of an execution StartPipelineExecution started, once it has ended (else None)."""
    started = _started_runs.get(execution_id)
    with _transitions:
        return started.run if started is not None else None


def wait_for_started_runs(timeout_seconds: float = 60.0) -> None:
    """Block until every execution StartPipelineExecution started has ended (raises TimeoutError)."""
    deadline = time.monotonic() + timeout_seconds
    for execution_id, started in list(_started_runs.items()):
        if not started.ended.wait(max(0.0, deadline - time.monotonic())):
            raise TimeoutError(f"pipeline execution {execution_id} still running after {timeout_seconds} s")


ENDED = frozenset({"Succeeded", "Failed", "Stopped", "Cancelled", "Superseded"})


def in_progress_execution(pipeline_name: str, commit_id: str | None = None, timeout_seconds: float = 30.0, session: Any = None) -> str:
    """The id of the pipeline's InProgress execution (of `commit_id`, once its Source action ran,
    if given; the newest if several), from ListPipelineExecutions, waiting up to `timeout_seconds`."""
    pipelines = client(session, "codepipeline")
    deadline = time.monotonic() + timeout_seconds
    while True:
        for summary in pipelines.list_pipeline_executions(pipelineName=pipeline_name)["pipelineExecutionSummaries"]:
            revisions = [revision["revisionId"] for revision in summary.get("sourceRevisions", [])]
            if summary["status"] == "InProgress" and (commit_id is None or commit_id in revisions):
                return str(summary["pipelineExecutionId"])
        if time.monotonic() > deadline:
            raise TimeoutError(f"no InProgress execution of {pipeline_name} after {timeout_seconds} s")
        time.sleep(0.02)


def stop_execution(pipeline_name: str, execution_id: str, abandon: bool = False, reason: str | None = None, session: Any = None) -> None:
    """StopPipelineExecution: abandon the in-progress action, or let it finish (abandon=False)."""
    arguments: dict[str, Any] = {"pipelineName": pipeline_name, "pipelineExecutionId": execution_id, "abandon": abandon}
    if reason is not None:
        arguments["reason"] = reason
    client(session, "codepipeline").stop_pipeline_execution(**arguments)


def get_execution(pipeline_name: str, execution_id: str, session: Any = None) -> dict[str, Any]:
    """GetPipelineExecution: the execution's status, variables, trigger and artifact revisions."""
    pipelines = client(session, "codepipeline")
    return pipelines.get_pipeline_execution(pipelineName=pipeline_name, pipelineExecutionId=execution_id)["pipelineExecution"]  # type: ignore[no-any-return]


def wait_for_execution(pipeline_name: str, execution_id: str, timeout_seconds: float = 60.0, session: Any = None) -> dict[str, Any]:
    """GetPipelineExecution of the execution once it has ended (Succeeded, Failed, Stopped,
    Cancelled or Superseded), polling; raises TimeoutError."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        described = get_execution(pipeline_name, execution_id, session)
        if described["status"] in ENDED:
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(f"{pipeline_name} execution {execution_id} is still {described['status']} after {timeout_seconds} s")
        time.sleep(0.02)


def action_executions(pipeline_name: str, execution_id: str, session: Any = None) -> list[dict[str, Any]]:
    """ListActionExecutions of one execution, every page, newest first."""
    pipelines = client(session, "codepipeline")
    details: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {"pipelineName": pipeline_name, "filter": {"pipelineExecutionId": execution_id}}
    while True:
        page = pipelines.list_action_executions(**arguments)
        details += page["actionExecutionDetails"]
        if not page.get("nextToken"):
            return details
        arguments["nextToken"] = page["nextToken"]


class ActionFailed(Exception):
    """The action failed; the message is what CodePipeline would show, `code` its error code."""

    def __init__(self, message: str, external_id: str | None = None, code: str = "JobFailed") -> None:
        super().__init__(message)
        self.external_id = external_id
        self.code = code


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
                raise ActionFailed(UNRESOLVED.format(action["name"]), code="ActionConfigurationError")
    return {key: VARIABLE.sub(lambda match: variables[match.group(1)][match.group(2)], value) if isinstance(value, str) else value for key, value in configuration.items()}


def upload_artifact(bucket: str, pipeline_name: str, artifact_name: str, data: bytes, session: Any = None) -> tuple[str, str]:
    # CodePipeline's own key layout: <pipeline, 20 chars>/<artifact, 10 chars>/<random>.
    key = f"{pipeline_name[:20]}/{artifact_name[:10]}/{uuid.uuid4().hex[:7]}"
    client(session, "s3").put_object(Bucket=bucket, Key=key, Body=data)
    return bucket, key


def zip_folder(folder: Path) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and ".git" not in path.parts:
                archive.write(path, path.relative_to(folder).as_posix())
    return out.getvalue()


def build_environment(configuration: dict[str, Any]) -> dict[str, str]:
    """Gap: the local build must get the environment variables the CodeBuild action passes. AWS
    (user guide, "AWS CodeBuild build and test action reference", EnvironmentVariables): a JSON
    array of {name, value, type}, type PLAINTEXT (the default), PARAMETER_STORE or SECRETS_MANAGER,
    its variable references resolved before the build starts; CodePipeline passes them to the
    build, where they take precedence over the buildspec's env variables (CodeBuild user guide,
    "Build specification reference", env/variables). Here PLAINTEXT only: any other type, or text
    that is not such an array, fails the action."""
    text = configuration.get("EnvironmentVariables")
    if not text:
        return {}
    try:
        entries = json.loads(text)
    except ValueError as error:
        raise ActionFailed(f"EnvironmentVariables is not valid JSON: {error}", code="ActionConfigurationError") from error
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ActionFailed("EnvironmentVariables must be a JSON array of {name, value, type} objects", code="ActionConfigurationError")
    environment: dict[str, str] = {}
    for entry in entries:
        name, value, kind = entry.get("name"), entry.get("value"), entry.get("type", "PLAINTEXT")
        if not isinstance(name, str) or not name or not isinstance(value, str):
            raise ActionFailed(f"EnvironmentVariables: every variable needs a name and a string value, got {entry}", code="ActionConfigurationError")
        if kind != "PLAINTEXT":
            raise ActionFailed(f"EnvironmentVariables: {name} is of type {kind}; the local pipeline runner applies PLAINTEXT variables only", code="ActionConfigurationError")
        environment[name] = value
    return environment


def load_buildspec(buildspec: str, root: Path) -> tuple[dict[str, Any], str]:
    """The build's buildspec: the file of the source that the project's buildspec names, or the
    project's buildspec itself (CodeBuild takes either); with how the summary names it."""
    if "\n" not in buildspec:
        try:
            is_file = (root / buildspec).is_file()
        except OSError:  # e.g. a one-line inline buildspec longer than a file name may be
            is_file = False
        if is_file:
            spec = yaml.safe_load((root / buildspec).read_text())
            if isinstance(spec, dict):
                return spec, buildspec
    spec = yaml.safe_load(buildspec)
    if not isinstance(spec, dict):
        raise ActionFailed(f"YAML_FILE_ERROR: the buildspec {buildspec[:200]!r} is neither a file of the source nor a buildspec", code="JobFailed")
    return spec, "the project's buildspec"


def run_build(
    action: dict[str, Any], configuration: dict[str, Any], bucket: str, pipeline_name: str, artifacts: dict[str, tuple[str, str]], session: Any = None
) -> tuple[str, dict[str, str]]:
    session = session or default_session()
    projects = client(session, "codebuild").batch_get_projects(names=[configuration["ProjectName"]])["projects"]
    if not projects:
        raise ActionFailed(f"the CodeBuild project {configuration['ProjectName']} does not exist", code="ActionConfigurationError")
    action_environment = build_environment(configuration)
    source_bucket, source_key = artifacts[action["inputArtifacts"][0]["name"]]
    with tempfile.TemporaryDirectory() as workdir:
        root = Path(workdir)
        body = client(session, "s3").get_object(Bucket=source_bucket, Key=source_key)["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            archive.extractall(root)
        spec, buildspec_name = load_buildspec(projects[0].get("source", {}).get("buildspec") or "buildspec.yml", root)
        run_buildspec_phases(spec, root, action_environment)
        output = spec.get("artifacts") or {}
        base = root / output.get("base-directory", ".")
        name = action["outputArtifacts"][0]["name"] if action.get("outputArtifacts") else None
        if name is not None:
            artifacts[name] = upload_artifact(bucket, pipeline_name, name, zip_folder(base), session)
    return (f"built {name} with {buildspec_name}" if name else f"ran {buildspec_name}"), {}


def run_buildspec_phases(spec: dict[str, Any], root: Path, overrides: dict[str, str] | None = None) -> None:
    """The commands of each phase, in order, in one shell per command as CodeBuild runs them, with
    the buildspec's env variables and `overrides` (the action's) over them (runtime-versions is
    CodeBuild's image choice and is not applied locally)."""
    declared = {str(k): str(v) for k, v in ((spec.get("env") or {}).get("variables") or {}).items()}
    environment = os.environ | declared | (overrides or {})
    for phase in ("install", "pre_build", "build", "post_build"):
        for command in ((spec.get("phases") or {}).get(phase) or {}).get("commands", []):
            finished = subprocess.run(["bash", "-c", command], cwd=root, env=environment, capture_output=True, text=True, timeout=600, check=False)
            if finished.returncode != 0:
                tail = (finished.stdout + finished.stderr).strip()[-1500:]
                raise ActionFailed(f"phase {phase} failed: command {command!r} exited {finished.returncode}: {tail}")


def job_event(
    job_id: str, action: dict[str, Any], configuration: dict[str, Any], artifacts: dict[str, tuple[str, str]], token: str | None, account: str | None = None
) -> dict[str, Any]:
    """The CodePipeline job event a Lambda action is invoked with, for a job of `account` (default:
    the account boto3's default session acts in)."""
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
    account = account or client(None, "sts").get_caller_identity()["Account"]
    return {"CodePipeline.job": {"id": job_id, "accountId": account, "data": data}}


def run_invoke(
    action: dict[str, Any],
    configuration: dict[str, Any],
    artifacts: dict[str, tuple[str, str]],
    results: JobResults,
    execution: Execution,
    interval_seconds: float,
    max_invocations: int,
) -> tuple[str, dict[str, str], str | None]:
    """Invoke the function (in the execution's account, with its session) with job events until it
    posts a final result; stop re-invoking it once the execution is being abandoned (the caller
    ignores what was posted)."""
    token: str | None = None
    reported: str | None = None  # the externalExecutionId last posted, which the console keeps showing
    functions = client(execution.session, "lambda")
    for _ in range(max_invocations):
        job_id = str(uuid.uuid4())
        payload = json.dumps(job_event(job_id, action, configuration, artifacts, token, execution.account))
        response = functions.invoke(FunctionName=configuration["FunctionName"], Payload=payload)
        result = results.by_job.get(job_id)
        if execution.abandoning():
            return "", {}, reported
        if result is None:
            error = response["Payload"].read().decode()[:1500]
            raise ActionFailed(f"the function posted no job result (it returned {error})")
        if result["result"] == "failure":
            details = result["failureDetails"]
            raise ActionFailed(details["message"], details.get("externalExecutionId"), code=details.get("type") or "JobFailed")
        details = result.get("executionDetails", {})
        reported = details.get("externalExecutionId", reported)
        token = result.get("continuationToken")
        if token is None:
            return details.get("summary", ""), dict(result.get("outputVariables") or {}), reported
        time.sleep(interval_seconds)
        if execution.abandoning():
            return "", {}, reported
    raise ActionFailed(f"still in progress after {max_invocations} invocations")
