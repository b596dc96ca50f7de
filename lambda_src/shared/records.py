"""The deployment record in DynamoDB: one item per execution, keyed by commit and execution name."""

from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from shared import aws
from shared.errors import DeploymentStopped
from shared.events import Execution

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(commit_id: str, execution_name: str) -> dict[str, Any]:
    return {"commit_id": {"S": commit_id}, "execution_name": {"S": execution_name}}


def _value(value: Any) -> dict[str, Any]:
    return _serializer.serialize({k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value)  # type: ignore[no-any-return]


def record_environment(table: str, commit_id: str, execution: Execution, environment: str, details: dict[str, Any], service: str) -> None:
    """Set the environment's map (e.g. `staging`) and the service's name on the execution's record,
    creating the record.

    Only while the deployment is in progress: once it was stopped (stop_deployment marks the record
    STOPPED, then restores what the record names), a deploy handler still running must not deploy;
    DeploymentStopped says so."""
    now = now_iso()
    written = conditionally_updated(
        TableName=table,
        Key=_key(commit_id, execution.name),
        UpdateExpression=(
            "SET #environment = :details, #service = :service, execution_arn = :arn, updated_at = :now, "
            "started_at = if_not_exists(started_at, :now), #status = if_not_exists(#status, :in_progress)"
        ),
        ConditionExpression="attribute_not_exists(#status) OR #status = :in_progress",
        ExpressionAttributeNames={"#environment": environment, "#status": "status", "#service": "service"},
        ExpressionAttributeValues={
            ":details": _value(details),
            ":service": {"S": service},
            ":arn": {"S": execution.arn},
            ":now": {"S": now},
            ":in_progress": {"S": "IN_PROGRESS"},
        },
    )
    if not written:
        raise DeploymentStopped(f"deployment {execution.name} is no longer in progress (it was stopped or has ended): {environment} is left as it is")


def record_stopped(table: str, commit_id: str, execution: Execution, started_at: str, reason: str, service: str | None) -> bool:
    """Mark the execution's record STOPPED, with why (and the service's name, when the execution
    input names one), creating it; False when it has a final status already (the execution ended
    by itself)."""
    now = now_iso()
    values = {
        ":stopped": {"S": "STOPPED"},
        ":in_progress": {"S": "IN_PROGRESS"},
        ":reason": {"S": reason},
        ":error": {"S": "DeploymentStopped"},
        ":arn": {"S": execution.arn},
        ":now": {"S": now},
        ":started": {"S": started_at},
    }
    names = {"#status": "status"}
    if service is not None:
        values[":service"], names["#service"] = {"S": service}, "service"
    return conditionally_updated(
        TableName=table,
        Key=_key(commit_id, execution.name),
        UpdateExpression=(
            "SET #status = :stopped, stopped_by = :reason, failure_error = :error, failure_cause = :reason, execution_arn = :arn, "
            "finished_at = if_not_exists(finished_at, :now), updated_at = :now, started_at = if_not_exists(started_at, :started)"
            + (", #service = :service" if service is not None else "")
        ),
        ConditionExpression="attribute_not_exists(#status) OR #status IN (:in_progress, :stopped)",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def conditionally_updated(**request: Any) -> bool:
    """UpdateItem; False when its ConditionExpression does not hold."""
    try:
        aws.client("dynamodb").update_item(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        return False
    return True


# A production approval's part of the record: `approval` (its status, the request, the decision) and,
# while the deployment waits, `approval_token`, the task token a decision answers.


def record_approval_request(table: str, commit_id: str, execution: Execution, approval: dict[str, Any], token: str) -> bool:
    """Set the record's `approval` and `approval_token`; False when the deployment is no longer in
    progress (it was stopped or has ended)."""
    return conditionally_updated(
        TableName=table,
        Key=_key(commit_id, execution.name),
        UpdateExpression="SET approval = :approval, approval_token = :token, updated_at = :now",
        ConditionExpression="#status = :in_progress",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":approval": _value(approval), ":token": {"S": token}, ":now": {"S": now_iso()}, ":in_progress": {"S": "IN_PROGRESS"}},
    )


def record_decision(table: str, commit_id: str, execution_name: str, token: str, outcome: str, by: str, at: str, reason: str | None) -> bool:
    """Write the decision and take the token away, once: False unless the record still waits with
    `token` and the deployment is in progress."""
    return conditionally_updated(
        TableName=table,
        Key=_key(commit_id, execution_name),
        UpdateExpression="SET approval.#status = :outcome, approval.decided_by = :by, approval.decided_at = :at, approval.reason = :reason, updated_at = :at REMOVE approval_token",
        ConditionExpression="approval_token = :token AND approval.#status = :waiting AND #status = :in_progress",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":outcome": {"S": outcome},
            ":by": {"S": by},
            ":at": {"S": at},
            ":reason": _value(reason),
            ":token": {"S": token},
            ":waiting": {"S": "waiting"},
            ":in_progress": {"S": "IN_PROGRESS"},
        },
    )


def restore_approval_request(table: str, commit_id: str, execution_name: str, token: str) -> None:
    """Undo a decision written but not sent: the record waits again, with its token."""
    aws.client("dynamodb").update_item(
        TableName=table,
        Key=_key(commit_id, execution_name),
        UpdateExpression="SET approval.#status = :waiting, approval_token = :token REMOVE approval.decided_by, approval.decided_at, approval.reason",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":waiting": {"S": "waiting"}, ":token": {"S": token}},
    )


def record_rollback(table: str, commit_id: str, execution_name: str, environment: str, version: str, service: str) -> None:
    now = now_iso()
    aws.client("dynamodb").update_item(
        TableName=table,
        Key=_key(commit_id, execution_name),
        UpdateExpression="SET #environment.rolled_back_to = :version, #environment.rolled_back_at = :now, updated_at = :now, #service = :service",
        ExpressionAttributeNames={"#environment": environment, "#service": "service"},
        ExpressionAttributeValues={":version": {"S": version}, ":now": {"S": now}, ":service": {"S": service}},
    )


def read_record(table: str, commit_id: str, execution_name: str) -> dict[str, Any] | None:
    item = aws.client("dynamodb").get_item(TableName=table, Key=_key(commit_id, execution_name), ConsistentRead=True).get("Item")
    if item is None:
        return None
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
