"""Production approvals: a deployment of a service that registers `approval.required` waits, after
staging's tests pass, for a person's decision before DeployProduction (docs/approvals.md).

Invoked two ways:
- by the DeploymentStateMachine's RequestApproval state (`lambda:invoke.waitForTaskToken`), with
  {"action": "request", "token", "commit_id", "artifact", "execution", "service", "production"
  (what the production handler's `describe` found), "staging", "package_tests", "staging_tests",
  "validation"}: it builds the change summary (shared/change_summary.py: production's release copy
  against the new package, the tests, the findings), keeps the task token and the summary in the
  deployment record, and tells the topic that the deployment waits, with the summary. The state
  then waits until the token is answered, or fails with States.Timeout after the service's
  `approval.timeout_seconds`.
- by API Gateway (Lambda proxy integration of `POST /approvals`, AWS_IAM authorization), with
  {"execution": <ARN or name>, "decision": "approve" | "reject", "reason": "..."}: the caller's ARN
  must be one of the service's registered approvers (a role's sessions decide as the role). The
  decision is written once (a conditional update that takes the token from the record), then sent
  with SendTaskSuccess; the state machine goes on to production, or rolls staging back and fails
  with ProductionRejected. Answers: 200 with the decision, 400 a bad request, 403 not an approver,
  404 no such execution, 409 nothing waits for a decision (not yet, decided, ended), 503 the
  decision could not be sent (the record waits again).
"""

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from shared import api, aws, change_summary, notifications, records
from shared.api import Answer
from shared.artifacts import content_sha256, read_artifact
from shared.config import env, env_default
from shared.errors import ArtifactUnavailable, InvalidArtifact, InvalidInput, TargetNotAllowed
from shared.events import ArtifactLocation, Execution, artifact_location, commit_id, ensure_object, execution, field, preview
from shared.observability import lambda_entry, logger, readable
from shared.services import Service, registered, service_of

