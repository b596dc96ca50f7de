"""API Gateway REST APIs of the local AWS, served over HTTP as API Gateway serves them.

Gap: moto stores REST APIs (resources, methods with AWS_IAM authorization, request validators,
models, integrations, gateway responses, stages, deployments) but serves no invocation in server
mode, and never applies IAM authorization or request validation. `LocalApiGateway` is a small HTTP
server on 127.0.0.1, in the process of moto's backends like the rest of the local AWS, serving
every REST API of moto's apigateway backends (any account, any Region) at

    http://127.0.0.1:<port>/<api id>/<stage>/<resource path>

where AWS serves https://<api id>.execute-api.<region>.amazonaws.com/<stage>/<resource path>
(`invoke_url` gives a stage's URL, `local_url` turns an AWS invoke URL into the local one). A
request goes through what API Gateway does with it (API Gateway developer guide):
- routing: the stage, the resource whose path matches (literal segments, `{name}` and `{name+}`
  path parameters, the most literal resource first) and its method, else its ANY method. Anything
  else is 403 "Missing Authentication Token", API Gateway's answer for what it does not serve.
- "Control access to a REST API with IAM permissions": a method with AWS_IAM authorization needs a
  SigV4 signature (service execute-api, the API's Region, X-Amz-Date within 5 minutes), checked by
  recomputing it with botocore's canonical request over the headers the client signed and the
  secret of its access key: an active key of an IAM user, or temporary credentials of the local
  STS (AssumeRole), whose session token must come along. None: 403 "Missing Authentication Token";
  an unknown key or token: 403 "The security token included in the request is invalid."; another
  signature: 403 "The request signature we calculated does not match ...", with the canonical
  request and string to sign it expected. Then execute-api:Invoke on
  arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<METHOD>/<path> (the request's path) is
  authorized as IAM does: the caller's identity-based policies (an IAM user's inline and attached
  policies and those of its groups; an assumed role's, and its session policy) must allow it
  without an explicit Deny; with a resource policy on the API (its `execute-api:/...` resources
  name this API), the same account is allowed when either allows and neither denies, another
  account when both allow. A resource policy naming an account (not a user or role) grants only
  what that account's identity policies allow; a method without authorization is allowed when
  the resource policy allows everybody (Principal "*"). Conditions of the String*, Arn*, Bool,
  IpAddress and Null operators are evaluated (aws:SourceIp 127.0.0.1, aws:PrincipalArn,
  aws:PrincipalAccount, aws:PrincipalType, aws:userid, aws:username, aws:SecureTransport true);
  a statement with another condition operator does not apply. Denied: 403
  {"Message": "User: <caller ARN> is not authorized to perform: execute-api:Invoke on resource: <ARN>"}.
- "Request validation for REST APIs": with a request validator that validates bodies and a model
  for the request's content type (application/json when it has none, else the `$default` model),
  the JSON body (an empty one as {}) must satisfy the model's JSON Schema draft-04 (a `$ref` to
  another model of the API, https://apigateway.amazonaws.com/restapis/<id>/models/<name>, is
  resolved), else 400 BAD_REQUEST_BODY "Invalid request body", and the integration is not called.
  $context.error.validationErrorString lists the errors in brackets as API Gateway does, each
  worded as API Gateway's validator words it where this module knows the wording (required,
  additionalProperties, type, enum, pattern, lengths, sizes, bounds, oneOf), else with jsonschema's
  message, and after its JSON pointer ("/pipelines/0: ...") when not about the whole body;
  JSON-escaped, so that "$context.error.validationErrorString" in a template is a JSON string.
- "Set up Lambda proxy integrations": an AWS_PROXY integration with a Lambda function invokes it
  synchronously, in-process like every function of the local AWS (local_aws/compat.py, which must
  be installed), with the REST API proxy event (payload format 1.0: resource, path, httpMethod,
  headers, query string and path parameters, stage variables, body, isBase64Encoded and the
  requestContext with the caller's identity), only when the function's resource-based policy lets
  apigateway.amazonaws.com invoke it for
  arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<METHOD>/<resource path> (aws:SourceArn,
  the path as the resource defines it, as `aws_lambda_permission` with `source_arn` writes it), or
  the integration's credentials role may invoke it; otherwise (or when there is no such function)
  500 {"message": "Internal server error"}. The function's answer (statusCode, headers,
  multiValueHeaders, body, isBase64Encoded) is the HTTP response; a function error, or an answer
  of another shape, 502 {"message": "Internal server error"}.
- "Gateway responses": each error is answered with the API's gateway response of its type (its
  status code, `gatewayresponse.header.*` parameters and template, with $context variables such as
  $context.error.message, $context.error.messageString, $context.error.responseType,
  $context.error.validationErrorString, $context.requestId, $context.identity.userArn and
  $stageVariables), else the API's DEFAULT_4XX or DEFAULT_5XX one, else API Gateway's default
  ({"message": ...}). An unknown access key is reported as INVALID_SIGNATURE.
Every response carries x-amzn-RequestId, every error x-amzn-ErrorType. `executions` keeps the
recent requests with why each failed, as API Gateway's execution logs would say it.

Not served: other integration types, Lambda and Cognito authorizers (they answer 500 saying so),
request parameter validation, API keys and usage plans, mapping templates, binary media types
(a body that is not UTF-8 reaches the function base64-encoded), presigned URLs. API Gateway serves
what a stage's deployment captured; this serves the API as it is now, deployed or not, on any
existing stage.
"""

import base64
import collections
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local_aws import iam

