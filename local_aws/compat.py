"""Where moto differs from AWS in ways this platform depends on, one function per gap.

`install()` patches moto in this process. Each gap names the AWS behaviour it reproduces; nothing
here replaces what is under test: handlers run from the exact code bytes stored in Lambda, with the
function's handler string and environment variables. CodeDeploy for Lambda is emulated in
local_aws/codedeploy.py, its deployment configurations local_aws/deployment_configs.py, the fast
clock is local_aws/clock.py, EventBridge's delivery to Lambda targets is local_aws/events.py, SNS's
delivery to Lambda subscriptions local_aws/sns.py and CodePipeline's StartPipelineExecution
(executions that run), StopPipelineExecution and ListActionExecutions local_aws/codepipeline.py;
`install()` wires them in.
"""

import contextlib
import io
import json
import os
import re
import sys
import threading
import traceback
import uuid
import zipfile
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from types import ModuleType
from typing import Any

from local_aws import clock, codedeploy, codepipeline, deployment_configs, events, faults, iam, sns
from local_aws.codedeploy import LambdaDeployments

# Invocations run one at a time: they swap process-wide state (modules, environment). The lock is
# re-entrant because a function may invoke another (run_tests invokes the application's alias).
_invoke_lock = threading.RLock()
_namespaces: dict[str, dict[str, ModuleType]] = {}
_MISSING = object()  # marks an attribute that install() added rather than replaced
CODE_CACHE = Path(os.environ.get("LOCAL_AWS_CODE_CACHE", Path.home() / ".cache" / "serverless-cd-local-aws"))


@dataclass
class InvocationContext:
    """The Lambda context object a handler receives."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


def _extract(code: bytes, code_sha256: str) -> Path:
    """Unpack a code zip once per content; written to a temporary folder and renamed into place."""
    folder = CODE_CACHE / code_sha256.replace("/", "_").replace("+", "-")
    if not folder.is_dir():
        staging = folder.with_name(f"{folder.name}.{uuid.uuid4().hex}")
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            archive.extractall(staging)
        try:
            staging.rename(folder)
        except OSError:  # another process unpacked the same code first
            pass
    return folder


def _top_level_names(folder: Path) -> set[str]:
    return {path.stem for path in folder.iterdir() if path.suffix == ".py" or (path / "__init__.py").is_file()}


@contextlib.contextmanager
def _code_namespace(folder: Path, code_sha256: str) -> Iterator[None]:
    """Import from `folder` with modules of its own: two functions (or two versions of one)
    that both ship `shared/` or `handler.py` never see each other's modules."""
    names = _top_level_names(folder)

    def owned(module_name: str) -> bool:
        return module_name.split(".", 1)[0] in names

    saved = {name: module for name, module in sys.modules.items() if owned(name)}
    for name in saved:
        del sys.modules[name]
    sys.modules.update(_namespaces.get(code_sha256, {}))
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        _namespaces[code_sha256] = {name: module for name, module in sys.modules.items() if owned(name)}
        for name in _namespaces[code_sha256]:
            del sys.modules[name]
        sys.modules.update(saved)


class ThreadEnvironment(MutableMapping[str, str]):
    """os.environ as each thread sees it: the process's environment, and in a thread running a
    function, that function's own variables over it. Lambda gives every function an environment
    of its own; here other threads (the pipeline runner, moto's server) go on reading and
    iterating the process's environment while a function runs, and must neither see its
    variables nor meet the environment half changed."""

    def __init__(self, process: MutableMapping[str, str]) -> None:
        self.process = process
        self._local = threading.local()

    @contextlib.contextmanager
    def of_function(self, variables: dict[str, str]) -> Iterator[None]:
        """The calling thread sees `variables` over the process's environment until exit."""
        outer = getattr(self._local, "overlay", None)  # a function invoking another (run_tests)
        self._local.overlay = dict(variables)
        try:
            yield
        finally:
            self._local.overlay = outer

    def _overlay(self) -> dict[str, str | None] | None:
        return getattr(self._local, "overlay", None)

    def __getitem__(self, name: str) -> str:
        overlay = self._overlay()
        if overlay is not None and name in overlay:
            value = overlay[name]
            if value is None:
                raise KeyError(name)
            return value
        return self.process[name]

    def __setitem__(self, name: str, value: str) -> None:
        overlay = self._overlay()
        if overlay is None:
            self.process[name] = value
        else:
            overlay[name] = value

    def __delitem__(self, name: str) -> None:
        overlay = self._overlay()
        if overlay is None:
            del self.process[name]
        elif name not in self:
            raise KeyError(name)
        else:
            overlay[name] = None  # deleted for this function only

    def __iter__(self) -> Iterator[str]:
        names = list(self.process)
        overlay = self._overlay()
        if overlay is None:
            return iter(names)
        names += [name for name in overlay if name not in self.process]
        return iter([name for name in names if (overlay.get(name, "") if name in overlay else "") is not None])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)

    def __or__(self, other: Any) -> dict[str, str]:
        return dict(self) | dict(other)


