"""Hears how the pipelines of releases go, and ends the releases' waits for them.

Invoked by EventBridge two ways (releases.tf):
- with a "CodePipeline Pipeline Execution State Change" event: if the execution is a release's run
  (the releases table's execution index), its new status is recorded with the event's time, the
  time CodePipeline changed it; a final status (SUCCEEDED, FAILED, STOPPED, CANCELED, SUPERSEDED)
  ends the release's wait for it (shared/releases.py `settle`). EventBridge delivers an event at
  least once: a status already recorded is not recorded again, and a wait is answered once.
- every minute, by a schedule (the sweep): each wait that has heard nothing of its run for
  RELEASE_QUIET_SECONDS checks the run itself (GetPipelineExecution, as the run's role for another
  account), so a lost or late event, or a pipeline whose account does not forward its events,
  delays the release by at most that long.

Returns {"recorded": ..., "settled": ...}.
"""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from shared import aws, releases as records
from shared.config import env
from shared.errors import ConfigurationError, InvalidInput
from shared.observability import lambda_entry, logger, named_error
from shared.releases import EVENT_STATUSES, EXECUTION_INDEX, FINAL, WATCHING, WATCHING_INDEX, iso, now, parse_time

PIPELINE_EVENT = "CodePipeline Pipeline Execution State Change"
SCHEDULED_EVENT = "Scheduled Event"


@lambda_entry
def handler(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        raise InvalidInput("the event must be an EventBridge event (a JSON object)")
    if event.get("detail-type") == PIPELINE_EVENT:
        return pipeline_changed(event)
    if event.get("detail-type") == SCHEDULED_EVENT:
        return sweep()
    raise InvalidInput(f"the event is a {event.get('detail-type')!r} event; this function takes {PIPELINE_EVENT!r} events and its schedule's")


def pipeline_changed(event: Mapping[str, Any]) -> dict[str, Any]:
    detail = event.get("detail") or {}
    execution_id, state = detail.get("execution-id"), detail.get("state")
    status = EVENT_STATUSES.get(str(state))
    if not isinstance(execution_id, str) or status is None:
        raise InvalidInput(f"the event has no known execution-id and state (execution-id {execution_id!r}, state {state!r})")
    try:
        at = parse_time(str(event.get("time")))
    except ValueError:
        at = now()
    found = aws.client("dynamodb").query(
        TableName=records.table(),
        IndexName=EXECUTION_INDEX,
        KeyConditionExpression="execution_id = :id",
        ExpressionAttributeValues={":id": {"S": execution_id}},
    )
    runs = [records.deserialized(item) for item in found.get("Items", [])]
    recorded = settled = 0
    for run in runs:
        if run.get("pipeline") != detail.get("pipeline"):
            continue
        recorded += records.record_status(run["release_id"], run["pipeline"], status, at, "event")
        if status in FINAL:
            settled += records.settle(current(run), status, failure_summary(run, status))
        else:
            records.heard(run["release_id"], run["pipeline"], now())
    if runs:
        logger.info("release pipeline changed", extra={"execution_id": execution_id, "pipeline": detail.get("pipeline"), "state": state, "recorded": recorded, "settled": settled})
    return {"recorded": recorded, "settled": settled}


def failure_summary(run: Mapping[str, Any], status: str) -> str:
    """What failed in the run, for the release's record; the status alone when that cannot be read."""
    if status == "Succeeded":
        return ""
    try:
        return records.check(run["pipeline"], run["execution_id"], run.get("role_arn")).summary
    except Exception as error:  # noqa: BLE001 - the wait is answered with the status all the same
        reported = named_error(error)
        return f"{status} (what failed could not be read: {reported.name}: {reported})"


def current(run: Mapping[str, Any]) -> dict[str, Any]:
    """The run's record as it is now (the index's copy may be behind: the task token is what counts)."""
    return records.get(run["release_id"], run["record"]) or dict(run)


def quiet_seconds() -> int:
    try:
        seconds = int(env("RELEASE_QUIET_SECONDS"))
    except ValueError:
        raise ConfigurationError("environment variable RELEASE_QUIET_SECONDS is not a whole number of seconds") from None
    return max(1, seconds)


def sweep() -> dict[str, Any]:
    cutoff = iso(now() - timedelta(seconds=quiet_seconds()))
    pages = (
        aws.client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=records.table(),
            IndexName=WATCHING_INDEX,
            KeyConditionExpression="watching = :yes AND last_heard <= :cutoff",
            ExpressionAttributeValues={":yes": {"S": WATCHING}, ":cutoff": {"S": cutoff}},
        )
    )
    checked = settled = 0
    for page in pages:
        for item in page.get("Items", []):
            run = current(records.deserialized(item))
            if not run.get("task_token") or not run.get("execution_id"):
                continue
            checked += 1
            try:
                settled += sweep_run(run)
            except Exception as error:  # noqa: BLE001 - one unreachable run does not keep the others from being checked
                reported = named_error(error)
                logger.warning(
                    "a release's run could not be checked", extra={"release_id": run["release_id"], "pipeline": run["pipeline"], "error": reported.name, "cause": str(reported)}
                )
    if checked:
        logger.info("swept the release waits", extra={"checked": checked, "settled": settled})
    return {"checked": checked, "settled": settled}


def sweep_run(run: Mapping[str, Any]) -> bool:
    """Check one quiet run; whether its wait was answered."""
    result = records.check(run["pipeline"], run["execution_id"], run.get("role_arn"))
    if result.status != run.get("status"):
        records.record_status(run["release_id"], run["pipeline"], result.status, result.changed_at, "check")
    if result.status in FINAL:
        return records.settle(run, result.status, result.summary)
    records.heard(run["release_id"], run["pipeline"], now())
    return False
