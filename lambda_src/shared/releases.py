"""The release records (docs/releases.md) and what the release handlers share.

The releases table (releases.tf) holds, under each release id:
- `release`: the release: its manifest, who submitted it and how, its status (ACCEPTED, RUNNING,
  SUCCEEDED, FAILED, TIMED_OUT), each change of it with its time, its execution's ARN, and why it
  stopped starting pipelines (`stop_reason`) once one failed;
- `pipeline#<name>`: one pipeline's run: its execution id, the statuses it went through, each with
  the time CodePipeline changed it (the event's time, or the execution's lastUpdateTime), and,
  while the release waits for it, the task token of that wait;
- `submission#<time>#<request>`: one submission of the release id, accepted or rejected (a bad
  manifest, a duplicate), with what was wrong.
A submission whose manifest has no usable release id is recorded under UNIDENTIFIED.

A wait ends when the run's status is final, by whichever of three notices it first: the
CodePipeline event (release_events), the wait's own check when it starts (release_steps `watch`),
or the check of a wait that heard nothing for a while (release_events' sweep). `settle` makes sure
exactly one of them answers the task token.
"""

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from shared import aws
from shared.config import env, env_default
from shared.observability import logger, named_error, readable

RELEASE = "release"
PIPELINE_PREFIX = "pipeline#"
SUBMISSION_PREFIX = "submission#"
UNIDENTIFIED = "#unidentified"
# The sparse index of the runs a release is waiting for, by when the wait last heard of them.
WATCHING_INDEX = "watching"
WATCHING = "yes"
EXECUTION_INDEX = "execution"

# CodePipeline's statuses (GetPipelineExecution) and the event states that report them.
EVENT_STATUSES = {
    "STARTED": "InProgress",
    "RESUMED": "InProgress",
    "STOPPING": "Stopping",
    "STOPPED": "Stopped",
    "SUCCEEDED": "Succeeded",
    "FAILED": "Failed",
    "CANCELED": "Cancelled",
    "SUPERSEDED": "Superseded",
}
FINAL = frozenset({"Succeeded", "Failed", "Stopped", "Cancelled", "Superseded"})
# A run the release did not start: NotStarted (the release was stopping, past its deadline, or a
# pipeline it comes after did not succeed) or FailedToStart (CodePipeline refused the start).
NOT_STARTED, FAILED_TO_START = "NotStarted", "FailedToStart"
SESSION_SECONDS = 900
EXECUTION_NAME_CHARACTERS = re.compile(r"[^0-9A-Za-z_-]")
MAX_EXECUTION_NAME = 80

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def table() -> str:
    return env("RELEASES_TABLE")


def serialized(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items() if value is not None}


