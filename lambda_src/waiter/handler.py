"""CodePipeline's Deploy action: runs the DeploymentStateMachine and reports its outcome to the pipeline.

The first invocation of a job starts an execution and reports the job in progress with a continuation
token naming the execution. CodePipeline then invokes the function again with that token until an
invocation reports a final result: success (with output variables) or failure.

Every invocation posts a job result, also when the event, the configuration or an AWS call is wrong,
so the pipeline never waits for the action's timeout. The handler raises only when there is no job
to report to, or when CodePipeline refuses the failure result itself.

UserParameters (JSON, set by Terraform): {"commit_id", "pipeline_execution_id", "pipeline_name"}.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field as dataclass_field
from datetime import UTC, datetime
from typing import Any, Literal

from shared import aws
from shared.config import env
from shared.errors import ConfigurationError, DeploymentError, InvalidInput, UnexpectedError
from shared.events import ArtifactLocation, commit_id as read_commit_id, field, type_name
from shared.observability import lambda_entry, logger, named_error

# Limits of the CodePipeline and Step Functions APIs (botocore service models).
MAX_FAILURE_MESSAGE = 5000
MAX_SUMMARY = 2048
MAX_EXECUTION_NAME = 80
COMMIT_PREFIX = 12

JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
EXECUTION_ARN = re.compile(r"^arn:[\w-]+:states:[\w-]+:\d{12}:execution:[^:\s]+:[^:\s]+$")
USER_PARAMETERS = ("commit_id", "pipeline_execution_id", "pipeline_name")
EXPECTED_USER_PARAMETERS = '{"commit_id": "...", "pipeline_execution_id": "...", "pipeline_name": "..."}'

RUNNING = frozenset({"RUNNING", "PENDING_REDRIVE"})
DEFAULT_FAILURES = {
    "FAILED": ("ExecutionFailed", "the execution failed without a cause"),
    "TIMED_OUT": ("ExecutionTimedOut", "the execution ran past its timeout"),
    "ABORTED": ("ExecutionAborted", "the execution was stopped"),
}

Result = Literal["started", "running", "succeeded", "failed"]


@dataclass(frozen=True)
class Job:
    id: str
    continuation_token: Any
    document: Mapping[str, Any]  # the event's "CodePipeline.job" object


@dataclass(frozen=True)
class StartRequest:
    commit_id: str
    artifact: ArtifactLocation
    pipeline_name: str
    pipeline_execution_id: str


@dataclass(frozen=True)
class Report:
    """What one invocation tells CodePipeline about the job."""

    result: Result
    message: str
    execution_arn: str | None = None
    continuation_token: str | None = None
    output_variables: dict[str, str] = dataclass_field(default_factory=dict)


@lambda_entry
def handler(event: Any, context: Any) -> dict[str, Any]:
    job = read_job(event)
    try:
        report = decide(job)
    except Exception as error:  # noqa: BLE001 - every failure is reported to the pipeline
        report = failure(error)
    report = post(job.id, report)
    return {"job_id": job.id, "result": report.result, "execution_arn": report.execution_arn, "message": report.message}


# --- the job ---------------------------------------------------------------------------------


def read_job(event: Any) -> Job:
    """The job to report to; InvalidInput (raised) when the event names no usable job."""
    if not isinstance(event, Mapping):
        raise InvalidInput(f"the event must be a CodePipeline job event (a JSON object), got {type_name(event)}")
    job = event.get("CodePipeline.job")
    if not isinstance(job, Mapping):
        raise InvalidInput("the event has no 'CodePipeline.job' object: this function must be invoked by a CodePipeline action")
    job_id = job.get("id")
    if not isinstance(job_id, str) or not JOB_ID.match(job_id):
        raise InvalidInput("'CodePipeline.job.id' is missing or is not a CodePipeline job id: there is no job to report to")
    data = job.get("data")
    token = data.get("continuationToken") if isinstance(data, Mapping) else None
    return Job(id=job_id, continuation_token=token, document=job)


def read_start_request(job: Job) -> StartRequest:
    configuration = field(job.document, "data.actionConfiguration.configuration", dict)
    user_parameters = configuration.get("UserParameters")
    if not isinstance(user_parameters, str) or not user_parameters.strip():
        raise InvalidInput(f"the action has no UserParameters; set them to {EXPECTED_USER_PARAMETERS}")
    try:
        parameters = json.loads(user_parameters)
    except ValueError as error:
        raise InvalidInput(f"UserParameters is not valid JSON ({error}); expected {EXPECTED_USER_PARAMETERS}") from None
    if not isinstance(parameters, dict):
        raise InvalidInput(f"UserParameters must be a JSON object, got {type_name(parameters)}; expected {EXPECTED_USER_PARAMETERS}")
    for name in USER_PARAMETERS:
        value = parameters.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"UserParameters has no '{name}' string; expected {EXPECTED_USER_PARAMETERS}")
    try:
        commit = read_commit_id(parameters)
    except InvalidInput as error:
        raise InvalidInput(f"UserParameters: {error}") from None
    return StartRequest(
        commit_id=commit,
        artifact=read_artifact_location(job),
        pipeline_name=parameters["pipeline_name"],
        pipeline_execution_id=parameters["pipeline_execution_id"],
    )


def read_artifact_location(job: Job) -> ArtifactLocation:
    """The S3 location of the action's first input artifact (the build output)."""
    artifacts = field(job.document, "data.inputArtifacts", list)
    if not artifacts:
        raise InvalidInput("the action has no input artifact: give the Deploy action the build output artifact")
    if not isinstance(artifacts[0], Mapping):
        raise InvalidInput(f"the first input artifact must be a JSON object, got {type_name(artifacts[0])}")
    try:
        bucket = field(artifacts[0], "location.s3Location.bucketName", str)
        key = field(artifacts[0], "location.s3Location.objectKey", str)
    except InvalidInput as error:
        raise InvalidInput(f"the first input artifact: {error}") from None
    return ArtifactLocation(bucket=bucket, key=key)


