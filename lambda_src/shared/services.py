"""The services the platform deploys, as registered in SSM Parameter Store, and the check that keeps
every handler to them.

One state machine and one set of handlers serve every service. Each service is registered as a
String parameter `<SERVICES_PARAMETER_PREFIX><name>` whose value is the service document Terraform
writes (the platform's `services` map, or modules/service):

    {"name": "orders", "pipeline_name": "sls-cd-orders-pipeline", "alias": "live",
     "codedeploy_application": "sls-cd-orders-app", "app_handler": "app.handler",
     "test_cases_path": "test_cases.json", "test_timeout_seconds": 30,
     "deployment_timeout_seconds": 1800, "poll_interval_seconds": 5,
     "environments": {
       "staging":    {"function_name": "…", "deployment_group": "staging", "deployment_config": "…"},
       "production": {"function_name": "…", "deployment_group": "production", "deployment_config": "…"}},
     "access_roles": {"run_tests": "arn:…:role/sls-cd/services/sls-cd-orders-run-tests-access", "staging": "…",
                      "production": "…", "rollback": "…", "waiter": "…"}}

The waiter reads the entry of the service its pipeline names and puts the document into the
execution input as `service`. Every step handler reads it back with `service_of`, which loads the
registered entry again and refuses an input whose targets differ from it (TargetNotAllowed, naming
the first differing field): whoever can start an execution or invoke a handler with a crafted input
can make the platform act only on what a service registers. The handlers then use the registered
values only, settings (handler, test cases, timeouts) included, so a setting changed while a
deployment runs applies to its next step and never blocks it.

A handler reaches a service's functions, deployment groups and pipeline only inside
`acting_for(service, handler)`: as the access role the service's module created for that handler,
which trusts that handler's role alone.
"""

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field as dataclass_field
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

import boto3
from botocore.exceptions import ClientError

from shared import aws
from shared.config import env
from shared.errors import ConfigurationError, InvalidInput, TargetNotAllowed, UnknownService
from shared.events import ensure_object, field, is_service_name, preview, type_name

ENVIRONMENTS = ("staging", "production")
# A Lambda handler setting such as `app.handler` or `src/app.handler`: module, then function.
HANDLER_SETTING = re.compile(r"[A-Za-z_]\w*(?:[./][A-Za-z_]\w*)*\.[A-Za-z_]\w*", re.ASCII)
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
ALIAS_NAME = re.compile(r"(?!\d+$)[A-Za-z0-9_-]{1,128}", re.ASCII)
PIPELINE_NAME = re.compile(r"[A-Za-z0-9.@_-]{1,100}", re.ASCII)
MAX_CODEDEPLOY_NAME = 100
MAX_TEST_CASES_PATH = 256
SERVICE_FIELDS = (
    "name",
    "pipeline_name",
    "alias",
    "codedeploy_application",
    "app_handler",
    "test_cases_path",
    "test_timeout_seconds",
    "deployment_timeout_seconds",
    "poll_interval_seconds",
    "environments",
    "access_roles",
    "approval",
)
ENVIRONMENT_FIELDS = ("function_name", "deployment_group", "deployment_config")
# The handlers that act for a service, each through the access role the service registers for it.
ACCESS_HANDLERS = ("run_tests", "staging", "production", "rollback", "waiter")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}", re.ASCII)
# What a handler may reach for a service: an execution input must name exactly these. The rest of a
# document (settings) the handlers take from the registry.
TARGETS = (
    "name",
    "pipeline_name",
    "alias",
    "codedeploy_application",
    *(f"environments.{environment}.{key}" for environment in ENVIRONMENTS for key in ("function_name", "deployment_group")),
    *(f"access_roles.{handler}" for handler in ACCESS_HANDLERS),
)
# The API namespaces a handler uses as a service's access role; the shared resources (buckets,
# table, registry, state machine) it reaches as its own role.
ACCESS_SCOPED = frozenset({"lambda", "codedeploy", "codepipeline"})
ACCESS_SESSION_SECONDS = 3600
ACCESS_RENEW_BEFORE = timedelta(minutes=10)
# IAM makes a new role assumable within seconds of its creation: tries and the pause between them.
ASSUME_TRIES, ASSUME_PAUSE_SECONDS = 3, 2.0
# The least each time may be: a test case gets a second, a deployment a minute past its traffic shift.
MINIMUM_SECONDS = {"test_timeout_seconds": 1, "deployment_timeout_seconds": 60, "poll_interval_seconds": 1, "approval.timeout_seconds": 60}
APPROVAL_FIELDS = ("required", "timeout_seconds", "approvers")
# Who may decide a service's approvals: IAM users and roles (a role's sessions decide as the role),
# or one role session.
APPROVER_ARN = re.compile(r"arn:aws[a-z-]*:(?:iam::\d{12}:(?:user|role)/[\w+=,.@/-]{1,512}|sts::\d{12}:assumed-role/[\w+=,.@-]{1,64}/[\w+=,.@-]{2,64})", re.ASCII)
MAX_APPROVERS = 50
REFUSAL = "the platform deploys, tests and rolls back only what its services register"
_MISSING = object()


