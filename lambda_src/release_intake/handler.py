"""Accepts a release: a manifest uploaded to the release bucket, or POSTed to the release API.

Invoked two ways (docs/releases.md):
- by EventBridge, with S3's "Object Created" event of an object under `releases/` in the release
  bucket (RELEASE_BUCKET): the manifest is that object, at the version the event names;
- by API Gateway (Lambda proxy integration of `POST /releases`, AWS_IAM authorization), with the
  manifest as the request body: it answers 202 with the release id, the execution ARN and its
  console URL, 400 for a bad manifest, 409 for a release id submitted before.

Each submission is checked against the schema and the rules of shared/manifest.py, with the
pipelines and roles Terraform allows (RELEASE_PIPELINES, RELEASE_ROLE_ARNS), then accepted once:
the release's record is written only if no record of that id exists (a conditional write), so of
two submissions of one id arriving together, one starts the ReleaseStateMachine (the execution's
name comes from the id, a second guard) and the other is recorded as a rejected duplicate. Every
submission is recorded (shared/releases.py); a rejected upload is also told to the topic, since
nobody waits for its answer.
"""

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shared import api, aws, notifications, releases as records
from shared.api import Answer
from shared.config import env
from shared.errors import BadManifest, ConfigurationError, InvalidInput
from shared.manifest import MAX_MANIFEST_BYTES, Allowed, Manifest, read_manifest, schema
from shared.observability import lambda_entry, logger, named_error, readable
from shared.releases import RELEASE, SUBMISSION_PREFIX, UNIDENTIFIED, iso, now

UPLOAD_PREFIX = "releases/"


@dataclass(frozen=True)
class Submission:
    via: str  # upload | api
    by: str  # who: the uploader's account (S3 names no principal), or the caller's ARN
    source: str  # s3://bucket/key?versionId=..., or the API request id
    request_id: str


@lambda_entry
def handler(event: Any, context: Any) -> dict[str, Any]:
    if api.is_request(event):
        return api_submission(event).response()
    if isinstance(event, Mapping) and event.get("source") == "aws.s3":
        return upload_submission(event).body
    raise InvalidInput("the event is neither S3's Object Created event of a release manifest nor an API Gateway request of POST /releases")


def api_submission(event: Mapping[str, Any]) -> Answer:
    caller = api.caller_arn(event)
    request_id = str((event.get("requestContext") or {}).get("requestId") or uuid.uuid4())
    if not caller:
        return Answer(403, {"message": "the request carries no caller identity: POST /releases needs AWS_IAM authorization"})
    try:
        body = api.body_text(event)
    except InvalidInput as error:
        return Answer(400, {"message": str(error)})
    return submit(body, Submission("api", caller, f"api request {request_id}", request_id))


def upload_submission(event: Mapping[str, Any]) -> Answer:
    detail = event.get("detail") or {}
    bucket = (detail.get("bucket") or {}).get("name")
    item = detail.get("object") or {}
    key, version = item.get("key"), item.get("version-id")
    if bucket != env("RELEASE_BUCKET") or not isinstance(key, str) or not key.startswith(UPLOAD_PREFIX):
        raise InvalidInput(f"the event is of s3://{bucket}/{key}; releases are uploaded to s3://{env('RELEASE_BUCKET')}/{UPLOAD_PREFIX}")
    source = f"s3://{bucket}/{key}" + (f"?versionId={version}" if version else "")
    submission = Submission("upload", str(detail.get("requester") or "unknown"), source, str(detail.get("request-id") or event.get("id") or uuid.uuid4()))
    if int(item.get("size") or 0) > MAX_MANIFEST_BYTES:
        return rejected(None, submission, 400, f"{source} is {int(item['size']):,} bytes; a release manifest is at most {MAX_MANIFEST_BYTES:,}")
    arguments = {"Bucket": bucket, "Key": key} | ({"VersionId": version} if version else {})
    text = aws.client("s3").get_object(**arguments)["Body"].read(MAX_MANIFEST_BYTES + 1)
    return submit(text, submission)


