# One service on the shared platform: its staging and production functions with their alias (or
# existing functions of yours), its CodeDeploy application, groups and production error alarm, its
# CodeBuild project and CodePipeline, and its registration, the allow-list entry the platform's
# handlers check every execution against (iam.tf grants them this service's resources).

locals {
  resource_prefix = coalesce(var.resource_name_prefix, "${var.platform.name_prefix}-${var.name}")
  partition       = var.platform.partition
  region          = var.platform.region
  account_id      = var.platform.account_id
  dns_suffix      = var.platform.dns_suffix

  pipeline_name       = "${local.resource_prefix}-pipeline"
  source_rule_name    = "${local.pipeline_name}-source-changed"
  build_project_name  = "${local.resource_prefix}-build"
  codedeploy_app_name = "${local.resource_prefix}-app"
  registry_parameter  = "${var.platform.services_parameter_prefix}${var.name}"

  environments = ["staging", "production"]

  deployment_configs = {
    staging    = var.deployment.staging_config
    production = var.deployment.production_config
  }
  # The configuration each group deploys with, by name: a predefined one as given, a custom one as the platform created it.
  deployment_config_names = { for environment, config in local.deployment_configs : environment => lookup(var.platform.deployment_config_names, config, config) }

  existing_app_function_names = {
    staging    = var.app.existing_staging_function_name
    production = var.app.existing_production_function_name
  }
  created_app_environments = toset([for environment, name in local.existing_app_function_names : environment if name == null])
  existing_app_environments = {
    for environment, name in local.existing_app_function_names : environment => name if name != null
  }
  app_function_names = { for environment in local.environments : environment => "${local.resource_prefix}-app-${environment}" }

  # The application function of each environment, whether created here or brought by the user.
  app = merge(
    {
      for environment, function in aws_lambda_function.app : environment => {
        function_name = function.function_name
        function_arn  = function.arn
        alias_arn     = aws_lambda_alias.app[environment].arn
      }
    },
    {
      for environment, function in data.aws_lambda_function.existing : environment => {
        function_name = function.function_name
        function_arn  = function.arn
        alias_arn     = data.aws_lambda_alias.existing[environment].arn
      }
    },
  )

  codedeploy_arn_prefix = "arn:${local.partition}:codedeploy:${local.region}:${local.account_id}"
  deployment_group_arns = {
    for environment, group in aws_codedeploy_deployment_group.environment :
    environment => "${local.codedeploy_arn_prefix}:deploymentgroup:${aws_codedeploy_app.this.name}/${group.deployment_group_name}"
  }
}

# ---------------------------------------------------------------------------
# Trust policies of the service's roles
# ---------------------------------------------------------------------------

# Where a service documents that it sets aws:SourceAccount and aws:SourceArn when it assumes a role
# (its "cross-service confused deputy prevention" page), the trust policy requires both, in the
# form of that page's example, the ARNs built from names so that no role waits for the resource
# that uses it. Lambda documents neither for execution roles, nor CodePipeline and CodeBuild for
# their service roles (a condition the service does not meet would fail every build): those trust
# the service alone, and only a principal allowed iam:PassRole in this account can hand it the role.
locals {
  service_principals = {
    lambda = {
      service     = "lambda.amazonaws.com"
      source_arns = []
    }
    codebuild = {
      service     = "codebuild.amazonaws.com"
      source_arns = []
    }
    codedeploy = {
      service     = "codedeploy.amazonaws.com"
      source_arns = ["${local.codedeploy_arn_prefix}:deploymentgroup:${local.codedeploy_app_name}/*"]
    }
    codepipeline = {
      service     = "codepipeline.amazonaws.com"
      source_arns = []
    }
    events = {
      service     = "events.amazonaws.com"
      source_arns = ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.source_rule_name}"]
    }
  }
}

data "aws_iam_policy_document" "trust" {
  for_each = local.service_principals

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [each.value.service]
    }

    dynamic "condition" {
      for_each = length(each.value.source_arns) > 0 ? [local.account_id] : []

      content {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [condition.value]
      }
    }

    dynamic "condition" {
      for_each = length(each.value.source_arns) > 0 ? [each.value.source_arns] : []

      content {
        test     = "ArnLike"
        variable = "aws:SourceArn"
        values   = condition.value
      }
    }
  }
}

# ---------------------------------------------------------------------------
# The application: a staging and a production function, each with its alias
# ---------------------------------------------------------------------------

