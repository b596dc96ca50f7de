"""Stops a deployment that its pipeline run no longer waits for, and restores what it deployed.

Invoked two ways:
- by EventBridge, with a "CodePipeline Pipeline Execution State Change" event of the platform's
  pipeline in a state that ends or abandons the run (STOPPING and STOPPED: a person stopped it,
  "Stop and wait" or "Stop and abandon"; SUPERSEDED, CANCELED, FAILED): every DeploymentStateMachine
  execution that run started and that still runs is stopped;
- by the waiter, with {"execution_arn", "reason"}, before it fails a job whose execution may still run.

For each execution: StopExecution (error DeploymentStopped, the reason as cause); the deployment
record marked STOPPED with what stopped it; the rollback function, run as after any failure with
the execution input's `service` (it stops a CodeDeploy deployment in progress and points every
alias the execution moved back at its previous version); a notification naming the service. Every step is safe to repeat: EventBridge delivers an event at
least once, and Lambda retries an asynchronous invocation that failed.

Returns {"executions": [{"execution_arn", "action", "summary"}], "summary"}.
"""

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import aws, notifications
from shared.config import env
from shared.errors import InvalidInput
from shared.events import MAX_EXECUTION_ARN, Execution, commit_id, ensure_object, field, is_service_name, preview
from shared.observability import lambda_entry, logger, named_error, readable
from shared.records import now_iso, record_stopped

PIPELINE_EVENT = "CodePipeline Pipeline Execution State Change"
# The pipeline run states after which nobody waits for its deployment, as a person reads them.
ENDING_STATES = {
    "STOPPING": "is being stopped",
    "STOPPED": "was stopped",
    "SUPERSEDED": "was superseded by a newer run",
    "CANCELED": "was canceled (the pipeline was updated)",
    "FAILED": "failed",
}
STOPPED_ERROR = "DeploymentStopped"
MAX_REASON = 1000
# The rollback's errors worth a second try, and the pauses before each try.
RETRIED_ROLLBACK_ERRORS = frozenset({"FunctionBusy", "Throttled", "ServiceUnavailable", "TooManyRequestsException"})
ROLLBACK_PAUSES_SECONDS = (0, 5, 15)


@dataclass(frozen=True)
class Settings:
    state_machine_arn: str
    rollback_function: str
    deployments_table: str
    topic_arn: str

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(env("STATE_MACHINE_ARN"), env("ROLLBACK_FUNCTION_NAME"), env("DEPLOYMENTS_TABLE"), env("NOTIFICATION_TOPIC_ARN"))

    @property
    def execution_prefix(self) -> str:
        """arn:P:states:R:A:stateMachine:SM -> arn:P:states:R:A:execution:SM:"""
        parts = self.state_machine_arn.split(":")
        return ":".join([*parts[:5], "execution", parts[6], ""])


@lambda_entry
def handler(event: Any, context: Any) -> dict[str, Any]:
    ensure_object(event)
    settings = Settings.from_env()
    if event.get("source") == "aws.codepipeline":
        if field(event, "detail-type", str, max_length=100) != PIPELINE_EVENT:
            raise InvalidInput(f"the event is not a {PIPELINE_EVENT!r} event")
        pipeline = field(event, "detail.pipeline", str, max_length=100)
        run = field(event, "detail.execution-id", str, max_length=200)
        state = field(event, "detail.state", str, max_length=40)
        if state not in ENDING_STATES:
            return {"executions": [], "summary": f"pipeline {pipeline} execution {run} is {state}: nothing to stop"}
        reason = run_ended(pipeline, run, state, event["detail"])
        targets = running_executions_of(settings, pipeline, run)
    else:
        targets = [own_execution(settings, field(event, "execution_arn", str, max_length=MAX_EXECUTION_ARN))]
        reason = field(event, "reason", str, max_length=MAX_REASON)
    results = [stop_and_roll_back(settings, arn, reason) for arn in targets]
    summary = "; ".join(result["summary"] for result in results) or "no deployment of that pipeline run is running"
    logger.info("stop handled", extra={"executions": len(results), "summary": summary})
    return {"executions": results, "summary": summary}


def run_ended(pipeline: str, run: str, state: str, detail: dict[str, Any]) -> str:
    """Why the deployment is stopped, with the reason the person who stopped the run gave (only the
    STOPPING event carries it)."""
    given = detail.get("stop-execution-comments")
    reason = f"pipeline {pipeline} execution {run} {ENDING_STATES[state]}"
    return readable(reason + (f" ({given})" if isinstance(given, str) and given.strip() else ""), MAX_REASON)


def own_execution(settings: Settings, arn: str) -> str:
    """`arn` when it is an execution of this platform's state machine."""
    if not arn.startswith(settings.execution_prefix) or ":" in arn[len(settings.execution_prefix) :]:
        raise InvalidInput(f"'execution_arn' {preview(arn)} is not an execution of {settings.state_machine_arn}")
    return arn


