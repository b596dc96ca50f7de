"""What `terraform plan` tells a user before anything is created: a bad aws_region or name_prefix,
or a bucket name S3 would refuse, stops the plan with a message that says why; so does every rule
a variable's validation checks, those across variables included (a source without the settings it
needs, a deployment config neither predefined nor custom). Valid Regions of every partition plan,
and the console URLs point at that partition's console. Custom deployment configs and the
production alarms reach the deployment groups and the IAM policies; the defaults create what they
always did. The waiter's pipeline mode (waiter_target_role_arns, waiter_pipelines) adds to the
waiter's policy exactly the roles and pipelines named, and nothing by default. The releases'
pipelines (release_pipelines, by default the services') and other accounts' roles
(release_target_role_arns) reach release_intake's allow-lists and the release handlers' policies
exactly, the roles with the releases' session name only.

The plans run with `terraform test` against a mocked AWS provider, in a copy of the
configuration: no AWS endpoint is involved.
"""

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

from local_aws.deployment_configs import PREDEFINED
from local_aws.terraform import ROOT, cli_config, copy_configuration, find_provider_mirror

# Its module's fixture runs `terraform test` once: every test of the module on one worker (make test-unit runs
# pytest-xdist with --dist loadgroup), not once on each.
pytestmark = pytest.mark.xdist_group("plan-checks")

HCL_OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)

MOCK_PROVIDER = """mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }

  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }

  # The roles check that their trust policy is JSON.
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\\"Version\\":\\"2012-10-17\\",\\"Statement\\":[]}" }
  }

  # An apply hands these ARNs to arguments the provider checks are ARNs; the state machine's
  # postcondition wants the ARN local.state_machine_arn builds.
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000" }
  }

  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mocked" }
  }

  mock_resource "aws_lambda_layer_version" {
    defaults = { arn = "arn:aws:lambda:us-east-1:123456789012:layer:mocked:1" }
  }

  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:us-east-1:123456789012:function:mocked" }
  }

  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:us-east-1:123456789012:rule/mocked" }
  }

  mock_resource "aws_codepipeline" {
    defaults = { arn = "arn:aws:codepipeline:us-east-1:123456789012:sls-cd-pipeline" }
  }

  mock_resource "aws_sfn_state_machine" {
    defaults = { arn = "arn:aws:states:us-east-1:123456789012:stateMachine:sls-cd-deployment" }
  }

  # The release API's Lambda permission names its execute-api ARN and the resource's path.
  mock_resource "aws_api_gateway_rest_api" {
    defaults = { id = "a1b2c3d4e5", execution_arn = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5" }
  }

  mock_resource "aws_api_gateway_resource" {
    defaults = { path = "/releases" }
  }
}
"""

# The ReleaseStateMachine's postcondition wants the ARN local.release_state_machine_arn builds
# (the mock's default is the deployment's).
RELEASE_STATE_MACHINE = """
  override_resource {
    target = aws_sfn_state_machine.release
    values = { arn = "arn:aws:states:us-east-1:123456789012:stateMachine:sls-cd-release" }
  }
"""

# Plans expected to fail: the variables of the run.
REJECTED = {
    "region_not_a_region_code": {"aws_region": "Mars"},
    "prefix_xn": {"name_prefix": "xn--deploy"},
    "prefix_sthree": {"name_prefix": "sthree-deploy"},
    "prefix_amzn_s3_demo": {"name_prefix": "amzn-s3-demo-cd"},
    "bucket_name_too_long": {"name_prefix": "a-twenty-char-prefix", "aws_region": "xx-somewhere-far-away-1"},
}

CANARY = 'canary-25-15 = { type = "TimeBasedCanary", percentage = 25, interval_minutes = 15 }'
LINEAR = 'linear-20-1 = { type = "TimeBasedLinear", percentage = 20, interval_minutes = 1 }'
CONNECTION_ARN = "arn:aws:codeconnections:us-east-1:123456789012:connection/00000000-0000-0000-0000-000000000000"
TARGET_ROLE = "arn:aws:iam::111111111111:role/pipeline-waiter-access"
RELEASE_ROLE = "arn:aws:iam::111111111111:role/pipeline-release-access"


class HCL(str):
    """A variable's value written as an HCL expression rather than as a string."""


def hcl_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def custom(*entries: str) -> HCL:
    return HCL("{ " + ", ".join(entries) + " }")


def shape(kind: str, percentage: str, interval: str) -> str:
    return f'{{ type = "{kind}", percentage = {percentage}, interval_minutes = {interval} }}'