data "aws_lambda_function" "existing" {
  for_each = local.existing_app_environments

  function_name = each.value
}

data "aws_lambda_alias" "existing" {
  for_each = local.existing_app_environments

  function_name = each.value
  name          = var.app.alias
}

resource "aws_cloudwatch_log_group" "app" {
  #checkov:skip=CKV_AWS_338:Retention is the platform's log_retention_days (default 30 days) because these are operational logs; the deployment history lives in the DynamoDB table. Set 365 or more where a compliance rule requires it.
  for_each = local.created_app_environments

  name              = "/aws/lambda/${local.app_function_names[each.key]}"
  retention_in_days = var.platform.log_retention_days
  kms_key_id        = var.platform.kms_key_arn
}

resource "aws_iam_role" "app" {
  for_each = local.created_app_environments

  name               = "${local.app_function_names[each.key]}-role"
  description        = "Execution role of the ${each.key} application function."
  assume_role_policy = data.aws_iam_policy_document.trust["lambda"].json
}

data "aws_iam_policy_document" "app" {
  for_each = local.created_app_environments

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.app[each.key].arn}:log-stream:*"]
  }

  # The Service Authorization Reference lists no resource type for these X-Ray actions: only "*"
  # matches them.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "app" {
  for_each = local.created_app_environments

  name   = "application"
  role   = aws_iam_role.app[each.key].id
  policy = data.aws_iam_policy_document.app[each.key].json
}

# Terraform creates the functions and their first version only. Afterwards the deploy handlers
# upload code and publish versions, and CodeDeploy moves the alias; the lifecycle blocks keep a
# later plan from reverting a deployment.
resource "aws_lambda_function" "app" {
  #checkov:skip=CKV_AWS_115:The application's concurrency is the application owner's decision; a reserved limit here could throttle production traffic.
  #checkov:skip=CKV_AWS_116:Callers of the application invoke it synchronously and receive its errors; a dead-letter queue applies to asynchronous invocation only.
  #checkov:skip=CKV_AWS_117:The sample application calls no private network resources; attach a VPC when the real application needs one.
  #checkov:skip=CKV_AWS_272:Code arrives through the pipeline, which validates and tests it before it is deployed; code signing would need a signing profile outside this platform.
  #checkov:skip=CKV_AWS_173:No environment variables are set on the application functions.
  for_each = local.created_app_environments

  function_name    = local.app_function_names[each.key]
  description      = "Application, ${each.key} environment. Deployed by ${local.pipeline_name}."
  role             = aws_iam_role.app[each.key].arn
  runtime          = var.platform.lambda_runtime
  architectures    = [var.platform.lambda_architecture]
  handler          = var.app.handler
  filename         = var.app.initial_package
  source_code_hash = filebase64sha256(var.app.initial_package)
  publish          = true
  memory_size      = 256
  timeout          = 30

  tracing_config {
    mode = "Active"
  }

  lifecycle {
    ignore_changes = [filename, source_code_hash, s3_bucket, s3_key, s3_object_version]
  }

  depends_on = [aws_cloudwatch_log_group.app, aws_iam_role_policy.app]
}

resource "aws_lambda_alias" "app" {
  for_each = local.created_app_environments

  name             = var.app.alias
  description      = "Serves the ${each.key} traffic; CodeDeploy shifts it to each new version."
  function_name    = aws_lambda_function.app[each.key].function_name
  function_version = aws_lambda_function.app[each.key].version

  lifecycle {
    ignore_changes = [function_version, routing_config]
  }
}

# ---------------------------------------------------------------------------
# CodeDeploy: alias traffic shifting with automatic rollback
# ---------------------------------------------------------------------------

resource "aws_codedeploy_app" "this" {
  name             = local.codedeploy_app_name
  compute_platform = "Lambda"
}

locals {
  # The alarms that stop a production deployment: the error alarm, then the user's own.
  production_rollback_alarm_names = concat([aws_cloudwatch_metric_alarm.production_errors.alarm_name], var.production_rollback_alarms)
  production_rollback_alarm_arns = concat(
    [aws_cloudwatch_metric_alarm.production_errors.arn],
    [for name in var.production_rollback_alarms : "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${name}"],
  )
}