def running_executions_of(settings: Settings, pipeline: str, run: str) -> list[str]:
    """The running executions the waiter started for pipeline run `run` (their input names it)."""
    states = aws.client("stepfunctions")
    found = []
    for page in states.get_paginator("list_executions").paginate(stateMachineArn=settings.state_machine_arn, statusFilter="RUNNING"):
        for listed in page["executions"]:
            started_for = execution_input(states.describe_execution(executionArn=listed["executionArn"])).get("pipeline")
            if isinstance(started_for, dict) and started_for.get("name") == pipeline and started_for.get("execution_id") == run:
                found.append(str(listed["executionArn"]))
    return found


def execution_input(described: dict[str, Any]) -> dict[str, Any]:
    try:
        document = json.loads(described.get("input") or "{}")
    except (ValueError, RecursionError):
        return {}
    return document if isinstance(document, dict) else {}


def stop_and_roll_back(settings: Settings, arn: str, reason: str) -> dict[str, Any]:
    states = aws.client("stepfunctions")
    described = states.describe_execution(executionArn=arn)
    name = str(described["name"])
    if described["status"] == "RUNNING":
        states.stop_execution(executionArn=arn, error=STOPPED_ERROR, cause=reason)
        logger.info("execution stopped", extra={"execution_arn": arn, "reason": reason})
    elif described["status"] != "ABORTED":
        # It ended by itself: a failure was rolled back by the state machine, a success stands.
        return {"execution_arn": arn, "action": "already_ended", "summary": f"{name} had already ended {described['status']}"}

    document = execution_input(described)
    commit = commit_id(document)
    service = document.get("service")
    service_name = service_name_of(service)
    execution = Execution(arn, name)
    started = described.get("startDate")
    record_stopped(settings.deployments_table, commit, execution, started.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(started, datetime) else now_iso(), reason, service_name)
    restored, outcome = roll_back(settings, commit, execution, reason, service)
    summary = f"stopped {name}: {outcome}"
    of_service = f"Service {service_name}: deployment" if service_name else "Deployment"
    text = f"{of_service} {name} of commit {commit} was stopped: {reason}. {'Rolled back' if restored else 'The rollback failed'}: {outcome}"
    given = document.get("pipeline")
    pipeline: dict[str, Any] = given if isinstance(given, dict) else {}
    note = notifications.notification(
        "deployment",
        "stopped",
        f"{service_name or '(none)'}: deployment stopped",
        readable(text),
        service=service_name,
        commit_id=commit,
        execution_arn=arn,
        execution_name=name,
        pipeline={"name": pipeline["name"], "execution_id": pipeline.get("execution_id")} if isinstance(pipeline.get("name"), str) else None,
        error=STOPPED_ERROR if restored else "RollbackFailed",
        cause=readable(f"{reason}. {outcome}"),
    )
    notify(settings, note)
    return {"execution_arn": arn, "action": "stopped" if restored else "stopped_rollback_failed", "summary": summary}


def service_name_of(service: Any) -> str | None:
    """The service's name in an execution input's `service`, when it has one a service can have."""
    name = service.get("name") if isinstance(service, dict) else None
    return name if isinstance(name, str) and is_service_name(name) else None


def roll_back(settings: Settings, commit: str, execution: Execution, reason: str, service: Any) -> tuple[bool, str]:
    """Run the rollback function as the state machine would, with the execution input's `service`
    (the rollback checks it against the registry); (restored, what it says)."""
    request = {"commit_id": commit, "execution": {"arn": execution.arn, "name": execution.name}, "failure": {"error": STOPPED_ERROR, "cause": reason}}
    if service is not None:
        request["service"] = service
    functions = aws.client("lambda", read_timeout=aws.INVOKE_READ_TIMEOUT_SECONDS)
    error = {"errorType": "RollbackFailed", "errorMessage": "the rollback did not run"}
    for pause in ROLLBACK_PAUSES_SECONDS:
        time.sleep(pause)
        response = functions.invoke(FunctionName=settings.rollback_function, Payload=json.dumps(request).encode())
        payload = json.loads(response["Payload"].read() or b"{}")
        if not response.get("FunctionError"):
            return True, str(payload.get("summary", "nothing to restore"))
        error = payload if isinstance(payload, dict) else error
        if error.get("errorType") not in RETRIED_ROLLBACK_ERRORS:
            break
    logger.error("the rollback of a stopped deployment failed", extra={"execution_arn": execution.arn, "error": error.get("errorType"), "cause": error.get("errorMessage")})
    return False, f"{error.get('errorType')}: {error.get('errorMessage')}"


def notify(settings: Settings, note: dict[str, Any]) -> None:
    """Tell the topic's subscribers; a notification that cannot be sent does not undo the stop."""
    try:
        notifications.publish(settings.topic_arn, note)
    except Exception as error:  # noqa: BLE001 - the state machine's own notifications are best effort too
        logger.warning("cannot publish the notification", extra={"error": str(named_error(error))})