@contextlib.contextmanager
def _function_environment(variables: dict[str, str]) -> Iterator[None]:
    environment = os.environ
    if not isinstance(environment, ThreadEnvironment):
        raise RuntimeError("functions run in-process only once LocalAws.install() has set up os.environ")
    with environment.of_function(variables):
        yield


_invocation = threading.local()


def _thread_default_session(original: Any) -> Any:
    """boto3's default session, except in a thread running a function: that invocation's own."""
    session = getattr(_invocation, "session", None)
    return session if session is not None else original()


@contextlib.contextmanager
def _function_session() -> Iterator[None]:
    """A boto3 default session of the invoking thread only, made from the function's environment
    (its role's credentials), so other threads' clients keep theirs."""
    import boto3

    outer = getattr(_invocation, "session", None)  # a function invoking another (run_tests)
    _invocation.session = boto3.session.Session()
    try:
        yield
    finally:
        _invocation.session = outer


def role_credentials(function: Any) -> dict[str, str]:
    """The execution role's session credentials, from the local STS, for the role the function
    was created with."""
    from moto.sts.models import sts_backends

    sts = sts_backends[function.account_id]["global"]
    # moto annotates policy and external_id as str; its own STS API passes None when they are absent.
    role = sts.assume_role(region_name=function.region, role_session_name=function.function_name, role_arn=function.role, policy=None, duration=3600, external_id=None)  # type: ignore[arg-type]
    return {"AWS_ACCESS_KEY_ID": role.access_key_id, "AWS_SECRET_ACCESS_KEY": role.secret_access_key, "AWS_SESSION_TOKEN": role.session_token}


def run_lambda_in_process(function: Any, event: Any, identity: iam.Identity | None = None) -> tuple[str, bool, str]:
    """Gap: moto runs Lambda code only in Docker. AWS runs the handler named by the function's
    handler string from its deployment package, with its environment variables and its execution
    role's credentials; so does this. With `identity`, every AWS call the handler makes is checked
    against that role's policies (local_aws/iam.py)."""
    module_name, _, function_name = function.handler.rpartition(".")
    folder = _extract(function.code_bytes, function.code_sha_256)
    variables = {name: str(value) for name, value in (function.environment_vars or {}).items()}
    variables |= {"AWS_LAMBDA_FUNCTION_NAME": function.function_name, "AWS_LAMBDA_FUNCTION_VERSION": str(function.version)}
    if identity is not None:
        variables |= role_credentials(function)
    context = InvocationContext(
        function_name=function.function_name,
        function_version=str(function.version),
        invoked_function_arn=function.function_arn,
        memory_limit_in_mb=int(function.memory_size or 128),
        aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{function.function_name}",
    )
    with (
        _invoke_lock,
        _function_environment(variables),
        _function_session(),
        _code_namespace(folder, function.code_sha_256),
        iam.acting_as(identity),
        faults.running(function.function_name),
    ):
        try:
            module = __import__(module_name, fromlist=[function_name])
            result = getattr(module, function_name)(event, context)
            return json.dumps(result), False, ""
        except Exception as error:  # noqa: BLE001 - reported the way the Lambda runtime reports it
            payload = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
            return json.dumps(payload), True, ""