HOST = "127.0.0.1"
SERVICE = "execute-api"
INVOKE = "execute-api:Invoke"
APIGATEWAY_PRINCIPAL = "apigateway.amazonaws.com"
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_CLOCK_SKEW = timedelta(minutes=5)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."
INTERNAL_ERROR = "Internal server error"
# The status each gateway response type answers with (gateway response types for API Gateway);
# DEFAULT_4XX and DEFAULT_5XX have none of their own.
DEFAULT_STATUS = {
    "ACCESS_DENIED": 403,
    "API_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500,
    "BAD_REQUEST_PARAMETERS": 400,
    "BAD_REQUEST_BODY": 400,
    "EXPIRED_TOKEN": 403,
    "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504,
    "INVALID_API_KEY": 403,
    "INVALID_SIGNATURE": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "QUOTA_EXCEEDED": 429,
    "REQUEST_TOO_LARGE": 413,
    "RESOURCE_NOT_FOUND": 404,
    "THROTTLED": 429,
    "UNAUTHORIZED": 401,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "WAF_FILTERED": 403,
}
# The x-amzn-ErrorType header of each response type's errors.
ERROR_TYPES = {
    "ACCESS_DENIED": "AccessDeniedException",
    "BAD_REQUEST_BODY": "BadRequestException",
    "BAD_REQUEST_PARAMETERS": "BadRequestException",
    "EXPIRED_TOKEN": "ExpiredTokenException",
    "INVALID_SIGNATURE": "InvalidSignatureException",
    "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
}
# API Gateway's template when no gateway response of the API has one.
DEFAULT_TEMPLATE = '{"message":$context.error.messageString}'
LAMBDA_URI = re.compile(r"^arn:aws[\w-]*:apigateway:[\w-]+:lambda:path/2015-03-31/functions/(.+)/invocations$")
AWS_INVOKE_URL = re.compile(r"^https?://([A-Za-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?(/.*)?$")
MODEL_URL = re.compile(r"^https?://apigateway\.amazonaws\.com/restapis/([^/]+)/models/([^/#]+)")
STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.(\w+)\}")
# $context.x.y, $stageVariables.x, in the ${...} form too; other references ($input, $util) stay as written.
TEMPLATE_VARIABLE = re.compile(r"\$!?(?:\{((?:context|stageVariables)(?:\.\w+)+)\}|((?:context|stageVariables)(?:\.\w+)+))")
PROXY_ANSWER_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})

log = logging.getLogger(__name__)


class GatewayError(Exception):
    """A request API Gateway refuses, answered with the API's gateway response of `response_type`.
    `status` replaces the type's default status, `body` API Gateway's default body; `detail` is
    what the execution log says."""

    def __init__(
        self, response_type: str, message: str, status: int | None = None, error_type: str | None = None, body: str | None = None, validation_errors: str = "", detail: str = ""
    ) -> None:
        super().__init__(message)
        self.response_type = response_type
        self.message = message
        self.status = status or DEFAULT_STATUS.get(response_type, 500)
        self.error_type = error_type or ERROR_TYPES.get(response_type, "InternalServerErrorException" if self.status >= 500 else "BadRequestException")
        self.body = body
        self.validation_errors = validation_errors
        self.detail = detail or message


def missing_authentication_token() -> GatewayError:
    return GatewayError("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")


def configuration_error(detail: str) -> GatewayError:
    return GatewayError("API_CONFIGURATION_ERROR", INTERNAL_ERROR, detail=f"Execution failed due to configuration error: {detail}")


def integration_failure(detail: str) -> GatewayError:
    return GatewayError("INTEGRATION_FAILURE", INTERNAL_ERROR, status=502, detail=detail)


@dataclass(frozen=True)
class Request:
    """An HTTP request as the server received it; `target` is the path and query as sent."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    source_ip: str = "127.0.0.1"

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[-1] if values else None


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Execution:
    """One request, as API Gateway's execution log would tell it."""

    request_id: str
    method: str
    target: str
    api_id: str | None = None
    stage: str | None = None
    resource_path: str | None = None
    caller_arn: str | None = None
    function_arn: str | None = None  # the function invoked, if it was
    status: int = 0
    response_type: str | None = None  # the gateway response of an error
    detail: str | None = None  # why it failed


@dataclass(frozen=True)
class Caller:
    """Who signed a request: an IAM user, or a session of an assumed role."""

    arn: str  # the user's ARN, or arn:aws:sts::<account>:assumed-role/<role>/<session>
    account: str
    access_key: str
    caller_id: str  # the user's id, or <role id>:<session>
    principal_type: str  # User | AssumedRole
    principals: frozenset[str]  # the ARNs a resource policy can name the caller by
    policies: tuple[dict[str, Any], ...]
    session_policy: dict[str, Any] | None = None
    user_name: str | None = None
    principal_arn: str = ""  # the user's or the role's ARN (aws:PrincipalArn)


@dataclass
class Route:
    """What a request is for: an API's stage, resource and method."""

    account: str
    region: str
    api: Any
    stage_name: str
    stage: Any
    path: str  # within the stage, decoded: /releases
    resource: Any = None
    method: Any = None
    path_parameters: dict[str, str] = field(default_factory=dict)

    @property
    def resource_path(self) -> str:
        return str(self.resource.get_path())

    def execute_api_arn(self, http_method: str, path: str) -> str:
        return f"arn:aws:execute-api:{self.region}:{self.account}:{self.api.id}/{self.stage_name}/{http_method}/{path.lstrip('/')}"


# --- routing -------------------------------------------------------------------------------------


def find_api(api_id: str) -> tuple[str, str, Any] | None:
    """The REST API `api_id` in moto's backends, any account and Region: (account, region, api)."""
    from moto.apigateway.models import apigateway_backends

    for account, regions in list(apigateway_backends.items()):
        for region, backend in list(regions.items()):
            api = backend.apis.get(api_id)
            if api is not None:
                return account, region, api
    return None


