"""The real Terraform applied to the local AWS (tests/e2e/conftest.py): the resources exist as
configured, a plan after a deployment has nothing to change, and destroy finishes in bounded time."""

import io
import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from e2e.deployments import PREFIX, ROOT, AwsClient, new_version, push
from local_aws.stack import DEFAULT_SERVICE, RELEASE_PIPELINES, RELEASE_TARGET_ROLE_ARNS, SERVICE_APPS, LocalStack
from tools.lint_rendered import lint_state, missing_tools
from tools.package import HANDLERS

DESTROY_LIMIT_SECONDS = 120


def module_default(variable: str, field: str) -> str:
    """The default of `field` of modules/service's object variable `variable`, as the service
    module declares it (`optional(type, default)`)."""
    text = (ROOT / "modules" / "service" / "variables.tf").read_text(encoding="utf-8")
    body = text[text.index(f'variable "{variable}" {{') :]
    match = re.search(rf"^\s*{field}\s*=\s*optional\(\w+, \"?([^\")]+)\"?\)", body, flags=re.M)
    assert match, f"no default of {variable}.{field} in modules/service/variables.tf"
    return match.group(1)


def test_apply_creates_the_state_machine_with_the_handlers(stack: LocalStack, aws: AwsClient) -> None:
    arn = stack.outputs["state_machine_arn"]
    machine = aws("stepfunctions").describe_state_machine(stateMachineArn=arn)

    assert machine["name"] == f"{PREFIX}-deployment" and machine["type"] == "STANDARD"
    assert machine["tracingConfiguration"] == {"enabled": True}
    assert machine["loggingConfiguration"]["level"] == "ALL"
    assert machine["encryptionConfiguration"]["type"] == "CUSTOMER_MANAGED_KMS_KEY"
    definition = machine["definition"]
    assert "${" not in definition, "a templatefile() placeholder was left in the definition"
    functions = aws("lambda")
    for step in ("validate_code", "run_tests", "staging", "production", "rollback"):
        assert functions.get_function(FunctionName=stack.handler_functions[step])["Configuration"]["FunctionArn"] in definition, step
    assert stack.outputs["notification_topic_arn"] in definition
    assert stack.outputs["deployments_table_name"] in definition


def test_apply_creates_every_handler_with_its_environment(stack: LocalStack, aws: AwsClient) -> None:
    outputs, console = stack.outputs, "https://us-east-1.console.aws.amazon.com"
    registry = {"SERVICES_PARAMETER_PREFIX": f"/{PREFIX}/services/"}
    deploy = registry | {"RELEASE_BUCKET": outputs["release_bucket_name"], "DEPLOYMENTS_TABLE": outputs["deployments_table_name"]}
    expected = {
        "validate_code": registry,
        "run_tests": registry,
        "staging": deploy,
        "production": deploy,
        "rollback": registry | {"DEPLOYMENTS_TABLE": outputs["deployments_table_name"]},
        "waiter": registry
        | {
            "STATE_MACHINE_ARN": outputs["state_machine_arn"],
            "STOP_FUNCTION_NAME": stack.handler_functions["stop_deployment"],
            "PIPELINE_SESSION_NAME": outputs["pipeline_waiter"]["session_name"],
            "WAITER_ROLE_ARN": outputs["pipeline_waiter"]["role_arn"],
            "NOTIFICATION_TOPIC_ARN": outputs["notification_topic_arn"],
            "CONSOLE_URL": console,
        },
        "stop_deployment": {
            "STATE_MACHINE_ARN": outputs["state_machine_arn"],
            "ROLLBACK_FUNCTION_NAME": stack.handler_functions["rollback"],
            "DEPLOYMENTS_TABLE": outputs["deployments_table_name"],
            "NOTIFICATION_TOPIC_ARN": outputs["notification_topic_arn"],
            "CONSOLE_URL": console,
        },
        # The local stack's chat destinations (local_aws/stack.py), each with the secret Terraform made.
        "notifier": {
            "CHAT_DESTINATIONS": json.dumps(
                {name: {"secret_arn": destination["secret_arn"], "statuses": None, "type": destination["type"]} for name, destination in outputs["chat_destinations"].items()},
                separators=(",", ":"),
            ),
            "CHAT_FAILURES_QUEUE_URL": outputs["chat_failures"]["queue_url"],
            "DEPLOYMENTS_TABLE": outputs["deployments_table_name"],
            "CONSOLE_URL": console,
        },
    }
    releases = outputs["releases"]
    release_records = {"RELEASES_TABLE": releases["table_name"], "RELEASE_SESSION_NAME": outputs["pipeline_releases"]["session_name"]}
    expected |= {
        "release_intake": {
            "RELEASES_TABLE": releases["table_name"],
            "RELEASE_BUCKET": outputs["release_bucket_name"],
            "RELEASE_STATE_MACHINE_ARN": releases["state_machine_arn"],
            "RELEASE_PIPELINES": json.dumps(RELEASE_PIPELINES, separators=(",", ":")),
            "RELEASE_ROLE_ARNS": json.dumps(RELEASE_TARGET_ROLE_ARNS, separators=(",", ":")),
            "NOTIFICATION_TOPIC_ARN": outputs["notification_topic_arn"],
            "CONSOLE_URL": console,
        },
        "release_steps": release_records | {"CONSOLE_URL": console},
        "approval": registry
        | {
            "DEPLOYMENTS_TABLE": outputs["deployments_table_name"],
            "STATE_MACHINE_ARN": outputs["state_machine_arn"],
            "NOTIFICATION_TOPIC_ARN": outputs["notification_topic_arn"],
            "APPROVAL_API_URL": outputs["approval_api_url"],
            "CONSOLE_URL": console,
        },
        "release_events": release_records | {"RELEASE_QUIET_SECONDS": "60"},
    }

    assert sorted(stack.handler_functions) == sorted(HANDLERS) == sorted(expected)
    for step, name in stack.handler_functions.items():
        assert name.startswith(f"{PREFIX}-"), name
        configuration = aws("lambda").get_function(FunctionName=name)["Configuration"]
        assert configuration["Handler"] == "handler.handler", name
        assert configuration["TracingConfig"] == {"Mode": "Active"}, name
        assert len(configuration["Layers"]) == 1, name
        variables = configuration["Environment"]["Variables"]
        assert variables == {"POWERTOOLS_SERVICE_NAME": name, "POWERTOOLS_LOG_LEVEL": "INFO"} | expected[step], name


