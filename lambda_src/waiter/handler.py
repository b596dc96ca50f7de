"""CodePipeline's Deploy action: runs the DeploymentStateMachine and reports its outcome to the pipeline.

The first invocation of a job starts an execution and reports the job in progress with a continuation
token naming the execution. CodePipeline then invokes the function again with that token until an
invocation reports a final result: success (with output variables) or failure.

Every invocation posts a job result, also when the event, the configuration or an AWS call is wrong,
so the pipeline never waits for the action's timeout. The pipeline and the deployment never
disagree: a check that fails for a passing reason (throttling, a 5xx, a timeout) keeps the job in
progress, for up to CHECK_OUTAGE_SECONDS; and before the job is failed while its execution may
still be running, the execution is stopped and rolled back (by the stop_deployment function). The
handler raises only when there is no job to report to, or when posting the result failed for a
passing reason (CodePipeline invokes this function asynchronously, so Lambda invokes it again).

UserParameters (JSON, set by Terraform): {"service", "commit_id", "pipeline_execution_id",
"pipeline_name"}. The service must be registered with the platform (shared/services.py) for this
pipeline: the execution's input carries its registry entry as `service`, which every step checks
again, and the execution is named `<service>-<commit, 12 chars>-<job id>`.

Pipeline mode: UserParameters with the key "pipeline" (or another of pipelines.PARAMETERS, and none
of a deployment's) make the action wait for an execution of another pipeline, and optionally start
it, instead of deploying (pipelines.py). Each mode refuses the other's continuation tokens; both
post their results through `deliver` here, and only a deployment is ever stopped.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field as dataclass_field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from shared import aws, notifications
from shared.config import env
from shared.errors import ConfigurationError, DeploymentError, InvalidInput, TargetNotAllowed, UnexpectedError
from shared.events import ArtifactLocation, commit_id as read_commit_id, field, is_service_name, preview, type_name
from shared.observability import is_transient, lambda_entry, logger, named_error, readable
from shared.services import Service, acting_for, checked_name, registered

if TYPE_CHECKING:  # mypy reads lambda_src/ as the package base
    from waiter import pipelines
else:
    try:  # in the function's zip, pipelines.py is beside handler.py
        import pipelines
    except ModuleNotFoundError as error:  # handler.py loaded from lambda_src/ (the tests)
        if error.name != "pipelines":
            raise
        from waiter import pipelines

# Limits of the CodePipeline and Step Functions APIs (botocore service models).
MAX_FAILURE_MESSAGE = 5000
MAX_SUMMARY = 2048
MAX_EXTERNAL_EXECUTION_ID = 1500
MAX_CONTINUATION_TOKEN = 2048
MAX_USER_PARAMETERS = 1000
MAX_EXECUTION_NAME = 80
COMMIT_PREFIX = 12
# How long the execution may be impossible to check before the job fails (and the execution is stopped).
CHECK_OUTAGE_SECONDS = 15 * 60

JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EXECUTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
USER_PARAMETERS = ("service", "commit_id", "pipeline_execution_id", "pipeline_name")
EXPECTED_USER_PARAMETERS = '{"service": "...", "commit_id": "...", "pipeline_execution_id": "...", "pipeline_name": "..."}'
EXPECTED_EITHER = f"{EXPECTED_USER_PARAMETERS} to deploy a service, or {pipelines.EXAMPLE} to wait for a pipeline"
# CodePipeline's answers when the job has a result already or is gone (e.g. a repeated invocation).
JOB_FINISHED_CODES = frozenset({"InvalidJobStateException", "JobNotFoundException"})

RUNNING = frozenset({"RUNNING", "PENDING_REDRIVE"})
# GetPipelineExecution states of a run that no longer waits for its actions.
ENDED_RUN_STATES = frozenset({"Stopping", "Stopped", "Superseded", "Cancelled", "Failed"})
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
    service: str
    commit_id: str
    artifact: ArtifactLocation
    pipeline_name: str
    pipeline_execution_id: str


@dataclass(frozen=True)
class Token:
    """What a continuation token carries: the execution, and since when it could not be checked."""

    execution_arn: str
    unavailable_since: datetime | None = None

    def serialized(self) -> str:
        document: dict[str, str] = {"execution_arn": self.execution_arn}
        if self.unavailable_since is not None:
            document["unavailable_since"] = self.unavailable_since.strftime(TIMESTAMP_FORMAT)
        return json.dumps(document)


@dataclass(frozen=True)
class Report:
    """What one invocation tells CodePipeline about the job."""

    result: Result
    message: str
    execution_arn: str | None = None
    continuation_token: str | None = None
    output_variables: dict[str, str] = dataclass_field(default_factory=dict)
    # A failure while the execution may still be running: it is stopped before the job fails.
    execution_may_run: bool = False
    # Pipeline mode: the target pipeline's execution (never stopped by this function).
    target_execution_id: str | None = None

    @property
    def external_id(self) -> str | None:
        """What the job result gives as externalExecutionId."""
        return self.execution_arn or self.target_execution_id


@lambda_entry
def handler(event: Any, context: Any) -> dict[str, Any]:
    job = read_job(event)
    report = deliver(job, decide(job))
    result = {"job_id": job.id, "result": report.result, "execution_arn": report.execution_arn, "message": report.message}
    return result | ({"target_execution_id": report.target_execution_id} if report.target_execution_id else {})


# --- the job ---------------------------------------------------------------------------------


def read_job(event: Any) -> Job:
    """The job to report to; InvalidInput (raised) when the event names no usable job."""
    if not isinstance(event, Mapping):
        raise InvalidInput(f"the event must be a CodePipeline job event (a JSON object), got {type_name(event)}")
    job = event.get("CodePipeline.job")
    if not isinstance(job, Mapping):
        raise InvalidInput("the event has no 'CodePipeline.job' object: this function must be invoked by a CodePipeline action")
    job_id = job.get("id")
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise InvalidInput("'CodePipeline.job.id' is missing or is not a CodePipeline job id: there is no job to report to")
    data = job.get("data")
    token = data.get("continuationToken") if isinstance(data, Mapping) else None
    return Job(id=job_id, continuation_token=token, document=job)


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidInput(f"{what} is nested too deeply to be read") from None


def read_user_parameters(job: Job) -> dict[str, Any]:
    """The action's UserParameters: a JSON object of at most MAX_USER_PARAMETERS characters."""
    configuration = field(job.document, "data.actionConfiguration.configuration", dict)
    user_parameters = configuration.get("UserParameters")
    if not isinstance(user_parameters, str) or not user_parameters.strip():
        raise InvalidInput(f"the action has no UserParameters; set them to {EXPECTED_EITHER}")
    if len(user_parameters) > MAX_USER_PARAMETERS:
        raise InvalidInput(f"UserParameters is {len(user_parameters)} characters long, over CodePipeline's {MAX_USER_PARAMETERS}; expected {EXPECTED_EITHER}")
    try:
        parameters = parse_json(user_parameters, "UserParameters")
    except ValueError as error:
        raise InvalidInput(f"UserParameters is not valid JSON ({error}); expected {EXPECTED_EITHER}") from None
    if not isinstance(parameters, dict):
        raise InvalidInput(f"UserParameters must be a JSON object, got {type_name(parameters)}; expected {EXPECTED_EITHER}")
    return parameters


