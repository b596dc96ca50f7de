"""The waiter's pipeline mode: the action waits for one execution of another CodePipeline pipeline,
in this account or another, and optionally starts it.

UserParameters (JSON, at most 1,000 characters), for example

    {"pipeline": "api-pipeline", "trigger": true, "timeout_minutes": 60}
    {"pipeline": "shared-services", "role_arn": "arn:aws:iam::111111111111:role/pipeline-waiter-access", "region": "eu-west-1"}

- "pipeline" (required): the target pipeline's name, 1-100 letters, digits or . @ - _.
- "role_arn": an IAM role in the target's account (modules/pipeline-access creates one). Every call
  to the target is made as that role: sts:AssumeRole with the session name PIPELINE_SESSION_NAME,
  for 900 seconds (the session is kept for the container's next invocations). Without it, the
  calls are made with this function's own role, in its own account.
- "region": the target's Region (default: this function's).
- "trigger": true starts an execution (StartPipelineExecution) and waits for that one; default false.
- "timeout_minutes": 1-1440 (default 60), from the action's first invocation: an execution still
  running then fails the action, and is left running.
- "source_revisions" (only with trigger): up to 50 {"actionName", "revisionType" (COMMIT_ID |
  IMAGE_DIGEST | S3_OBJECT_VERSION_ID | S3_OBJECT_KEY), "revisionValue"}, the revisions of the
  target's source actions for the run.
- "variables" (only with trigger): up to 50 {"name": "value"}, the target's pipeline variables.

Any other key, or a value of another type or form, fails the action at once, naming the key; a key
whose value is null counts as absent.

Which execution: with trigger, the one StartPipelineExecution returned. Its clientRequestToken is
`waiter-<job id>`, so a repeated invocation of the same job (and a start retried after a passing
failure) asks AWS for the same run instead of a second one. Without trigger, the newest execution
in progress, else the most recent one of any status: the run in progress carries the latest change
the target has seen, and a finished one answers at once (the action succeeds or fails with it
without starting anything). A pipeline that has never run fails the action.

The chosen execution is checked right away and then on each invocation (GetPipelineExecution of
that id, nothing else), and the action ends with it: Succeeded gives output variables PipelineName,
PipelineExecutionId, Status and SourceRevisions (a JSON list of {"name", "revisionId"} of its
artifacts); Failed, Stopped, Cancelled and Superseded fail the action as TargetPipelineFailed,
TargetPipelineStopped, TargetPipelineCancelled and TargetPipelineSuperseded, naming the failed
actions (ListActionExecutions) where there are any. InProgress and Stopping keep it in progress.
A check that fails for a passing reason (throttling, a 5xx answer, a timeout, a busy pipeline)
keeps the action in progress until it has failed for `outage_seconds` or the deadline passes.
Every other failure message also starts with its name: TargetPipelineTimedOut,
TargetPipelineUnreachable, TargetPipelineNeverRan, TargetPipelineNotStarted (AWS refused the start),
TargetPipelineNotFound, TargetExecutionNotFound, TargetAccessDenied and TargetRoleNotAssumable (both
say which Terraform setting to change), TargetPipelineStatusUnknown, or the waiter's own
(InvalidInput, ConfigurationError, ...). This mode never stops the target.

The continuation token (JSON, at most 2,048 characters) is
{"pipeline", "role_arn"?, "region"?, "deadline", "selected"?, "execution_id"?,
"client_request_token"?, "unavailable_since"?}: the target as UserParameters name it, the deadline
(UTC), how the execution was chosen (started | in-progress | most-recent) and its id, the start's
token while the start is still to be retried, and since when the target could not be reached.
"""

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field as dataclass_field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import boto3
from botocore.exceptions import ClientError

from shared import aws
from shared.config import env, env_default
from shared.errors import ConfigurationError, DeploymentError, InvalidInput, UnexpectedError
from shared.events import checked_text, preview, type_name
from shared.observability import is_transient, logger, named_error, readable
from shared.services import assumed_session, shown