def allowed() -> Allowed:
    def names(variable: str) -> frozenset[str]:
        try:
            value = json.loads(env(variable))
        except ValueError:
            raise ConfigurationError(f"environment variable {variable} is not a JSON list") from None
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            raise ConfigurationError(f"environment variable {variable} is not a JSON list of strings")
        return frozenset(value)

    return Allowed(pipelines=names("RELEASE_PIPELINES"), roles=names("RELEASE_ROLE_ARNS"))


def submit(document: str | bytes, submission: Submission) -> Answer:
    try:
        manifest = read_manifest(document, allowed())
    except BadManifest as error:
        return rejected(release_id_in(document), submission, 400, str(error))
    return accept(manifest, document_text(document), submission)


def accept(manifest: Manifest, text: str, submission: Submission) -> Answer:
    release_id, at = manifest.release_id, now()
    name = records.execution_name(release_id)
    state_machine = env("RELEASE_STATE_MACHINE_ARN")
    execution_arn = state_machine.replace(":stateMachine:", ":execution:", 1) + f":{name}"
    item = {
        "release_id": release_id,
        "record": RELEASE,
        "status": "ACCEPTED",
        "changes": [{"status": "ACCEPTED", "at": iso(at)}],
        "manifest": text,
        "description": manifest.description,
        "on_failure": manifest.on_failure,
        "timeout_minutes": manifest.timeout_minutes,
        "pipelines": [pipeline.name for pipeline in manifest.pipelines],
        "submitted_by": submission.by,
        "submitted_via": submission.via,
        "submitted_from": submission.source,
        "submitted_at": iso(at),
        "execution_arn": execution_arn,
    }
    written = records.conditionally("put_item", TableName=records.table(), Item=records.serialized(item), ConditionExpression="attribute_not_exists(release_id)")
    if not written:
        return duplicate(manifest, submission)
    try:
        start(manifest, submission)
    except Exception:
        # Not started: the release id is free again, for the same submission retried (Lambda retries
        # an upload's event) or sent again.
        records.conditionally(
            "delete_item",
            TableName=records.table(),
            Key=records.key(release_id, RELEASE),
            ConditionExpression="#status = :accepted AND submitted_from = :source",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=records.serialized({":accepted": "ACCEPTED", ":source": submission.source}),
        )
        raise
    record_submission(release_id, submission, "ACCEPTED", None)
    logger.info("release accepted", extra={"release_id": release_id, "via": submission.via, "by": submission.by, "execution_arn": execution_arn})
    body = {"release_id": release_id, "status": "ACCEPTED", "execution_arn": execution_arn, "execution_name": name, "console_url": records.console_url(execution_arn)}
    return Answer(202, body)