# Plans a variable's validation stops: (variables, that variable, a phrase of its failing rule's message).
INVALID: dict[str, tuple[dict[str, str], str, str]] = {
    "staging_config_not_predefined": ({"staging_deployment_config": "CodeDeployDefault.LambdaCanary5Percent1Minute"}, "deployment", "must each be a predefined"),
    "production_config_not_a_custom_key": (
        {"custom_deployment_configs": custom(CANARY), "production_deployment_config": "canary-10-5"},
        "deployment",
        "must each be a predefined",
    ),
    "custom_key_with_a_space": ({"custom_deployment_configs": custom(f'"canary 25" = {shape("TimeBasedCanary", "25", "15")}')}, "custom_deployment_configs", "a key may hold"),
    "custom_key_like_a_predefined_name": (
        {"custom_deployment_configs": custom(f'"CodeDeployDefault.Mine" = {shape("TimeBasedCanary", "25", "15")}')},
        "custom_deployment_configs",
        "a key may hold",
    ),
    "custom_name_over_100_characters": ({"custom_deployment_configs": custom(f"{'k' * 94} = {shape('TimeBasedCanary', '25', '15')}")}, "custom_deployment_configs", "a key may hold"),
    "custom_type_all_at_once": ({"custom_deployment_configs": custom(f"all = {shape('AllAtOnce', '50', '1')}")}, "custom_deployment_configs", "type must be"),
    "custom_percentage_zero": ({"custom_deployment_configs": custom(f"zero = {shape('TimeBasedLinear', '0', '1')}")}, "custom_deployment_configs", "percentage must be"),
    "custom_percentage_100": ({"custom_deployment_configs": custom(f"full = {shape('TimeBasedCanary', '100', '1')}")}, "custom_deployment_configs", "percentage must be"),
    "custom_percentage_fraction": ({"custom_deployment_configs": custom(f"half = {shape('TimeBasedCanary', '12.5', '1')}")}, "custom_deployment_configs", "percentage must be"),
    "custom_interval_zero": ({"custom_deployment_configs": custom(f"now = {shape('TimeBasedCanary', '10', '0')}")}, "custom_deployment_configs", "interval_minutes must be"),
    "custom_canary_over_48_hours": ({"custom_deployment_configs": custom(f"slow = {shape('TimeBasedCanary', '10', '2881')}")}, "custom_deployment_configs", "at most 2880 minutes"),
    # 1 % a step: the last of 100 steps comes 99 × 30 = 2970 minutes after the first.
    "custom_linear_over_48_hours": ({"custom_deployment_configs": custom(f"slow = {shape('TimeBasedLinear', '1', '30')}")}, "custom_deployment_configs", "at most 2880 minutes"),
    "alarm_threshold_zero": ({"production_error_alarm": HCL("{ threshold = 0 }")}, "production_error_alarm", "threshold must be"),
    "alarm_period_high_resolution": ({"production_error_alarm": HCL("{ period_seconds = 30 }")}, "production_error_alarm", "period_seconds must be"),
    "alarm_period_not_whole_minutes": ({"production_error_alarm": HCL("{ period_seconds = 90 }")}, "production_error_alarm", "period_seconds must be"),
    "alarm_evaluation_periods_zero": ({"production_error_alarm": HCL("{ evaluation_periods = 0 }")}, "production_error_alarm", "evaluation_periods must be"),
    "alarm_evaluation_periods_fraction": ({"production_error_alarm": HCL("{ evaluation_periods = 1.5 }")}, "production_error_alarm", "evaluation_periods must be"),
    "alarm_over_a_day_of_minutes": ({"production_error_alarm": HCL("{ period_seconds = 60, evaluation_periods = 1441 }")}, "production_error_alarm", "at most 86400"),
    "alarm_over_seven_days_of_hours": ({"production_error_alarm": HCL("{ period_seconds = 3600, evaluation_periods = 169 }")}, "production_error_alarm", "at most 86400"),
    "approval_without_approvers": ({"production_approval": HCL("{ required = true }")}, "production_approval", "approvers is empty"),
    "approver_not_an_arn": ({"production_approval": HCL('{ required = true, approvers = ["release-managers"] }')}, "production_approval", "must be at most 50 ARNs"),
    "approval_over_12_hours": (
        {"production_approval": HCL('{ required = true, approvers = ["arn:aws:iam::123456789012:role/release-managers"], timeout_minutes = 721 }')},
        "production_approval",
        "from 1 to 720",
    ),
    "rollback_alarms_over_nine": ({"production_rollback_alarms": HCL("[" + ", ".join(f'"alarm-{n}"' for n in range(10)) + "]")}, "production_rollback_alarms", "at most 9"),
    "rollback_alarm_with_a_wildcard": ({"production_rollback_alarms": HCL('["latency-*"]')}, "production_rollback_alarms", "without * or ?"),
    "rollback_alarm_twice": ({"production_rollback_alarms": HCL('["latency", "latency"]')}, "production_rollback_alarms", "each alarm once"),
    "services_key_not_lowercase": ({"services": HCL("{ Orders = {} }")}, "services", "each key must be"),
    "services_with_a_single_service_variable": ({"services": HCL("{ orders = {} }"), "app_handler": "src/app.handler"}, "services", "and so is a single-service variable"),
    "services_sharing_a_source_object": ({"services": HCL("{ default = {}, orders = {} }")}, "services", "have the same pipeline_source.object_key"),
    "services_entry_with_an_unknown_config": (
        {"services": HCL('{ orders = { deployment = { production_config = "canary-10-5" } } }')},
        "deployment",
        "must each be a predefined",
    ),
    "services_entry_with_a_codecommit_source_without_repository": (
        {"services": HCL('{ orders = { pipeline_source = { provider = "CodeCommit" } } }')},
        "pipeline_source",
        "needs repository_name",
    ),
    "rollback_alarm_is_the_error_alarm": ({"production_rollback_alarms": HCL('["sls-cd-production-errors"]')}, "production_rollback_alarms", "each alarm once"),
    "staging_and_production_one_function": (
        {"existing_staging_function_name": "my-service", "existing_production_function_name": "my-service"},
        "app",
        "name the same function",
    ),
    "codecommit_without_repository_name": ({"source_provider": "CodeCommit"}, "pipeline_source", "needs repository_name"),
    "connection_without_connection_arn": ({"source_provider": "CodeStarSourceConnection", "repository_id": "my-org/my-service"}, "pipeline_source", "needs connection_arn"),
    "connection_without_repository_id": ({"source_provider": "CodeStarSourceConnection", "connection_arn": CONNECTION_ARN}, "pipeline_source", "needs repository_id"),
    "waiter_target_role_with_a_wildcard": ({"waiter_target_role_arns": HCL('["arn:aws:iam::111111111111:role/*"]')}, "waiter_target_role_arns", "each must be the ARN of an IAM role"),
    "waiter_target_not_a_role": ({"waiter_target_role_arns": HCL('["arn:aws:iam::111111111111:user/deployer"]')}, "waiter_target_role_arns", "each must be the ARN of an IAM role"),
    "waiter_target_role_twice": (
        {"waiter_target_role_arns": HCL(f'["{TARGET_ROLE}", "{TARGET_ROLE}"]')},
        "waiter_target_role_arns",
        "each role once",
    ),
    "waiter_pipeline_name_with_a_wildcard": ({"waiter_pipelines": HCL('{ "api*" = {} }')}, "waiter_pipelines", "each key must be a pipeline name"),
    "waiter_pipeline_name_over_100_characters": ({"waiter_pipelines": HCL(f'{{ "{"p" * 101}" = {{}} }}')}, "waiter_pipelines", "each key must be a pipeline name"),
    "release_pipeline_with_a_wildcard": ({"release_pipelines": HCL('["api-*"]')}, "release_pipelines", "each entry must be a pipeline name"),
    "release_pipeline_over_100_characters": ({"release_pipelines": HCL(f'["{"p" * 101}"]')}, "release_pipelines", "each entry must be a pipeline name"),
    "release_pipeline_twice": ({"release_pipelines": HCL('["api", "web", "api"]')}, "release_pipelines", "a pipeline is listed twice"),
    # 150 names of 25 characters: over 2,500 characters as JSON, each name valid and listed once.
    "release_pipelines_over_release_intakes_environment": (
        {"release_pipelines": HCL(hcl_list([f"release-pipeline-{n:08d}" for n in range(150)]))},
        "release_pipelines",
        "longer than 2,500 characters",
    ),
    "release_target_role_with_a_wildcard": (
        {"release_target_role_arns": HCL('["arn:aws:iam::111111111111:role/*"]')},
        "release_target_role_arns",
        "each entry must be an exact IAM role ARN",
    ),
    "release_target_not_a_role": (
        {"release_target_role_arns": HCL('["arn:aws:iam::111111111111:user/deployer"]')},
        "release_target_role_arns",
        "each entry must be an exact IAM role ARN",
    ),
    "release_target_role_twice": ({"release_target_role_arns": HCL(f'["{RELEASE_ROLE}", "{RELEASE_ROLE}"]')}, "release_target_role_arns", "a role is listed twice"),
    "release_quiet_minutes_zero": ({"release_quiet_minutes": HCL("0")}, "release_quiet_minutes", "a whole number of minutes from 1 to 60"),
    "release_quiet_minutes_over_an_hour": ({"release_quiet_minutes": HCL("61")}, "release_quiet_minutes", "a whole number of minutes from 1 to 60"),
    "release_quiet_minutes_fraction": ({"release_quiet_minutes": HCL("2.5")}, "release_quiet_minutes", "a whole number of minutes from 1 to 60"),
}