# --- deciding --------------------------------------------------------------------------------


def decide(job: Job) -> Report:
    if job.continuation_token is None:
        return start(job.id, read_start_request(job))
    execution_arn = read_continuation_token(job.continuation_token)
    try:
        return check(execution_arn, job.continuation_token)
    except Exception as error:  # noqa: BLE001 - reported with the execution it concerns
        return failure(error, execution_arn)


def start(job_id: str, request: StartRequest) -> Report:
    state_machine_arn = read_state_machine_arn()
    name = execution_name(request.commit_id, job_id)
    document = json.dumps(execution_input(request, job_id))
    states = aws.client("stepfunctions")
    try:
        execution_arn: str = states.start_execution(stateMachineArn=state_machine_arn, name=name, input=document)["executionArn"]
        logger.info("execution started", extra={"job_id": job_id, "execution_arn": execution_arn, "commit_id": request.commit_id})
    except states.exceptions.ExecutionAlreadyExists:
        execution_arn = execution_arn_of(state_machine_arn, name)
        logger.info("execution already exists for this job", extra={"job_id": job_id, "execution_arn": execution_arn})
    return Report(
        result="started",
        message=f"Deployment {name} started",
        execution_arn=execution_arn,
        continuation_token=continuation_token(execution_arn),
    )


def check(execution_arn: str, token: str) -> Report:
    execution = aws.client("stepfunctions").describe_execution(executionArn=execution_arn)
    status: str = execution["status"]
    name: str = execution.get("name") or execution_arn.rsplit(":", 1)[-1]
    logger.info("execution status", extra={"execution_arn": execution_arn, "status": status})
    if status in RUNNING:
        return Report(
            result="running",
            message=f"Deployment {name} {status.lower().replace('_', ' ')} for {elapsed(execution.get('startDate'))}",
            execution_arn=execution_arn,
            continuation_token=token,
        )
    if status == "SUCCEEDED":
        return succeeded(execution_arn, name, execution.get("output"))
    if status in DEFAULT_FAILURES:
        default_error, default_cause = DEFAULT_FAILURES[status]
        error = execution.get("error") or default_error
        cause = readable_cause(execution.get("cause")) or default_cause
        return Report(result="failed", message=failure_message(error, cause, execution_arn), execution_arn=execution_arn)
    raise UnexpectedError(f"the execution has the unknown status {status!r}")


def succeeded(execution_arn: str, name: str, output: Any) -> Report:
    document = json_object(output)
    variables = {"ExecutionArn": execution_arn, "ExecutionName": name}
    versions = []
    for environment, variable in (("staging", "StagingVersion"), ("production", "ProductionVersion")):
        version = new_version(document, environment)
        if version is not None:
            variables[variable] = version
            versions.append(f"{environment} version {version}")
    summary = f"Deployment {name} succeeded" + (f": {', '.join(versions)}" if versions else "")
    return Report(result="succeeded", message=bounded(summary, MAX_SUMMARY), execution_arn=execution_arn, output_variables=variables)


def failure(error: Exception, execution_arn: str | None = None) -> Report:
    reported = named_error(error)
    extra = {"error": reported.name, "cause": str(reported), "execution_arn": execution_arn}
    if isinstance(error, DeploymentError):
        logger.warning("reporting the job failed", extra=extra)
    else:
        logger.exception("reporting the job failed", extra=extra)
    return Report(result="failed", message=failure_message(reported.name, str(reported), execution_arn), execution_arn=execution_arn)


# --- reporting -------------------------------------------------------------------------------


def post(job_id: str, report: Report) -> Report:
    """Post `report`; a rejected success is reported as a failure. Raises if the failure is rejected."""
    if report.result == "failed":
        post_failure(job_id, report)
        return report
    try:
        post_success(job_id, report)
    except Exception as error:  # noqa: BLE001 - a rejected success must still end the job
        report = failure(error, report.execution_arn)
        post_failure(job_id, report)
    return report