def match_path(template: list[str], segments: list[str]) -> dict[str, str] | None:
    """The path parameters of `segments` in the resource path `template`; None when it does not match."""
    parameters: dict[str, str] = {}
    for position, part in enumerate(template):
        if position >= len(segments):
            return None
        if part.startswith("{") and part.endswith("+}"):
            parameters[part[1:-2]] = "/".join(segments[position:])
            return parameters
        if part.startswith("{") and part.endswith("}"):
            parameters[part[1:-1]] = segments[position]
        elif part != segments[position]:
            return None
    return parameters if len(template) == len(segments) else None


def match_resource(api: Any, raw_path: str) -> tuple[Any, dict[str, str]] | None:
    """The resource of `api` serving `raw_path` (URL-encoded), the most literal one when several
    match, with its (decoded) path parameters."""
    segments = [unquote(segment) for segment in raw_path.split("/") if segment]
    best: tuple[tuple[int, ...], Any, dict[str, str]] | None = None
    for resource in list(api.resources.values()):
        template = [part for part in resource.get_path().split("/") if part]
        parameters = match_path(template, segments)
        if parameters is None:
            continue
        rank = tuple(0 if not part.startswith("{") else 2 if part.endswith("+}") else 1 for part in template)
        if best is None or rank < best[0]:
            best = (rank, resource, parameters)
    return None if best is None else (best[1], best[2])


def route_of(request: Request) -> Route | None:
    """The API, stage, resource and method a request is for: None without such an API; a Route
    without stage, or without resource and method, when the API serves no such thing."""
    path = urlsplit(request.target).path
    _, api_id, stage_name, rest = (path.split("/", 3) + ["", "", ""])[:4]
    found = find_api(api_id) if api_id else None
    if found is None:
        return None
    account, region, api = found
    route = Route(account, region, api, stage_name, api.stages.get(stage_name), "/" + unquote(rest))
    matched = match_resource(api, rest) if route.stage is not None else None
    if matched is not None:
        route.resource, route.path_parameters = matched
        methods = route.resource.resource_methods
        route.method = methods.get(request.method.upper()) or methods.get("ANY")
    return route


# --- SigV4 ---------------------------------------------------------------------------------------


def parse_authorization(value: str) -> dict[str, str]:
    """Credential, SignedHeaders and Signature of a SigV4 Authorization header; 403 when one is missing."""
    scheme, _, rest = value.strip().partition(" ")
    fields = {}
    for item in rest.split(","):
        name, _, content = item.strip().partition("=")
        fields[name] = content
    missing = [name for name in ("Credential", "Signature", "SignedHeaders") if not fields.get(name)] if scheme == ALGORITHM else ["Credential", "Signature", "SignedHeaders"]
    if missing:
        message = " ".join(f"Authorization header requires '{name}' parameter." for name in missing) + f" Authorization={value}"
        raise GatewayError("INVALID_SIGNATURE", message, error_type="IncompleteSignatureException")
    return fields


def access_key_owner(key_id: str, token: str | None) -> tuple[Caller, str]:
    """The IAM user or assumed-role session an access key belongs to, and its secret key."""
    from moto.core.utils import utcnow
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import get_account_id_from, iam_backends
    from moto.sts.models import sts_backends

    invalid = GatewayError("INVALID_SIGNATURE", INVALID_TOKEN, error_type="UnrecognizedClientException")
    account = get_account_id_from(key_id)
    backend = iam_backends[account]["global"]
    key = backend.access_keys.get(key_id)
    if key is None or key.status != "Active":
        raise invalid
    if key.user_name is not None:
        user = backend.users.get(key.user_name)
        if user is None or token:
            raise invalid
        groups = [group for group in list(backend.groups.values()) if user in group.users]
        policies = [*user.policies.values(), *[document for group in groups for document in group.policies.values()]]
        managed = [*user.managed_policies.values(), *[policy for group in groups for policy in group.managed_policies.values()]]
        caller = Caller(
            arn=user.arn,
            account=account,
            access_key=key_id,
            caller_id=user.id,
            principal_type="User",
            principals=frozenset({user.arn}),
            policies=tuple(parsed_policy(document) for document in [*policies, *[default_version(policy) for policy in managed]]),
            user_name=user.name,
            principal_arn=user.arn,
        )
        return caller, key.secret_access_key
    session = sts_backends[account]["global"].get_assumed_role_from_access_key(key_id)
    if session is None or token != session.session_token:
        raise invalid
    if session.expiration < utcnow():
        raise GatewayError("EXPIRED_TOKEN", "The security token included in the request is expired", error_type="ExpiredTokenException")
    try:
        role_policies = iam.role_policies(backend, session.role_arn)
    except NotFoundException:  # a session of a role deleted since: no policies
        role_policies = ()
    caller = Caller(
        arn=session.arn,
        account=account,
        access_key=key_id,
        caller_id=session.user_id,
        principal_type="AssumedRole",
        principals=frozenset({session.arn, session.role_arn}),
        policies=role_policies,
        session_policy=parsed_policy(session.policy) if session.policy else None,
        principal_arn=session.role_arn,
    )
    return caller, key.secret_access_key


def default_version(policy: Any) -> Any:
    return next(version.document for version in policy.versions if version.is_default)


def parsed_policy(document: Any) -> dict[str, Any]:
    """A policy document as moto stores it (JSON, URL-encoded in server mode, or parsed)."""
    if isinstance(document, dict):
        return document
    text = str(document)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = json.loads(unquote(text))
    return parsed if isinstance(parsed, dict) else {}