def pipeline_mode(job: Job) -> dict[str, Any] | None:
    """The UserParameters when they ask to wait for a pipeline; None for a deployment, also when
    they cannot be read (the deployment's reading says why, as before pipeline mode existed).
    InvalidInput when they mix the keys of both."""
    try:
        parameters = read_user_parameters(job)
    except InvalidInput:
        return None
    if not pipelines.requested(parameters):
        return None
    mixed = [name for name in USER_PARAMETERS if name in parameters]
    if mixed:
        given = [name for name in pipelines.PARAMETERS if name in parameters]
        raise InvalidInput(f"UserParameters mix a deployment's keys ({', '.join(mixed)}) with those of waiting for a pipeline ({', '.join(given)}); expected {EXPECTED_EITHER}")
    return parameters


def read_start_request(job: Job) -> StartRequest:
    parameters = read_user_parameters(job)
    for name in USER_PARAMETERS:
        value = parameters.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"UserParameters has no '{name}' string; expected {EXPECTED_USER_PARAMETERS}")
    try:
        service = checked_name(field(parameters, "service", str, max_length=64), "service")
        commit = read_commit_id(parameters)
        pipeline_name = field(parameters, "pipeline_name", str, max_length=100)
        pipeline_execution_id = field(parameters, "pipeline_execution_id", str, max_length=200)
    except InvalidInput as error:
        raise InvalidInput(f"UserParameters: {error}") from None
    return StartRequest(service=service, commit_id=commit, artifact=read_artifact_location(job), pipeline_name=pipeline_name, pipeline_execution_id=pipeline_execution_id)