def role_identity(account_id: str, role_arn: str, session_name: str) -> iam.Identity:
    """The identity a function or state machine acts as: its role, with the policies attached now
    (none for a role that does not exist, which AWS would have refused at creation)."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    try:
        policies = iam.role_policies(iam_backends[account_id]["global"], role_arn)
    except NotFoundException:
        policies = ()
    return iam.Identity(role_arn, session_name, policies)


def roles_snapshot(backend: Any) -> list[Any]:
    """Gap: moto's server answers requests on several threads, and IAM's GetRole walks the roles
    while a concurrent CreateRole adds one ("dictionary changed size during iteration", a 500 that
    fails `terraform apply`). AWS answers both; so does a walk over a copy."""
    return list(backend.roles.values())


def lambda_task_error(state: Any, env: Any, error: Exception, original: Any) -> Any:
    """Gap: moto names every Lambda API error of a Task state "Exception". AWS names it after the
    Lambda exception, e.g. Lambda.TooManyRequestsException for a throttled invocation, which is
    what a Retry's ErrorEquals matches. `original` is moto's _from_error."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName

    failure = original(state, env=env, ex=error)
    if isinstance(error, ClientError):
        name = f"Lambda.{error.response['Error']['Code']}"
        failure.error_name = CustomErrorName(name)
        (failure.event_details or {}).get("lambdaFunctionFailedEventDetails", {})["error"] = name
    return failure


def iso_start_time(environment: Any) -> Any:
    """Gap: moto puts a datetime in the context object's Execution.StartTime; AWS gives an ISO 8601
    string such as 2026-01-31T12:00:00.123Z, which an execution may copy into its output."""
    execution = environment.states.context_object.context_object_data["Execution"]
    started = execution.get("StartTime")
    if hasattr(started, "isoformat"):
        execution["StartTime"] = started.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return environment


def validate_state_machine_definition(response: Any) -> Any:
    """Gap: moto lacks Step Functions ValidateStateMachineDefinition. AWS answers `result` OK or
    FAIL with a list of diagnostics (severity, code, message), here from moto's own ASL parser."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    definition = response._get_param("definition")
    diagnostics = []
    try:
        json.loads(definition)
    except (TypeError, ValueError) as error:
        diagnostics.append({"severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "message": str(error)})
    else:
        try:
            AmazonStateLanguageParser.parse(definition)
        except Exception as error:  # noqa: BLE001 - every parser error is a finding about the definition
            diagnostics.append({"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": str(error) or repr(error)})
    return ActionResult({"result": "FAIL" if diagnostics else "OK", "diagnostics": diagnostics, "truncated": False})


def list_state_machine_versions(response: Any) -> Any:
    """Gap: moto lacks Step Functions ListStateMachineVersions. AWS lists the published versions of
    a state machine, newest first, as {stateMachineVersionArn, creationDate}, with maxResults and
    nextToken paging; a state machine without versions (or none at all) gives an empty list."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.exceptions import InvalidToken, StateMachineDoesNotExist

    arn = response._get_param("stateMachineArn")
    try:
        state_machine = response.stepfunction_backend.describe_state_machine(arn)
    except StateMachineDoesNotExist:
        return ActionResult({"stateMachineVersions": []})
    versions = sorted(getattr(state_machine, "versions", {}).values(), key=lambda version: version.version, reverse=True)
    token = response._get_param("nextToken") or "0"
    if not token.isdigit():
        raise InvalidToken()
    start, page_size = int(token), int(response._get_param("maxResults") or 0) or 100
    page = versions[start : start + page_size]
    result: dict[str, Any] = {"stateMachineVersions": [{"stateMachineVersionArn": v.arn, "creationDate": v.creation_date} for v in page]}
    if start + page_size < len(versions):
        result["nextToken"] = str(start + page_size)
    return ActionResult(result)


def pipeline_metadata(pipeline: Any) -> dict[str, Any]:
    """Gap: moto returns CodePipeline metadata `created` and `updated` (GetPipeline, ListPipelines)
    as ISO strings. AWS's JSON protocol sends timestamps as epoch seconds, which strict SDKs
    (the Go SDK of Terraform's provider) require."""
    from moto.core.utils import unix_time

    return {"pipelineArn": pipeline._arn, "created": unix_time(pipeline._created), "updated": unix_time(pipeline._updated)}