def authenticate(request: Request, region: str) -> Caller:
    """The caller of a SigV4-signed request, once its signature is the one its secret key gives."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest, HTTPHeaders
    from botocore.credentials import Credentials

    authorization = request.header("Authorization")
    if not authorization:
        raise missing_authentication_token()
    fields = parse_authorization(authorization)
    key_id, _, scope = fields["Credential"].partition("/")
    scope_date, scope_region, scope_service = (scope.split("/") + ["", "", ""])[:3]
    incomplete = "IncompleteSignatureException"
    if scope_service != SERVICE:
        raise GatewayError("INVALID_SIGNATURE", f"Credential should be scoped to correct service: '{SERVICE}'. ", error_type=incomplete)
    if scope_region != region:
        raise GatewayError("INVALID_SIGNATURE", f"Credential should be scoped to a valid region, not '{scope_region}'. ", error_type=incomplete)
    signed_names = fields["SignedHeaders"].lower().split(";")
    if "host" not in signed_names:
        raise GatewayError("INVALID_SIGNATURE", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", error_type=incomplete)
    amz_date = request.header("X-Amz-Date") or ""
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise GatewayError("INVALID_SIGNATURE", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", error_type=incomplete) from None
    if scope_date != amz_date[:8]:
        message = f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{amz_date[:8]}', from '{amz_date}'."
        raise GatewayError("INVALID_SIGNATURE", message)
    now = datetime.now(UTC)
    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        stamp = "%Y%m%dT%H%M%SZ"
        if signed_at < now:
            message = f"Signature expired: {amz_date} is now earlier than {(now - MAX_CLOCK_SKEW):{stamp}} ({now:{stamp}} - 5 min.)"
        else:
            message = f"Signature not yet current: {amz_date} is still later than {(now + MAX_CLOCK_SKEW):{stamp}} ({now:{stamp}} + 5 min.)"
        raise GatewayError("INVALID_SIGNATURE", message)
    token = request.header("X-Amz-Security-Token")
    caller, secret = access_key_owner(key_id, token)

    signed = HTTPHeaders()
    for name in signed_names:
        for value in request.header_values(name):
            signed[name] = value

    class SignatureCheck(SigV4Auth):
        def headers_to_sign(self, _: Any) -> Any:  # exactly those the client signed
            return signed

    content_sha256 = request.header("X-Amz-Content-SHA256")
    headers = {"X-Amz-Content-SHA256": content_sha256} if content_sha256 and "x-amz-content-sha256" in signed_names else {}
    aws_request = AWSRequest(method=request.method, url=f"http://{request.header('Host') or HOST}{request.target}", data=request.body, headers=headers)
    aws_request.context["timestamp"] = amz_date
    check = SignatureCheck(Credentials(key_id, secret, token), SERVICE, region)
    canonical_request = check.canonical_request(aws_request)
    string_to_sign = check.string_to_sign(aws_request, canonical_request)
    expected = check.signature(string_to_sign, aws_request)
    body_hash_differs = bool(headers) and content_sha256 != hashlib.sha256(request.body).hexdigest()
    if body_hash_differs or not hmac.compare_digest(expected, fields["Signature"]):
        message = f"{SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have been\n'{canonical_request}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
        raise GatewayError("INVALID_SIGNATURE", message, detail=f"{SIGNATURE_MISMATCH} (access key {key_id})")
    return caller


# --- IAM policies --------------------------------------------------------------------------------


def _matches_any(patterns: Any, value: str, case_sensitive: bool = True, expand: Callable[[str], str] = str) -> bool:
    return any(iam.matches(expand(str(pattern)), value, case_sensitive) for pattern in iam.as_list(patterns))


# Condition operators and the ones that negate them.
CONDITION_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda actual, expected: actual == expected,
    "StringEqualsIgnoreCase": lambda actual, expected: actual.lower() == expected.lower(),
    "StringLike": lambda actual, pattern: iam.matches(pattern, actual),
    "ArnEquals": lambda actual, pattern: iam.matches(pattern, actual),
    "ArnLike": lambda actual, pattern: iam.matches(pattern, actual),
    "Bool": lambda actual, expected: actual.lower() == expected.lower(),
    "IpAddress": lambda actual, network: ipaddress.ip_address(actual) in ipaddress.ip_network(network, strict=False),
}
NEGATED_OPERATORS = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NotIpAddress": "IpAddress",
}


def condition_holds(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    """Whether every test of a policy statement's Condition holds in the request's `context`
    (lowercase keys); an operator this module does not evaluate never holds."""
    for operator, tests in condition.items():
        if_exists = operator.endswith("IfExists") and operator != "IfExists"
        name = operator.removesuffix("IfExists") if if_exists else operator
        for key, expected in tests.items():
            actual = context.get(key.lower())
            if name == "Null":
                if (actual is None) != (str(expected).lower() == "true"):
                    return False
                continue
            negated = name in NEGATED_OPERATORS
            compare = CONDITION_OPERATORS.get(NEGATED_OPERATORS.get(name, name))
            if compare is None:
                return False
            if actual is None:
                if not (if_exists or negated):
                    return False
                continue
            if any(compare(actual, str(value)) for value in iam.as_list(expected)) == negated:
                return False
    return True


def statement_applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, str], expand: Callable[[str], str] = str) -> bool:
    """Whether a statement is about `action` on `resource` and its condition holds."""
    if "Action" in statement:
        if not _matches_any(statement["Action"], action, case_sensitive=False):
            return False
    elif "NotAction" not in statement or _matches_any(statement["NotAction"], action, case_sensitive=False):
        return False
    if "NotResource" in statement:
        if _matches_any(statement["NotResource"], resource, expand=expand):
            return False
    elif not _matches_any(statement.get("Resource", "*"), resource, expand=expand):
        return False
    return condition_holds(statement.get("Condition") or {}, context)


def identity_decision(documents: Iterable[dict[str, Any]], resource: str, context: dict[str, str]) -> str:
    """'Deny', 'Allow' or 'ImplicitDeny' of identity-based policies for execute-api:Invoke on `resource`."""
    allowed = False
    for document in documents:
        for statement in iam.as_list(document.get("Statement", [])):
            if not statement_applies(statement, INVOKE, resource, context):
                continue
            if statement.get("Effect") == "Deny":
                return "Deny"
            allowed = allowed or statement.get("Effect") == "Allow"
    return "Allow" if allowed else "ImplicitDeny"


def names_principal(statement: dict[str, Any], caller: Caller | None) -> str | None:
    """How a resource policy statement names the caller: 'caller' (its ARN, its role's, or "*"),
    'account' (its account), or None."""
    principal = statement.get("Principal")
    if principal is None:
        return None
    names = {str(name) for name in iam.as_list(principal.get("AWS", []) if isinstance(principal, dict) else principal)}
    if "*" in names:
        return "caller"
    if caller is None:
        return None
    if names & caller.principals:
        return "caller"
    if names & {caller.account, f"arn:aws:iam::{caller.account}:root"}:
        return "account"
    return None


def resource_policy_decision(document: dict[str, Any], caller: Caller | None, resource: str, context: dict[str, str], expand: Callable[[str], str]) -> str:
    """'Deny', 'Allow' (the caller named), 'AccountAllow' (only its account named) or 'ImplicitDeny'."""
    decision = "ImplicitDeny"
    for statement in iam.as_list(document.get("Statement", [])):
        named = names_principal(statement, caller)
        if named is None or not statement_applies(statement, INVOKE, resource, context, expand):
            continue
        if statement.get("Effect") == "Deny":
            return "Deny"
        if statement.get("Effect") == "Allow" and decision != "Allow":
            decision = "Allow" if named == "caller" else "AccountAllow"
    return decision


def rest_api_policy(api: Any) -> dict[str, Any] | None:
    """The API's resource policy: moto keeps it as sent, which may be JSON with its quotes escaped, as API Gateway returns it."""
    text = api.policy
    if not text:
        return None
    for candidate in (text, text.replace('\\"', '"')):
        try:
            document = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(document, str):
            document = json.loads(document)
        return document if isinstance(document, dict) else None
    raise configuration_error("the REST API's resource policy is not JSON")


def authorize(route: Route, caller: Caller | None, resource: str, source_ip: str) -> None:
    """execute-api:Invoke on `resource` for `caller` (None: a method without authorization)."""
    policy = rest_api_policy(route.api)
    if caller is None and policy is None:
        return
    context = {"aws:sourceip": source_ip, "aws:securetransport": "true", "aws:principaltype": "Anonymous"}
    if caller is not None:
        context |= {"aws:principalarn": caller.principal_arn, "aws:principalaccount": caller.account, "aws:principaltype": caller.principal_type, "aws:userid": caller.caller_id}
        if caller.user_name:
            context["aws:username"] = caller.user_name
    identity = "ImplicitDeny" if caller is None else identity_decision(caller.policies, resource, context)
    if caller is not None and caller.session_policy is not None and identity == "Allow":
        identity = identity_decision([caller.session_policy], resource, context)
    prefix = f"arn:aws:execute-api:{route.region}:{route.account}:{route.api.id}"

    def expand(pattern: str) -> str:  # execute-api:/stage/METHOD/path names a method of this API
        return prefix + pattern.removeprefix("execute-api:") if pattern.startswith("execute-api:/") else pattern

    by_resource = "ImplicitDeny" if policy is None else resource_policy_decision(policy, caller, resource, context, expand)
    if caller is None:
        allowed = by_resource == "Allow"
    elif policy is None:
        allowed = identity == "Allow"
    elif caller.account == route.account:
        allowed = identity == "Allow" or by_resource == "Allow"
    else:
        allowed = identity == "Allow" and by_resource in ("Allow", "AccountAllow")
    explicit = "Deny" in (identity, by_resource)
    if explicit or not allowed:
        who = caller.arn if caller is not None else "anonymous"
        message = f"User: {who} is not authorized to perform: {INVOKE} on resource: {resource}" + (" with an explicit deny" if explicit else "")
        raise GatewayError("ACCESS_DENIED", message, body=json.dumps({"Message": message}))


# --- request validation --------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def validation_message(error: Any) -> str:
    """A jsonschema error as API Gateway's validator words it, where this module knows how."""
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "required":
        missing = sorted(name for name in expected if isinstance(instance, dict) and name not in instance)
        return f"object has missing required properties ({_json(missing)})"
    if kind == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema
        known = set(schema.get("properties", {}))
        patterns = [re.compile(pattern) for pattern in schema.get("patternProperties", {})]
        extra = sorted(name for name in instance if name not in known and not any(pattern.search(name) for pattern in patterns))
        return f"object instance has properties which are not allowed by the schema: {_json(extra)}"
    if kind == "type":
        names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object", type(None): "null"}
        return f"instance type ({names.get(type(instance), 'unknown')}) does not match any allowed primitive type (allowed: {_json(sorted(iam.as_list(expected)))})"
    if kind == "enum":
        return f"instance value ({_json(instance)}) not found in enum (possible values: {_json(expected)})"
    if kind == "pattern":
        return f"ECMA 262 regex {_json(expected)} does not match input string {_json(instance)}"
    if kind == "minLength":
        return f"string {_json(instance)} is too short (length: {len(instance)}, required minimum: {expected})"
    if kind == "maxLength":
        return f"string {_json(instance)} is too long (length: {len(instance)}, maximum allowed: {expected})"
    if kind == "minimum":
        return f"numeric instance is lower than the required minimum (minimum: {expected}, found: {instance})"
    if kind == "maximum":
        return f"numeric instance is greater than the required maximum (maximum: {expected}, found: {instance})"
    if kind == "minItems":
        return f"array is too short: must have at least {expected} elements but instance has {len(instance)} elements"
    if kind == "maxItems":
        return f"array is too long: must have at most {expected} elements but instance has {len(instance)} elements"
    if kind == "uniqueItems":
        return "array must not contain duplicate elements"
    if kind == "maxProperties":
        return f"object has too many properties (found {len(instance)}, maximum allowed {expected})"
    if kind == "oneOf":
        return f"instance failed to match exactly one schema (matched {_one_of_matches(error)} out of {len(expected)})"
    return str(error.message)


def _one_of_matches(error: Any) -> int:
    failed = {suberror.schema_path[0] for suberror in error.context if suberror.schema_path}
    return len(error.validator_value) - len(failed)


def validation_errors(schema: dict[str, Any], instance: Any, retrieve: Callable[[str], Any]) -> list[str]:
    """Each way `instance` fails the draft-04 `schema`, JSON pointer first (none for the whole
    document); a `$ref` to another URL is looked up with `retrieve`."""
    from jsonschema import Draft4Validator  # type: ignore[import-untyped]
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    # `retrieve` is the documented argument; mypy sees only the attrs field it sets, `_retrieve`.
    registry: Registry[Any] = Registry(retrieve=lambda uri: Resource.from_contents(retrieve(uri), default_specification=DRAFT4))  # type: ignore[call-arg]
    validator = Draft4Validator(schema, registry=registry)
    found = []
    for error in sorted(validator.iter_errors(instance), key=lambda error: [str(part) for part in error.absolute_path]):
        pointer = "".join(f"/{part}" for part in error.absolute_path)
        found.append(f"{pointer}: {validation_message(error)}" if pointer else validation_message(error))
    return found


def validate_body(route: Route, request: Request) -> None:
    """400 BAD_REQUEST_BODY when the method's request validator checks bodies and the body fails the model of its content type."""
    method, api = route.method, route.api
    validator = api.request_validators.get(method.request_validator_id or "")
    if validator is None or not validator.validate_request_body:
        return
    content_type = (request.header("Content-Type") or "application/json").split(";")[0].strip().lower()
    models = method.request_models or {}
    model_name = models.get(content_type) or models.get("$default")
    model = api.models.get(model_name) if model_name else None
    if model is None or not model.schema:
        return

    def retrieve(uri: str) -> Any:
        reference = MODEL_URL.match(uri)
        referenced = api.models.get(reference.group(2)) if reference and reference.group(1) == api.id else None
        if referenced is None:
            raise LookupError(f"{uri} is not a model of this API")
        return json.loads(referenced.schema)

    from referencing.exceptions import Unresolvable

    try:
        instance = json.loads(request.body.decode("utf-8") or "{}")
    except ValueError as error:
        problems = [f"Invalid JSON in the request body: {error}"]
    else:
        try:
            problems = validation_errors(json.loads(model.schema), instance, retrieve)
        except Unresolvable as error:
            raise configuration_error(f"the model {model_name} refers to what cannot be resolved: {error}") from None
    if problems:
        listed = f"[{', '.join(problems)}]"
        detail = f"Request body does not match model schema for content type {content_type}: {listed}"
        raise GatewayError("BAD_REQUEST_BODY", "Invalid request body", validation_errors=listed, detail=detail)


# --- the Lambda proxy integration ----------------------------------------------------------------


def apigateway_may_invoke(function: Any, function_arn: str, source_arn: str, account: str) -> bool:
    """Whether the function's resource-based policy lets API Gateway invoke `function_arn` for the method `source_arn`."""
    context = {"aws:sourcearn": source_arn, "aws:sourceaccount": account}
    for statement in function.policy.statements:
        principal = statement.get("Principal")
        services = iam.as_list(principal.get("Service", [])) if isinstance(principal, dict) else iam.as_list(principal)
        if statement.get("Effect", "Allow") != "Allow" or not ({APIGATEWAY_PRINCIPAL, "*"} & set(services)):
            continue
        if not _matches_any(statement.get("Action", []), "lambda:InvokeFunction", case_sensitive=False):
            continue
        if _matches_any(statement.get("Resource", []), function_arn) and condition_holds(statement.get("Condition") or {}, context):
            return True
    return False


def role_may_invoke(role_arn: str, function_arn: str) -> bool:
    """Whether the integration's credentials role may invoke the function (its identity policies)."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    try:
        policies = iam.role_policies(iam_backends[role_arn.split(":")[4]]["global"], role_arn)
    except (NotFoundException, IndexError):
        return False
    return iam.decision(policies, "lambda:InvokeFunction", [function_arn]) == "Allow"


def proxy_event(route: Route, request: Request, request_context: dict[str, Any]) -> dict[str, Any]:
    """The Lambda proxy integration's input (REST API, payload format 1.0)."""
    query = parse_qsl(urlsplit(request.target).query, keep_blank_values=True)
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    try:
        body, encoded = (request.body.decode("utf-8"), False) if request.body else (None, False)
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(request.body).decode("ascii"), True
    return {
        "resource": route.resource_path,
        "path": route.path,
        "httpMethod": request.method.upper(),
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(route.path_parameters) or None,
        "stageVariables": dict(route.stage.variables or {}) or None,
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": encoded,
    }


def proxy_response(payload: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The HTTP response a Lambda proxy integration's answer describes; 502 for an answer of another shape."""
    malformed = integration_failure("Execution failed due to configuration error: Malformed Lambda proxy response")
    try:
        answer = json.loads(payload)
    except ValueError:
        raise malformed from None
    if not isinstance(answer, dict) or set(answer) - PROXY_ANSWER_KEYS:
        raise malformed

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if not isinstance(value, str):
            raise malformed
        return value

    try:
        status = int(answer.get("statusCode") or 200)
    except (TypeError, ValueError):
        raise malformed from None
    headers = answer.get("headers") or {}
    multi_headers = answer.get("multiValueHeaders") or {}
    body = answer.get("body")
    if not isinstance(headers, dict) or not isinstance(multi_headers, dict) or not (body is None or isinstance(body, str)):
        raise malformed
    # Both are sent; a value in both only once, as multiValueHeaders has it.
    merged = {str(name): [text(value)] for name, value in headers.items()}
    for name, values in multi_headers.items():
        given = [text(value) for value in iam.as_list(values)]
        merged[str(name)] = [value for value in merged.get(str(name), []) if value not in given] + given
    pairs = [(name, value) for name, values in merged.items() for value in values]
    content = (body or "").encode("utf-8")
    if answer.get("isBase64Encoded"):
        try:
            content = base64.b64decode(content, validate=True)
        except ValueError:
            raise malformed from None
    if not any(name.lower() == "content-type" for name, _ in pairs):
        pairs.append(("Content-Type", "application/json"))
    return status, pairs, content


def invoke_function(route: Route, request: Request, request_context: dict[str, Any], execution: Execution) -> Answer:
    """Call the method's AWS_PROXY Lambda integration as API Gateway does."""
    from moto.awslambda.exceptions import UnknownFunctionException
    from moto.awslambda.models import lambda_backends

    integration = route.method.method_integration
    if integration is None:
        raise configuration_error("No integration defined for method")
    uri = STAGE_VARIABLE.sub(lambda variable: str((route.stage.variables or {}).get(variable.group(1), "")), integration.uri or "")
    target = LAMBDA_URI.match(uri)
    if integration.integration_type != "AWS_PROXY" or target is None:
        raise configuration_error(f"the local API Gateway serves AWS_PROXY integrations with Lambda functions only, not {integration.integration_type} {uri}")
    function_arn = target.group(1)
    parts = function_arn.split(":")
    if len(parts) < 7:
        raise configuration_error(f"Invalid Lambda function ARN in the integration URI: {function_arn}")
    try:
        function = lambda_backends[parts[4]][parts[3]].get_function(function_arn)
    except UnknownFunctionException:
        raise configuration_error(f"Invalid permissions on Lambda function (no function {function_arn})") from None
    source_arn = route.execute_api_arn(request.method.upper(), route.resource_path)
    if integration.credentials:
        permitted = role_may_invoke(integration.credentials, function_arn)
    else:
        permitted = apigateway_may_invoke(function, function_arn, source_arn, route.account)
    if not permitted:
        raise configuration_error(
            f"Invalid permissions on Lambda function: no statement of its resource-based policy lets {APIGATEWAY_PRINCIPAL} invoke {function_arn} for {source_arn}"
        )
    execution.function_arn = function_arn
    try:
        event: Any = proxy_event(route, request, request_context)  # moto annotates a str; local_aws.compat runs the handler with the event as given
        payload, errored, _ = function._invoke_lambda(event=event)
    except Exception as error:  # noqa: BLE001 - Lambda refused the invocation (e.g. throttled): API Gateway answers 502
        raise integration_failure(f"Lambda invocation failed: {error}") from None
    if errored:
        raise integration_failure(f"Lambda execution failed with status 200 due to customer function error: {payload}")
    status, headers, body = proxy_response(payload)
    return Answer(status, headers, body)


# --- gateway responses ---------------------------------------------------------------------------


def _flattened(prefix: str, value: Any, into: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict):
        for name, item in value.items():
            _flattened(f"{prefix}.{name}", item, into)
    else:
        into[prefix] = value
    return into


def render(template: str, variables: dict[str, Any]) -> str:
    """A mapping template with its $context and $stageVariables references filled in (a reference to nothing: empty)."""

    def value(reference: re.Match[str]) -> str:
        found = variables.get(reference.group(1) or reference.group(2))
        return "" if found is None else str(found)

    return TEMPLATE_VARIABLE.sub(value, template)


def gateway_response(error: GatewayError, api: Any, request: Request, route: Route | None, request_context: dict[str, Any]) -> Answer:
    """The answer to an error: the API's gateway response of its type, else its DEFAULT_4XX /
    DEFAULT_5XX one, else API Gateway's default."""
    configured = dict(api.gateway_responses) if api is not None else {}
    specific = configured.get(error.response_type)
    fallback = configured.get("DEFAULT_5XX" if error.status >= 500 else "DEFAULT_4XX")
    chosen = [response for response in (specific, fallback) if response is not None]
    status = next((int(response.status_code) for response in chosen if response.status_code), error.status)
    templates = next((response.response_templates for response in chosen if response.response_templates), None)
    variables = _flattened("context", request_context, {})
    variables |= {
        "context.error.message": error.message,
        "context.error.messageString": json.dumps(error.message),
        "context.error.responseType": error.response_type,
        "context.error.validationErrorString": json.dumps(error.validation_errors)[1:-1],
    }
    if route is not None and route.stage is not None:
        variables |= {f"stageVariables.{name}": value for name, value in (route.stage.variables or {}).items()}
    if templates:
        content_type = "application/json" if "application/json" in templates else next(iter(templates))
        body = render(templates[content_type], variables)
    else:
        content_type = "application/json"
        body = error.body if error.body is not None else render(DEFAULT_TEMPLATE, variables)
    headers = [("Content-Type", content_type), ("x-amzn-ErrorType", error.error_type)]
    parameters: dict[str, str] = {}
    for response in reversed(chosen):
        parameters |= response.response_parameters or {}
    for name, source in parameters.items():
        if name.startswith("gatewayresponse.header."):
            header_value = parameter_value(str(source), request, route, variables)
            if header_value is not None:
                headers.append((name.removeprefix("gatewayresponse.header."), header_value))
    return Answer(status, headers, body.encode("utf-8"))


def parameter_value(source: str, request: Request, route: Route | None, variables: dict[str, Any]) -> str | None:
    """A gateway response parameter's value: 'static', method.request.header|querystring|path.<name>, context.* or stageVariables.*."""
    if len(source) >= 2 and source.startswith("'") and source.endswith("'"):
        return source[1:-1]
    _, _, name = source.removeprefix("method.request.").partition(".")
    if source.startswith("method.request.header."):
        return request.header(name)
    if source.startswith("method.request.querystring."):
        return dict(parse_qsl(urlsplit(request.target).query)).get(name)
    if source.startswith("method.request.path."):
        return route.path_parameters.get(name) if route is not None else None
    found = variables.get(source)
    return None if found is None else str(found)


# --- the server ----------------------------------------------------------------------------------


def request_context_of(route: Route | None, request: Request, request_id: str, caller: Caller | None) -> dict[str, Any]:
    """The requestContext of the proxy event, also the $context of templates."""
    now = datetime.now(UTC)
    identity = {
        "cognitoIdentityPoolId": None,
        "cognitoIdentityId": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "accountId": caller.account if caller else None,
        "caller": caller.caller_id if caller else None,
        "user": caller.caller_id if caller else None,
        "userArn": caller.arn if caller else None,
        "accessKey": caller.access_key if caller else None,
        "principalOrgId": None,
        "sourceIp": request.source_ip,
        "userAgent": request.header("User-Agent"),
    }
    context: dict[str, Any] = {"requestId": request_id, "extendedRequestId": request_id, "identity": identity}
    if route is None:
        return context
    context |= {
        "accountId": route.account,
        "apiId": route.api.id,
        "stage": route.stage_name,
        "deploymentId": getattr(route.stage, "deployment_id", None),
        "domainName": request.header("Host") or HOST,
        "domainPrefix": route.api.id,
        "protocol": "HTTP/1.1",
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "path": f"/{route.stage_name}{route.path}",
        "httpMethod": request.method.upper(),
    }
    if route.resource is not None:
        context |= {"resourceId": route.resource.id, "resourcePath": route.resource_path}
    return context


class LocalApiGateway:
    """API Gateway's REST API endpoint for the REST APIs of the local AWS (moto's backends in this
    process): `start()` serves them on 127.0.0.1 and returns the base URL; a stage's URL is
    `invoke_url(api_id, stage)`, i.e. <base URL>/<api id>/<stage>. `executions` lists the most
    recent requests, with why each failed."""

    def __init__(self, host: str = HOST, port: int = 0, keep_executions: int = 1000) -> None:
        self.host = host
        self.port = port
        self.executions: collections.deque[Execution] = collections.deque(maxlen=keep_executions)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Serve in a daemon thread; returns the base URL, e.g. http://127.0.0.1:54321."""
        if self._server is None:
            self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
            self._server.daemon_threads = True
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="local-apigateway", daemon=True)
            self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join()
            self._server, self._thread = None, None

    def __enter__(self) -> "LocalApiGateway":
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local API Gateway is not started: call start() first")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def invoke_url(self, api_id: str, stage: str) -> str:
        """Where a stage is served: <base URL>/<api id>/<stage> (in AWS https://<api id>.execute-api.<region>.amazonaws.com/<stage>)."""
        return f"{self.url}/{api_id}/{stage}"

    def local_url(self, url: str) -> str:
        """The local URL of an AWS invoke URL such as `terraform output` gives:
        https://<api id>.execute-api.<region>.amazonaws.com/<stage>/<path> -> <base URL>/<api id>/<stage>/<path>."""
        found = AWS_INVOKE_URL.match(url)
        if found is None:
            raise ValueError(f"not an API Gateway invoke URL (https://<api id>.execute-api.<region>.amazonaws.com/<stage>/...): {url}")
        return f"{self.url}/{found.group(1)}{found.group(2) or ''}"

    def handle(self, request: Request) -> Answer:
        """Answer one request as API Gateway would."""
        request_id = str(uuid.uuid4())
        execution = Execution(request_id, request.method, request.target)
        self.executions.append(execution)
        route: Route | None = None
        caller: Caller | None = None
        try:
            route = route_of(request)
            if route is not None:
                execution.api_id, execution.stage = route.api.id, route.stage_name
            if route is None or route.method is None:
                # API Gateway's answer for a path it does not serve, as for a request without a signature.
                raise missing_authentication_token()
            execution.resource_path = route.resource_path
            if route.method.authorization_type == "AWS_IAM":
                caller = authenticate(request, route.region)
                execution.caller_arn = caller.arn
            elif (route.method.authorization_type or "NONE") != "NONE":
                raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", INTERNAL_ERROR, detail=f"the local API Gateway does not run {route.method.authorization_type} authorizers")
            authorize(route, caller, route.execute_api_arn(request.method.upper(), route.path), request.source_ip)
            validate_body(route, request)
            answer = invoke_function(route, request, request_context_of(route, request, request_id, caller), execution)
        except GatewayError as error:
            answer = gateway_response(error, route.api if route is not None else None, request, route, request_context_of(route, request, request_id, caller))
            execution.response_type, execution.detail = error.response_type, error.detail
            log.info("%s %s: %s %s: %s", request.method, request.target, answer.status, error.response_type, error.detail)
        except Exception as error:  # any other failure is API Gateway's own 500, never a dropped connection
            log.exception("%s %s failed", request.method, request.target)
            execution.detail = f"{type(error).__name__}: {error}"
            answer = Answer(500, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "InternalServerErrorException")], json.dumps({"message": INTERNAL_ERROR}).encode())
        execution.status = answer.status
        return Answer(answer.status, [*answer.headers, ("x-amzn-RequestId", request_id)], answer.body)


def _handler(gateway: LocalApiGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "LocalApiGateway"

        def serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            answer = gateway.handle(Request(self.command, self.path, list(self.headers.items()), body, self.client_address[0]))
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = serve

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return Handler