def read_artifact_location(job: Job) -> ArtifactLocation:
    """The S3 location of the action's first input artifact (the build output)."""
    artifacts = field(job.document, "data.inputArtifacts", list)
    if not artifacts:
        raise InvalidInput("the action has no input artifact: give the Deploy action the build output artifact")
    if not isinstance(artifacts[0], Mapping):
        raise InvalidInput(f"the first input artifact must be a JSON object, got {type_name(artifacts[0])}")
    try:
        bucket = field(artifacts[0], "location.s3Location.bucketName", str, max_length=255)
        key = field(artifacts[0], "location.s3Location.objectKey", str, max_length=1024)
    except InvalidInput as error:
        raise InvalidInput(f"the first input artifact: {error}") from None
    return ArtifactLocation(bucket=bucket, key=key)


# --- deciding --------------------------------------------------------------------------------


def decide(job: Job) -> Report:
    """What to tell CodePipeline; never raises."""
    try:
        parameters = pipeline_mode(job)
        if parameters is not None:
            report = pipeline_report(pipelines.decide(job.id, parameters, job.continuation_token, CHECK_OUTAGE_SECONDS))
            if report.result in ("succeeded", "failed"):
                notify_wait_ended(job.id, parameters, report)
            return report
        if job.continuation_token is None:
            return start(job.id, read_start_request(job))
        token = read_continuation_token(job.continuation_token, read_state_machine_arn())
    except Exception as error:  # noqa: BLE001 - every failure is reported to the pipeline
        return failure(error)
    try:
        return check(token)
    except Exception as error:  # noqa: BLE001 - reported with the execution it concerns, which may still run
        gone = isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist"
        return replace(failure(error, token.execution_arn), execution_may_run=not gone)


def pipeline_report(outcome: "pipelines.Outcome") -> Report:
    return Report(
        result=outcome.result,
        message=bounded(readable(outcome.message, MAX_FAILURE_MESSAGE), MAX_FAILURE_MESSAGE),
        continuation_token=outcome.continuation_token,
        output_variables=outcome.output_variables,
        target_execution_id=outcome.execution_id,
    )


def notify_wait_ended(job_id: str, parameters: Mapping[str, Any], report: Report) -> None:
    """Tell the topic's subscribers how a pipeline wait ended; a notification that cannot be sent
    changes nothing of the job's result."""
    target = str(parameters.get("pipeline"))[:100]
    execution = report.target_execution_id
    error = report.message.split(":", 1)[0] if report.result == "failed" else None
    details = [{"label": "Target pipeline", "value": target}, {"label": "Target execution", "value": execution or "none"}, {"label": "Waiting job", "value": job_id}]
    if isinstance(parameters.get("role_arn"), str):
        details.append({"label": "Role", "value": str(parameters["role_arn"])[:2048]})
    try:
        note = notifications.notification(
            "pipeline_wait",
            report.result,
            f"Wait for {target} {report.result}",
            readable(f"The wait of job {job_id} for pipeline {target} (execution {execution or 'none'}) {report.result}: {report.message}"),
            pipeline={"name": target, "execution_id": execution},
            error=error,
            cause=report.message if error else None,
            details=details,
        )
        notifications.publish(env("NOTIFICATION_TOPIC_ARN"), note)
    except Exception as error:  # noqa: BLE001 - the job's result is what counts
        logger.warning("cannot publish the notification", extra={"error": str(named_error(error))})