def delete_deployment_group(response: Any) -> Any:
    """Gap: moto lacks CodeDeploy DeleteDeploymentGroup. AWS removes the group (and its tags) and
    answers `hooksNotCleanedUp` (none for Lambda); deleting a group that is gone is not an error."""
    from moto.core.responses import ActionResult

    backend = response.codedeploy_backend
    application_name = response._get_param("applicationName")
    group_name = response._get_param("deploymentGroupName")
    group = backend.deployment_groups.get(application_name, {}).pop(group_name, None)
    if group is not None:
        backend.tagger.delete_all_tags_for_resource(backend._deployment_group_arn(application_name, group_name))
    return ActionResult({"hooksNotCleanedUp": []})


# The settings UpdateDeploymentGroup changes, each when the request names it.
DEPLOYMENT_GROUP_SETTINGS = (
    "deploymentConfigName",
    "serviceRoleArn",
    "alarmConfiguration",
    "autoRollbackConfiguration",
    "deploymentStyle",
    "blueGreenDeploymentConfiguration",
    "loadBalancerInfo",
    "triggerConfigurations",
    "outdatedInstancesStrategy",
    "ec2TagFilters",
    "ec2TagSet",
    "onPremisesInstanceTagFilters",
    "onPremisesTagSet",
    "autoScalingGroups",
    "ecsServices",
    "terminationHookEnabled",
)


def update_deployment_group(response: Any) -> Any:
    """Gap: moto lacks CodeDeploy UpdateDeploymentGroup. AWS changes the settings the request
    names and keeps the others, refuses a deployment config that does not exist
    (DeploymentConfigDoesNotExistException; checked here for Lambda groups against
    local_aws/deployment_configs.py) and answers `hooksNotCleanedUp` (none for Lambda). Renaming
    the group (newDeploymentGroupName) is not modelled."""
    from moto.core.responses import ActionResult

    backend = response.codedeploy_backend
    group = backend.get_deployment_group(response._get_param("applicationName"), response._get_param("currentDeploymentGroupName"))
    changes = {name: response._get_param(name) for name in DEPLOYMENT_GROUP_SETTINGS if response._get_param(name) is not None}
    if "deploymentConfigName" in changes and group.application.compute_platform == "Lambda":
        deployment_configs.config_info(backend, changes["deploymentConfigName"])
    for name, value in changes.items():
        setattr(group, re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(), value)
    return ActionResult({"hooksNotCleanedUp": []})


def delete_application(response: Any) -> Any:
    """Gap: moto lacks CodeDeploy DeleteApplication. AWS removes the application with its
    deployment groups and tags; deleting an application that is gone is not an error."""
    from moto.core.responses import EmptyResult

    backend = response.codedeploy_backend
    application_name = response._get_param("applicationName")
    if backend.applications.pop(application_name, None) is not None:
        for group_name in backend.deployment_groups.pop(application_name, {}):
            backend.tagger.delete_all_tags_for_resource(backend._deployment_group_arn(application_name, group_name))
        backend.tagger.delete_all_tags_for_resource(backend._application_arn(application_name))
    return EmptyResult()


# CodeBuild settings of these types name no location: CodePipeline hands the build its input and
# takes its output, NO_SOURCE has the buildspec inline.
CODEBUILD_LOCATIONLESS_TYPES = {"source": {"CODEPIPELINE", "NO_SOURCE"}, "artifacts": {"CODEPIPELINE"}}


def check_codebuild_location(kind: str, settings: dict[str, Any], check: Any) -> None:
    """Gap: moto requires a `location` in every CodeBuild project source and in artifacts other
    than NO_ARTIFACTS. AWS requires one only where CodeBuild itself reads or writes: not for a
    CODEPIPELINE or NO_SOURCE source, nor for CODEPIPELINE artifacts. Other settings go to moto's
    own `check`."""
    if settings.get("type") in CODEBUILD_LOCATIONLESS_TYPES[kind]:
        return
    check(settings)


def deployment_group_info(group: Any, describe: Any) -> dict[str, Any]:
    """Gap: moto's CodeDeploy GetDeploymentGroup answers an empty alarmConfiguration, and an empty
    loadBalancerInfo for a group without a load balancer. AWS returns the alarms the group stops
    on, whether that is enabled and ignorePollAlarmFailure (disabled, with no alarms, for a group
    created without one), and no loadBalancerInfo unless one was set (a Lambda group has none).
    `describe` is moto's description."""
    info: dict[str, Any] = describe(group)
    info["alarmConfiguration"] = group.alarm_configuration or {"enabled": False, "ignorePollAlarmFailure": False, "alarms": []}
    if not info.get("loadBalancerInfo"):
        info.pop("loadBalancerInfo", None)
    return info