@pytest.mark.parametrize("service", sorted(SERVICE_APPS))
def test_apply_creates_each_services_functions_with_live_on_a_published_version(stack: LocalStack, aws: AwsClient, service: str) -> None:
    functions, described = aws("lambda"), stack.service(service)
    names = {environment: function["function_name"] for environment, function in described["functions"].items()}
    # The service keyed default keeps the names of the single-application release.
    prefix = PREFIX if service == DEFAULT_SERVICE else f"{PREFIX}-{service}"
    assert names == {"staging": f"{prefix}-app-staging", "production": f"{prefix}-app-production"}
    assert described["pipeline_name"] == f"{prefix}-pipeline"
    for name in names.values():
        alias = functions.get_alias(FunctionName=name, Name=described["alias_name"])
        assert alias["FunctionVersion"].isdigit(), f"{name}: live must point at a published version"
        assert functions.get_function(FunctionName=name)["Configuration"]["Handler"] == module_default("app", "handler")

    # The alias runs the code it was last given, in-process: the sample application's greeting.
    answer = functions.invoke(FunctionName=f"{names['staging']}:live", Payload=json.dumps({"name": "Ada"}))
    assert "statusCode" in json.loads(answer["Payload"].read())


def test_each_service_is_registered_with_exactly_its_own_targets(stack: LocalStack, aws: AwsClient) -> None:
    for service in SERVICE_APPS:
        described = stack.service(service)
        registered = json.loads(aws("ssm").get_parameter(Name=f"/{PREFIX}/services/{service}")["Parameter"]["Value"])
        assert registered["name"] == service and registered["pipeline_name"] == described["pipeline_name"]
        assert registered["codedeploy_application"] == described["codedeploy_application_name"]
        assert {environment: target["function_name"] for environment, target in registered["environments"].items()} == {
            environment: function["function_name"] for environment, function in described["functions"].items()
        }
        assert registered["deployment_timeout_seconds"] == 60


def test_apply_creates_the_deployment_groups_with_their_configs(stack: LocalStack, aws: AwsClient) -> None:
    codedeploy = aws("codedeploy")
    application = stack.service()["codedeploy_application_name"]
    for group in ("staging", "production"):
        info = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=group)["deploymentGroupInfo"]
        assert info["deploymentConfigName"] == module_default("deployment", f"{group}_config"), group
        assert info["deploymentStyle"] == {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}, group
        assert info["autoRollbackConfiguration"]["enabled"] is True, group
    production = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName="production")["deploymentGroupInfo"]
    assert production["alarmConfiguration"]["alarms"] == [{"name": f"{PREFIX}-production-errors"}]


@pytest.mark.parametrize("service", sorted(SERVICE_APPS))
def test_apply_creates_each_services_pipeline_source_build_deploy(stack: LocalStack, aws: AwsClient, service: str) -> None:
    pipeline = aws("codepipeline").get_pipeline(name=stack.service(service)["pipeline_name"])["pipeline"]

    assert [stage["name"] for stage in pipeline["stages"]] == ["Source", "Build", "Deploy"]
    assert pipeline["pipelineType"] == "V2" and pipeline["executionMode"] == "QUEUED"
    source, build, deploy = (stage["actions"][0] for stage in pipeline["stages"])
    assert source["actionTypeId"]["provider"] == "S3"
    assert source["configuration"]["S3Bucket"] == stack.outputs["source_bucket_name"]
    assert source["configuration"]["S3ObjectKey"] == stack.service(service)["source"]["object_key"]
    assert build["actionTypeId"]["provider"] == "CodeBuild"
    assert deploy["actionTypeId"]["provider"] == "Lambda"
    assert deploy["configuration"]["FunctionName"] == stack.handler_functions["waiter"]
    assert json.loads(deploy["configuration"]["UserParameters"])["service"] == service