# Lambda publishes alias metrics under FunctionName + Resource ("function:alias"); during a canary
# they count the invocations of both versions behind the alias.
resource "aws_cloudwatch_metric_alarm" "production_errors" {
  alarm_name          = "${local.resource_prefix}-production-errors"
  alarm_description   = "Errors of the production alias; stops and rolls back a production deployment in progress."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  statistic           = "Sum"
  period              = var.production_error_alarm.period_seconds
  evaluation_periods  = var.production_error_alarm.evaluation_periods
  threshold           = var.production_error_alarm.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"

  dimensions = {
    FunctionName = local.app.production.function_name
    Resource     = "${local.app.production.function_name}:${var.app.alias}"
  }
}

resource "aws_iam_role" "codedeploy" {
  name               = "${local.resource_prefix}-codedeploy"
  description        = "Service role of the ${local.codedeploy_app_name} CodeDeploy application."
  assume_role_policy = data.aws_iam_policy_document.trust["codedeploy"].json
}

# In place of the managed AWSCodeDeployRoleForLambda policy, which lets CodeDeploy move the aliases
# of every function in the account and publish to every SNS topic: this one names the two
# application functions and the alarms. No trigger configurations, hooks or S3 revisions are used.
data "aws_iam_policy_document" "codedeploy" {
  statement {
    sid       = "ShiftApplicationAliases"
    actions   = ["lambda:GetAlias", "lambda:UpdateAlias", "lambda:GetProvisionedConcurrencyConfig"]
    resources = flatten([for app in values(local.app) : [app.function_arn, "${app.function_arn}:*"]])
  }

  statement {
    sid       = "ReadRollbackAlarm"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = local.production_rollback_alarm_arns
  }
}

resource "aws_iam_role_policy" "codedeploy" {
  name   = "codedeploy"
  role   = aws_iam_role.codedeploy.id
  policy = data.aws_iam_policy_document.codedeploy.json
}

resource "aws_codedeploy_deployment_group" "environment" {
  for_each = local.deployment_configs

  app_name               = aws_codedeploy_app.this.name
  deployment_group_name  = each.key
  service_role_arn       = aws_iam_role.codedeploy.arn
  deployment_config_name = local.deployment_config_names[each.key]

  deployment_style {
    deployment_option = "WITH_TRAFFIC_CONTROL"
    deployment_type   = "BLUE_GREEN"
  }

  # Staging has no alarm, so only production can stop on one.
  auto_rollback_configuration {
    enabled = true
    events  = each.key == "production" ? ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"] : ["DEPLOYMENT_FAILURE"]
  }

  dynamic "alarm_configuration" {
    for_each = each.key == "production" ? [local.production_rollback_alarm_names] : []

    content {
      enabled = true
      alarms  = alarm_configuration.value
    }
  }

  # A Lambda deployment group has no load balancer; an empty block read back from the API must
  # not show up as a change.
  lifecycle {
    ignore_changes = [load_balancer_info]
  }

  depends_on = [aws_iam_role_policy.codedeploy]
}

# ---------------------------------------------------------------------------
# The registration: what the platform's handlers may deploy, test and roll back for this service
# ---------------------------------------------------------------------------

resource "aws_ssm_parameter" "registration" {
  #checkov:skip=CKV2_AWS_34:The value holds resource names and settings, no secret; its readers are the platform's handlers, whose roles name this path.
  name        = local.registry_parameter
  description = "Service ${var.name} of ${var.platform.name_prefix}: the functions, alias, CodeDeploy groups and settings the platform's handlers may deploy, test and roll back for it."
  type        = "String"
  tier        = "Standard"
  value       = jsonencode(local.registration)
}

locals {
  # The execution input carries this document; every handler compares it with this parameter's value.
  registration = {
    name                       = var.name
    pipeline_name              = local.pipeline_name
    alias                      = var.app.alias
    codedeploy_application     = aws_codedeploy_app.this.name
    app_handler                = var.app.handler
    test_cases_path            = var.tests.cases_path
    test_timeout_seconds       = var.tests.timeout_seconds
    deployment_timeout_seconds = var.deployment.timeout_seconds
    poll_interval_seconds      = var.deployment.poll_interval_seconds
    # The role each handler assumes to act for this service (iam.tf).
    access_roles = { for handler, role in aws_iam_role.access : handler => role.arn }
    approval = {
      required        = var.production_approval.required
      timeout_seconds = var.production_approval.timeout_minutes * 60
      approvers       = var.production_approval.approvers
    }
    environments = {
      for environment in local.environments : environment => {
        function_name     = local.app[environment].function_name
        deployment_group  = aws_codedeploy_deployment_group.environment[environment].deployment_group_name
        deployment_config = local.deployment_config_names[environment]
      }
    }
  }
}