# The waiter's policy document: its own statements, which the pipeline mode's join only when asked.
WAITER_STATEMENTS = ["StartDeployment", "FollowDeployments", "StopDeployments", "ReportJobResult"]
WAITER_SIDS = "[for s in data.aws_iam_policy_document.waiter.statement : s.sid]"
PIPELINES = "arn:aws:codepipeline:us-east-1:123456789012"


def waiter_statement(sid: str) -> str:
    return f'one([for s in data.aws_iam_policy_document.waiter.statement : s if s.sid == "{sid}"])'


# The releases' policy documents: release_steps' own statements, and those release_steps and
# release_events share for following the releases' pipelines (in this account, and through the
# roles of others), which only the pipelines and roles named add.
def sids(document: str) -> str:
    return f"[for s in data.aws_iam_policy_document.{document}.statement : s.sid]"


def statement(document: str, sid: str) -> str:
    return f'one([for s in data.aws_iam_policy_document.{document}.statement : s if s.sid == "{sid}"])'


def release_environment(handler: str) -> str:
    return f'aws_lambda_function.handler["{handler}"].environment[0].variables'


RELEASE_PIPELINE_ACTIONS = '["codepipeline:GetPipelineExecution", "codepipeline:ListActionExecutions", "codepipeline:ListPipelineExecutions"]'


