"""The ReleaseStateMachine's steps (asl/release.asl.json), one function, `action` says which:

- begin {release_id, timeout_minutes}: the release is RUNNING; returns its deadline and the
  notification of its start.
- start {release_id, on_failure, deadline, pipeline}: starts the pipeline's run (StartPipelineExecution
  with a clientRequestToken derived from the release and the pipeline, so a retried start starts
  nothing new), as the pipeline's role_arn for another account. Not started, and recorded so, when
  the release is stopping, past its deadline, or (on_failure "continue") a pipeline it comes after
  did not succeed. Returns {started, execution_id, wait_seconds} or {started: false, failed, summary}.
- watch {token, release_id, pipeline, execution_id}: the wait for the run (`.waitForTaskToken`):
  keeps the task token on the run's record, for release_events to answer when CodePipeline reports
  the run's end, and checks the run once itself, so a run that ended before the wait began is
  answered at once.
- timed_out {release_id, pipeline}: the release's deadline passed while it waited for the run.
- stop_release {release_id, reason}: the release stops: no pipeline starts any more, and each run
  still in progress is stopped ("stop and wait": its current action finishes, so no deployment is
  cut off half way; stop_deployment rolls back a deployment the stop leaves unfinished).
- summarize {release_id, error}: the release's outcome from its records: SUCCEEDED, FAILED
  (naming each pipeline that failed, its execution id and summary, and those stopped or not
  started) or TIMED_OUT; recorded, and returned with its notification.
"""

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from shared import aws, notifications, releases as records
from shared.errors import InvalidInput
from shared.events import field
from shared.observability import lambda_entry, logger, readable
from shared.releases import FAILED_TO_START, FINAL, NOT_STARTED, RELEASE, iso, now, parse_time, run_record

PIPELINE_NAME_LIMIT = 100