def start(job_id: str, request: StartRequest) -> Report:
    state_machine_arn = read_state_machine_arn()
    service = registered(request.service)
    if service.pipeline_name != request.pipeline_name:
        raise TargetNotAllowed(
            f"service {service.name} is registered for pipeline {service.pipeline_name!r}, but this job's UserParameters name pipeline "
            f"{request.pipeline_name!r}; a pipeline deploys only the service registered for it"
        )
    name = execution_name(request.service, request.commit_id, job_id)
    document = json.dumps(execution_input(request, job_id, service.document))
    states = aws.client("stepfunctions")
    try:
        execution_arn: str = states.start_execution(stateMachineArn=state_machine_arn, name=name, input=document)["executionArn"]
        logger.info("execution started", extra={"job_id": job_id, "execution_arn": execution_arn, "commit_id": request.commit_id, "service": request.service})
    except states.exceptions.ExecutionAlreadyExists:
        execution_arn = execution_arn_of(state_machine_arn, name)
        logger.info("execution already exists for this job", extra={"job_id": job_id, "execution_arn": execution_arn})
    ended = pipeline_run_ended(request, service)
    if ended:
        # Stopped before the execution existed: stop_deployment, run by that stop's events, found nothing to stop.
        return Report(result="failed", message=failure_message("PipelineRunEnded", ended, execution_arn), execution_arn=execution_arn, execution_may_run=True)
    return Report(
        result="started",
        message=f"Deployment {name} started",
        execution_arn=execution_arn,
        continuation_token=Token(execution_arn).serialized(),
    )


def pipeline_run_ended(request: StartRequest, service: Service) -> str | None:
    """Why the pipeline run no longer waits for this job, when it was stopped, superseded, canceled
    or failed; None while it is in progress, or when its state cannot be read (the events of a
    stop that comes later reach stop_deployment). The service's pipeline is read as its access role."""
    try:
        with acting_for(service, "waiter"):
            run = aws.client("codepipeline").get_pipeline_execution(pipelineName=request.pipeline_name, pipelineExecutionId=request.pipeline_execution_id)["pipelineExecution"]
    except Exception as error:  # noqa: BLE001 - a check that cannot be made must not fail the deployment
        logger.warning("cannot read the pipeline run's state", extra={"pipeline": request.pipeline_name, "reason": str(named_error(error))})
        return None
    status = str(run.get("status", ""))
    if status not in ENDED_RUN_STATES:
        return None
    return f"pipeline {request.pipeline_name} execution {request.pipeline_execution_id} is {status} (it ended while its deployment was being started)"


def check(token: Token) -> Report:
    try:
        execution = aws.client("stepfunctions").describe_execution(executionArn=token.execution_arn)
    except Exception as error:
        if not is_transient(error):
            raise
        return unavailable(token, error)
    status: str = execution["status"]
    name: str = execution.get("name") or token.execution_arn.rsplit(":", 1)[-1]
    logger.info("execution status", extra={"execution_arn": token.execution_arn, "status": status})
    if status in RUNNING:
        return Report(
            result="running",
            message=f"Deployment {name} {status.lower().replace('_', ' ')} for {elapsed(execution.get('startDate'))}",
            execution_arn=token.execution_arn,
            continuation_token=Token(token.execution_arn).serialized(),
        )
    if status == "SUCCEEDED":
        return succeeded(token.execution_arn, name, execution.get("output"), service_named(execution.get("input")))
    if status in DEFAULT_FAILURES:
        default_error, default_cause = DEFAULT_FAILURES[status]
        failed_with = execution.get("error") or default_error
        cause = readable_cause(execution.get("cause")) or default_cause
        return Report(result="failed", message=failure_message(failed_with, cause, token.execution_arn), execution_arn=token.execution_arn)
    raise UnexpectedError(f"the execution has the unknown status {status!r}")


def unavailable(token: Token, error: Exception) -> Report:
    """The execution could not be checked for a passing reason: keep the job in progress, until
    it has been so for CHECK_OUTAGE_SECONDS."""
    now = datetime.now(UTC)
    since = token.unavailable_since or now
    reason = str(named_error(error))
    if now - since >= timedelta(seconds=CHECK_OUTAGE_SECONDS):
        cause = f"the execution could not be checked for {CHECK_OUTAGE_SECONDS // 60} minutes, since {since.strftime(TIMESTAMP_FORMAT)}: {reason}"
        return Report(result="failed", message=failure_message("ExecutionUnobservable", cause, token.execution_arn), execution_arn=token.execution_arn, execution_may_run=True)
    logger.warning("the execution cannot be checked now; the job stays in progress", extra={"execution_arn": token.execution_arn, "reason": reason})
    return Report(
        result="running",
        message=bounded(f"Deployment {token.execution_arn.rsplit(':', 1)[-1]} cannot be checked right now ({reason}); checking again", MAX_SUMMARY),
        execution_arn=token.execution_arn,
        continuation_token=Token(token.execution_arn, since).serialized(),
    )