def start(manifest: Manifest, submission: Submission, again: bool = False) -> None:
    """StartExecution of the release. Made `again` (a redelivered upload), a start made before
    with the same input starts nothing new: Step Functions answers with that execution while it
    runs, ExecutionAlreadyExists once it has ended."""
    arguments = {"stateMachineArn": env("RELEASE_STATE_MACHINE_ARN"), "name": records.execution_name(manifest.release_id), "input": json.dumps(execution_input(manifest, submission))}
    try:
        aws.client("stepfunctions").start_execution(**arguments)
    except ClientError as error:
        if not (again and error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists"):
            raise


def execution_input(manifest: Manifest, submission: Submission) -> dict[str, Any]:
    """What the ReleaseStateMachine starts with: the manifest with its defaults, in waves."""

    def pipeline_input(wave: int, pipeline: Any) -> dict[str, Any]:
        return {
            "name": pipeline.name,
            "wave": wave,
            "source_revisions": [revision.override() for revision in pipeline.source_revisions],
            "variables": [{"name": name, "value": value} for name, value in pipeline.variables],
            "role_arn": pipeline.role_arn,
            "after": list(pipeline.after),
        }

    return {
        "release_id": manifest.release_id,
        "description": manifest.description,
        "on_failure": manifest.on_failure,
        "timeout_minutes": manifest.timeout_minutes,
        "max_concurrency": manifest.max_concurrency,
        "waves": [[pipeline_input(number, pipeline) for pipeline in wave] for number, wave in enumerate(manifest.waves, start=1)],
        "submitted_by": submission.by,
        "submitted_via": submission.via,
    }


def duplicate(manifest: Manifest, submission: Submission) -> Answer:
    release_id = manifest.release_id
    existing = records.get(release_id, RELEASE) or {}
    execution_arn = existing.get("execution_arn")
    if submission.via == "upload" and existing.get("submitted_from") == submission.source:
        # EventBridge delivered the same upload's event again (at least once): that is the release
        # accepted already, not a second submission. Its start is made again, in case the first
        # delivery stopped before it: the same name and input start nothing new.
        logger.info("upload already accepted", extra={"release_id": release_id, "source": submission.source})
        if existing.get("status") == "ACCEPTED":
            start(manifest, submission, again=True)
        return Answer(202, {"release_id": release_id, "status": existing.get("status"), "execution_arn": execution_arn, "console_url": records.console_url(str(execution_arn))})
    when = f" ({existing.get('submitted_via', 'unknown')} by {existing.get('submitted_by', 'unknown')} at {existing.get('submitted_at', 'unknown')})"
    message = f"release {release_id} was submitted before{when}; a release id is accepted once. Its execution: {execution_arn}. Give this release a new release_id."
    answer = rejected(release_id, submission, 409, message, duplicate=True)
    return Answer(409, answer.body | {"execution_arn": execution_arn, "console_url": records.console_url(execution_arn) if execution_arn else None})


def rejected(release_id: str | None, submission: Submission, status_code: int, message: str, duplicate: bool = False) -> Answer:
    message = readable(message)
    record_submission(release_id or UNIDENTIFIED, submission, "REJECTED", message, error="DuplicateRelease" if duplicate else "BadManifest")
    logger.warning("release rejected", extra={"release_id": release_id, "via": submission.via, "source": submission.source, "reason": readable(message, 1000)})
    if submission.via == "upload":
        notify_rejected(release_id, submission, message)
    return Answer(status_code, {"release_id": release_id, "status": "REJECTED", "error": "DuplicateRelease" if duplicate else "BadManifest", "message": message})


def record_submission(release_id: str, submission: Submission, outcome: str, message: str | None, error: str | None = None) -> None:
    at = iso(now())
    item = {
        "release_id": release_id,
        "record": f"{SUBMISSION_PREFIX}{at}#{submission.request_id}",
        "outcome": outcome,
        "error": error,
        "message": message,
        "submitted_by": submission.by,
        "submitted_via": submission.via,
        "submitted_from": submission.source,
        "submitted_at": at,
    }
    aws.client("dynamodb").put_item(TableName=records.table(), Item=records.serialized(item))


def notify_rejected(release_id: str | None, submission: Submission, message: str) -> None:
    note = notifications.notification(
        "release",
        "failed",
        f"Release {release_id or '(no release id)'} rejected",
        f"{submission.source} was not released.\n\n{message}",
        release_id=release_id,
        error="BadManifest",
        cause=message,
        details=[{"label": "Submitted by", "value": f"{submission.by} ({submission.via})"}],
    )
    try:
        notifications.publish(env("NOTIFICATION_TOPIC_ARN"), note)
    except ClientError as error:  # the record holds the rejection all the same
        logger.warning("the rejection could not be notified", extra={"error": named_error(error).name})


def document_text(document: str | bytes) -> str:
    return document.decode("utf-8", "replace") if isinstance(document, bytes) else document


def release_id_in(document: str | bytes) -> str | None:
    """The release id of a manifest refused for another reason, if it has a usable one: the
    rejection is then recorded under it."""
    try:
        parsed = json.loads(document)
    except (ValueError, RecursionError):
        return None
    release_id = parsed.get("release_id") if isinstance(parsed, dict) else None
    rule = schema()["properties"]["release_id"]
    if isinstance(release_id, str) and rule["minLength"] <= len(release_id) <= rule["maxLength"] and re.fullmatch(rule["pattern"].strip("^$"), release_id):
        return release_id
    return None
