# What the platform's handlers may do for this service: one role per handler that touches the
# service's resources, which only that handler's role may assume (`service-<name>` sessions). Inside
# the access of a service, a handler's Lambda, CodeDeploy and CodePipeline clients act as that role;
# its own role (lambda.tf at the root) holds only what every service shares: the buckets, the
# table, the registry. So the handlers reach exactly the registered services' functions, deployment
# groups and pipelines, and adding a service adds its roles. validate_code and stop_deployment touch
# no service resource.

locals {
  function_arns = { for environment, app in local.app : environment => [app.function_arn, "${app.function_arn}:*"] }

  access_policies = {
    run_tests  = data.aws_iam_policy_document.run_tests.json
    staging    = data.aws_iam_policy_document.deploy["staging"].json
    production = data.aws_iam_policy_document.deploy["production"].json
    rollback   = data.aws_iam_policy_document.rollback.json
    waiter     = data.aws_iam_policy_document.waiter.json
  }
  # <prefix>-<service>-staging-access, under the platform's path: the handler roles may assume
  # arn:...:role/<name_prefix>/services/*-<handler>-access.
  access_role_names = { for handler in keys(local.access_policies) : handler => "${local.resource_prefix}-${replace(handler, "_", "-")}-access" }
  access_role_path  = "/${var.platform.name_prefix}/services/"
}

data "aws_iam_policy_document" "access_trust" {
  for_each = local.access_policies

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = [var.platform.handler_role_arns[each.key]]
    }
  }
}

resource "aws_iam_role" "access" {
  for_each = local.access_policies

  name                 = local.access_role_names[each.key]
  path                 = local.access_role_path
  description          = "What the platform's ${each.key} handler may do for service ${var.name}."
  assume_role_policy   = data.aws_iam_policy_document.access_trust[each.key].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "access" {
  for_each = local.access_policies

  name   = "service-${var.name}"
  role   = aws_iam_role.access[each.key].id
  policy = each.value
}

data "aws_iam_policy_document" "run_tests" {
  statement {
    sid       = "InvokeApplicationAliases"
    actions   = ["lambda:InvokeFunction"]
    resources = [for environment in local.environments : local.app[environment].alias_arn]
  }
}

# The staging and production handlers: each reaches only its own environment.
data "aws_iam_policy_document" "deploy" {
  for_each = toset(local.environments)

  # UpdateFunctionCode reads the release object with the caller's permissions: this role's.
  statement {
    sid       = "ReadOwnReleases"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${var.platform.release_bucket_arn}/${var.name}/${each.key}/*"]
  }

  statement {
    sid       = "DecryptOwnReleases"
    actions   = ["kms:Decrypt"]
    resources = [var.platform.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.${local.dns_suffix}"]
    }
  }

  statement {
    sid = "UpdateOwnFunction"
    actions = [
      "lambda:GetAlias",
      "lambda:GetFunction",
      "lambda:GetFunctionConfiguration",
      "lambda:UpdateFunctionCode",
      "lambda:PublishVersion",
    ]
    resources = local.function_arns[each.key]
  }

  statement {
    sid       = "DeployThroughOwnGroup"
    actions   = ["codedeploy:CreateDeployment", "codedeploy:GetDeployment", "codedeploy:GetDeploymentGroup"]
    resources = [local.deployment_group_arns[each.key]]
  }

  statement {
    sid       = "ReadOwnDeploymentConfig"
    actions   = ["codedeploy:GetDeploymentConfig"]
    resources = ["${local.codedeploy_arn_prefix}:deploymentconfig:${local.deployment_config_names[each.key]}"]
  }

  statement {
    sid       = "RegisterRevisions"
    actions   = ["codedeploy:GetApplicationRevision", "codedeploy:RegisterApplicationRevision"]
    resources = ["${local.codedeploy_arn_prefix}:application:${aws_codedeploy_app.this.name}"]
  }

  # A deployment created while the execution was being stopped is stopped at once. The Service
  # Authorization Reference lists no resource type for StopDeployment: only "*" matches it.
  statement {
    sid       = "StopOwnDeployment"
    actions   = ["codedeploy:StopDeployment"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "rollback" {
  statement {
    sid       = "RestoreAliases"
    actions   = ["lambda:GetAlias", "lambda:GetFunctionConfiguration", "lambda:UpdateAlias"]
    resources = flatten(values(local.function_arns))
  }

  statement {
    sid       = "ReadDeployments"
    actions   = ["codedeploy:GetDeployment"]
    resources = values(local.deployment_group_arns)
  }

  # The Service Authorization Reference lists no resource type for StopDeployment: only "*" matches it.
  statement {
    sid       = "StopDeployments"
    actions   = ["codedeploy:StopDeployment"]
    resources = ["*"]
  }
}

# Whether the pipeline run still waits, once the waiter has started the run's deployment.
data "aws_iam_policy_document" "waiter" {
  statement {
    sid       = "ReadPipelineRun"
    actions   = ["codepipeline:GetPipelineExecution"]
    resources = ["arn:${local.partition}:codepipeline:${local.region}:${local.account_id}:${local.pipeline_name}"]
  }
}
