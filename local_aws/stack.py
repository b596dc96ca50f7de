"""The whole platform on a local AWS: this repository's Terraform applied to `local_aws.server`,
with commits pushed through the pipeline it defines.

    stack = LocalStack.up()                     # start the local AWS, terraform init + apply
    run = stack.push(source_folder, "c0ffee1")  # Source -> Build -> Deploy (the waiter)
    stack.execution(run)                        # the DeploymentStateMachine execution it started
    stack.down()                                # empty the buckets, terraform destroy, stop

A push is an execution of the pipeline, as CodePipeline's API shows it. From a test, while a push
runs in another thread:

    execution_id = stack.in_progress_execution("c0ffee1")  # waits until that commit's execution shows
    stack.stop_pipeline_execution(execution_id, abandon=True, reason="superseded")
    stack.pipeline_execution(execution_id)["status"]       # Stopping, then Stopped
    stack.wait_for_deliveries()                            # events on their way to Lambda functions, done

The push then returns a PipelineRun whose status is "Stopped". Each change of an execution's state
puts a "CodePipeline Pipeline Execution State Change" event on the default event bus, which rules
deliver to their targets, Lambda functions in the background (local_aws/codepipeline.py,
local_aws/events.py).

Everything runs in this process but Terraform: the local AWS serves Terraform over HTTP on
127.0.0.1 and the calls made here in-process. Functions run as their execution roles and
executions as the state machine's role, each call checked against the policies Terraform attached
(local_aws/iam.py). Time runs `speedup` times faster for CodeDeploy's traffic shifting and the
state machine's Wait and Retry (local_aws/clock.py); the handlers' own clocks are not scaled.
"""

import json
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from local_aws import codepipeline, executions
from local_aws.apigateway import LocalApiGateway
from local_aws.chat import ChatReceiver
from local_aws.codedeploy import restore
from local_aws.codepipeline import JobResults, PipelineRun, push_commit
from local_aws.compat import LocalAws
from local_aws.events import Delivery
from local_aws.server import start_local_aws
from local_aws.target_pipelines import TARGET_ACCOUNT
from local_aws.terraform import DEFAULT_WORKDIR, ROOT, LocalTerraform

# Terraform's defaults except the deadline, which is the smallest the configuration allows so a
# stuck deployment times out in a minute (handlers keep the wall clock).
ENVIRONMENTS = ("staging", "production")
DEFAULT_SERVICE = "default"
APPROVER_ROLE_ARN = "arn:aws:iam::123456789012:role/release-managers"

# The repository's local platform: three services, the sample application (keyed default, so it has
# the names of the single-application release), examples/clock, which deploys production with a
# custom linear configuration, and payments (the sample application again), whose production waits
# for a decision of the release-managers role (local_aws/approvals.py) for a minute of wall clock.
# Deployments give up 60 s after their shift (at the local clock).
SERVICE_APPS = {DEFAULT_SERVICE: ROOT / "app", "clock": ROOT / "examples" / "clock", "payments": ROOT / "app"}
CUSTOM_DEPLOYMENT_CONFIGS = {"linear-50-1": {"type": "TimeBasedLinear", "percentage": 50, "interval_minutes": 1}}
LOCAL_SERVICES = {
    DEFAULT_SERVICE: {"deployment": {"timeout_seconds": 60}},
    "clock": {
        "deployment": {"timeout_seconds": 60, "production_config": "linear-50-1"},
        "pipeline_source": {"object_key": "clock/source.zip"},
    },
    "payments": {
        "deployment": {"timeout_seconds": 60, "production_config": "CodeDeployDefault.LambdaAllAtOnce"},
        "pipeline_source": {"object_key": "payments/source.zip"},
        "production_approval": {"required": True, "approvers": [APPROVER_ROLE_ARN], "timeout_minutes": 1},
    },
}
# The pipelines the waiter's pipeline mode may follow (local_aws/parent_pipeline.py): two in this
# account, one of which it may start, and those the role it may assume in the target account opens.
WAITER_PIPELINES = {"api": {"start": True}, "nightly-tests": {}}
WAITER_TARGET_ROLE_ARNS = [f"arn:aws:iam::{TARGET_ACCOUNT}:role/pipeline-waiter-access"]
# What releases may start (tests/e2e/test_releases.py, the demo): the services' pipelines, three
# pipelines of this account (local_aws/target_pipelines.py) and one of the target account, through
# a role there. Waits hear nothing for a minute before they check the run themselves.
RELEASE_PIPELINES = ["sls-cd-pipeline", "sls-cd-clock-pipeline", "web", "worker", "search"]
RELEASE_TARGET_ROLE_ARNS = [f"arn:aws:iam::{TARGET_ACCOUNT}:role/release-access"]
# A destination of each type, whose secrets (created by Terraform without a value) the stack points at
# the local chat receiver (local_aws/chat.py) once applied.
CHAT_DESTINATIONS = {"slack": {"type": "slack"}, "teams": {"type": "teams"}, "webhook": {"type": "webhook"}}
DEFAULT_VARIABLES = {
    "services": json.dumps(LOCAL_SERVICES),
    "custom_deployment_configs": json.dumps(CUSTOM_DEPLOYMENT_CONFIGS),
    "waiter_pipelines": json.dumps(WAITER_PIPELINES),
    "waiter_target_role_arns": json.dumps(WAITER_TARGET_ROLE_ARNS),
    "release_pipelines": json.dumps(RELEASE_PIPELINES),
    "release_target_role_arns": json.dumps(RELEASE_TARGET_ROLE_ARNS),
    "release_quiet_minutes": "1",
    "chat_destinations": json.dumps(CHAT_DESTINATIONS),
}
DEFAULT_SPEEDUP = 60.0