@dataclass(frozen=True)
class Target:
    """What one environment of a service deploys to."""

    function_name: str
    deployment_group: str
    deployment_config: str


@dataclass(frozen=True)
class Approval:
    """Whether production waits for a person's decision, for how long, and whose."""

    required: bool = False
    timeout_seconds: int = 3600
    approvers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Service:
    name: str
    pipeline_name: str
    alias: str
    codedeploy_application: str
    app_handler: str
    test_cases_path: str
    test_timeout_seconds: int
    deployment_timeout_seconds: int
    poll_interval_seconds: int
    staging: Target
    production: Target
    access_roles: Mapping[str, str]
    approval: Approval
    # The document as registered, which the waiter passes on and service_of compares with.
    document: Mapping[str, Any] = dataclass_field(compare=False, hash=False, repr=False, default_factory=dict)

    def environment(self, name: str) -> Target:
        if name not in ENVIRONMENTS:
            raise InvalidInput(f"there is no environment {preview(name)}; the environments are {', '.join(ENVIRONMENTS)}")
        return self.staging if name == "staging" else self.production

    @property
    def handler(self) -> tuple[str, str]:
        """`app_handler` as (module, function); the module is dotted (`src.app`), as the Python
        runtime imports it."""
        module, function = self.app_handler.rsplit(".", 1)
        return module.replace("/", "."), function

    def live_alias(self, environment: str) -> str:
        """`<function>:<alias>`, what the environment's callers invoke."""
        return f"{self.environment(environment).function_name}:{self.alias}"


def checked_name(name: str, where: str) -> str:
    if not is_service_name(name):
        raise InvalidInput(f"'{where}' {preview(name)} is not a service name (a lower-case letter, then up to 22 lower-case letters, digits or '-')")
    return name


# --- reading a document -----------------------------------------------------------------------


def _text(document: Mapping[str, Any], path: str, pattern: re.Pattern[str] | None = None, what: str = "", max_length: int = 256) -> str:
    value: str = field(document, path, str, max_length=max_length)
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidInput(f"'{path}' {preview(value)} is not {what}")
    return value


def _seconds(document: Mapping[str, Any], path: str) -> int:
    value: int = field(document, path, int)
    if value < MINIMUM_SECONDS[path]:
        raise InvalidInput(f"'{path}' is {value}; it must be at least {MINIMUM_SECONDS[path]}")
    return value


def _exact_fields(value: Mapping[str, Any], path: str, expected: tuple[str, ...]) -> None:
    unknown = [key for key in value if key not in expected]
    if unknown:
        where = f"'{path}'" if path else "the service document"
        raise InvalidInput(f"{where} has the unknown field {preview(str(unknown[0]))}; its fields are {', '.join(expected)}")


def _test_cases_path(document: Mapping[str, Any]) -> str:
    value = _text(document, "test_cases_path", max_length=MAX_TEST_CASES_PATH)
    parts = PurePosixPath(value).parts
    if value.startswith("/") or "\\" in value or ".." in parts or not parts:
        raise InvalidInput(f"'test_cases_path' {preview(value)} is not a path inside the artifact (relative, with no '..')")
    return value


def _target(document: Mapping[str, Any], environment: str) -> Target:
    where = f"environments.{environment}"
    _exact_fields(field(document, where, dict), where, ENVIRONMENT_FIELDS)
    return Target(
        function_name=_text(document, f"{where}.function_name", FUNCTION_NAME, "a Lambda function name (1-64 letters, digits, '-' or '_')"),
        deployment_group=_text(document, f"{where}.deployment_group", max_length=MAX_CODEDEPLOY_NAME),
        deployment_config=_text(document, f"{where}.deployment_config", max_length=MAX_CODEDEPLOY_NAME),
    )