def create_codebuild_project(response: Any, create: Any) -> Any:
    """Gap: moto ignores the encryptionKey of a new CodeBuild project and reports the AWS managed
    S3 key (alias/aws/s3). AWS keeps the customer managed key the project names. `create` is
    moto's CreateProject."""
    result = create(response)
    key = response._get_param("encryptionKey")
    if key:
        response.codebuild_backend.codebuild_projects[response._get_param("name")].project_metadata["encryptionKey"] = key
    return result


def get_bucket_notification(response: Any) -> Any:
    """Gap: moto's S3 GetBucketNotificationConfiguration leaves out EventBridgeConfiguration. AWS
    returns it (an empty element) when the bucket sends its events to EventBridge."""
    from moto.core.responses import ActionResult, EmptyResult

    configuration = response.backend.get_bucket_notification_configuration(response.bucket_name)
    if not configuration:
        return response.serialized(EmptyResult())

    def entries(items: list[Any], arn_key: str) -> list[dict[str, Any]]:
        found = []
        for item in items:
            entry = {"Id": item.id, arn_key: item.arn, "Events": item.events}
            if item.filters:
                entry["Filter"] = {"Key": {"FilterRules": item.filters["S3Key"]["FilterRule"]}}
            found.append(entry)
        return found

    result: dict[str, Any] = {
        "TopicConfigurations": entries(configuration.topic, "TopicArn"),
        "QueueConfigurations": entries(configuration.queue, "QueueArn"),
        "LambdaFunctionConfigurations": entries(configuration.cloud_function, "LambdaFunctionArn"),
    }
    if configuration.event_bridge is not None:
        result["EventBridgeConfiguration"] = {}
    response.data["Action"] = "GetBucketNotificationConfiguration"
    return response.serialized(ActionResult(result))


# The request context AWS evaluates bucket policy conditions against, as far as it is the same for
# every request: AWS endpoints are HTTPS, so aws:SecureTransport is true.
REQUEST_CONTEXT = {"aws:securetransport": "true"}
CONDITION_OPERATORS = {
    "Bool": lambda actual, expected: actual == expected.lower(),
    "StringEquals": lambda actual, expected: actual == expected,
}


def _condition_holds(condition: dict[str, dict[str, Any]]) -> bool:
    for operator, tests in condition.items():
        compare = CONDITION_OPERATORS.get(operator)
        if compare is None:  # not evaluated here; moto lets such a statement apply
            continue
        for key, expected in tests.items():
            actual = REQUEST_CONTEXT.get(key.lower())
            values = expected if isinstance(expected, list) else [expected]
            if actual is None or not any(compare(actual, str(value)) for value in values):
                return False
    return True