def readme_resource_counts() -> tuple[int, Counter[str], Counter[str], str]:
    """The README's table of what `terraform apply` creates: the total it states for the defaults
    (one service), each resource type's count in the shared platform and in each service, and the
    text after the table (what other variables add)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## What `terraform apply` creates") :]
    total = re.search(r"(\d+) resources", section)
    assert total, "the README no longer says how many resources the defaults create"
    table, after = section.split("\n\n")[2], section.split("\n\n")[3]
    platform, service = Counter[str](), Counter[str]()
    for row in table.splitlines()[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) == 4, f"a row of the README's table has not 4 cells: {row}"
        for counts, cell in ((platform, cells[2]), (service, cells[3])):
            counts.update({name: int(count) for name, count in re.findall(r"`(aws_\w+)` ×(\d+)", cell)})
    return int(total.group(1)), platform, service, after


def managed_resource_type(address: str) -> str | None:
    """`module.a.aws_s3_bucket.this["x"]` -> aws_s3_bucket; a data source -> None."""
    parts = re.sub(r"\[[^\]]*\]", "", address).split(".")
    while parts[0] == "module":
        parts = parts[2:]
    return None if parts[0] == "data" else parts[0]


def test_the_readme_says_what_apply_creates(stack: LocalStack) -> None:
    listed = stack.terraform.run("state", "list").stdout.split()
    created = Counter(kind for kind in map(managed_resource_type, listed) if kind)
    in_services = Counter(kind for kind in map(managed_resource_type, (a for a in listed if a.startswith("module.service["))) if kind)
    total, platform, each_service, other_variables = readme_resource_counts()
    services = len(stack.outputs["services"])
    assert {name: in_services[name] for name in each_service} == {name: count * services for name, count in each_service.items()}
    # The stack's chat destinations add the notifier, which the README names below the table.
    notifier = Counter({"aws_lambda_function": 1, "aws_cloudwatch_log_group": 1, "aws_iam_role": 1, "aws_iam_role_policy": 1, "aws_lambda_permission": 1})
    assert all(f"`{name}`" in other_variables for name in notifier)
    assert {name: created[name] - in_services[name] - notifier[name] for name in platform} == dict(platform)
    # What the e2e stack's own variables add beyond the defaults is named below the table.
    documented = set(platform) | set(each_service)
    assert all(f"`{name}`" in other_variables for name in set(created) - documented), sorted(set(created) - documented)
    assert total == sum(platform.values()) + sum(each_service.values())


def test_a_plan_after_a_deployment_has_no_changes(stack: LocalStack, tmp_path: Path) -> None:
    outcome = push(stack, tmp_path, "plan0001", new_version("1.0.1"))
    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution.get("cause")

    started = time.monotonic()
    result = stack.terraform.plan()
    stack.seconds["plan"] = time.monotonic() - started
    # Terraform ignores the code and alias CodeDeploy moved: no revert, no redeploy.
    assert result.returncode == 0, f"terraform plan -detailed-exitcode exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"


def test_what_terraform_rendered_passes_the_linters(stack: LocalStack) -> None:
    """The rendered lint of `make lint` (tools/lint_rendered.py) on this stack's state: the state
    machine definition and every policy document exactly as the provider sent them."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"the rendered lint needs {', '.join(missing)} (make install)")
    state = json.loads(stack.terraform.run("show", "-json", "-no-color").stdout)
    report = io.StringIO()

    assert lint_state(state, report) == 0, report.getvalue()
    assert "0 with findings" in report.getvalue() and "policy document(s) checked" in report.getvalue()


@pytest.mark.destroys_stack
def test_destroy_completes_in_bounded_time(stack: LocalStack, aws: AwsClient) -> None:
    stack.destroy()

    assert stack.seconds["destroy"] < DESTROY_LIMIT_SECONDS
    machines = aws("stepfunctions").list_state_machines()["stateMachines"]
    assert stack.outputs["state_machine_arn"] not in [machine["stateMachineArn"] for machine in machines]
    for service in SERVICE_APPS:
        assert stack.service(service)["codedeploy_application_name"] not in aws("codedeploy").list_applications()["applications"]
        assert stack.service(service)["pipeline_name"] not in [pipeline["name"] for pipeline in aws("codepipeline").list_pipelines()["pipelines"]]