def deserialized(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def key(release_id: str, record: str) -> dict[str, Any]:
    return {"release_id": {"S": release_id}, "record": {"S": record}}


def run_record(pipeline: str) -> str:
    return PIPELINE_PREFIX + pipeline


def execution_name(release_id: str) -> str:
    """The release's execution name: its id when that is all letters, digits, - and _ (the names AWS
    advises for executions whose logs go to CloudWatch Logs), else those characters of it and a
    hash of the whole id, so two ids never share a name."""
    if not EXECUTION_NAME_CHARACTERS.search(release_id) and len(release_id) <= MAX_EXECUTION_NAME:
        return release_id
    digest = hashlib.sha256(release_id.encode("utf-8")).hexdigest()[:10]
    return f"{EXECUTION_NAME_CHARACTERS.sub('_', release_id)[: MAX_EXECUTION_NAME - 11]}-{digest}"


def client_request_token(release_id: str, pipeline: str) -> str:
    """StartPipelineExecution's clientRequestToken for this release's run of `pipeline`: the same
    for every retry of that start, different for any other release or pipeline (1-128 of [a-zA-Z0-9-])."""
    return "release-" + hashlib.sha256(f"{release_id}\n{pipeline}".encode()).hexdigest()[:48]


def get(release_id: str, record: str) -> dict[str, Any] | None:
    item = aws.client("dynamodb").get_item(TableName=table(), Key=key(release_id, record), ConsistentRead=True).get("Item")
    return deserialized(item) if item else None


def records(release_id: str) -> list[dict[str, Any]]:
    """Every record of the release, the release's first."""
    found: list[dict[str, Any]] = []
    pages = (
        aws.client("dynamodb")
        .get_paginator("query")
        .paginate(TableName=table(), KeyConditionExpression="release_id = :id", ExpressionAttributeValues={":id": {"S": release_id}}, ConsistentRead=True)
    )
    for page in pages:
        found.extend(deserialized(item) for item in page.get("Items", []))
    return sorted(found, key=lambda item: (item["record"] != RELEASE, item["record"]))


def runs(release_id: str) -> list[dict[str, Any]]:
    return [item for item in records(release_id) if item["record"].startswith(PIPELINE_PREFIX)]


def conditionally(operation: str, **request: Any) -> bool:
    """A DynamoDB write (update_item, put_item, delete_item); False when its condition does not hold."""
    try:
        getattr(aws.client("dynamodb"), operation)(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def change_release(release_id: str, status: str, at: datetime, extra: Mapping[str, Any] | None = None) -> None:
    """Set the release's status, and add the change to its history."""
    names = {"#status": "status"} | {f"#{name}": name for name in extra or {}}
    values = serialized({":status": status, ":change": [{"status": status, "at": iso(at)}], ":empty": []}) | serialized({f":{name}": value for name, value in (extra or {}).items()})
    assignments = ", ".join(f"#{name} = :{name}" for name in extra or {})
    aws.client("dynamodb").update_item(
        TableName=table(),
        Key=key(release_id, RELEASE),
        UpdateExpression="SET #status = :status, changes = list_append(if_not_exists(changes, :empty), :change)" + (f", {assignments}" if assignments else ""),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def record_status(release_id: str, pipeline: str, status: str, at: datetime, seen: str) -> bool:
    """Add `status` at `at` to the run's history, once (a status already there is not added again:
    events arrive at least once, and the checks may see what an event reported), and make it the
    run's status unless the run is final already and this is not. Returns whether it was new."""
    record = key(release_id, run_record(pipeline))
    added = conditionally(
        "update_item",
        TableName=table(),
        Key=record,
        UpdateExpression="SET changes = list_append(if_not_exists(changes, :empty), :change) ADD change_keys :keys",
        ConditionExpression="attribute_exists(release_id) AND (attribute_not_exists(change_keys) OR NOT contains(change_keys, :status))",
        ExpressionAttributeValues=serialized({":change": [{"status": status, "at": iso(at), "seen": seen}], ":empty": [], ":status": status}) | {":keys": {"SS": [status]}},
    )
    if added:
        final = status in FINAL
        conditionally(
            "update_item",
            TableName=table(),
            Key=record,
            UpdateExpression="SET #status = :status, final_at = :at" if final else "SET #status = :status",
            ConditionExpression="attribute_exists(release_id)" if final else "attribute_not_exists(final_at)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=serialized({":status": status} | ({":at": iso(at)} if final else {})),
        )
    return added


def heard(release_id: str, pipeline: str, at: datetime) -> None:
    """The wait for the run heard of it now: the sweep leaves it alone for the quiet time."""
    conditionally(
        "update_item",
        TableName=table(),
        Key=key(release_id, run_record(pipeline)),
        UpdateExpression="SET last_heard = :at",
        ConditionExpression="attribute_exists(watching)",
        ExpressionAttributeValues=serialized({":at": iso(at)}),
    )


def settle(run: Mapping[str, Any], status: str, summary: str) -> bool:
    """End the wait for `run` (a run record, with its task token) with `status`: whoever removes
    the token answers it (or, if the answer cannot be sent, puts the token back), so the wait gets
    one answer however many notices arrive. Returns whether this call answered it."""
    token = run.get("task_token")
    if not token:
        return False
    removed = conditionally(
        "update_item",
        TableName=table(),
        Key=key(run["release_id"], run["record"]),
        UpdateExpression="REMOVE task_token, watching, last_heard SET summary = :summary",
        ConditionExpression="task_token = :token",
        ExpressionAttributeValues=serialized({":token": token, ":summary": summary}),
    )
    if not removed:
        return False
    output = {"pipeline": run["pipeline"], "execution_id": run.get("execution_id"), "status": status, "summary": summary}
    try:
        aws.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(output))
    except ClientError as error:
        # The wait ended already (its timeout, or the release was stopped): nothing waits for the answer.
        if error.response.get("Error", {}).get("Code") not in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
            unsettle(run, token)
            raise
        logger.info("the wait had ended already", extra={"release_id": run["release_id"], "pipeline": run["pipeline"]})
    except Exception:
        unsettle(run, token)
        raise
    logger.info("the wait ends", extra={"release_id": run["release_id"], "pipeline": run["pipeline"], "execution_id": run.get("execution_id"), "status": status})
    return True


def unsettle(run: Mapping[str, Any], token: str) -> None:
    """The answer could not be sent: the token goes back (unless the wait timed out meanwhile), so the
    notice's retry or the sweep answers it, instead of the release waiting until its deadline.
    Answering a wait twice is harmless: Step Functions refuses the second answer (TaskTimedOut)."""
    conditionally(
        "update_item",
        TableName=table(),
        Key=key(run["release_id"], run["record"]),
        UpdateExpression="SET task_token = :token, watching = :watching, last_heard = :heard",
        ConditionExpression="attribute_exists(release_id) AND attribute_not_exists(task_token) AND attribute_not_exists(timed_out_at)",
        ExpressionAttributeValues=serialized({":token": token, ":watching": WATCHING, ":heard": run.get("last_heard") or iso(now())}),
    )


# --- the pipelines ------------------------------------------------------------------------------


def session_name() -> str:
    return env_default("RELEASE_SESSION_NAME", "pipeline-release")


def pipelines_client(role_arn: str | None) -> Any:
    """CodePipeline as the function's role, or as `role_arn` (a pipeline of another account, whose
    modules/pipeline-access role trusts this function's role with the release session name)."""
    if not role_arn:
        return aws.client("codepipeline")
    from shared.services import assumed_session

    session: boto3.session.Session = assumed_session(role_arn, session_name(), SESSION_SECONDS)
    return aws.session_client(session, "codepipeline")


@dataclass(frozen=True)
class Check:
    """What GetPipelineExecution says of a run: its status and when it last changed."""

    status: str
    changed_at: datetime
    summary: str


def check(pipeline: str, execution_id: str, role_arn: str | None) -> Check:
    described = pipelines_client(role_arn).get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)["pipelineExecution"]
    status = str(described.get("status", "InProgress"))
    changed_at = ended_at(pipeline, execution_id, role_arn) if status in FINAL else now()
    summary = failure_summary(pipeline, execution_id, role_arn, status, str(described.get("statusSummary") or "")) if status in FINAL - {"Succeeded"} else ""
    return Check(status, changed_at, summary)


def ended_at(pipeline: str, execution_id: str, role_arn: str | None) -> datetime:
    """When an ended run ended: its lastUpdateTime in ListPipelineExecutions (GetPipelineExecution
    gives none), among the pipeline's 100 newest runs; now, when it is not among them or they
    cannot be read."""
    try:
        summaries = pipelines_client(role_arn).list_pipeline_executions(pipelineName=pipeline, maxResults=100)["pipelineExecutionSummaries"]
    except Exception as error:  # noqa: BLE001 - the status is known all the same; only its time is then the check's
        logger.info("the run's end time could not be read", extra={"pipeline": pipeline, "execution_id": execution_id, "error": named_error(error).name})
        return now()
    for summary in summaries:
        changed = summary.get("lastUpdateTime")
        if summary.get("pipelineExecutionId") == execution_id and isinstance(changed, datetime):
            return changed.astimezone(UTC)
    return now()


def failure_summary(pipeline: str, execution_id: str, role_arn: str | None, status: str, status_summary: str) -> str:
    """`<status>: <statusSummary>. Failed: stage S action A: summary; ...`, from ListActionExecutions
    where it can be read."""
    failed: list[str] = []
    try:
        answer = pipelines_client(role_arn).list_action_executions(pipelineName=pipeline, filter={"pipelineExecutionId": execution_id}, maxResults=100)
        for action in answer.get("actionExecutionDetails") or []:
            if action.get("status") == "Failed" and len(failed) < 5:
                output = action.get("output") or {}
                text = (output.get("executionResult") or {}).get("externalExecutionSummary") or ""
                failed.append(f"stage {action.get('stageName')} action {action.get('actionName')}" + (f": {text}" if text else ""))
    except Exception as error:  # noqa: BLE001 - the run's status is known all the same
        reported = named_error(error)
        failed.append(f"(its actions could not be read: {reported.name}: {reported})")
    text = status + (f": {status_summary}" if status_summary else "")
    return readable(text + (". Failed: " + "; ".join(failed) if failed else ""), 1500)


def console_url(execution_arn: str) -> str | None:
    """The execution in the Step Functions console (CONSOLE_URL, set by Terraform; none where the
    partition has no console AWS documents)."""
    console = env_default("CONSOLE_URL", "")
    if not console or execution_arn.count(":") < 7:
        return None
    region = execution_arn.split(":")[3]
    return f"{console}/states/home?region={region}#/v2/executions/details/{execution_arn}"
