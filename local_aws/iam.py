"""Every AWS call a function makes, checked against the identity policies of its execution role.

Gap: moto enforces identity policies only when requests are signed with assumed-role credentials,
matches resource ARNs only for S3 (a correctly scoped Allow elsewhere is denied), and its Step
Functions interpreter then fails its own calls. Here the check runs in the caller, before the
request leaves botocore, while a function runs (see `acting_as`):

- checked: the IAM action of every call, for every service (explicit Deny wins, then any Allow);
  the resource, for calls that name it: S3 objects and buckets, Lambda functions (with qualifier),
  DynamoDB tables, Step Functions state machines and executions, SNS topics, SSM parameters,
  Secrets Manager secrets (by ARN), SQS queues,
  CodeDeploy deployment groups and configs; other calls (e.g. codedeploy:GetDeployment, which names only a deployment id) match on the action alone, whatever Resource the statement scopes it to;
- a call signed with credentials of a role the function assumed (sts:AssumeRole) is checked
  against that role's policies instead; an AssumeRole call itself also needs the target role's
  trust policy to name the caller's role (or its account) as an AWS principal, which moto's STS
  never checks;
- not checked: conditions, resource-based policies (bucket, key and function policies; of a
  trust policy, only its AWS principals), permission boundaries and SCPs, and KMS use behind S3,
  DynamoDB or SNS.
A denied call raises the ClientError AWS would: AccessDenied / AccessDeniedException.
"""

import contextlib
import fnmatch
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

# Operations whose IAM action is not "<prefix>:<OperationName>".
ACTION_NAMES = {
    ("s3", "HeadObject"): "GetObject",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListBuckets"): "ListAllMyBuckets",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "ListVersionsByFunction"): "ListVersionsByFunction",
}
ACCESS_DENIED_CODES = {"s3": "AccessDenied", "sts": "AccessDenied"}
# Calls AWS answers whatever the policies say ("no permissions are required").
ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})

_acting = threading.local()


@dataclass(frozen=True)
class Identity:
    role_arn: str
    session_name: str
    policies: tuple[dict[str, Any], ...]

    @property
    def principal(self) -> str:
        _, _, _, _, account, resource = self.role_arn.split(":", 5)
        return f"arn:aws:sts::{account}:assumed-role/{resource.rsplit('/', 1)[-1]}/{self.session_name}"


@contextlib.contextmanager
def acting_as(identity: Identity | None) -> Iterator[None]:
    """Check the calls made in this thread against `identity` (None: not checked) until exit."""
    stack: list[Identity | None] = getattr(_acting, "stack", [])
    _acting.stack = [*stack, identity]
    try:
        yield
    finally:
        _acting.stack = stack


def current() -> Identity | None:
    stack = getattr(_acting, "stack", [])
    return stack[-1] if stack else None