def post_success(job_id: str, report: Report) -> None:
    details: dict[str, Any] = {"summary": bounded(report.message, MAX_SUMMARY)}
    if report.execution_arn:
        details["externalExecutionId"] = report.execution_arn
    request: dict[str, Any] = {"jobId": job_id, "executionDetails": details}
    if report.continuation_token is not None:
        request["continuationToken"] = report.continuation_token
    elif report.output_variables:
        request["outputVariables"] = report.output_variables
    aws.client("codepipeline").put_job_success_result(**request)
    logger.info("job result posted", extra={"job_id": job_id, "result": report.result, "execution_arn": report.execution_arn})


def post_failure(job_id: str, report: Report) -> None:
    details = {"type": "JobFailed", "message": bounded(report.message, MAX_FAILURE_MESSAGE)}
    if report.execution_arn:
        details["externalExecutionId"] = report.execution_arn
    try:
        aws.client("codepipeline").put_job_failure_result(jobId=job_id, failureDetails=details)
    except Exception:
        logger.error("cannot post the job failure", extra={"job_id": job_id, "failure": details["message"]})
        raise
    logger.info("job result posted", extra={"job_id": job_id, "result": "failed", "failure": details["message"]})


# --- names, documents and messages -----------------------------------------------------------


def read_state_machine_arn() -> str:
    arn = env("STATE_MACHINE_ARN")
    parts = arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "states" or parts[5] != "stateMachine" or not parts[6]:
        raise ConfigurationError(f"environment variable STATE_MACHINE_ARN={arn!r} is not a Step Functions state machine ARN")
    return arn


def execution_name(commit: str, job_id: str) -> str:
    return NAME_UNSAFE.sub("-", f"{commit[:COMMIT_PREFIX]}-{job_id}")[:MAX_EXECUTION_NAME]


def execution_arn_of(state_machine_arn: str, name: str) -> str:
    """arn:P:states:R:A:stateMachine:SM[:qualifier] -> arn:P:states:R:A:execution:SM:name"""
    parts = state_machine_arn.split(":")
    return ":".join([*parts[:5], "execution", parts[6], name])


def execution_input(request: StartRequest, job_id: str) -> dict[str, Any]:
    return {
        "commit_id": request.commit_id,
        "artifact": {"bucket": request.artifact.bucket, "key": request.artifact.key, "version_id": request.artifact.version_id},
        "pipeline": {"name": request.pipeline_name, "execution_id": request.pipeline_execution_id, "job_id": job_id},
    }


def continuation_token(execution_arn: str) -> str:
    return json.dumps({"execution_arn": execution_arn})


def read_continuation_token(token: Any) -> str:
    """The execution ARN in a token this function issued."""
    if not isinstance(token, str):
        raise InvalidInput(f"the continuation token must be a string, got {type_name(token)}")
    if not token.strip():
        raise InvalidInput("the continuation token is empty")
    try:
        document = json.loads(token)
    except ValueError:
        document = None
    arn = document.get("execution_arn") if isinstance(document, dict) else None
    if not isinstance(arn, str) or not EXECUTION_ARN.match(arn):
        raise InvalidInput(f'the continuation token {token[:200]!r} is not {{"execution_arn": <Step Functions execution ARN>}}')
    return arn


def readable_cause(cause: Any) -> str:
    """A Lambda error's Cause is JSON ({errorMessage, errorType, stackTrace}): keep its errorMessage."""
    if not isinstance(cause, str):
        return ""
    try:
        document = json.loads(cause)
    except ValueError:
        return cause.strip()
    if isinstance(document, dict) and isinstance(document.get("errorMessage"), str) and document["errorMessage"].strip():
        return str(document["errorMessage"]).strip()
    return cause.strip()


def failure_message(error: str, cause: str, execution_arn: str | None) -> str:
    """`<error>: <cause> (execution <arn>)` within the API limit, shortening the cause first."""
    head = f"{error}: "
    tail = f" (execution {execution_arn})" if execution_arn else ""
    room = MAX_FAILURE_MESSAGE - len(head) - len(tail)
    return bounded(head + bounded(cause, max(room, 1)) + tail, MAX_FAILURE_MESSAGE)


def bounded(value: str, limit: int) -> str:
    marker = "…"
    return value if len(value) <= limit else value[: limit - len(marker)] + marker


def json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, str):
        return {}
    try:
        document = json.loads(value)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def new_version(output: Mapping[str, Any], environment: str) -> str | None:
    deployment = output.get(environment)
    return text(deployment.get("new_version")) if isinstance(deployment, Mapping) else None


def text(value: Any) -> str | None:
    """An output variable value: a non-empty string, or a number as text."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return value if isinstance(value, str) and value else None


def elapsed(started: Any) -> str:
    if not isinstance(started, datetime):
        return "an unknown time"
    seconds = max(0, int((datetime.now(UTC) - started).total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s"