@dataclass
class LocalServer:
    """The local AWS of `local_aws.server` with the knobs of `LocalAws`, as the stack uses it."""

    url: str
    patches: LocalAws
    job_results: JobResults
    api_gateway: LocalApiGateway
    chat: ChatReceiver
    _stop: Callable[[], None]
    _restore_jobs: list[Any]

    @classmethod
    def start(cls, speedup: float = DEFAULT_SPEEDUP, completion_lag_seconds: float = 0.0) -> "LocalServer":
        patches = LocalAws(speedup=speedup, check_iam=True)
        patches.deployments.completion_lag_seconds = completion_lag_seconds
        job_results = JobResults()
        url, stop = start_local_aws(patches=patches)
        api_gateway = LocalApiGateway()
        api_gateway.start()
        chat = ChatReceiver().start()
        return cls(url, patches, job_results, api_gateway, chat, stop, job_results.patch_moto())

    def stop(self) -> None:
        """Stop the local AWS once no event is on its way to a function."""
        try:
            self.patches.wait_for_deliveries()
        finally:
            restore(self._restore_jobs)
            self.api_gateway.stop()
            self.chat.stop()
            self._stop()


@dataclass
class LocalStack:
    server: LocalServer
    terraform: LocalTerraform
    outputs: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def apply(cls, server: LocalServer, workdir: Path = DEFAULT_WORKDIR, variables: dict[str, str] | None = None, configuration: Path = ROOT) -> "LocalStack":
        """terraform init and apply of `configuration` (default: this repository's) against
        `server` (raises TerraformError on failure)."""
        terraform = LocalTerraform.prepare(server.url, workdir=workdir, variables=DEFAULT_VARIABLES | (variables or {}), configuration=configuration)
        seconds = {}
        for step, command in (("init", terraform.init), ("apply", terraform.apply)):
            started = time.monotonic()
            command()
            seconds[step] = time.monotonic() - started
        stack = cls(server, terraform, terraform.outputs(), seconds)
        stack.connect_chat()
        return stack

    @classmethod
    def up(cls, workdir: Path = DEFAULT_WORKDIR, variables: dict[str, str] | None = None, speedup: float = DEFAULT_SPEEDUP) -> "LocalStack":
        """Start a local AWS and apply the Terraform to it. The local AWS starts empty, so any state
        an earlier run left in `workdir` (e.g. one interrupted before its destroy) is discarded."""
        for state in ("terraform.tfstate", "terraform.tfstate.backup"):
            (workdir / state).unlink(missing_ok=True)
        server = LocalServer.start(speedup)
        try:
            return cls.apply(server, workdir, variables)
        except BaseException:
            server.stop()
            raise

    def connect_chat(self) -> None:
        """Put each chat destination's webhook URL, one of the local chat receiver, in the secret
        Terraform created for it, as a user does once after the first apply."""
        secrets = boto3.client("secretsmanager")
        for name, destination in (self.outputs.get("chat_destinations") or {}).items():
            secrets.put_secret_value(SecretId=destination["secret_arn"], SecretString=self.chat.url(name))

    @property
    def chat(self) -> ChatReceiver:
        """The local chat receiver: what Slack, Teams and the webhook would have received."""
        return self.server.chat

    @property
    def patches(self) -> LocalAws:
        return self.server.patches

    @property
    def endpoint(self) -> str:
        """The local AWS's URL, for clients outside this process (the AWS CLI's --endpoint-url)."""
        return self.server.url

    @property
    def speedup(self) -> float:
        """How many times faster than the wall clock traffic shifting and the waits run."""
        return self.patches.speedup

    # --- pushing commits ------------------------------------------------------------------------

    def service(self, name: str = DEFAULT_SERVICE) -> dict[str, Any]:
        """The `services` output's entry for service `name` (pipeline_name, functions, alias_name,
        codedeploy_application_name, ...); for a configuration of the single-application release,
        which has no such output, the same fields of its one application as `default`."""
        if "services" in self.outputs:
            return dict(self.outputs["services"][name])
        if name != DEFAULT_SERVICE:
            raise KeyError(f"the applied configuration has only the service {DEFAULT_SERVICE}")
        functions = {environment: {"function_name": self.outputs[f"{environment}_function_name"]} for environment in ENVIRONMENTS}
        return {key: self.outputs[key] for key in ("pipeline_name", "alias_name", "codedeploy_application_name")} | {"functions": functions}

    def push(self, source: Path, commit_id: str, service: str = DEFAULT_SERVICE) -> PipelineRun:
        """Run the service's pipeline for the files in `source` as commit `commit_id`, to its end."""
        # CodePipeline re-invokes an action with a continuation token for up to 24 hours.
        pipeline, results = self.service(service)["pipeline_name"], self.server.job_results
        return push_commit(pipeline, source, commit_id, results, continuation_interval_seconds=0.05, max_invocations=100_000)

    def in_progress_execution(self, commit_id: str | None = None, timeout_seconds: float = 30.0, service: str = DEFAULT_SERVICE) -> str:
        """The id of the pipeline's InProgress execution (of `commit_id`, once its Source action ran,
        if given; the newest if several), waiting up to `timeout_seconds` for one."""
        return codepipeline.in_progress_execution(self.service(service)["pipeline_name"], commit_id, timeout_seconds)

    def stop_pipeline_execution(self, execution_id: str, abandon: bool = False, reason: str | None = None, service: str = DEFAULT_SERVICE) -> None:
        """StopPipelineExecution: abandon the in-progress action, or let it finish (abandon=False)."""
        codepipeline.stop_execution(self.service(service)["pipeline_name"], execution_id, abandon, reason)

    def pipeline_execution(self, execution_id: str, service: str = DEFAULT_SERVICE) -> dict[str, Any]:
        """GetPipelineExecution: the execution's status, variables and trigger."""
        return codepipeline.get_execution(self.service(service)["pipeline_name"], execution_id)

    @property
    def release_api_url(self) -> str:
        """POST /releases of the applied release API, served by the local API Gateway."""
        return self.server.api_gateway.local_url(self.outputs["release_api_url"])

    @property
    def approval_api_url(self) -> str:
        """POST /approvals of the applied API, served by the local API Gateway."""
        return self.server.api_gateway.local_url(self.outputs["approval_api_url"])

    def run_schedule(self, rule_name: str) -> list[Delivery]:
        """Run the scheduled EventBridge rule `rule_name` now, as its schedule would (moto never does)."""
        _, _, _, region, account, _ = self.outputs["releases"]["state_machine_arn"].split(":", 5)
        return self.patches.event_deliveries.run_schedule(rule_name, account, region)

    def wait_for_deliveries(self, timeout_seconds: float = 60.0) -> list[Delivery]:
        """Block until no event is on its way to a Lambda function (EventBridge delivers in the
        background); every delivery so far, oldest first, with its status and the function's result."""
        return self.patches.wait_for_deliveries(timeout_seconds)

    # --- what a user would look at ------------------------------------------------------------

    @property
    def handler_functions(self) -> dict[str, str]:
        """Each platform handler's function name, as Terraform named it."""
        return dict(self.outputs["handler_function_names"])

    def live_versions(self, service: str = DEFAULT_SERVICE) -> dict[str, str]:
        """The version each environment's alias of the service points at."""
        return {environment: self._alias(service, environment)["FunctionVersion"] for environment in ENVIRONMENTS}

    def alias_routing(self, environment: str, service: str = DEFAULT_SERVICE) -> dict[str, float]:
        return dict(self._alias(service, environment).get("RoutingConfig", {}).get("AdditionalVersionWeights", {}))

    def _alias(self, service: str, environment: str) -> dict[str, Any]:
        described = self.service(service)
        return boto3.client("lambda").get_alias(FunctionName=described["functions"][environment]["function_name"], Name=described["alias_name"])  # type: ignore[no-any-return]

    @staticmethod
    def execution(run: PipelineRun) -> dict[str, Any] | None:
        """The state machine execution the run's Deploy action started (described), if any."""
        deploy = run.action("Deploy")
        if deploy is None or not deploy.external_execution_id:
            return None
        return boto3.client("stepfunctions").describe_execution(executionArn=deploy.external_execution_id)  # type: ignore[no-any-return]

    history = staticmethod(executions.history)
    states_entered = staticmethod(executions.states_entered)

    def record(self, commit_id: str, execution_name: str) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeDeserializer

        key = {"commit_id": {"S": commit_id}, "execution_name": {"S": execution_name}}
        item = boto3.client("dynamodb").get_item(TableName=self.outputs["deployments_table_name"], Key=key).get("Item", {})
        return {name: TypeDeserializer().deserialize(value) for name, value in item.items()}

    def notifications(self) -> list[dict[str, Any]]:
        """What was published to the notification topic, oldest first: the subject, the message an
        e-mail subscriber gets and, for the platform's notifications, the notification itself."""
        from moto.sns.models import sns_backends

        arn = self.outputs["notification_topic_arn"]
        _, _, _, region, account, _ = arn.split(":")
        topic = sns_backends[account][region].topics[arn]
        return [published(subject, message) for _, message, subject, *_ in topic.sent_notifications]

    def deployment_configs(self, service: str = DEFAULT_SERVICE) -> dict[str, dict[str, Any]]:
        """The CodeDeploy deployment config of each environment's deployment group of the service,
        as GetDeploymentConfig describes it (deploymentConfigName, trafficRoutingConfig, ...)."""
        codedeploy = boto3.client("codedeploy")
        application = self.service(service)["codedeploy_application_name"]
        configs = {}
        for environment in ENVIRONMENTS:
            group = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=environment)["deploymentGroupInfo"]
            configs[environment] = codedeploy.get_deployment_config(deploymentConfigName=group["deploymentConfigName"])["deploymentConfigInfo"]
        return configs

    def production_alarm(self, service: str = DEFAULT_SERVICE) -> str:
        group = boto3.client("codedeploy").get_deployment_group(applicationName=self.service(service)["codedeploy_application_name"], deploymentGroupName="production")
        return str(group["deploymentGroupInfo"]["alarmConfiguration"]["alarms"][0]["name"])

    # --- teardown -------------------------------------------------------------------------------

    def empty_buckets(self) -> None:
        """Delete every object version: the buckets are not force_destroy, so Terraform (like AWS)
        refuses to delete them with objects in."""
        s3 = boto3.client("s3")
        for output in ("artifact_bucket_name", "release_bucket_name", "source_bucket_name"):
            bucket = self.outputs.get(output)
            if not bucket:
                continue
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    s3.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])

    def destroy(self) -> None:
        self.wait_for_deliveries()  # no function runs while its resources are destroyed
        self.empty_buckets()
        started = time.monotonic()
        self.terraform.destroy()
        self.seconds["destroy"] = time.monotonic() - started

    def down(self) -> None:
        """Destroy, remove the generated provider override and stop the local AWS."""
        try:
            self.destroy()
        finally:
            self.terraform.close()
            self.server.stop()


def published(subject: str | None, message: str) -> dict[str, Any]:
    """A message published to the topic: with MessageStructure json (shared/notifications.py, the
    state machines), its e-mail text and its notification; otherwise the message as it is."""
    try:
        structure = json.loads(message)
        return {"subject": subject, "message": structure["email"], "notification": json.loads(structure["lambda"])}
    except (ValueError, KeyError, TypeError):
        return {"subject": subject, "message": message, "notification": None}


def app_commit(folder: Path, edits: Mapping[str, Callable[[str], str]] | None = None, app: Path = ROOT / "app") -> Path:
    """A commit of an application, by default the sample one: `app` copied into `folder`/app (the
    source root, as app/buildspec.yml expects), with `edits` (path under app/ -> function of the
    old text, "" for a new file) applied."""
    target = folder / "app"
    shutil.copytree(app, target, ignore=shutil.ignore_patterns("__pycache__", ".git", ".venv", ".pytest_cache", ".mypy_cache"))
    for name, edit in (edits or {}).items():
        path = target / name
        path.write_text(edit(path.read_text(encoding="utf-8") if path.exists() else ""), encoding="utf-8")
    return folder