def succeeded(execution_arn: str, name: str, output: Any, service: str | None) -> Report:
    document = json_object(output)
    variables = {"ExecutionArn": execution_arn, "ExecutionName": name} | ({"Service": service} if service else {})
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


def deliver(job: Job, report: Report) -> Report:
    """Post `report`. A failure while the execution may still run stops it first; a success
    CodePipeline rejects becomes a failure."""
    if report.result == "failed":
        if report.execution_may_run and report.execution_arn:
            report = stop_deployment(job.id, report)
        post_failure(job.id, report)
        return report
    try:
        post_success(job.id, report)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in JOB_FINISHED_CODES:
            logger.warning("the job already has a result; nothing posted", extra={"job_id": job.id, "code": code, "execution_arn": report.execution_arn})
            return report
        if is_transient(error):
            raise
        if code == "OutputVariablesSizeExceededException" and report.output_variables:
            return deliver(job, replace(report, output_variables={}, message=bounded(f"{report.message} (output variables left out: {code})", MAX_SUMMARY)))
        failed = failure(error, report.execution_arn)
        return deliver(job, replace(failed, execution_may_run=report.result != "succeeded" and report.execution_arn is not None, target_execution_id=report.target_execution_id))
    return report


def post_success(job_id: str, report: Report) -> None:
    details: dict[str, Any] = {"summary": bounded(report.message, MAX_SUMMARY)}
    if report.external_id:
        details["externalExecutionId"] = bounded(report.external_id, MAX_EXTERNAL_EXECUTION_ID)
    request: dict[str, Any] = {"jobId": job_id, "executionDetails": details}
    if report.continuation_token is not None:
        request["continuationToken"] = report.continuation_token
    elif report.output_variables:
        request["outputVariables"] = report.output_variables
    aws.client("codepipeline").put_job_success_result(**request)
    logger.info("job result posted", extra={"job_id": job_id, "result": report.result, "execution_arn": report.execution_arn, "target_execution_id": report.target_execution_id})


def post_failure(job_id: str, report: Report) -> None:
    """Post the failure. A job that already has a result is left as it is; any other refusal raises
    (Lambda invokes the function again for a passing one)."""
    details = {"type": "JobFailed", "message": bounded(report.message, MAX_FAILURE_MESSAGE)}
    if report.external_id:
        details["externalExecutionId"] = bounded(report.external_id, MAX_EXTERNAL_EXECUTION_ID)
    try:
        aws.client("codepipeline").put_job_failure_result(jobId=job_id, failureDetails=details)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in JOB_FINISHED_CODES:
            logger.warning("the job already has a result; the failure is not posted", extra={"job_id": job_id, "code": code, "failure": details["message"]})
            return
        logger.error("cannot post the job failure", extra={"job_id": job_id, "failure": details["message"]})
        raise
    logger.info("job result posted", extra={"job_id": job_id, "result": "failed", "failure": details["message"]})


def stop_deployment(job_id: str, report: Report) -> Report:
    """Stop the execution and restore what it deployed (the stop_deployment function) before the
    job fails, and say what that did."""
    assert report.execution_arn is not None
    request = {"execution_arn": report.execution_arn, "reason": readable(f"the pipeline job {job_id} failed: {report.message}", 1000)}
    try:
        response = aws.client("lambda", read_timeout=aws.INVOKE_READ_TIMEOUT_SECONDS).invoke(FunctionName=env("STOP_FUNCTION_NAME"), Payload=json.dumps(request).encode())
        payload = json_object(response["Payload"].read().decode("utf-8", "replace"))
        if response.get("FunctionError"):
            outcome = f"the deployment could not be stopped ({payload.get('errorType', 'error')}: {payload.get('errorMessage', 'no message')}); stop it and check its aliases by hand"
        else:
            outcome = str(payload.get("summary") or "the deployment was stopped")
    except Exception as error:  # noqa: BLE001 - the job must still fail, saying what is left to do
        outcome = f"the deployment could not be stopped ({named_error(error)}); stop it and check its aliases by hand"
    logger.warning("stopped the execution before failing the job", extra={"job_id": job_id, "execution_arn": report.execution_arn, "outcome": outcome})
    tail = f" (execution {report.execution_arn})"
    failed = report.message[: -len(tail)] if report.message.endswith(tail) else report.message
    return replace(report, message=failure_message_text(f"{failed}. {outcome[:1].upper()}{outcome[1:]}", report.execution_arn))