DECISIONS = {"approve": "approved", "reject": "rejected"}
MAX_REASON = 500
# A task token (SendTaskSuccess: 1 to 2,048 characters).
MAX_TOKEN = 2048
EXECUTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}", re.ASCII)
ASSUMED_ROLE = re.compile(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([\w+=,.@-]+)/[\w+=,.@-]+", re.ASCII)
ROLE = re.compile(r"arn:(aws[a-z-]*):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)", re.ASCII)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@lambda_entry
def handler(event: Any, context: Any) -> dict[str, Any]:
    if api.is_request(event):
        return api_decision(event).response()
    ensure_object(event)
    action = field(event, "action", str)
    if action != "request":
        raise InvalidInput(f"'action' must be 'request' (the state machine's), got {preview(action)}; decisions come through POST /approvals")
    return request(event)


def now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime(TIMESTAMP_FORMAT)


# --- the request ------------------------------------------------------------------------------


def request(event: Mapping[str, Any]) -> dict[str, Any]:
    service = service_of(event)
    if not service.approval.required:
        raise TargetNotAllowed(f"service {service.name} does not register approval.required; the state machine asks only for the approvals a service registers")
    commit, run, artifact = commit_id(event), execution(event), artifact_location(event)
    token = field(event, "token", str, max_length=MAX_TOKEN)
    production = field(event, "production", dict)
    summary = summarize(commit, artifact, production, event)
    requested = now()
    expires = requested + timedelta(seconds=service.approval.timeout_seconds)
    text = change_summary.summary_text(summary)
    record_request(run, commit, token, service, requested, expires, text)
    notify_waiting(service, commit, run, summary, text, expires)
    logger.info("waiting for a decision on production", extra={"execution": run.name, "expires_at": stamp(expires)})
    return {"waiting": True, "expires_at": stamp(expires)}


def summarize(commit: str, artifact: ArtifactLocation, production: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """The change summary: production's release copy against the new package, the tests, the findings."""
    with read_artifact(artifact) as new:
        after = change_summary.package_files(new.file)
    before, note = release_copy_files(production)
    staging = mapping(event.get("staging")) or {}
    return change_summary.change_summary(
        commit_id=commit,
        production={
            "version": production.get("version"),
            "commit_id": production.get("commit_id"),
            "release_copy": release_uri(production),
            "note": note,
        },
        staging_version=str(staging["new_version"]) if staging.get("new_version") is not None else None,
        files=change_summary.compare(before, after),
        package_tests=mapping(event.get("package_tests")),
        staging_tests=mapping(event.get("staging_tests")),
        validation=mapping(event.get("validation")),
    )


def mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def release_uri(production: Mapping[str, Any]) -> str | None:
    release = production.get("release")
    return f"s3://{release['bucket']}/{release['key']}" if isinstance(release, Mapping) and release.get("bucket") and release.get("key") else None


def release_copy_files(production: Mapping[str, Any]) -> tuple[dict[str, tuple[int, str]] | None, str | None]:
    """The files of the release copy production runs, or None and why not. The copy must hold the
    code of production's version (its content digest): a commit deployed twice has one copy."""
    release, version = production.get("release"), production.get("version")
    if not isinstance(release, Mapping):
        return None, readable(str(production.get("note") or f"production runs version {version}, which has no release copy"))
    location = ArtifactLocation(bucket=str(release.get("bucket")), key=str(release.get("key")))
    try:
        with read_artifact(location) as copy:
            if content_sha256(copy.file) != production.get("content_sha256"):
                return None, f"the release copy {location.uri} holds other code than production's version {version}: nothing to compare with"
            copy.file.seek(0)
            return change_summary.package_files(copy.file), None
    except (ArtifactUnavailable, InvalidArtifact) as error:
        return None, readable(f"production's release copy cannot be read ({error}): nothing to compare with")


def record_request(run: Execution, commit: str, token: str, service: Service, requested: datetime, expires: datetime, text: str) -> None:
    """Keep the token and the summary in the deployment record, while the deployment is in progress."""
    approval = {
        "status": "waiting",
        "requested_at": stamp(requested),
        "expires_at": stamp(expires),
        "timeout_seconds": service.approval.timeout_seconds,
        "approvers": list(service.approval.approvers),
        "summary": text,
    }
    if not records.record_approval_request(env("DEPLOYMENTS_TABLE"), commit, run, approval, token):
        raise InvalidInput(f"deployment {run.name} is not in progress (stopped or ended): no approval is requested")


def decide_command(run: Execution) -> str:
    return f"python -m tools.approve {run.name} approve|reject --reason '...'  (or POST {env_default('APPROVAL_API_URL', '/approvals')}, signed)"


def notify_waiting(service: Service, commit: str, run: Execution, summary: Mapping[str, Any], text: str, expires: datetime) -> None:
    """Tell the topic what the deployment waits for; a notification that cannot be sent changes nothing."""
    rows = change_summary.summary_rows(summary) + [
        {"label": "Decide by", "value": f"{stamp(expires)} (then staging is rolled back)"},
        {"label": "Decide with", "value": decide_command(run)},
    ]
    note = notifications.notification(
        "deployment",
        "waiting_for_approval",
        f"{service.name}: waiting for approval to deploy production",
        f"Service {service.name}: deployment {run.name} waits for a decision before production, until {stamp(expires)}.\n{text}\nDecide with: {decide_command(run)}",
        service=service.name,
        commit_id=commit,
        execution_arn=run.arn,
        execution_name=run.name,
        details=rows,
    )
    try:
        notifications.publish(env("NOTIFICATION_TOPIC_ARN"), note)
    except Exception as error:  # noqa: BLE001 - notifications are best effort; the record holds the summary
        logger.warning("cannot publish the approval request", extra={"error": str(error)})


# --- the decision -----------------------------------------------------------------------------


def api_decision(event: Mapping[str, Any]) -> Answer:
    caller = api.caller_arn(event)
    if not caller:
        return Answer(403, {"message": "the request carries no caller identity: POST /approvals needs AWS_IAM authorization"})
    try:
        wanted = read_decision(event)
    except InvalidInput as error:
        return Answer(400, {"message": str(error)})
    return decide(caller, *wanted)


def read_decision(event: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """(execution ARN, decision, reason) of the request body."""
    try:
        document = json.loads(api.body_text(event))
    except (TypeError, ValueError):
        raise InvalidInput('the request body must be JSON: {"execution": "<execution ARN or name>", "decision": "approve" or "reject", "reason": "..."}') from None
    if not isinstance(document, Mapping):
        raise InvalidInput("the request body must be a JSON object")
    unknown = sorted(set(document) - {"execution", "decision", "reason"})
    if unknown:
        raise InvalidInput(f"the request body has the unknown field {preview(str(unknown[0]))}; its fields are execution, decision and reason")
    decision = field(document, "decision", str)
    if decision not in DECISIONS:
        raise InvalidInput(f"'decision' must be 'approve' or 'reject', got {preview(decision)}")
    reason = field(document, "reason", str, default=None, max_length=MAX_REASON)
    if decision == "reject" and reason is None:
        raise InvalidInput("a rejection needs a 'reason': the pipeline's failure shows who rejected and why")
    return execution_arn(field(document, "execution", str, max_length=2048)), decision, reason


def execution_arn(given: str) -> str:
    """The ARN of an execution of the DeploymentStateMachine, from its ARN or its name."""
    state_machine = env("STATE_MACHINE_ARN")
    prefix = state_machine.replace(":stateMachine:", ":execution:", 1) + ":"
    name = given[len(prefix) :] if given.startswith(prefix) else given
    if not EXECUTION_NAME.fullmatch(name):
        raise InvalidInput(f"'execution' {preview(given)} is neither the name nor the ARN of an execution of {state_machine}")
    return prefix + name


def is_approver(caller: str, approvers: tuple[str, ...]) -> bool:
    """Whether `caller` is one of `approvers`, or a session of a role that is (paths aside)."""
    if caller in approvers:
        return True
    session = ASSUMED_ROLE.fullmatch(caller)
    if session is None:
        return False
    return any(role is not None and role.groups() == session.groups() for role in (ROLE.fullmatch(approver) for approver in approvers))


def decide(caller: str, arn: str, decision: str, reason: str | None) -> Answer:
    name = arn.rsplit(":", 1)[1]
    try:
        described = aws.client("stepfunctions").describe_execution(executionArn=arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist", "InvalidArn"):
            return Answer(404, {"message": f"there is no deployment {name}"})
        raise
    if described.get("status") != "RUNNING":
        return Answer(409, {"message": f"deployment {name} is {str(described.get('status')).lower()}: only a running deployment waits for a decision"})
    document = json.loads(described.get("input") or "{}")
    commit, service_name = document.get("commit_id"), (document.get("service") or {}).get("name")
    if not isinstance(commit, str) or not isinstance(service_name, str):
        return Answer(409, {"message": f"deployment {name} names no commit or service: nothing of it waits for a decision"})
    service = registered(service_name)
    if not service.approval.required:
        return Answer(409, {"message": f"deployment {name} does not wait for a decision: service {service_name} does not require approval"})
    if not is_approver(caller, service.approval.approvers):
        logger.warning("a decision by someone who is not an approver was refused", extra={"caller": caller, "execution": name, "service": service_name})
        return Answer(403, {"message": f"{caller} is not an approver of service {service_name}: its approvers are {', '.join(service.approval.approvers) or 'nobody'}"})
    table = env("DEPLOYMENTS_TABLE")
    record = records.read_record(table, commit, name) or {}
    approval = record.get("approval") or {}
    status, token = approval.get("status"), record.get("approval_token")
    if record.get("status") != "IN_PROGRESS":
        return Answer(409, {"message": f"deployment {name} is {str(record.get('status', 'not recorded')).lower()}: only a deployment in progress waits for a decision"})
    if status != "waiting" or not token:
        if status in DECISIONS.values():
            return Answer(409, {"message": f"deployment {name} was {status} by {approval.get('decided_by')} at {approval.get('decided_at')} already"})
        return Answer(409, {"message": f"deployment {name} does not wait for a decision (yet): it asks for one once staging's tests pass"})
    outcome, decided_at = DECISIONS[decision], stamp(now())
    if not records.record_decision(table, commit, name, token, outcome, caller, decided_at, reason):
        return Answer(409, {"message": f"deployment {name} was decided by someone else, or stopped, a moment ago: the decision changes nothing"})
    said = f"{outcome} by {caller} at {decided_at}" + (f": {reason}" if reason else "")
    output = {"decision": decision, "approved": decision == "approve", "decided_by": caller, "decided_at": decided_at, "reason": reason, "summary": said}
    try:
        aws.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(output))
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
            return Answer(409, {"message": f"deployment {name} stopped waiting for a decision (it timed out or was stopped): the decision changes nothing"})
        # Not sent (throttled, KMS, an outage): the deployment still waits, so the record must too.
        records.restore_approval_request(table, commit, name, token)
        logger.warning("the decision could not be sent; the deployment still waits", extra={"execution": name, "error": code})
        return Answer(503, {"message": f"the decision on deployment {name} could not be sent to Step Functions ({code}); it still waits: decide again"})
    logger.info("production approval decided", extra={"execution": name, "decision": outcome, "caller": caller, "reason": reason})
    return Answer(200, {"execution_arn": arn, "decision": decision, "decided_by": caller, "decided_at": decided_at, "message": f"deployment {name} {said}"})