PARAMETERS = ("pipeline", "role_arn", "region", "trigger", "timeout_minutes", "source_revisions", "variables")
EXAMPLE = '{"pipeline": "api-pipeline", "trigger": true, "timeout_minutes": 60}'
EXAMPLES = {
    "role_arn": '{"pipeline": "shared-services", "role_arn": "arn:aws:iam::111111111111:role/pipeline-waiter-access"}',
    "region": '{"pipeline": "api-pipeline", "region": "eu-west-1"}',
    "source_revisions": '{"pipeline": "api-pipeline", "trigger": true, "source_revisions": [{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "9fceb02d"}]}',
    "variables": '{"pipeline": "api-pipeline", "trigger": true, "variables": {"release": "1.4.2"}}',
}
PIPELINE_NAME = re.compile(r"[A-Za-z0-9.@_-]{1,100}", re.ASCII)
# arn:<partition>:iam::<account>:role/<path/>name, without wildcards; IAM allows a path of up to 512 characters.
ROLE_ARN = re.compile(r"arn:(aws(?:-[a-z]{1,10}){0,3}):iam::(\d{12}):role/((?:[\w+=,.@-]+/)*)([\w+=,.@-]{1,64})", re.ASCII)
MAX_ROLE_PATH = 512
# CodePipeline's own limit for a role ARN; with the rest, a continuation token stays under 2,048 characters.
MAX_ROLE_ARN = 1024
REGION = re.compile(r"[a-z]{2,4}(?:-[a-z]+)+-\d{1,2}", re.ASCII)
MAX_REGION = 30
SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
ACTION_NAME = re.compile(r"[A-Za-z0-9.@_-]{1,100}", re.ASCII)
REVISION_TYPES = ("COMMIT_ID", "IMAGE_DIGEST", "S3_OBJECT_VERSION_ID", "S3_OBJECT_KEY")
REVISION_FIELDS = ("actionName", "revisionType", "revisionValue")
MAX_REVISION = 1500
VARIABLE_NAME = re.compile(r"[A-Za-z0-9@_-]{1,128}", re.ASCII)
MAX_VARIABLE_VALUE = 1000
MAX_ENTRIES = 50
DEFAULT_TIMEOUT_MINUTES, MAX_TIMEOUT_MINUTES = 60, 1440
EXECUTION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
REQUEST_TOKEN = re.compile(r"[a-zA-Z0-9-]{1,128}", re.ASCII)
SESSION_SECONDS = 900
MAX_CONTINUATION_TOKEN = 2048
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
TOKEN_FIELDS = ("pipeline", "role_arn", "region", "deadline", "selected", "execution_id", "client_request_token", "unavailable_since")
# How many of the newest executions the one in progress is looked for among.
LISTED_EXECUTIONS = 100
# How many failed actions a failure names, and how many pages of action executions are read for them.
NAMED_ACTIONS, ACTION_PAGES = 5, 3

T = TypeVar("T")
Result = Literal["started", "running", "succeeded", "failed"]
Selected = Literal["started", "in-progress", "most-recent"]
SELECTED: tuple[Selected, ...] = ("started", "in-progress", "most-recent")
HOW = {"started": "started by this action", "in-progress": "in progress when this action began", "most-recent": "its most recent run"}
IN_PROGRESS = frozenset({"InProgress", "Stopping"})
ENDED = {"Failed": "TargetPipelineFailed", "Stopped": "TargetPipelineStopped", "Cancelled": "TargetPipelineCancelled", "Superseded": "TargetPipelineSuperseded"}
# StartPipelineExecution's answers while the pipeline cannot start a run yet; the same request succeeds later.
BUSY_CODES = frozenset({"ConflictException", "ConcurrentPipelineExecutionsLimitExceededException"})
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})


@dataclass(frozen=True)
class Target:
    """The pipeline as UserParameters name it: where it is and how it is reached."""

    pipeline: str
    role_arn: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Request:
    target: Target
    trigger: bool = False
    timeout_minutes: int = DEFAULT_TIMEOUT_MINUTES
    source_revisions: tuple[Mapping[str, str], ...] = ()
    variables: tuple[tuple[str, str], ...] = ()
    # PIPELINE_SESSION_NAME, with a role_arn.
    session_name: str | None = None


@dataclass(frozen=True)
class Token:
    """What a continuation token carries."""

    target: Target
    deadline: datetime
    selected: Selected | None = None
    execution_id: str | None = None
    client_request_token: str | None = None
    unavailable_since: datetime | None = None

    def serialized(self) -> str:
        document: dict[str, str] = {"pipeline": self.target.pipeline}
        if self.target.role_arn is not None:
            document["role_arn"] = self.target.role_arn
        if self.target.region is not None:
            document["region"] = self.target.region
        document["deadline"] = self.deadline.strftime(TIMESTAMP_FORMAT)
        for name, value in (("selected", self.selected), ("execution_id", self.execution_id), ("client_request_token", self.client_request_token)):
            if value is not None:
                document[name] = value
        if self.unavailable_since is not None:
            document["unavailable_since"] = self.unavailable_since.strftime(TIMESTAMP_FORMAT)
        return json.dumps(document, separators=(",", ":"))


