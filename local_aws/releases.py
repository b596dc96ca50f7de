"""Releases on the local platform (docs/releases.md), for the e2e tests, the demo and the bench.

    pipelines = ReleasePipelines.create()               # web, worker, search here; partner in 111111111111
    upload(stack, {"release_id": "5.16", "pipelines": ["web", {"name": "worker", "after": ["web"]}]})
    release = wait_for_release(stack, "5.16")           # its record, once the execution has ended
    answer = post(stack, manifest, releaser.credentials) # POST /releases, signed, through the local API Gateway

The pipelines are local_aws/target_pipelines.py's: a source and a build whose pipeline variables
decide how long it runs (`sleep_seconds`) and whether it fails (`outcome`). `partner` lives in the
target account, reached through the role `release-access` there, whose events are not forwarded to
the platform's account: the release follows it by its sweep of quiet waits.
"""

import json
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from local_aws.stack import RELEASE_TARGET_ROLE_ARNS, LocalStack
from local_aws.target_pipelines import TARGET_ACCOUNT, account_session, create_target_pipeline
from tools import release as release_command

LOCAL_PIPELINES = ("web", "worker", "search")
PARTNER_PIPELINE = "partner"
ENDED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


@dataclass(frozen=True)
class Releaser:
    """An IAM user of the platform's account, with an access key, allowed POST /releases (or not)."""

    name: str
    arn: str
    credentials: tuple[str, str]  # access key id, secret


def create_pipelines() -> None:
    """The release pipelines of the local stack's RELEASE_PIPELINES and RELEASE_TARGET_ROLE_ARNS
    that Terraform does not create: web, worker and search in this account (PARALLEL, so one
    release's leftover run never holds up another's), partner in the target account with the role
    the platform's release handlers assume there."""
    session = boto3.session.Session()
    for name in LOCAL_PIPELINES:
        create_target_pipeline(session, name, execution_mode="PARALLEL")
    target = account_session(TARGET_ACCOUNT)
    create_target_pipeline(target, PARTNER_PIPELINE, execution_mode="PARALLEL")
    role_name = RELEASE_TARGET_ROLE_ARNS[0].rsplit("/", 1)[1]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]}
    actions = ["codepipeline:StartPipelineExecution", "codepipeline:StopPipelineExecution", "codepipeline:GetPipelineExecution", "codepipeline:ListActionExecutions"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": f"arn:aws:codepipeline:*:{TARGET_ACCOUNT}:{PARTNER_PIPELINE}"}]}
    iam = target.client("iam")
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=role_name, PolicyName="release-pipelines", PolicyDocument=json.dumps(policy))


def create_releaser(stack: LocalStack, name: str, allowed: bool = True) -> Releaser:
    """An IAM user with an access key; with `allowed`, the releases output's api_invoke_policy."""
    iam = boto3.client("iam")
    user = iam.create_user(UserName=name)["User"]
    if allowed:
        iam.put_user_policy(UserName=name, PolicyName="press-the-release-button", PolicyDocument=stack.outputs["releases"]["api_invoke_policy"])
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Releaser(name, user["Arn"], (key["AccessKeyId"], key["SecretAccessKey"]))


def upload(stack: LocalStack, manifest: Any, key: str | None = None) -> str:
    """Upload `manifest` (a document, or text as it is) under releases/ in the release bucket; the
    object's version id."""
    bucket = stack.outputs["releases"]["upload_location"].split("/")[2]
    body = manifest if isinstance(manifest, str | bytes) else json.dumps(manifest)
    name = key or f"releases/{manifest.get('release_id', 'manifest') if isinstance(manifest, dict) else 'manifest'}.json"
    return str(boto3.client("s3").put_object(Bucket=bucket, Key=name, Body=body)["VersionId"])


def post(stack: LocalStack, manifest: Any, credentials: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
    """POST /releases through the local API Gateway, signed with `credentials` (unsigned with None)."""
    from botocore.credentials import Credentials

    body = (manifest if isinstance(manifest, str) else json.dumps(manifest)).encode("utf-8")
    url = stack.release_api_url
    if credentials is None:
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    else:
        region = stack.outputs["releases"]["state_machine_arn"].split(":")[3]
        request = release_command.signed_request(url, body, region, Credentials(*credentials))
    status, answer = release_command.send(request)
    try:
        return status, json.loads(answer)
    except ValueError:
        return status, {"body": answer.decode("utf-8", "replace")}


def records(stack: LocalStack, release_id: str) -> dict[str, dict[str, Any]]:
    """The release's records by their `record` key (release, pipeline#<name>, submission#...)."""
    deserializer = TypeDeserializer()
    for attempt in range(5):
        try:
            found = boto3.client("dynamodb").query(
                TableName=stack.outputs["releases"]["table_name"],
                KeyConditionExpression="release_id = :id",
                ExpressionAttributeValues={":id": {"S": release_id}},
                ConsistentRead=True,
            )
            break
        except RuntimeError:
            # moto's in-process DynamoDB is not thread-safe: a query here can meet an item a
            # handler is updating in another thread ("dictionary changed size during iteration").
            if attempt == 4:
                raise
            time.sleep(0.05)
    return {item["record"]["S"]: {name: deserializer.deserialize(value) for name, value in item.items()} for item in found["Items"]}


def wait_for_release(stack: LocalStack, release_id: str, timeout_seconds: float = 120.0) -> dict[str, Any]:
    """The release's execution, described, once it has ended (raises TimeoutError)."""
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        release = records(stack, release_id).get("release")
        if release:
            try:
                described = sfn.describe_execution(executionArn=release["execution_arn"])
            except sfn.exceptions.ExecutionDoesNotExist:
                described = None
            if described and described["status"] in ENDED:
                return described  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise TimeoutError(f"release {release_id} has not ended after {timeout_seconds} s")


def wait_for_submissions(stack: LocalStack, release_id: str, count: int, timeout_seconds: float = 30.0) -> list[dict[str, Any]]:
    """The release id's submission records, once there are `count` of them."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        submissions = [item for record, item in records(stack, release_id).items() if record.startswith("submission#")]
        if len(submissions) >= count or time.monotonic() > deadline:
            return sorted(submissions, key=lambda item: item["record"])
        time.sleep(0.1)


def statuses(run: dict[str, Any]) -> list[tuple[str, str]]:
    """A run record's changes as (status, how it was seen)."""
    return [(change["status"], change["seen"]) for change in run.get("changes", [])]