# Applies of the root configuration against the mocked provider: the run's variables, and what must
# then hold (of the root's resources and outputs: a run sees no resource inside a module).
APPLIED = {
    # With the defaults, nothing more than before the custom configs and alarms existed.
    "defaults": (
        {},
        [
            "length(aws_codedeploy_deployment_config.custom) == 0",
            'keys(output.services) == ["default"]',
            'output.services["default"].deployment_config_names == { staging = "CodeDeployDefault.LambdaAllAtOnce", production = "CodeDeployDefault.LambdaCanary10Percent5Minutes" }',
            'output.services["default"].production_error_alarm_name == "sls-cd-production-errors"',
            'output.services["default"].registration_parameter_name == "/sls-cd/services/default"',
            'output.pipeline_name == "sls-cd-pipeline"',
            'output.staging_function_name == "sls-cd-app-staging"',
            "length(aws_s3_bucket.this) == 3",
            # The waiter's pipeline mode adds nothing to its policy, and only its environment.
            f"{WAITER_SIDS} == {hcl_list(WAITER_STATEMENTS)}",
            'aws_lambda_function.handler["waiter"].environment[0].variables.PIPELINE_SESSION_NAME == "pipeline-waiter"',
            'aws_lambda_function.handler["waiter"].environment[0].variables.WAITER_ROLE_ARN == aws_iam_role.handler["waiter"].arn',
            'alltrue([for key, function in aws_lambda_function.handler : !contains(keys(function.environment[0].variables), "PIPELINE_SESSION_NAME") if key != "waiter"])',
            'output.pipeline_waiter == { function_name = "sls-cd-waiter", role_arn = aws_iam_role.handler["waiter"].arn, session_name = "pipeline-waiter" }',
            # Releases may name the service's pipeline, in this account only.
            'output.releases.pipelines == tolist(["sls-cd-pipeline"])',
            f'{release_environment("release_intake")}.RELEASE_PIPELINES == jsonencode(["sls-cd-pipeline"])',
            f'{release_environment("release_intake")}.RELEASE_ROLE_ARNS == "[]"',
            f"{release_environment('release_intake')}.RELEASE_STATE_MACHINE_ARN == aws_sfn_state_machine.release.arn",
            f'{sids("follow_release_pipelines")} == ["FollowReleasePipelines"]',
            f"{statement('follow_release_pipelines', 'FollowReleasePipelines')}.actions == toset({RELEASE_PIPELINE_ACTIONS})",
            f'{statement("follow_release_pipelines", "FollowReleasePipelines")}.resources == toset(["{PIPELINES}:sls-cd-pipeline"])',
            f'{sids("release_steps")} == ["RecordReleases", "StartAndStopReleasePipelines"]',
            f'{statement("release_steps", "StartAndStopReleasePipelines")}.actions == toset(["codepipeline:StartPipelineExecution", "codepipeline:StopPipelineExecution"])',
            f'{statement("release_steps", "StartAndStopReleasePipelines")}.resources == toset(["{PIPELINES}:sls-cd-pipeline"])',
            # The session name is release_steps' and release_events' only, and the one the output hands modules/pipeline-access.
            f'{release_environment("release_steps")}.RELEASE_SESSION_NAME == "pipeline-release" && {release_environment("release_events")}.RELEASE_SESSION_NAME == "pipeline-release"',
            'alltrue([for key, function in aws_lambda_function.handler : !contains(keys(function.environment[0].variables), "RELEASE_SESSION_NAME") if !contains(["release_steps", "release_events"], key)])',
            'output.pipeline_releases == { role_arns = [aws_iam_role.handler["release_steps"].arn, aws_iam_role.handler["release_events"].arn], session_name = "pipeline-release" }',
            f'{release_environment("release_events")}.RELEASE_QUIET_SECONDS == "300"',
            'aws_cloudwatch_event_rule.release_sweep.schedule_expression == "rate(1 minute)"',
            # The API invokes release_intake for POST /releases only, and a caller may invoke that alone.
            'aws_lambda_permission.release_api.source_arn == "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/*/POST/releases"',
            'one(data.aws_iam_policy_document.release_api_invoke.statement).resources == toset(["arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/v1/POST/releases"])',
            'aws_api_gateway_method.submit_release.authorization == "AWS_IAM"',
        ],
    ),
    # Pipelines named, two of them, and roles of other accounts: each reaches release_intake's
    # allow-lists and the policies exactly, the roles only with the releases' session name.
    "releases_of_named_pipelines_and_other_accounts": (
        {
            "release_pipelines": HCL('["api", "web"]'),
            "release_target_role_arns": HCL(f'["{RELEASE_ROLE}", "arn:aws:iam::222222222222:role/platform/release-access"]'),
            "release_quiet_minutes": HCL("10"),
        },
        [
            'output.releases.pipelines == tolist(["api", "web"])',
            f'{release_environment("release_intake")}.RELEASE_PIPELINES == jsonencode(["api", "web"])',
            f'{release_environment("release_intake")}.RELEASE_ROLE_ARNS == jsonencode(["{RELEASE_ROLE}", "arn:aws:iam::222222222222:role/platform/release-access"])',
            f'{sids("follow_release_pipelines")} == ["FollowReleasePipelines", "AssumeReleaseAccessRoles"]',
            f'{statement("follow_release_pipelines", "FollowReleasePipelines")}.resources == toset(["{PIPELINES}:api", "{PIPELINES}:web"])',
            f'{statement("follow_release_pipelines", "AssumeReleaseAccessRoles")}.actions == toset(["sts:AssumeRole"])',
            f'{statement("follow_release_pipelines", "AssumeReleaseAccessRoles")}.resources == toset(["{RELEASE_ROLE}", "arn:aws:iam::222222222222:role/platform/release-access"])',
            f'one({statement("follow_release_pipelines", "AssumeReleaseAccessRoles")}.condition).test == "StringEquals"',
            f'one({statement("follow_release_pipelines", "AssumeReleaseAccessRoles")}.condition).variable == "sts:RoleSessionName"',
            f'one({statement("follow_release_pipelines", "AssumeReleaseAccessRoles")}.condition).values == tolist(["pipeline-release"])',
            f'{statement("release_steps", "StartAndStopReleasePipelines")}.resources == toset(["{PIPELINES}:api", "{PIPELINES}:web"])',
            f'{release_environment("release_events")}.RELEASE_QUIET_SECONDS == "600"',
            # The waiter's pipeline mode is another matter: nothing of it.
            f"{WAITER_SIDS} == {hcl_list(WAITER_STATEMENTS)}",
        ],
    ),
    # No pipeline of this account: nothing of it to follow, start or stop; the other account's role alone.
    "releases_through_other_accounts_only": (
        {"release_pipelines": HCL("[]"), "release_target_role_arns": HCL(f'["{RELEASE_ROLE}"]')},
        [
            "length(output.releases.pipelines) == 0",
            f'{release_environment("release_intake")}.RELEASE_PIPELINES == "[]"',
            f'{sids("follow_release_pipelines")} == ["AssumeReleaseAccessRoles"]',
            f'{statement("follow_release_pipelines", "AssumeReleaseAccessRoles")}.resources == toset(["{RELEASE_ROLE}"])',
            f'{sids("release_steps")} == ["RecordReleases"]',
        ],
    ),
    # Roles of two other accounts, and two pipelines of this one, one of which may be started.
    "waiter_pipeline_mode": (
        {
            "waiter_target_role_arns": HCL(f'["{TARGET_ROLE}", "arn:aws:iam::222222222222:role/platform/platform-waiter"]'),
            "waiter_pipelines": HCL('{ api = { start = true }, "nightly-tests" = {} }'),
        },
        [
            f"{WAITER_SIDS} == {hcl_list([*WAITER_STATEMENTS, 'AssumePipelineAccessRoles', 'FollowPipelines', 'StartPipelines'])}",
            f'{waiter_statement("AssumePipelineAccessRoles")}.actions == toset(["sts:AssumeRole"])',
            f'{waiter_statement("AssumePipelineAccessRoles")}.resources == toset(["{TARGET_ROLE}", "arn:aws:iam::222222222222:role/platform/platform-waiter"])',
            f'one({waiter_statement("AssumePipelineAccessRoles")}.condition).test == "StringEquals"',
            f'one({waiter_statement("AssumePipelineAccessRoles")}.condition).variable == "sts:RoleSessionName"',
            f'one({waiter_statement("AssumePipelineAccessRoles")}.condition).values == tolist(["pipeline-waiter"])',
            f'{waiter_statement("FollowPipelines")}.actions == toset(["codepipeline:GetPipelineExecution", "codepipeline:ListActionExecutions", "codepipeline:ListPipelineExecutions"])',
            f'{waiter_statement("FollowPipelines")}.resources == toset(["{PIPELINES}:api", "{PIPELINES}:nightly-tests"])',
            f'{waiter_statement("StartPipelines")}.actions == toset(["codepipeline:StartPipelineExecution"])',
            f'{waiter_statement("StartPipelines")}.resources == toset(["{PIPELINES}:api"])',
            f'{waiter_statement("ReportJobResult")}.resources == toset(["*"])',
        ],
    ),
    # Nothing to start: no StartPipelines statement at all.
    "waiter_pipeline_mode_read_only": (
        {"waiter_target_role_arns": HCL(f'["{TARGET_ROLE}"]'), "waiter_pipelines": HCL('{ "nightly-tests" = {} }')},
        [
            f"{WAITER_SIDS} == {hcl_list([*WAITER_STATEMENTS, 'AssumePipelineAccessRoles', 'FollowPipelines'])}",
            f'{waiter_statement("AssumePipelineAccessRoles")}.resources == toset(["{TARGET_ROLE}"])',
            f'{waiter_statement("FollowPipelines")}.resources == toset(["{PIPELINES}:nightly-tests"])',
        ],
    ),
    "custom_configs": (
        {"custom_deployment_configs": custom(CANARY, LINEAR), "staging_deployment_config": "linear-20-1", "production_deployment_config": "canary-25-15"},
        [
            'aws_codedeploy_deployment_config.custom["canary-25-15"].deployment_config_name == "sls-cd-canary-25-15"',
            'aws_codedeploy_deployment_config.custom["canary-25-15"].compute_platform == "Lambda"',
            'aws_codedeploy_deployment_config.custom["canary-25-15"].traffic_routing_config[0].type == "TimeBasedCanary"',
            'aws_codedeploy_deployment_config.custom["canary-25-15"].traffic_routing_config[0].time_based_canary[0].percentage == 25',
            'aws_codedeploy_deployment_config.custom["canary-25-15"].traffic_routing_config[0].time_based_canary[0].interval == 15',
            'length(aws_codedeploy_deployment_config.custom["canary-25-15"].traffic_routing_config[0].time_based_linear) == 0',
            'aws_codedeploy_deployment_config.custom["linear-20-1"].traffic_routing_config[0].type == "TimeBasedLinear"',
            'aws_codedeploy_deployment_config.custom["linear-20-1"].traffic_routing_config[0].time_based_linear[0].percentage == 20',
            'aws_codedeploy_deployment_config.custom["linear-20-1"].traffic_routing_config[0].time_based_linear[0].interval == 1',
            'output.services["default"].deployment_config_names == { staging = "sls-cd-linear-20-1", production = "sls-cd-canary-25-15" }',
        ],
    ),
    # No service takes its source from S3: no source bucket, unless create_source_bucket asks for one.
    "codecommit_source": (
        {"source_provider": "CodeCommit", "repository_name": "my-service"},
        ["length(aws_s3_bucket.this) == 2", "output.source_bucket_name == null", 'output.services["default"].source.provider == "CodeCommit"'],
    ),
    "codecommit_source_with_a_source_bucket": (
        {"source_provider": "CodeCommit", "repository_name": "my-service", "create_source_bucket": HCL("true")},
        ["length(aws_s3_bucket.this) == 3", "output.source_bucket_name != null", 'output.services["default"].source.bucket == null'],
    ),
    "two_services": (
        {
            "services": HCL(
                '{ default = {}, orders = { pipeline_source = { object_key = "orders/source.zip" }, deployment = { production_config = "CodeDeployDefault.LambdaAllAtOnce" },'
                ' production_approval = { required = true, approvers = ["arn:aws:iam::123456789012:role/release-managers"] } } }'
            )
        },
        [
            'output.services["default"].functions.staging.function_name == "sls-cd-app-staging"',
            'output.services["default"].pipeline_name == "sls-cd-pipeline"',
            'output.services["orders"].functions.production.function_name == "sls-cd-orders-app-production"',
            'output.services["orders"].pipeline_name == "sls-cd-orders-pipeline"',
            'output.services["orders"].codedeploy_application_name == "sls-cd-orders-app"',
            'output.services["orders"].registration_parameter_name == "/sls-cd/services/orders"',
            'output.services["orders"].source == { provider = "S3", bucket = output.source_bucket_name, object_key = "orders/source.zip" }',
            'output.services["orders"].deployment_config_names.production == "CodeDeployDefault.LambdaAllAtOnce"',
            'output.services["default"].deployment_config_names.production == "CodeDeployDefault.LambdaCanary10Percent5Minutes"',
            # The shared platform once: one deployment state machine, eleven handlers (the deployment's
            # seven, the approval handler, the releases' three), three buckets; releases may name
            # either service's pipeline.
            "length(aws_lambda_function.handler) == 11 && length(aws_s3_bucket.this) == 3",
            # Only orders waits for a decision before production, for the default hour.
            'output.approvals.services["orders"].required && output.approvals.services["orders"].timeout_minutes == 60',
            'output.approvals.services["orders"].approvers == tolist(["arn:aws:iam::123456789012:role/release-managers"])',
            '!output.approvals.services["default"].required',
            'output.releases.pipelines == tolist(["sls-cd-pipeline", "sls-cd-orders-pipeline"])',
            f'{statement("release_steps", "StartAndStopReleasePipelines")}.resources == toset(["{PIPELINES}:sls-cd-pipeline", "{PIPELINES}:sls-cd-orders-pipeline"])',
        ],
    ),
}

