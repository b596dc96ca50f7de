"""Production approvals on the local stack (docs/approvals.md), as an approver decides them: with
the credentials of a session of a role (or of an IAM user) allowed the approvals output's
api_invoke_policy, through tools/approve.py's signed POST /approvals to the local API Gateway.

The local stack's payments service registers the release-managers role (stack.APPROVER_ROLE_ARN)
as its approver; `approver` creates that role in the local IAM (or, with `name`, another role that
is not an approver) and assumes it.
"""

import contextlib
import io
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.credentials import Credentials

from local_aws.stack import APPROVER_ROLE_ARN, LocalStack
from tools import approve as approve_command, release as release_command

APPROVAL_SERVICE = "payments"


@dataclass(frozen=True)
class Approver:
    """A session of an IAM role allowed POST /approvals."""

    arn: str  # the session's: arn:aws:sts::<account>:assumed-role/<role>/<session>
    credentials: Credentials


def approver(stack: LocalStack, name: str = APPROVER_ROLE_ARN.rsplit("/", 1)[1], session: str = "ada") -> Approver:
    """A session of role `name` (created once, trusted by the account, allowed POST /approvals)."""
    iam = boto3.client("iam")
    account = APPROVER_ROLE_ARN.split(":")[4]
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]}
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName=name, PolicyName="decide-approvals", PolicyDocument=stack.outputs["approvals"]["api_invoke_policy"])
    assumed = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/{name}", RoleSessionName=session)
    key = assumed["Credentials"]
    return Approver(assumed["AssumedRoleUser"]["Arn"], Credentials(key["AccessKeyId"], key["SecretAccessKey"], key["SessionToken"]))


def decide(stack: LocalStack, by: Approver, execution: str, decision: str, reason: str | None = None) -> tuple[int, dict[str, Any]]:
    """POST /approvals as tools/approve.py sends it, signed with `by`'s credentials: (status, answer)."""
    body = approve_command.approval(execution, decision, reason)
    region = stack.outputs["state_machine_arn"].split(":")[3]
    status, answer = release_command.send(release_command.signed_request(stack.approval_api_url, body, region, by.credentials))
    return status, json.loads(answer)


def run_command(stack: LocalStack, by: Approver, arguments: list[str]) -> tuple[int, str]:
    """`python -m tools.approve ARGUMENTS --url <the local API>` with `by`'s credentials: (exit status, what it printed)."""
    printed = io.StringIO()
    with signing_as(by), contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        status = approve_command.main([*arguments, "--url", stack.approval_api_url, "--region", stack.outputs["state_machine_arn"].split(":")[3]])
    return status, printed.getvalue()


@contextlib.contextmanager
def signing_as(by: Approver) -> Iterator[None]:
    """boto3's default credentials, which the command signs with, are `by`'s inside."""

    names = {"AWS_ACCESS_KEY_ID": by.credentials.access_key, "AWS_SECRET_ACCESS_KEY": by.credentials.secret_key, "AWS_SESSION_TOKEN": by.credentials.token}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: value for name, value in names.items() if value})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def waiting_record(stack: LocalStack, commit_id: str, timeout_seconds: float = 60.0) -> dict[str, Any]:
    """The deployment record of the payments commit once it waits for a decision and the topic was
    told (its execution is named <service>-<commit, 12 characters>-<job id>)."""
    prefix = f"{APPROVAL_SERVICE}-{commit_id[:12]}-"
    states = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        for execution in states.list_executions(stateMachineArn=stack.outputs["state_machine_arn"], statusFilter="RUNNING")["executions"]:
            if execution["name"].startswith(prefix):
                record = stack.record(commit_id, execution["name"])
                if (record.get("approval") or {}).get("status") == "waiting" and told(stack, execution["name"]):
                    return record
        time.sleep(0.2)
    raise TimeoutError(f"commit {commit_id} of {APPROVAL_SERVICE} did not wait for a decision within {timeout_seconds} s")


def told(stack: LocalStack, execution_name: str) -> bool:
    """Whether the topic was told that the execution waits (the handler records, then publishes)."""
    notes = [sent["notification"] or {} for sent in stack.notifications()]
    return any(note.get("status") == "waiting_for_approval" and note.get("execution_name") == execution_name for note in notes)
