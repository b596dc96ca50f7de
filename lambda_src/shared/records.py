"""The deployment record in DynamoDB: one item per execution, keyed by commit and execution name."""

from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from shared import aws
from shared.events import Execution

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(commit_id: str, execution_name: str) -> dict[str, Any]:
    return {"commit_id": {"S": commit_id}, "execution_name": {"S": execution_name}}


def _value(value: Any) -> dict[str, Any]:
    return _serializer.serialize({k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value)  # type: ignore[no-any-return]


def record_environment(table: str, commit_id: str, execution: Execution, environment: str, details: dict[str, Any]) -> None:
    """Set the environment's map (e.g. `staging`) on the execution's record, creating the record."""
    now = now_iso()
    aws.client("dynamodb").update_item(
        TableName=table,
        Key=_key(commit_id, execution.name),
        UpdateExpression=(
            "SET #environment = :details, execution_arn = :arn, updated_at = :now, started_at = if_not_exists(started_at, :now), #status = if_not_exists(#status, :in_progress)"
        ),
        ExpressionAttributeNames={"#environment": environment, "#status": "status"},
        ExpressionAttributeValues={
            ":details": _value(details),
            ":arn": {"S": execution.arn},
            ":now": {"S": now},
            ":in_progress": {"S": "IN_PROGRESS"},
        },
    )


def record_rollback(table: str, commit_id: str, execution_name: str, environment: str, version: str) -> None:
    now = now_iso()
    aws.client("dynamodb").update_item(
        TableName=table,
        Key=_key(commit_id, execution_name),
        UpdateExpression="SET #environment.rolled_back_to = :version, #environment.rolled_back_at = :now, updated_at = :now",
        ExpressionAttributeNames={"#environment": environment},
        ExpressionAttributeValues={":version": {"S": version}, ":now": {"S": now}},
    )


def read_record(table: str, commit_id: str, execution_name: str) -> dict[str, Any] | None:
    item = aws.client("dynamodb").get_item(TableName=table, Key=_key(commit_id, execution_name), ConsistentRead=True).get("Item")
    if item is None:
        return None
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