PLATFORM = """{
      name_prefix               = "sls-cd"
      region                    = "us-east-1"
      account_id                = "123456789012"
      partition                 = "aws"
      dns_suffix                = "amazonaws.com"
      kms_key_arn               = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
      artifact_bucket_name      = "sls-cd-artifacts"
      artifact_bucket_arn       = "arn:aws:s3:::sls-cd-artifacts"
      release_bucket_arn        = "arn:aws:s3:::sls-cd-releases"
      source_bucket_name        = "sls-cd-source"
      source_bucket_arn         = "arn:aws:s3:::sls-cd-source"
      services_parameter_prefix = "/sls-cd/services/"
      state_machine_arn         = "arn:aws:states:us-east-1:123456789012:stateMachine:sls-cd-deployment"
      waiter_function_name      = "sls-cd-waiter"
      waiter_function_arn       = "arn:aws:lambda:us-east-1:123456789012:function:sls-cd-waiter"
      handler_role_arns         = { for handler, role in { run_tests = "run-tests", staging = "deploy-staging", production = "deploy-production", rollback = "rollback", waiter = "waiter" } : handler => "arn:aws:iam::123456789012:role/sls-cd-${role}-role" }
      lambda_runtime            = "python3.12"
      lambda_architecture       = "arm64"
      log_retention_days        = 30
      deployment_config_names   = { canary-25-15 = "sls-cd-canary-25-15", linear-20-1 = "sls-cd-linear-20-1" }
    }"""