@lambda_entry
def handler(event: Any, context: Any) -> dict[str, Any]:
    action = field(event, "action", str)
    step = ACTIONS.get(action)
    if step is None:
        raise InvalidInput(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    return step(event)


def begin(event: Mapping[str, Any]) -> dict[str, Any]:
    release_id = field(event, "release_id", str)
    minutes = field(event, "timeout_minutes", int)
    started = now()
    deadline = started + timedelta(minutes=minutes)
    records.change_release(release_id, "RUNNING", started, {"started_at": iso(started), "deadline": iso(deadline)})
    release = records.get(release_id, RELEASE) or {}
    pipelines = ", ".join(release.get("pipelines", []))
    message = (
        f"Release {release_id} started: {pipelines}.\n"
        f"Submitted by {release.get('submitted_by')} ({release.get('submitted_via')}); it times out at {iso(deadline)}.\n"
        + (f"{release['description']}\n" if release.get("description") else "")
        + f"Execution: {records.console_url(release.get('execution_arn', '')) or release.get('execution_arn')}"
    )
    note = notifications.notification(
        "release",
        "started",
        f"Release {release_id} started",
        message,
        release_id=release_id,
        execution_arn=release.get("execution_arn"),
        details=[{"label": "Pipelines", "value": pipelines}, {"label": "Submitted by", "value": f"{release.get('submitted_by')} ({release.get('submitted_via')})"}],
    )
    return {"deadline": iso(deadline), "subject": notifications.subject(note["title"]), "message": notifications.sns_message(note)}


def start(event: Mapping[str, Any]) -> dict[str, Any]:
    release_id = field(event, "release_id", str)
    pipeline = field(event, "pipeline", Mapping)
    name = field(pipeline, "name", str, max_length=PIPELINE_NAME_LIMIT)
    role_arn = pipeline.get("role_arn")
    deadline = parse_time(field(event, "deadline", str))
    at = now()
    run = {"release_id": release_id, "record": run_record(name), "pipeline": name, "role_arn": role_arn, "wave": pipeline.get("wave"), "after": pipeline.get("after") or []}
    reason = reason_not_to_start(release_id, pipeline, field(event, "on_failure", str), deadline)
    if reason:
        return not_started(run, NOT_STARTED, reason, failed=False)
    token = records.client_request_token(release_id, name)
    records.conditionally(
        "put_item",
        TableName=records.table(),
        Item=records.serialized(run | {"status": "Starting", "client_request_token": token, "changes": [{"status": "Starting", "at": iso(at), "seen": "start"}]}),
        ConditionExpression="attribute_not_exists(release_id)",
    )
    arguments: dict[str, Any] = {"name": name, "clientRequestToken": token}
    if pipeline.get("variables"):
        arguments["variables"] = pipeline["variables"]
    if pipeline.get("source_revisions"):
        arguments["sourceRevisions"] = pipeline["source_revisions"]
    try:
        execution_id = str(records.pipelines_client(role_arn).start_pipeline_execution(**arguments)["pipelineExecutionId"])
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("PipelineNotFoundException", "ValidationException", "AccessDeniedException", "AccessDenied", "InvalidParameterValueException"):
            message = error.response.get("Error", {}).get("Message", "")
            return not_started(run, FAILED_TO_START, f"CodePipeline refused to start {name}: {code}: {message}", failed=True)
        raise
    aws.client("dynamodb").update_item(
        TableName=records.table(),
        Key=records.key(release_id, run_record(name)),
        UpdateExpression="SET execution_id = :id, started_at = if_not_exists(started_at, :at)",
        ExpressionAttributeValues=records.serialized({":id": execution_id, ":at": iso(at)}),
    )
    records.record_status(release_id, name, "InProgress", at, "start")
    logger.info("pipeline started", extra={"release_id": release_id, "pipeline": name, "execution_id": execution_id, "role_arn": role_arn})
    wait_seconds = max(1, int((deadline - now()).total_seconds()))
    return {"started": True, "failed": False, "pipeline": name, "execution_id": execution_id, "wait_seconds": wait_seconds}


def reason_not_to_start(release_id: str, pipeline: Mapping[str, Any], on_failure: str, deadline: Any) -> str | None:
    release = records.get(release_id, RELEASE) or {}
    if release.get("stop_reason"):
        return f"not started: the release stopped ({release['stop_reason']})"
    if now() >= deadline:
        return f"not started: the release's deadline {iso(deadline)} passed"
    if on_failure == "continue":
        for earlier in pipeline.get("after") or []:
            status = (records.get(release_id, run_record(earlier)) or {}).get("status", "unknown")
            if status != "Succeeded":
                return f"not started: it comes after {earlier}, which did not succeed ({status})"
    return None


def not_started(run: dict[str, Any], status: str, reason: str, failed: bool) -> dict[str, Any]:
    at = iso(now())
    item = run | {"status": status, "summary": reason, "final_at": at, "changes": [{"status": status, "at": at, "seen": "start"}]}
    # A record whose run has started (a retried start that got further before) stands.
    records.conditionally("put_item", TableName=records.table(), Item=records.serialized(item), ConditionExpression="attribute_not_exists(execution_id)")
    logger.info("pipeline not started", extra={"release_id": run["release_id"], "pipeline": run["pipeline"], "status": status, "reason": reason})
    return {"started": False, "failed": failed, "pipeline": run["pipeline"], "status": status, "summary": reason}


def watch(event: Mapping[str, Any]) -> dict[str, Any]:
    token = field(event, "token", str)
    release_id = field(event, "release_id", str)
    name = field(event, "pipeline", str, max_length=PIPELINE_NAME_LIMIT)
    execution_id = field(event, "execution_id", str)
    at = iso(now())
    answer = aws.client("dynamodb").update_item(
        TableName=records.table(),
        Key=records.key(release_id, run_record(name)),
        UpdateExpression="SET task_token = :token, watching = :watching, last_heard = :at, watch_started_at = if_not_exists(watch_started_at, :at)",
        ConditionExpression="execution_id = :id",
        ExpressionAttributeValues=records.serialized({":token": token, ":watching": records.WATCHING, ":at": at, ":id": execution_id}),
        ReturnValues="ALL_NEW",
    )
    run = records.deserialized(answer["Attributes"])
    status = run.get("status")
    if status not in FINAL:
        checked = records.check(name, execution_id, run.get("role_arn"))
        if checked.status != status:
            records.record_status(release_id, name, checked.status, checked.changed_at, "check")
        status = checked.status
        summary = checked.summary
    else:
        summary = run.get("summary") or records.check(name, execution_id, run.get("role_arn")).summary
    if status in FINAL:
        records.settle(run, str(status), summary)
    return {"watching": status not in FINAL, "status": status}


def timed_out(event: Mapping[str, Any]) -> dict[str, Any]:
    release_id = field(event, "release_id", str)
    name = field(event, "pipeline", str, max_length=PIPELINE_NAME_LIMIT)
    records.conditionally(
        "update_item",
        TableName=records.table(),
        Key=records.key(release_id, run_record(name)),
        UpdateExpression="REMOVE task_token, watching, last_heard SET timed_out_at = :at",
        ConditionExpression="attribute_exists(release_id)",
        ExpressionAttributeValues=records.serialized({":at": iso(now())}),
    )
    return {"pipeline": name, "timed_out": True}


def stop_release(event: Mapping[str, Any]) -> dict[str, Any]:
    release_id = field(event, "release_id", str)
    reason = readable(field(event, "reason", str, max_length=4000), 500)
    records.conditionally(
        "update_item",
        TableName=records.table(),
        Key=records.key(release_id, RELEASE),
        UpdateExpression="SET stop_reason = :reason",
        ConditionExpression="attribute_not_exists(stop_reason)",
        ExpressionAttributeValues=records.serialized({":reason": reason}),
    )
    stopped = []
    for run in records.runs(release_id):
        if run.get("status") not in ("InProgress", "Starting") or not run.get("execution_id"):
            continue
        try:
            records.pipelines_client(run.get("role_arn")).stop_pipeline_execution(
                pipelineName=run["pipeline"], pipelineExecutionId=run["execution_id"], abandon=False, reason=readable(f"release {release_id} stopped: {reason}", 200)
            )
        except ClientError as error:
            # It ended meanwhile, or someone stopped it first: its own status says which.
            if error.response.get("Error", {}).get("Code") not in ("PipelineExecutionNotStoppableException", "DuplicatedStopRequestException"):
                raise
            continue
        aws.client("dynamodb").update_item(
            TableName=records.table(),
            Key=records.key(release_id, run["record"]),
            UpdateExpression="SET stopped_by_release = :yes",
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )
        stopped.append(run["pipeline"])
    logger.info("release stopping", extra={"release_id": release_id, "reason": reason, "stopped": stopped})
    return {"stopped": stopped}


def summarize(event: Mapping[str, Any]) -> dict[str, Any]:
    release_id = field(event, "release_id", str)
    error = event.get("error") if isinstance(event.get("error"), Mapping) else None
    release = records.get(release_id, RELEASE) or {}
    runs = records.runs(release_id)
    deadline = release.get("deadline")
    timed_out_runs = [run for run in runs if run.get("timed_out_at")]
    failed = [run for run in runs if run.get("status") not in ("Succeeded", NOT_STARTED) and not run.get("stopped_by_release") and not run.get("timed_out_at")]
    stopped = [run for run in runs if run.get("stopped_by_release")]
    skipped = [run for run in runs if run.get("status") == NOT_STARTED]
    listed = {run["pipeline"] for run in runs}
    never = [name for name in release.get("pipelines", []) if name not in listed]
    if error is None and not failed and not stopped and not skipped and not never and not timed_out_runs:
        status = "SUCCEEDED"
    elif error is None and (timed_out_runs or (deadline and now() >= parse_time(deadline) and not failed)):
        status = "TIMED_OUT"
    else:
        status = "FAILED"
    lines = []
    if error is not None:
        lines.append(f"The release failed in its own steps: {error.get('Error')}: {readable(str(error.get('Cause')), 1000)}")
    lines += [f"{run['pipeline']} failed (execution {run.get('execution_id') or 'none'}): {run.get('summary') or run.get('status')}" for run in failed]
    lines += [f"{run['pipeline']} was still running at the deadline {deadline} (execution {run.get('execution_id')})" for run in timed_out_runs]
    lines += [f"{run['pipeline']} was stopped by the release (execution {run.get('execution_id')}): {run.get('status')}" for run in stopped]
    lines += [f"{run['pipeline']} {run.get('summary')}" for run in skipped]
    lines += [f"{name} not started" for name in never]
    ended = now()
    records.change_release(release_id, status, ended, {"ended_at": iso(ended), "outcome": lines})
    pipelines = {run["pipeline"]: {"status": run.get("status"), "execution_id": run.get("execution_id")} for run in runs}
    cause = readable("; ".join(lines) or f"every pipeline succeeded: {', '.join(pipelines)}", 4000)
    verb = {"SUCCEEDED": "succeeded", "FAILED": "failed", "TIMED_OUT": "timed out"}[status]
    message = f"Release {release_id} {verb}.\n" + "\n".join(f"- {name}: {run['status']} ({run['execution_id'] or 'not started'})" for name, run in pipelines.items())
    message += ("\n\n" + "\n".join(lines) if lines else "") + f"\n\nExecution: {records.console_url(release.get('execution_arn', '')) or release.get('execution_arn')}"
    note = notifications.notification(
        "release",
        "succeeded" if status == "SUCCEEDED" else "failed",
        f"Release {release_id} {verb}",
        readable(message, 200_000),
        release_id=release_id,
        execution_arn=release.get("execution_arn"),
        error=None if status == "SUCCEEDED" else {"FAILED": "ReleaseFailed", "TIMED_OUT": "ReleaseTimedOut"}[status],
        cause=None if status == "SUCCEEDED" else cause,
        details=[{"label": name, "value": f"{run['status']} ({run['execution_id'] or 'not started'})"} for name, run in pipelines.items()],
    )
    return {
        "status": status,
        "cause": cause,
        "failed": [run["pipeline"] for run in failed],
        "stopped": [run["pipeline"] for run in stopped],
        "not_started": [run["pipeline"] for run in skipped] + never,
        "subject": notifications.subject(note["title"]),
        "message": notifications.sns_message(note),
    }


ACTIONS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "begin": begin,
    "start": start,
    "watch": watch,
    "timed_out": timed_out,
    "stop_release": stop_release,
    "summarize": summarize,
}