def bucket_permission(bucket: Any, action: str, resource: str) -> Any:
    """Gap: moto applies a bucket policy statement whatever its Condition, so the usual
    DenyInsecureTransport statement (Deny s3:* when aws:SecureTransport is false) denies every
    request. AWS applies a statement only when its condition holds; requests reach it over HTTPS.
    Bool and StringEquals conditions are evaluated against that context, others left to moto."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    if bucket.policy is None:
        return PermissionResult.NEUTRAL
    statements = json.loads(bucket.policy)["Statement"]
    permitted = False
    for statement in statements if isinstance(statements, list) else [statements]:
        if not _condition_holds(statement.get("Condition", {})):
            continue
        unconditional = {name: value for name, value in statement.items() if name != "Condition"}
        result = IAMPolicyStatement(unconditional).is_action_permitted(action, resource)
        if result == PermissionResult.DENIED:
            return result
        permitted = permitted or result == PermissionResult.PERMITTED
    return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL


class LocalAws:
    """The patches in force, with the knobs tests use to inject failures.

    `speedup` runs CodeDeploy's traffic shifting and the state machine's Wait and Retry times that
    many times faster than the wall clock (local_aws/clock.py). With `check_iam`, each function
    runs as its execution role and each state machine execution as the state machine's role: every
    AWS call they make is checked against the role's policies (local_aws/iam.py). Events that
    EventBridge rules deliver to Lambda functions run in the background (local_aws/events.py), and
    so do the notifications SNS topics deliver to Lambda subscriptions (local_aws/sns.py);
    `wait_for_deliveries` waits for both and returns EventBridge's, `wait_for_notifications` SNS's."""

    def __init__(self, speedup: float = 1.0, check_iam: bool = False) -> None:
        self.speedup = speedup
        self.check_iam = check_iam
        self.deployments = LambdaDeployments(speedup)
        self.faults = faults.Faults()
        self.throttled_invocations: dict[str, int] = {}
        self.event_deliveries = events.EventDeliveries()
        self.notification_deliveries = sns.NotificationDeliveries()

    def wait_for_deliveries(self, timeout_seconds: float = 60.0) -> list[events.Delivery]:
        """Block until no event and no SNS notification is on its way to a Lambda function; every
        EventBridge delivery so far, oldest first."""
        return sns.wait_for_quiet(self.event_deliveries, self.notification_deliveries, timeout_seconds)[0]

    def wait_for_notifications(self, timeout_seconds: float = 60.0) -> list[sns.NotificationDelivery]:
        """As `wait_for_deliveries`; every SNS delivery to a Lambda subscription so far, oldest first."""
        return sns.wait_for_quiet(self.event_deliveries, self.notification_deliveries, timeout_seconds)[1]

    @property
    def failing_deployment_groups(self) -> set[str]:
        """Deployment groups whose next deployments fail, as a failed hook or script would."""
        return self.deployments.failing_groups

    def clear_faults(self) -> None:
        """No injected failures any more: deployments, calls and invocations behave."""
        self.deployments.failing_groups.clear()
        self.deployments.stuck_groups.clear()
        self.faults.clear()
        self.throttled_invocations.clear()
        self.event_deliveries.deliver_twice = False

    def throttle(self, function_name: str, times: int) -> None:
        """The next `times` invocations of the function are throttled (TooManyRequestsException),
        as Lambda does when the function or the account is out of concurrency."""
        self.throttled_invocations[function_name] = times

    def _throttled(self, function: Any) -> bool:
        remaining = self.throttled_invocations.get(function.function_name, 0)
        if remaining <= 0:
            return False
        self.throttled_invocations[function.function_name] = remaining - 1
        return True

    def install(self) -> None:
        import boto3
        from moto.awslambda.models import LambdaFunction
        from moto.core.exceptions import JsonRESTError
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

        local = self

        def invoke_lambda(function: Any, event: Any = None) -> tuple[str, bool, str]:
            if local._throttled(function):
                raise TooManyRequests(function.function_name)
            identity = role_identity(function.account_id, function.role, function.function_name) if local.check_iam else None
            return run_lambda_in_process(function, event if event is not None else {}, identity)

        original_environment = ExecutionWorker._get_evaluation_environment
        original_logic = ExecutionWorker._execution_logic
        original_task_error = StateTaskLambda._from_error
        original_default_session = boto3._get_default_session

        def evaluation_environment(self: Any) -> Any:  # bound as a method of ExecutionWorker
            return iso_start_time(original_environment(self))

        def execution_logic(worker: Any) -> None:
            # Gap: moto's interpreter calls AWS as nobody in particular. AWS makes the state
            # machine's calls (Lambda Invoke, DynamoDB, SNS) with the state machine's role.
            details = worker._evaluation_details
            arn = details.aws_execution_details.role_arn
            identity = role_identity(arn.split(":")[4], arn, details.execution_details.name) if local.check_iam else None
            with iam.acting_as(identity):
                original_logic(worker)

        class TooManyRequests(JsonRESTError):
            code = 429

            def __init__(self, function_name: str) -> None:
                super().__init__("TooManyRequestsException", f"Rate exceeded for function {function_name} (throttled by the local AWS)")

        self._restore = [
            (LambdaFunction, "_invoke_lambda", LambdaFunction._invoke_lambda),
            (ExecutionWorker, "_get_evaluation_environment", original_environment),
            (ExecutionWorker, "_execution_logic", original_logic),
            (StateTaskLambda, "_from_error", original_task_error),
            (boto3, "_get_default_session", original_default_session),
            (os, "environ", os.environ),
        ]
        patched = (
            codedeploy.patch_moto(self.deployments)
            + deployment_configs.patch_moto()
            + (clock.patch_moto(self.speedup) if self.speedup != 1.0 else [])
            + self.event_deliveries.patch_moto()
            + self.notification_deliveries.patch_moto()
        )
        self._restore += [(owner, name, _MISSING if original is None else original) for owner, name, original in patched]
        LambdaFunction._invoke_lambda = invoke_lambda  # type: ignore[method-assign,assignment]
        ExecutionWorker._get_evaluation_environment = evaluation_environment  # type: ignore[method-assign]
        ExecutionWorker._execution_logic = execution_logic  # type: ignore[method-assign]
        StateTaskLambda._from_error = lambda self, env, ex: lambda_task_error(self, env, ex, original_task_error)  # type: ignore[method-assign]
        boto3._get_default_session = lambda: _thread_default_session(original_default_session)
        os.environ = ThreadEnvironment(os.environ)  # type: ignore[assignment]  # noqa: B003 - a per-thread view; process-wide writes still go to the original os.environ
        self._undo_botocore = [iam.patch_botocore(), self.faults.patch_botocore()]
        self._install_api_gaps()

    def _install_api_gaps(self) -> None:
        """The API gaps met by applying, planning and destroying the Terraform configuration
        against moto's server (local_aws.server), and by running the state machine it creates."""
        from moto.codebuild import responses as codebuild_responses
        from moto.codebuild.responses import CodeBuildResponse
        from moto.codedeploy import responses as codedeploy_responses
        from moto.codedeploy.responses import CodeDeployResponse
        from moto.codepipeline.models import CodePipeline, PipelineExecution
        from moto.codepipeline.responses import CodePipelineResponse
        from moto.iam.models import IAMBackend
        from moto.s3.models import FakeBucket
        from moto.s3.responses import S3Response
        from moto.stepfunctions.responses import StepFunctionResponse

        check_source = codebuild_responses._validate_required_params_source
        check_artifacts = codebuild_responses._validate_required_params_artifacts
        describe_group = codedeploy_responses._deployment_group_info
        create_project = CodeBuildResponse.create_project
        summarize_execution = PipelineExecution.to_summary_dict
        replacements: list[tuple[Any, str, Any]] = [
            (StepFunctionResponse, "validate_state_machine_definition", validate_state_machine_definition),
            (StepFunctionResponse, "list_state_machine_versions", list_state_machine_versions),
            (CodePipeline, "metadata", property(pipeline_metadata)),
            (CodePipelineResponse, "stop_pipeline_execution", codepipeline.stop_pipeline_execution),
            (PipelineExecution, "to_summary_dict", lambda record: codepipeline.execution_summary(record, summarize_execution)),
            (CodeDeployResponse, "delete_deployment_group", delete_deployment_group),
            (CodeDeployResponse, "update_deployment_group", update_deployment_group),
            (CodeDeployResponse, "delete_application", delete_application),
            (codebuild_responses, "_validate_required_params_source", lambda settings: check_codebuild_location("source", settings, check_source)),
            (codebuild_responses, "_validate_required_params_artifacts", lambda settings: check_codebuild_location("artifacts", settings, check_artifacts)),
            (codedeploy_responses, "_deployment_group_info", lambda group: deployment_group_info(group, describe_group)),
            (CodeBuildResponse, "create_project", lambda response: create_codebuild_project(response, create_project)),
            (S3Response, "get_bucket_notification", get_bucket_notification),
            (FakeBucket, "get_permission", bucket_permission),
            (IAMBackend, "get_roles", roles_snapshot),
            (CodePipelineResponse, "start_pipeline_execution", codepipeline.start_pipeline_execution),
            (CodePipelineResponse, "list_action_executions", codepipeline.list_action_executions),
            (PipelineExecution, "to_dict", codepipeline.execution_detail_of(PipelineExecution.to_dict)),
        ]
        for owner, name, replacement in replacements:
            self._restore.append((owner, name, vars(owner).get(name, _MISSING)))
            setattr(owner, name, replacement)

    def uninstall(self) -> None:
        for undo in reversed(self._undo_botocore):
            undo()
        for owner, name, original in reversed(self._restore):
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