SERVICE = {"name": "orders", "platform": HCL(PLATFORM), "app": HCL('{ initial_package = "build/app.zip" }')}

# Applies of modules/service alone against the mocked provider: what one service's resources and
# policies hold.
MODULE_APPLIED = {
    "service_defaults": (
        SERVICE,
        [
            'aws_lambda_function.app["staging"].function_name == "sls-cd-orders-app-staging"',
            'aws_codepipeline.this.name == "sls-cd-orders-pipeline"',
            'aws_codedeploy_deployment_group.environment["staging"].deployment_config_name == "CodeDeployDefault.LambdaAllAtOnce"',
            'aws_codedeploy_deployment_group.environment["production"].deployment_config_name == "CodeDeployDefault.LambdaCanary10Percent5Minutes"',
            'aws_codedeploy_deployment_group.environment["production"].alarm_configuration[0].alarms == toset(["sls-cd-orders-production-errors"])',
            'length(aws_codedeploy_deployment_group.environment["staging"].alarm_configuration) == 0',
            "aws_cloudwatch_metric_alarm.production_errors.threshold == 1",
            "aws_cloudwatch_metric_alarm.production_errors.period == 60",
            "aws_cloudwatch_metric_alarm.production_errors.evaluation_periods == 1",
            'one([for s in data.aws_iam_policy_document.deploy["production"].statement : s.resources if s.sid == "ReadOwnDeploymentConfig"]) == toset(["arn:aws:codedeploy:us-east-1:123456789012:deploymentconfig:CodeDeployDefault.LambdaCanary10Percent5Minutes"])',
            'one([for s in data.aws_iam_policy_document.deploy["staging"].statement : s.resources if s.sid == "ReadOwnReleases"]) == toset(["arn:aws:s3:::sls-cd-releases/orders/staging/*"])',
            'length(one([for s in data.aws_iam_policy_document.codedeploy.statement : s.resources if s.sid == "ReadRollbackAlarm"])) == 1',
            'aws_ssm_parameter.registration.name == "/sls-cd/services/orders"',
            'jsondecode(nonsensitive(aws_ssm_parameter.registration.value)).environments.production.function_name == "sls-cd-orders-app-production"',
            # One access role per handler that touches a service's resources, under the platform's
            # path, which only that handler's role may assume.
            'toset(keys(aws_iam_role.access)) == toset(["production", "rollback", "run_tests", "staging", "waiter"])',
            'aws_iam_role.access["staging"].name == "sls-cd-orders-staging-access" && aws_iam_role.access["staging"].path == "/sls-cd/services/"',
            'aws_iam_role.access["run_tests"].name == "sls-cd-orders-run-tests-access"',
            'one(one(data.aws_iam_policy_document.access_trust["staging"].statement).principals).identifiers == toset(["arn:aws:iam::123456789012:role/sls-cd-deploy-staging-role"])',
            'alltrue([for policy in aws_iam_role_policy.access : policy.name == "service-orders"])',
            'jsondecode(nonsensitive(aws_ssm_parameter.registration.value)).access_roles.rollback == aws_iam_role.access["rollback"].arn',
        ],
    ),
    "service_custom_configs": (
        SERVICE | {"deployment": HCL('{ staging_config = "linear-20-1", production_config = "canary-25-15" }')},
        [
            'aws_codedeploy_deployment_group.environment["staging"].deployment_config_name == "sls-cd-linear-20-1"',
            'aws_codedeploy_deployment_group.environment["production"].deployment_config_name == "sls-cd-canary-25-15"',
            'one([for s in data.aws_iam_policy_document.deploy["staging"].statement : s.resources if s.sid == "ReadOwnDeploymentConfig"]) == toset(["arn:aws:codedeploy:us-east-1:123456789012:deploymentconfig:sls-cd-linear-20-1"])',
            'one([for s in data.aws_iam_policy_document.deploy["production"].statement : s.resources if s.sid == "ReadOwnDeploymentConfig"]) == toset(["arn:aws:codedeploy:us-east-1:123456789012:deploymentconfig:sls-cd-canary-25-15"])',
        ],
    ),
    "service_production_alarms": (
        SERVICE
        | {
            "production_error_alarm": HCL("{ threshold = 3, period_seconds = 300, evaluation_periods = 2 }"),
            "production_rollback_alarms": HCL('["sls-cd-latency", "checkout-errors"]'),
        },
        [
            "aws_cloudwatch_metric_alarm.production_errors.threshold == 3",
            "aws_cloudwatch_metric_alarm.production_errors.period == 300",
            "aws_cloudwatch_metric_alarm.production_errors.evaluation_periods == 2",
            'aws_codedeploy_deployment_group.environment["production"].alarm_configuration[0].alarms == toset(["sls-cd-orders-production-errors", "sls-cd-latency", "checkout-errors"])',
            'length(aws_codedeploy_deployment_group.environment["staging"].alarm_configuration) == 0',
            'one([for s in data.aws_iam_policy_document.codedeploy.statement : s.resources if s.sid == "ReadRollbackAlarm"]) == toset([aws_cloudwatch_metric_alarm.production_errors.arn, "arn:aws:cloudwatch:us-east-1:123456789012:alarm:sls-cd-latency", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-errors"])',
        ],
    ),
}