def parse_service(document: Any) -> Service:
    """A service document, read strictly: every field present, of its type and form, and no other
    field. InvalidInput names the first field that is wrong."""
    if not isinstance(document, Mapping):
        raise InvalidInput("a service document must be a JSON object")
    _exact_fields(document, "", SERVICE_FIELDS)
    name = checked_name(_text(document, "name", max_length=64), "name")
    environments = field(document, "environments", dict)
    _exact_fields(environments, "environments", ENVIRONMENTS)
    return Service(
        name=name,
        pipeline_name=_text(document, "pipeline_name", PIPELINE_NAME, "a CodePipeline pipeline name (1-100 letters, digits or . @ - _)"),
        alias=_text(document, "alias", ALIAS_NAME, "a Lambda alias name (1-128 letters, digits, '-' or '_', not only digits)"),
        codedeploy_application=_text(document, "codedeploy_application", max_length=MAX_CODEDEPLOY_NAME),
        app_handler=_text(document, "app_handler", HANDLER_SETTING, "a handler like 'app.handler' (module.function)"),
        test_cases_path=_test_cases_path(document),
        test_timeout_seconds=_seconds(document, "test_timeout_seconds"),
        deployment_timeout_seconds=_seconds(document, "deployment_timeout_seconds"),
        poll_interval_seconds=_seconds(document, "poll_interval_seconds"),
        staging=_target(document, "staging"),
        production=_target(document, "production"),
        access_roles=_access_roles(document),
        approval=_approval(document),
        document=document,
    )


def _access_roles(document: Mapping[str, Any]) -> dict[str, str]:
    _exact_fields(field(document, "access_roles", dict), "access_roles", ACCESS_HANDLERS)
    return {handler: _text(document, f"access_roles.{handler}", ROLE_ARN, "an IAM role ARN", max_length=2048) for handler in ACCESS_HANDLERS}


def _approval(document: Mapping[str, Any]) -> Approval:
    """The document's `approval`; a document registered before approvals existed has none: not required."""
    if "approval" not in document:
        return Approval()
    _exact_fields(field(document, "approval", dict), "approval", APPROVAL_FIELDS)
    approvers = field(document, "approval.approvers", list)
    if len(approvers) > MAX_APPROVERS:
        raise InvalidInput(f"'approval.approvers' names {len(approvers)} principals; at most {MAX_APPROVERS}")
    for index, approver in enumerate(approvers):
        if not isinstance(approver, str) or not APPROVER_ARN.fullmatch(approver):
            raise InvalidInput(f"'approval.approvers[{index}]' {shown(approver)} is not the ARN of an IAM user, an IAM role or a role session")
    required: bool = field(document, "approval.required", bool)
    if required and not approvers:
        raise InvalidInput("'approval.required' is true but 'approval.approvers' is empty: nobody could approve a deployment")
    return Approval(required=required, timeout_seconds=_seconds(document, "approval.timeout_seconds"), approvers=tuple(approvers))


# --- the registry -----------------------------------------------------------------------------


def registry_prefix() -> str:
    prefix = env("SERVICES_PARAMETER_PREFIX")
    if not prefix.endswith("/"):
        raise ConfigurationError(f"environment variable SERVICES_PARAMETER_PREFIX={preview(prefix)} must end with '/' (e.g. /sls-cd/services/)")
    return prefix


def registered(name: str) -> Service:
    """The service registered as `name`. UnknownService when it is not; ConfigurationError when its
    entry is not a service document; AWS throttling and 5xx answers are raised as they are, for
    lambda_entry to report as Throttled and ServiceUnavailable (retried by the state machine)."""
    checked_name(name, "service")
    parameter = registry_prefix() + name
    try:
        value = aws.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
            raise UnknownService(
                f"service {name!r} is not registered with the platform: there is no SSM parameter {parameter}; "
                "add the service to the platform's `services` map, or register it with modules/service, and apply"
            ) from None
        raise
    entry = f"the registry entry of service {name!r} (SSM parameter {parameter})"
    fix = f"apply the Terraform that registers {name!r} again (the platform's `services` map or modules/service writes it), or correct the parameter"
    try:
        document = json.loads(value)
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"{entry} is not JSON ({error.msg} at line {error.lineno} column {error.colno}); {fix}") from None
    except RecursionError:
        raise ConfigurationError(f"{entry} is nested too deeply to be a service document; {fix}") from None
    try:
        service = parse_service(document)
    except InvalidInput as error:
        problem = str(error).replace("the event has no", "it has no")
        raise ConfigurationError(f"{entry} is not a service document: {problem}; {fix}") from None
    if service.name != name:
        raise ConfigurationError(f"{entry} holds the document of service {service.name!r}; {fix}")
    return service