def role_policies(iam_backend: Any, role_arn: str) -> tuple[dict[str, Any], ...]:
    """The identity policy documents of a role in moto's IAM: inline and attached managed."""
    role_name = role_arn.rsplit("/", 1)[-1]
    role = iam_backend.get_role(role_name)
    documents = [json.loads(unquote(document)) if isinstance(document, str) else document for document in role.policies.values()]
    for policy in role.managed_policies.values():
        document = next(version.document for version in policy.versions if version.is_default)
        documents.append(json.loads(document) if isinstance(document, str) else document)
    return tuple(documents)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def matches(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def decision(policies: tuple[dict[str, Any], ...], action: str, resources: list[str]) -> str:
    """'Deny', 'Allow' or 'ImplicitDeny' for `action` on every one of `resources`; with no
    resources (the call names none this module can read), on the action alone."""
    allowed = False
    for document in policies:
        for statement in as_list(document.get("Statement", [])):
            actions = as_list(statement.get("Action", []))
            if not any(matches(pattern, action, case_sensitive=False) for pattern in actions):
                continue
            patterns = as_list(statement.get("Resource", "*"))
            covered = all(any(matches(pattern, resource) for pattern in patterns) for resource in resources)
            if statement.get("Effect") == "Deny" and covered:
                return "Deny"
            allowed = allowed or (statement.get("Effect") == "Allow" and covered)
    return "Allow" if allowed else "ImplicitDeny"


def action_of(client: Any, operation: str) -> str:
    prefix = client.meta.service_model.signing_name
    prefix = {"states": "states", "monitoring": "cloudwatch"}.get(prefix, prefix)
    return f"{prefix}:{ACTION_NAMES.get((prefix, operation), operation)}"


def resources_of(client: Any, operation: str, params: dict[str, Any], account: str) -> list[str]:
    """The ARNs a call acts on, where its parameters name them; [] otherwise."""
    region = client.meta.region_name
    prefix = client.meta.service_model.signing_name
    if prefix == "s3" and "Bucket" in params:
        return [f"arn:aws:s3:::{params['Bucket']}/{params['Key']}" if "Key" in params else f"arn:aws:s3:::{params['Bucket']}"]
    if prefix == "lambda" and "FunctionName" in params:
        name = str(params["FunctionName"])
        function = name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
        # Alias operations authorize on the function itself; others on the version or alias named.
        qualifier = None if operation.endswith("Alias") else params.get("Qualifier")
        return [f"{function}:{qualifier}" if qualifier else function]
    if prefix == "dynamodb" and "TableName" in params:
        # A Query or Scan of an index authorizes on the index (DynamoDB developer guide, "Using IAM
        # policy conditions for fine-grained access control": arn:...:table/T/index/I).
        index = f"/index/{params['IndexName']}" if params.get("IndexName") else ""
        return [f"arn:aws:dynamodb:{region}:{account}:table/{params['TableName']}{index}"]
    if prefix == "states":
        for key in ("stateMachineArn", "executionArn"):
            if key in params:
                return [str(params[key])]
    if prefix == "sns" and "TopicArn" in params:
        return [str(params["TopicArn"])]
    if prefix == "secretsmanager" and "SecretId" in params:
        # Policies name a secret by its full ARN (with the six-character suffix Secrets Manager adds).
        return [str(params["SecretId"])]
    if prefix == "sqs" and "QueueUrl" in params:
        # https://sqs.<region>.amazonaws.com/<account>/<name> (moto: http://host:port/<account>/<name>)
        queue_account, name = str(params["QueueUrl"]).rstrip("/").split("/")[-2:]
        return [f"arn:aws:sqs:{region}:{queue_account}:{name}"]
    if prefix == "sts" and "RoleArn" in params:
        return [str(params["RoleArn"])]
    if prefix == "ssm" and "Name" in params:
        # A parameter's ARN: arn:...:parameter/a/b for the name /a/b, arn:...:parameter/x for x.
        name = str(params["Name"])
        return [name if name.startswith("arn:") else f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"]
    if prefix == "codedeploy":
        if "deploymentGroupName" in params and "applicationName" in params:
            return [f"arn:aws:codedeploy:{region}:{account}:deploymentgroup:{params['applicationName']}/{params['deploymentGroupName']}"]
        if "deploymentConfigName" in params:
            return [f"arn:aws:codedeploy:{region}:{account}:deploymentconfig:{params['deploymentConfigName']}"]
    return []


def signing_identity(client: Any, fallback: Identity) -> Identity:
    """The identity whose credentials sign the client's calls: a role assumed through the local
    STS (with that role's policies now), else `fallback`, the function's own."""
    from moto.iam.models import get_account_id_from, iam_backends
    from moto.sts.models import sts_backends

    credentials = client._request_signer._credentials
    if credentials is None:
        return fallback
    key = credentials.get_frozen_credentials().access_key
    assumed = sts_backends[get_account_id_from(key)]["global"].get_assumed_role_from_access_key(key)
    if assumed is None or assumed.role_arn == fallback.role_arn:
        return fallback
    account = assumed.role_arn.split(":")[4]
    return Identity(assumed.role_arn, assumed.session_name, role_policies(iam_backends[account]["global"], assumed.role_arn))


def trusts(role_arn: str, caller: Identity) -> bool:
    """Whether the trust policy of `role_arn` lets `caller`'s role assume it: an Allow of
    sts:AssumeRole whose AWS principals name that role or its account (no Deny naming it)."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    account = role_arn.split(":")[4]
    try:
        role = iam_backends[account]["global"].get_role_by_arn(role_arn)
    except NotFoundException:
        return False
    document = json.loads(unquote(role.assume_role_policy_document))
    caller_account = caller.role_arn.split(":")[4]
    names = {caller.role_arn, f"arn:aws:iam::{caller_account}:root", caller_account}
    allowed = False
    for statement in as_list(document.get("Statement", [])):
        if not any(matches(pattern, "sts:AssumeRole", case_sensitive=False) for pattern in as_list(statement.get("Action", []))):
            continue
        principal = statement.get("Principal") or {}
        principals = set(as_list(principal.get("AWS", []))) if isinstance(principal, dict) else {principal}
        if principals & names or "*" in principals:
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def denied(client: Any, operation: str, action: str, resource: str, identity: Identity) -> ClientError:
    prefix = client.meta.service_model.signing_name
    code = ACCESS_DENIED_CODES.get(prefix, "AccessDeniedException")
    message = f"User: {identity.principal} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action"
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 403}}, operation)


def patch_botocore() -> Callable[[], None]:
    """Check every botocore call made while a function runs; returns a function that undoes it."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        function = current()
        if function is not None:
            identity = signing_identity(client, function)
            account = identity.role_arn.split(":")[4]
            action = action_of(client, operation)
            resources = resources_of(client, operation, params, account)
            if action not in ALWAYS_ALLOWED and decision(identity.policies, action, resources) != "Allow":
                raise denied(client, operation, action, resources[0] if resources else "*", identity)
            if action == "sts:AssumeRole" and not trusts(str(params.get("RoleArn")), identity):
                error = denied(client, operation, action, str(params.get("RoleArn")), identity)
                error.response["Error"]["Message"] = (
                    f"User: {identity.principal} is not authorized to perform: sts:AssumeRole on resource: {params.get('RoleArn')}: its trust policy does not name {identity.role_arn}"
                )
                raise error
        return original(client, operation, params)

    BaseClient._make_api_call = make_api_call

    def undo() -> None:
        BaseClient._make_api_call = original

    return undo