# Plans expected to pass: (variables, partition, host the console URLs use or None for no URL).
ACCEPTED = {
    "commercial": ({"aws_region": "us-east-1"}, "aws", "us-east-1.console.aws.amazon.com"),
    "govcloud": ({"aws_region": "us-gov-west-1"}, "aws-us-gov", "console.amazonaws-us-gov.com"),
    "china": ({"aws_region": "cn-north-1"}, "aws-cn", "console.amazonaws.cn"),
    "european_sovereign_cloud": ({"aws_region": "eusc-de-east-1"}, "aws-eusc", None),
}
CONSOLE_OUTPUTS = ("pipeline_console_url", "deployments_table_console_url")


def hcl_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def variables_block(variables: dict[str, str]) -> str:
    lines = [f"    {name} = {value if isinstance(value, HCL) else hcl_string(value)}\n" for name, value in variables.items()]
    return "  variables {\n" + "".join(lines) + "  }\n"


def applied_run(name: str, variables: dict[str, str], conditions: list[str], module: str | None = None) -> str:
    """An apply run of the root configuration, or of the local `module` (e.g. ./modules/service)."""
    asserts = "".join(f'\n  assert {{\n    condition     = {condition}\n    error_message = "{name}: {hcl_escape(condition)}"\n  }}\n' for condition in conditions)
    source = f'  module {{\n    source = "{module}"\n  }}\n\n' if module else ""
    overrides = "" if module else RELEASE_STATE_MACHINE
    return f'run "{name}" {{\n  command = apply\n\n' + source + (variables_block(variables) if variables else "") + overrides + asserts + "}\n"


def hcl_escape(text: str) -> str:
    """`text` inside an HCL string: backslashes, quotes and template sequences escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "$${").replace("%{", "%%{")


ACCEPTED_RUN = """run "{name}" {{
  command = plan

{variables}
  override_data {{
    target = data.aws_partition.current
    values = {{ partition = "{partition}", dns_suffix = "amazonaws.com" }}
  }}

  assert {{
    condition     = {condition}
    error_message = "console URLs in {partition}: ${{jsonencode([{outputs}])}}"
  }}
}}
"""


def accepted_run(name: str, variables: dict[str, str], partition: str, host: str | None) -> str:
    outputs = [f"output.{output}" for output in CONSOLE_OUTPUTS]
    conditions = [f"{output} == null" if host is None else f'startswith({output}, "https://{host}/")' for output in outputs]
    return ACCEPTED_RUN.format(name=name, variables=variables_block(variables), partition=partition, condition=" && ".join(conditions), outputs=", ".join(outputs))


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """Each run's outcome (pass or fail) and what Terraform printed for it."""
    mirror = find_provider_mirror()
    if shutil.which("terraform") is None or mirror is None:
        pytest.skip("terraform or a filesystem mirror of hashicorp/aws is missing (see the README)")
    workdir = tmp_path_factory.mktemp("plan-checks")
    copy_configuration(workdir, stub_missing_packages=True)
    tests = workdir / "tests"
    tests.mkdir()
    rejected = REJECTED | {name: variables for name, (variables, _, _) in INVALID.items()}
    for name, variables in rejected.items():
        (tests / f"{name}.tftest.hcl").write_text(MOCK_PROVIDER + f'\nrun "{name}" {{\n  command = plan\n\n' + variables_block(variables) + "}\n", encoding="utf-8")
    for name, (variables, conditions) in APPLIED.items():
        (tests / f"applied_{name}.tftest.hcl").write_text(MOCK_PROVIDER + "\n" + applied_run(name, variables, conditions), encoding="utf-8")
    for name, (variables, conditions) in MODULE_APPLIED.items():
        (tests / f"applied_{name}.tftest.hcl").write_text(MOCK_PROVIDER + "\n" + applied_run(name, variables, conditions, "./modules/service"), encoding="utf-8")
    (tests / "accepted.tftest.hcl").write_text(MOCK_PROVIDER + "".join("\n" + accepted_run(name, *case) for name, case in ACCEPTED.items()), encoding="utf-8")

    return terraform_test(workdir, mirror)