@dataclass(frozen=True)
class Outcome:
    """What one invocation tells CodePipeline (handler.py posts it)."""

    result: Result
    message: str
    execution_id: str | None = None
    continuation_token: str | None = None
    output_variables: dict[str, str] = dataclass_field(default_factory=dict)


class Passing(Exception):
    """A call failed for a reason that passes (after botocore's own retries)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(named_error(error)))


class Refused(Exception):
    """The target refused for a reason the action cannot wait out: the message is the job failure."""


def requested(parameters: Mapping[str, Any]) -> bool:
    """Whether UserParameters ask for pipeline mode: they have one of its keys."""
    return any(name in parameters for name in PARAMETERS)


def decide(job_id: str, parameters: Mapping[str, Any], continuation_token: Any, outage_seconds: int) -> Outcome:
    """What to tell CodePipeline about the job. InvalidInput and ConfigurationError (raised) when the
    parameters, the environment or the token are wrong; every failure to reach the target is an
    Outcome."""
    request = read_request(parameters)
    first = continuation_token is None
    if first:
        token = Token(target=request.target, deadline=now() + timedelta(minutes=request.timeout_minutes))
    else:
        token = read_token(continuation_token, request)
    return Progress(job_id, request, outage_seconds, first).advance(token)


# --- the parameters --------------------------------------------------------------------------


def invalid(key: str, expected: str, value: Any = None, *, got: str | None = None) -> InvalidInput:
    shown_value = got if got is not None else f"got {describe(value)}"
    return InvalidInput(f"UserParameters: '{key}' must be {expected}, {shown_value}; for example {EXAMPLES.get(key.split('[')[0].split('.')[0], EXAMPLE)}")


def describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, str):
        return f"the string {shown(value)}"
    if isinstance(value, int | float):
        return f"the number {shown(value)}"
    return type_name(value)


def text(parameters: Mapping[str, Any], key: str, pattern: re.Pattern[str], expected: str, max_length: int) -> str:
    value = parameters[key]
    if not isinstance(value, str):
        raise invalid(key, expected, value)
    if len(value) > max_length or not pattern.fullmatch(value):
        raise invalid(key, expected, got=f"got {preview(value)}")
    return value


def read_request(given: Mapping[str, Any]) -> Request:
    # A key whose value is null is left out (Terraform's jsonencode of an unset optional value).
    parameters = {key: value for key, value in given.items() if value is not None}
    unknown = [str(key) for key in parameters if key not in PARAMETERS]
    if unknown:
        raise InvalidInput(f"UserParameters has the unknown key {preview(unknown[0])}; waiting for a pipeline takes {', '.join(PARAMETERS)}; for example {EXAMPLE}")
    if "pipeline" not in parameters:
        raise InvalidInput(f"UserParameters has no 'pipeline': name the pipeline to wait for; for example {EXAMPLE}")
    pipeline = text(parameters, "pipeline", PIPELINE_NAME, "a CodePipeline pipeline name (1-100 letters, digits or . @ - _)", 100)
    role_arn = read_role_arn(parameters) if "role_arn" in parameters else None
    region = text(parameters, "region", REGION, "an AWS Region such as 'eu-west-1'", MAX_REGION) if "region" in parameters else None
    trigger = parameters.get("trigger", False)
    if not isinstance(trigger, bool):
        raise invalid("trigger", "true or false (a JSON boolean, not a string)", trigger)
    timeout = parameters.get("timeout_minutes", DEFAULT_TIMEOUT_MINUTES)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= MAX_TIMEOUT_MINUTES:
        raise invalid("timeout_minutes", f"a whole number of minutes from 1 to {MAX_TIMEOUT_MINUTES}", timeout)
    for key in ("source_revisions", "variables"):
        if key in parameters and not trigger:
            raise InvalidInput(
                f"UserParameters: '{key}' needs \"trigger\": true (they are passed to the execution the waiter starts; without trigger it follows a run it did not start); "
                f"for example {EXAMPLES[key]}"
            )
    return Request(
        target=Target(pipeline=pipeline, role_arn=role_arn, region=region),
        trigger=trigger,
        timeout_minutes=timeout,
        source_revisions=read_source_revisions(parameters["source_revisions"]) if "source_revisions" in parameters else (),
        variables=read_variables(parameters["variables"]) if "variables" in parameters else (),
        session_name=session_name() if role_arn is not None else None,
    )


def read_role_arn(parameters: Mapping[str, Any]) -> str:
    expected = "an IAM role ARN, arn:<partition>:iam::<12-digit account>:role/<optional path/>name, without wildcards"
    value = text(parameters, "role_arn", ROLE_ARN, expected, MAX_ROLE_ARN)
    match = ROLE_ARN.fullmatch(value)
    assert match is not None
    if len(match.group(3)) + 1 > MAX_ROLE_PATH:
        raise invalid("role_arn", f"{expected}, with a path of at most {MAX_ROLE_PATH} characters", got=f"got a path of {len(match.group(3)) + 1}")
    return value


def read_source_revisions(value: Any) -> tuple[Mapping[str, str], ...]:
    expected = f'a list of up to {MAX_ENTRIES} objects {{"actionName", "revisionType", "revisionValue"}}'
    if not isinstance(value, list) or len(value) > MAX_ENTRIES:
        raise invalid("source_revisions", expected, value, got=f"got a list of {len(value)}" if isinstance(value, list) else None)
    revisions = []
    for index, revision in enumerate(value):
        where = f"source_revisions[{index}]"
        if not isinstance(revision, dict) or set(revision) != set(REVISION_FIELDS):
            fields = f"an object with the fields {shown(list(revision))}" if isinstance(revision, dict) else describe(revision)
            raise invalid(where, 'an object with exactly "actionName", "revisionType" and "revisionValue"', got=f"got {fields}")
        action = revision["actionName"]
        if not isinstance(action, str) or not ACTION_NAME.fullmatch(action):
            raise invalid(f"{where}.actionName", "the name of one of the target's source actions (1-100 letters, digits or . @ - _)", action)
        if revision["revisionType"] not in REVISION_TYPES:
            raise invalid(f"{where}.revisionType", " | ".join(REVISION_TYPES), revision["revisionType"])
        revision_value = revision["revisionValue"]
        if not isinstance(revision_value, str) or not revision_value or len(revision_value) > MAX_REVISION:
            raise invalid(
                f"{where}.revisionValue",
                f"a string of 1-{MAX_REVISION} characters",
                revision_value,
                got=f"got {len(revision_value)} characters" if isinstance(revision_value, str) and revision_value else None,
            )
        revisions.append({"actionName": action, "revisionType": str(revision["revisionType"]), "revisionValue": unicode_text(f"{where}.revisionValue", revision_value, MAX_REVISION)})
    return tuple(revisions)


def read_variables(value: Any) -> tuple[tuple[str, str], ...]:
    expected = f"an object of up to {MAX_ENTRIES} pipeline variables {{name: value}}"
    if not isinstance(value, dict) or len(value) > MAX_ENTRIES:
        raise invalid("variables", expected, value, got=f"got {len(value)} of them" if isinstance(value, dict) else None)
    variables = []
    for name, variable in value.items():
        if not VARIABLE_NAME.fullmatch(name):
            raise invalid("variables", f"{expected}, each name 1-128 letters, digits or @ - _", got=f"got the name {preview(name)}")
        if not isinstance(variable, str) or not variable or len(variable) > MAX_VARIABLE_VALUE:
            got = f"got {len(variable)} characters" if isinstance(variable, str) and variable else None
            raise invalid(f"variables.{name}", f"a string of 1-{MAX_VARIABLE_VALUE} characters", variable, got=got)
        variables.append((name, unicode_text(f"variables.{name}", variable, MAX_VARIABLE_VALUE)))
    return tuple(variables)


def unicode_text(key: str, value: str, max_length: int) -> str:
    try:
        return checked_text(key, value, max_length)
    except InvalidInput as error:
        raise InvalidInput(f"UserParameters: {error}; for example {EXAMPLE}") from None


def session_name() -> str:
    name = env("PIPELINE_SESSION_NAME")
    if not SESSION_NAME.fullmatch(name):
        raise ConfigurationError(f"environment variable PIPELINE_SESSION_NAME={preview(name)} is not an IAM role session name (2-64 letters, digits or + = , . @ _ -)")
    return name


# --- the continuation token -----------------------------------------------------------------


def read_token(token: Any, request: Request) -> Token:
    """The token this mode issued for this target; InvalidInput for any other."""
    target = request.target
    expected = f'{{"pipeline": "{target.pipeline}", "deadline": ..., "execution_id": ...}} (the waiter\'s token for waiting for pipeline {target.pipeline})'
    if not isinstance(token, str):
        raise InvalidInput(f"the continuation token must be a string, got {type_name(token)}")
    if not token.strip():
        raise InvalidInput("the continuation token is empty")
    if len(token) > MAX_CONTINUATION_TOKEN:
        raise InvalidInput(f"the continuation token is {len(token)} characters long, over CodePipeline's {MAX_CONTINUATION_TOKEN}: it is not one this function issued")
    try:
        document = json.loads(token)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, dict) and "execution_arn" in document:
        raise InvalidInput(f"the continuation token {preview(token, 200)} is a deployment's, but this action's UserParameters wait for pipeline {target.pipeline}; expected {expected}")
    if not isinstance(document, dict) or any(key not in TOKEN_FIELDS for key in document) or not all(isinstance(value, str) for value in document.values()):
        raise InvalidInput(f"the continuation token {preview(token, 200)} is not {expected}")
    given = Target(pipeline=document.get("pipeline", ""), role_arn=document.get("role_arn"), region=document.get("region"))
    if given != target:
        raise InvalidInput(
            f"the continuation token {preview(token, 200)} is for another target than this action's UserParameters name (pipeline {target.pipeline}); expected {expected}"
        )
    execution_id, request_token, selected = document.get("execution_id"), document.get("client_request_token"), document.get("selected")
    deadline, since = timestamp(document.get("deadline")), timestamp(document.get("unavailable_since"))
    if (
        deadline is None
        or (execution_id is not None and not EXECUTION_ID.fullmatch(execution_id))
        or (request_token is not None and not REQUEST_TOKEN.fullmatch(request_token))
        or (selected is not None and selected not in SELECTED)
        or (execution_id is not None and selected is None)
        or (request.trigger and execution_id is None and request_token is None)
        or ("unavailable_since" in document and since is None)
    ):
        raise InvalidInput(f"the continuation token {preview(token, 200)} is not {expected}")
    return Token(
        target=target,
        deadline=deadline,
        selected=next((value for value in SELECTED if value == selected), None),
        execution_id=execution_id,
        client_request_token=request_token,
        unavailable_since=since,
    )


def timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


# --- reaching the target ---------------------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def waiter_role() -> str:
    return env_default("WAITER_ROLE_ARN", "this function's role")


@dataclass(frozen=True)
class Progress:
    """One invocation's work on the job: choose the execution (start it, or find it), then check it."""

    job_id: str
    request: Request
    outage_seconds: int
    first: bool

    @property
    def target(self) -> Target:
        return self.request.target

    @property
    def pipeline(self) -> str:
        return self.request.target.pipeline

    def client(self) -> Any:
        """The CodePipeline client for the target: as its role (assumed afresh shortly before the
        credentials expire), in its Region."""
        session: boto3.session.Session | None = None
        if self.target.role_arn is not None:
            assert self.request.session_name is not None
            session = assumed_session(self.target.role_arn, self.request.session_name, SESSION_SECONDS)
        return aws.session_client(session, "codepipeline", region=self.target.region)

    # -- the steps --

    def advance(self, token: Token) -> Outcome:
        try:
            if token.execution_id is None and self.request.trigger:
                # The start's token goes into the continuation token first: a start that fails for a passing reason is retried with it.
                token = replace(token, client_request_token=token.client_request_token or f"waiter-{self.job_id}", selected="started")
                token = self.started(token)
            elif token.execution_id is None:
                token = self.selected(token)
            return self.checked(token)
        except Passing as error:
            return self.unavailable(token, str(error))
        except Refused as error:
            return self.failed(str(error), token.execution_id)
        except Exception as error:  # noqa: BLE001 - every failure is reported to the pipeline, with the execution it concerns
            reported = named_error(error)
            if isinstance(error, DeploymentError):
                logger.warning("cannot wait for the target pipeline", extra=self.fields(token.execution_id, error=reported.name))
            else:
                logger.exception("cannot wait for the target pipeline", extra=self.fields(token.execution_id, error=reported.name))
            return self.failed(f"{reported.name}: {reported}{self.of_execution(token.execution_id)}", token.execution_id)

    def started(self, token: Token) -> Token:
        assert token.client_request_token is not None
        arguments: dict[str, Any] = {"name": self.pipeline, "clientRequestToken": token.client_request_token}
        if self.request.source_revisions:
            arguments["sourceRevisions"] = [dict(revision) for revision in self.request.source_revisions]
        if self.request.variables:
            arguments["variables"] = [{"name": name, "value": value} for name, value in self.request.variables]
        try:
            execution_id = self.call("StartPipelineExecution", lambda client: client.start_pipeline_execution(**arguments)["pipelineExecutionId"], token)
        except ClientError as error:
            if code_of(error) != "ValidationException":
                raise
            raise Refused(
                f"TargetPipelineNotStarted: StartPipelineExecution of pipeline {self.pipeline} was refused: {message_of(error)} "
                "(check that each source_revisions actionName is a source action of the pipeline and each of the variables is declared by it)"
            ) from None
        execution_id = checked_execution_id(execution_id)
        logger.info("target execution started", extra=self.fields(execution_id))
        return replace(token, execution_id=execution_id, client_request_token=None)

    def selected(self, token: Token) -> Token:
        summaries = self.call(
            "ListPipelineExecutions",
            lambda client: client.list_pipeline_executions(pipelineName=self.pipeline, maxResults=LISTED_EXECUTIONS).get("pipelineExecutionSummaries") or [],
            token,
        )
        if not summaries:
            raise Refused(f'TargetPipelineNeverRan: pipeline {self.pipeline} ({self.where()}) has no executions to wait for; set "trigger": true in the UserParameters to start one')
        chosen = next((summary for summary in summaries if summary.get("status") == "InProgress"), None)
        selected: Selected = "in-progress" if chosen is not None else "most-recent"
        execution_id = checked_execution_id((chosen or summaries[0]).get("pipelineExecutionId"))
        logger.info("target execution chosen", extra=self.fields(execution_id, selected=selected))
        return replace(token, execution_id=execution_id, selected=selected)

    def checked(self, token: Token) -> Outcome:
        assert token.execution_id is not None
        execution_id = token.execution_id
        execution = self.call(
            "GetPipelineExecution", lambda client: client.get_pipeline_execution(pipelineName=self.pipeline, pipelineExecutionId=execution_id)["pipelineExecution"], token
        )
        status = str(execution.get("status") or "")
        logger.info("target execution status", extra=self.fields(execution_id, status=status))
        summary = readable(str(execution.get("statusSummary") or "").strip(), 1000)
        if status == "Succeeded":
            return self.succeeded(token, execution)
        if status in ENDED:
            return self.failed(self.ended_message(token, status, summary), execution_id)
        if status not in IN_PROGRESS:
            return self.failed(f"TargetPipelineStatusUnknown: {self.execution_text(token)} has the status {status!r}, which the waiter does not know", execution_id)
        if now() >= token.deadline:
            return self.failed(
                f"TargetPipelineTimedOut: the target execution {execution_id} of {self.pipeline} is still {status} after {minutes(self.request.timeout_minutes)} and was left running",
                execution_id,
            )
        waiting = f"{self.execution_text(token)} is {status}" + (f" ({summary})" if summary else "")
        return self.progress(f"{waiting}; waiting until {token.deadline.strftime(TIMESTAMP_FORMAT)}", replace(token, unavailable_since=None), execution_id)

    # -- calling the target --

    def call(self, operation: str, action: Callable[[Any], T], token: Token) -> T:
        """`action(client)`; Passing for a passing failure, Refused (saying what to fix) for access
        and existence errors, the error itself otherwise."""
        try:
            return action(self.client())
        except ClientError as error:
            code = code_of(error)
            if is_transient(error) or (operation == "StartPipelineExecution" and code in BUSY_CODES):
                raise Passing(error) from None
            if getattr(error, "operation_name", "") == "AssumeRole" and code in ACCESS_DENIED_CODES:
                raise Refused(self.role_denied(error)) from None
            if code in ACCESS_DENIED_CODES:
                raise Refused(self.access_denied(operation, error)) from None
            if code == "PipelineNotFoundException":
                raise Refused(f"TargetPipelineNotFound: pipeline {self.pipeline} was not found in {self.where()} as seen by {self.identity()} ({message_of(error)})") from None
            if code == "PipelineExecutionNotFoundException":
                raise Refused(
                    f"TargetExecutionNotFound: execution {token.execution_id} of pipeline {self.pipeline} was not found in {self.where()} as seen by {self.identity()} "
                    f"({message_of(error)})"
                ) from None
            raise
        except Exception as error:
            if is_transient(error):
                raise Passing(error) from None
            raise

    def role_denied(self, error: ClientError) -> str:
        waiter, role = waiter_role(), self.target.role_arn
        return (
            f"TargetRoleNotAssumable: {waiter} cannot assume {role} to reach pipeline {self.pipeline} (sts:AssumeRole: {code_of(error)}: {message_of(error)}). Either "
            f"the waiter's role {waiter} may assume only the roles listed in the platform's Terraform variable waiter_target_role_arns: add {role} there and apply; "
            f"or the trust policy of {role} does not trust {waiter} with the session name {self.request.session_name}: "
            "modules/pipeline-access creates a role that does, applied in the target's account"
        )

    def access_denied(self, operation: str, error: ClientError) -> str:
        action = f"codepipeline:{operation}"
        start = " with start = true (this action triggers it)" if self.request.trigger else ""
        if self.target.role_arn is None:
            fix = f"list {self.pipeline} in the platform's Terraform variable waiter_pipelines{start} and apply"
            if self.target.region is not None and self.target.region != os.environ.get("AWS_REGION"):
                fix += f" (it covers the platform's own Region only: for a pipeline in {self.target.region}, give a role_arn of a modules/pipeline-access role made for that Region)"
        else:
            fix = (
                f"add {self.pipeline} to the pipelines map of the modules/pipeline-access that created {self.target.role_arn}{start}, "
                f"for the pipeline's Region, and apply it in account {account_of(self.target.role_arn)}"
            )
        return f"TargetAccessDenied: {self.identity()} may not call {action} on pipeline {self.pipeline} in {self.where()} ({code_of(error)}: {message_of(error)}); {fix}"

    # -- the outcomes --

    def succeeded(self, token: Token, execution: Mapping[str, Any]) -> Outcome:
        assert token.execution_id is not None
        revisions = [
            {"name": str(revision.get("name") or ""), "revisionId": str(revision.get("revisionId") or "")}
            for revision in execution.get("artifactRevisions") or []
            if isinstance(revision, Mapping)
        ]
        variables = {"PipelineName": self.pipeline, "PipelineExecutionId": token.execution_id, "Status": "Succeeded"}
        if revisions:
            variables["SourceRevisions"] = json.dumps(revisions, separators=(",", ":"))
        ran = "; ".join(f"{revision['name']} {revision['revisionId'][:12]}" for revision in revisions)
        message = f"{self.execution_text(token)} succeeded" + (f": {ran}" if ran else "")
        logger.info("target execution succeeded", extra=self.fields(token.execution_id, status="Succeeded"))
        return Outcome(result="succeeded", message=message, execution_id=token.execution_id, output_variables=variables)

    def ended_message(self, token: Token, status: str, summary: str) -> str:
        assert token.execution_id is not None
        text = f"{ENDED[status]}: {self.execution_text(token)} is {status}" + (f": {summary}" if summary else "")
        if status == "Superseded":
            text += f" (a newer execution of {self.pipeline} took its place; this action followed {token.execution_id} and fails with it)"
        return f"{text}{self.failed_actions(token.execution_id, status)}"

    def failed_actions(self, execution_id: str, status: str) -> str:
        """`. Failed: stage S action A: summary; ...` from ListActionExecutions, or why they could not be read."""
        failed: list[str] = []
        try:
            pages = (
                self.client()
                .get_paginator("list_action_executions")
                .paginate(pipelineName=self.pipeline, filter={"pipelineExecutionId": execution_id}, PaginationConfig={"MaxItems": 100 * ACTION_PAGES, "PageSize": 100})
            )
            for page in pages:
                for action in page.get("actionExecutionDetails") or []:
                    if action.get("status") == "Failed" and len(failed) < NAMED_ACTIONS:
                        failed.append(action_text(action))
        except Exception as error:  # noqa: BLE001 - the job fails with the status all the same
            logger.warning("cannot read the target's failed actions", extra=self.fields(execution_id, error=named_error(error).name))
            reported = named_error(error)
            return f". Its failed action could not be read ({reported.name}: {reported})"
        if failed:
            return ". Failed: " + "; ".join(failed)
        return ". No action of it failed" if status == "Failed" else ""

    def failed(self, message: str, execution_id: str | None) -> Outcome:
        logger.warning("the target pipeline fails the job", extra=self.fields(execution_id, failure=readable(message, 1000)))
        return Outcome(result="failed", message=message, execution_id=execution_id)

    def progress(self, message: str, token: Token, execution_id: str | None) -> Outcome:
        return Outcome(result="started" if self.first else "running", message=message, execution_id=execution_id, continuation_token=token.serialized())

    def unavailable(self, token: Token, reason: str) -> Outcome:
        """The target could not be reached for a passing reason: stay in progress, until it has been
        so for `outage_seconds`, or the deadline passes."""
        current = now()
        since = token.unavailable_since or current
        doing = "checked" if token.execution_id is not None else ("started" if self.request.trigger else "listed")
        what = self.execution_text(token) if token.execution_id is not None else f"pipeline {self.pipeline}"
        started_maybe = f"; a run may have started with clientRequestToken {token.client_request_token}" if token.execution_id is None and token.client_request_token else ""
        if current >= token.deadline:
            return self.failed(
                f"TargetPipelineTimedOut: {what} could not be {doing} before the action's {self.request.timeout_minutes}-minute deadline "
                f"(since {since.strftime(TIMESTAMP_FORMAT)}: {reason}){started_maybe}",
                token.execution_id,
            )
        if current - since >= timedelta(seconds=self.outage_seconds):
            return self.failed(
                f"TargetPipelineUnreachable: {what} could not be {doing} for {self.outage_seconds // 60} minutes, since {since.strftime(TIMESTAMP_FORMAT)}: {reason}{started_maybe}",
                token.execution_id,
            )
        logger.warning("the target pipeline cannot be reached now; the job stays in progress", extra=self.fields(token.execution_id, reason=reason))
        return self.progress(f"{what} cannot be {doing} right now ({reason}); trying again", replace(token, unavailable_since=since), token.execution_id)

    # -- words --

    def execution_text(self, token: Token) -> str:
        how = f" ({HOW[token.selected]})" if token.selected is not None else ""
        return f"pipeline {self.pipeline} execution {token.execution_id}{how}"

    def of_execution(self, execution_id: str | None) -> str:
        return f" (pipeline {self.pipeline} execution {execution_id})" if execution_id else f" (pipeline {self.pipeline})"

    def where(self) -> str:
        account = account_of(self.target.role_arn) or account_of(waiter_role()) or "this function's account"
        region = self.target.region or os.environ.get("AWS_REGION") or "this function's Region"
        return f"account {account}, Region {region}"

    def identity(self) -> str:
        if self.target.role_arn is None:
            return f"the waiter's role {waiter_role()}"
        return f"the role {self.target.role_arn} (assumed by {waiter_role()})"

    def fields(self, execution_id: str | None, **extra: str) -> dict[str, Any]:
        """What a log line says: the target, never a credential or the event."""
        return {"pipeline": self.pipeline, "role_arn": self.target.role_arn, "region": self.target.region, "execution_id": execution_id, **extra}


def action_text(action: Mapping[str, Any]) -> str:
    result = (action.get("output") or {}).get("executionResult") or {}
    summary = result.get("externalExecutionSummary") or (result.get("errorDetails") or {}).get("message") or ""
    name = f"stage {action.get('stageName', '?')} action {action.get('actionName', '?')}"
    return f"{name}: {readable(str(summary).strip(), 500)}" if str(summary).strip() else name


def minutes(count: int) -> str:
    return f"{count} minute" if count == 1 else f"{count} minutes"


def checked_execution_id(value: Any) -> str:
    if not isinstance(value, str) or not EXECUTION_ID.fullmatch(value):
        raise UnexpectedError(f"CodePipeline answered the execution id {shown(value)}, which is not one")
    return value


def account_of(role_arn: str | None) -> str | None:
    match = ROLE_ARN.fullmatch(role_arn) if role_arn else None
    return match.group(2) if match else None


def code_of(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def message_of(error: ClientError) -> str:
    return readable(str(error.response.get("Error", {}).get("Message", "")), 1000)