# --- names, documents and messages -----------------------------------------------------------


def read_state_machine_arn() -> str:
    arn = env("STATE_MACHINE_ARN")
    parts = arn.split(":")
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "states" or parts[5] != "stateMachine" or not parts[6]:
        raise ConfigurationError(f"environment variable STATE_MACHINE_ARN={preview(arn)} is not a Step Functions state machine ARN")
    return arn


def execution_name(service: str, commit: str, job_id: str) -> str:
    return NAME_UNSAFE.sub("-", f"{service}-{commit[:COMMIT_PREFIX]}-{job_id}")[:MAX_EXECUTION_NAME]


def execution_arn_of(state_machine_arn: str, name: str) -> str:
    """arn:P:states:R:A:stateMachine:SM -> arn:P:states:R:A:execution:SM:name"""
    parts = state_machine_arn.split(":")
    return ":".join([*parts[:5], "execution", parts[6], name])


def execution_input(request: StartRequest, job_id: str, service: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "commit_id": request.commit_id,
        "artifact": {"bucket": request.artifact.bucket, "key": request.artifact.key, "version_id": request.artifact.version_id},
        "pipeline": {"name": request.pipeline_name, "execution_id": request.pipeline_execution_id, "job_id": job_id},
        "service": dict(service),
    }


def service_named(started_with: Any) -> str | None:
    """The name of the service an execution deploys, from its input; None for an input without one."""
    service = json_object(started_with).get("service")
    name = service.get("name") if isinstance(service, Mapping) else None
    return name if isinstance(name, str) and is_service_name(name) else None


def read_continuation_token(token: Any, state_machine_arn: str) -> Token:
    """The execution of this state machine, and the time since it could not be checked, in a token
    this function issued."""
    expected = '{"execution_arn": <an execution of ' + state_machine_arn.rsplit(":", 1)[-1] + ">}"
    if not isinstance(token, str):
        raise InvalidInput(f"the continuation token must be a string, got {type_name(token)}")
    if not token.strip():
        raise InvalidInput("the continuation token is empty")
    if len(token) > MAX_CONTINUATION_TOKEN:
        raise InvalidInput(f"the continuation token is {len(token)} characters long, over CodePipeline's {MAX_CONTINUATION_TOKEN}: it is not one this function issued")
    try:
        document = parse_json(token, "the continuation token")
    except ValueError:
        document = None
    arn = document.get("execution_arn") if isinstance(document, dict) else None
    prefix = execution_arn_of(state_machine_arn, "")
    if not isinstance(arn, str) or not arn.startswith(prefix) or not EXECUTION_NAME.fullmatch(arn[len(prefix) :]):
        raise InvalidInput(f"the continuation token {preview(token, 200)} is not {expected}")
    since = document.get("unavailable_since") if isinstance(document, dict) else None
    try:
        unavailable_since = datetime.strptime(since, TIMESTAMP_FORMAT).replace(tzinfo=UTC) if isinstance(since, str) else None
    except ValueError:
        unavailable_since = None
    return Token(arn, unavailable_since)


def readable_cause(cause: Any) -> str:
    """A Lambda error's Cause is JSON ({errorMessage, errorType, stackTrace}): keep its errorMessage."""
    if not isinstance(cause, str):
        return ""
    document = json_object(cause)
    if isinstance(document.get("errorMessage"), str) and document["errorMessage"].strip():
        return str(document["errorMessage"]).strip()
    return cause.strip()


def failure_message(error: str, cause: str, execution_arn: str | None) -> str:
    """`<error>: <cause> (execution <arn>)` within the API limit, shortening the cause first."""
    return failure_message_text(f"{error}: {cause}", execution_arn)


def failure_message_text(text: str, execution_arn: str | None) -> str:
    tail = f" (execution {execution_arn})" if execution_arn else ""
    room = MAX_FAILURE_MESSAGE - len(tail)
    return bounded(readable(text, max(room, 1)) + tail, MAX_FAILURE_MESSAGE)


def bounded(value: str, limit: int) -> str:
    marker = "…"
    return value if len(value) <= limit else value[: limit - len(marker)] + marker


def json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, str):
        return {}
    try:
        document = json.loads(value)
    except (ValueError, RecursionError):
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