def terraform_test(workdir: Path, mirror: Path) -> dict[str, tuple[str, str]]:
    """`terraform init` and `terraform test` of the configuration in `workdir` (its tests/), offline
    with the provider of `mirror`: each run's outcome (pass or fail) and what Terraform printed for it."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "TF_"))}
    env |= {"TF_CLI_CONFIG_FILE": str(cli_config(workdir, mirror)), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    init = subprocess.run(["terraform", "init", "-backend=false", "-input=false", "-no-color"], cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert init.returncode == 0, init.stdout + init.stderr
    # One stream, so that each run's errors follow its status line.
    result = subprocess.run(["terraform", "test", "-no-color"], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, check=False)
    return dict(runs(result.stdout))


def runs(output: str) -> Iterator[tuple[str, tuple[str, str]]]:
    """(run name, (status, the text Terraform printed after it)) for every run in the output."""
    parts = re.split(r'^\s*run "(\w+)"\.\.\. (pass|fail|skip)\s*$', output, flags=re.M)
    for index in range(1, len(parts) - 2, 3):
        yield parts[index], (parts[index + 1], " ".join(parts[index + 2].split()))


def error_messages(variable: str) -> list[str]:
    """The validation messages of `variable`: the root's, else modules/service's, which validates
    every service's settings (the single-service variables included)."""
    for path in (ROOT / "variables.tf", ROOT / "modules" / "service" / "variables.tf"):
        with open(path, encoding="utf-8") as file:
            document: dict[str, Any] = hcl2.load(file, serialization_options=HCL_OPTIONS)
        body = next((entry[variable] for entry in document["variable"] if variable in entry), None)
        if body is not None and body.get("validation"):
            return [validation["error_message"] for validation in body["validation"]]
    raise KeyError(f"no validated variable {variable} in variables.tf or modules/service/variables.tf")


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_region_validation_takes_the_region_codes_of_every_partition_and_nothing_else(plans: dict[str, tuple[str, str]]) -> None:
    status, text = plans["region_not_a_region_code"]
    assert status == "fail" and flat(error_messages("aws_region")[0]) in text, text
    for case, (variables, _, _) in ACCEPTED.items():
        status, text = plans[case]
        assert status != "skip" and "Invalid value for variable" not in text, f"{variables['aws_region']}: {text}"


@pytest.mark.parametrize("case", ["prefix_xn", "prefix_sthree", "prefix_amzn_s3_demo"])
def test_a_prefix_s3_reserves_for_bucket_names_stops_the_plan(plans: dict[str, tuple[str, str]], case: str) -> None:
    status, text = plans[case]
    reserved = [message for message in error_messages("name_prefix") if "reserves" in message]
    assert reserved, "name_prefix has no validation of the prefixes S3 reserves"
    assert status == "fail" and flat(reserved[0]) in text, text


def test_a_bucket_name_s3_would_refuse_stops_the_plan_with_the_reason(plans: dict[str, tuple[str, str]]) -> None:
    status, text = plans["bucket_name_too_long"]
    assert status == "fail" and "Resource precondition failed" in text and "breaks S3's naming rules" in text, text


def test_the_console_urls_point_at_the_console_of_the_partition(plans: dict[str, tuple[str, str]]) -> None:
    failed = {case: plans[case][1] for case in ACCEPTED if plans[case][0] != "pass"}
    assert not failed, failed


@pytest.mark.parametrize("case", sorted(INVALID))
def test_a_rule_of_a_variable_stops_the_plan_with_its_message(plans: dict[str, tuple[str, str]], case: str) -> None:
    _, variable, phrase = INVALID[case]
    messages = [message for message in error_messages(variable) if phrase in message]
    assert len(messages) == 1, f"{variable} has {len(messages)} validations whose message says {phrase!r}"
    status, text = plans[case]
    # Only this rule fails, and as a variable's validation: before Terraform plans any resource.
    assert status == "fail" and text.count("Error: ") == 1 and "Error: Invalid value for variable" in text and flat(messages[0]) in text, text


def test_the_deployment_config_messages_name_every_predefined_config() -> None:
    with open(ROOT / "modules" / "service" / "variables.tf", encoding="utf-8") as file:
        document: dict[str, Any] = hcl2.load(file, serialization_options=HCL_OPTIONS)
    predefined = next(entry["predefined_deployment_configs"] for entry in document["locals"] if "predefined_deployment_configs" in entry)
    # The same nine the local AWS answers GetDeploymentConfig for, so the e2e runs use what a user may set.
    assert sorted(predefined) == sorted(PREDEFINED)
    (message,) = [message for message in error_messages("deployment") if "predefined" in message]
    assert all(name in message for name in predefined) and "custom_deployment_configs" in message


@pytest.mark.parametrize("case", sorted(APPLIED | MODULE_APPLIED))
def test_the_variables_reach_the_resources_and_policies(plans: dict[str, tuple[str, str]], case: str) -> None:
    status, text = plans[case]
    assert status == "pass", text