# --- the check every step handler makes ---------------------------------------------------------


def service_of(event: Any) -> Service:
    """The registered service the event's `service` names, when every target of `service` (TARGETS)
    is the registered one; TargetNotAllowed names the first that differs."""
    ensure_object(event)
    given = field(event, "service", dict)
    name = checked_name(field(event, "service.name", str, max_length=64), "service.name")
    service = registered(name)
    for path in TARGETS:
        in_input, in_registry = at(given, path), at(service.document, path)
        if in_input is _MISSING or not same_json(in_input, in_registry):
            given_text = "missing from the execution input" if in_input is _MISSING else f"{shown(in_input)} in the execution input"
            raise TargetNotAllowed(f"service {name}: '{path}' is {given_text}, but {shown(in_registry)} is registered; {REFUSAL}")
    # The state machine asks for an approval when the input's service says it is required: an input
    # without it must not skip the approval the service registers.
    required_in_input = at(given, "approval.required")
    if not same_json(False if required_in_input is _MISSING else required_in_input, service.approval.required):
        raise TargetNotAllowed(
            f"service {name}: 'approval.required' is {shown(required_in_input) if required_in_input is not _MISSING else 'missing'} in the execution input, but {shown(service.approval.required)} is registered; {REFUSAL}"
        )
    return service


def at(document: Any, path: str) -> Any:
    """The value at dotted `path`, or _MISSING."""
    for key in path.split("."):
        if not isinstance(document, Mapping) or key not in document:
            return _MISSING
        document = document[key]
    return document


# --- acting for a service ---------------------------------------------------------------------


@contextlib.contextmanager
def acting_for(service: Service, handler: str) -> Iterator[None]:
    """Inside, the handler's Lambda, CodeDeploy and CodePipeline clients act as the access role the
    service registers for `handler` (its credentials kept for the container's next invocations)."""
    with aws.acting_as(access_session(service.access_roles[handler], f"{handler.replace('_', '-')}-{service.name}"), ACCESS_SCOPED):
        yield


def access_session(role_arn: str, session_name: str) -> boto3.session.Session:
    """A session as the service's access role `role_arn`; ConfigurationError, saying what to
    apply, when it cannot be assumed."""
    try:
        return assumed_session(role_arn, session_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "AccessDenied":
            raise
        raise ConfigurationError(
            f"cannot act for the service through {role_arn}: sts:AssumeRole was denied ({error.response['Error'].get('Message', '')}); "
            "the role must trust this function's role and this function's role must allow sts:AssumeRole on it: apply the platform's and the service's Terraform again"
        ) from None


def assumed_session(role_arn: str, session_name: str, duration_seconds: int = ACCESS_SESSION_SECONDS) -> boto3.session.Session:
    """A session as `role_arn` (sts:AssumeRole with `session_name` for `duration_seconds`), kept for
    the container's next invocations until shortly before its credentials expire. AccessDenied is
    tried again ASSUME_TRIES times (IAM makes a new role or trust assumable within seconds), then
    raised as the ClientError it is; so is every other error."""
    key = (role_arn, session_name)
    renew_before = min(ACCESS_RENEW_BEFORE, timedelta(seconds=duration_seconds / 3))
    cached = aws.sessions.get(key)
    if cached is not None and cached[1] - datetime.now(UTC) > renew_before:
        return cached[0]
    for attempt in range(1, ASSUME_TRIES + 1):
        try:
            credentials = aws.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=duration_seconds)["Credentials"]
            break
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "AccessDenied" or attempt == ASSUME_TRIES:
                raise
            time.sleep(ASSUME_PAUSE_SECONDS)
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=os.environ.get("AWS_REGION") or None,
    )
    expiration = credentials["Expiration"]
    aws.sessions[key] = (session, expiration if isinstance(expiration, datetime) else datetime.now(UTC) + timedelta(seconds=duration_seconds))
    return session


def same_json(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping):
        return set(a) == set(b) and all(same_json(a[key], b[key]) for key in a)
    return bool(a == b)


def shown(value: Any, limit: int = 80) -> str:
    """A value as a message shows it: a string quoted, anything else as JSON, cut to `limit`."""
    if isinstance(value, str):
        return preview(value, limit)
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = type_name(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
