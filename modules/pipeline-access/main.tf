# The role the platform's waiter assumes in this account, in its pipeline mode (docs/pipeline-waits.md):
# it trusts the waiter's execution role alone, with the platform's session name (and, with
# organization_id, only from that organization), and it may read the executions of the named
# pipelines and start those with start = true. Apply it with a provider in the pipelines' account.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# Read only when var.region is null. data.aws_region has no attribute naming the Region that works
# in both provider lines without a warning (`name` is deprecated in 6.x, `region` is missing in
# 5.x): the Region is read from its EC2 endpoint, ec2.<region>.<dns suffix>, which both have.
data "aws_region" "current" {
  count = var.region == null ? 1 : 0

  lifecycle {
    postcondition {
      condition     = can(regex("^ec2\\.[a-z]+(-[a-z]+)+-[0-9]+\\.", self.endpoint))
      error_message = "The provider's Region cannot be read from its EC2 endpoint (${self.endpoint}): set region."
    }
  }
}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = coalesce(var.region, try(regex("^ec2\\.([^.]+)\\.", one(data.aws_region.current[*].endpoint))[0], null))

  pipeline_arns         = { for name in keys(var.pipelines) : name => "arn:${local.partition}:codepipeline:${local.region}:${local.account_id}:${name}" }
  started_pipeline_arns = [for name, pipeline in var.pipelines : local.pipeline_arns[name] if pipeline.start]
}

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "PlatformWaiter"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = [var.waiter.role_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "sts:RoleSessionName"
      values   = [var.waiter.session_name]
    }

    dynamic "condition" {
      for_each = var.organization_id == null ? [] : [var.organization_id]

      content {
        test     = "StringEquals"
        variable = "aws:PrincipalOrgID"
        values   = [condition.value]
      }
    }
  }
}

# The resource type of all four actions is the pipeline (Service Authorization Reference), so each
# names exactly the pipelines it is for.
data "aws_iam_policy_document" "access" {
  statement {
    sid       = "FollowPipelines"
    actions   = ["codepipeline:GetPipelineExecution", "codepipeline:ListActionExecutions", "codepipeline:ListPipelineExecutions"]
    resources = values(local.pipeline_arns)
  }

  dynamic "statement" {
    for_each = length(local.started_pipeline_arns) == 0 ? [] : [local.started_pipeline_arns]

    content {
      sid       = "StartPipelines"
      actions   = ["codepipeline:StartPipelineExecution"]
      resources = statement.value
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  path                 = var.role_path
  description          = "Assumed by the serverless-cd platform's waiter to follow, and where allowed start, pipelines of this account."
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags

  # STS refuses a role of another partition; the waiter's role and this account must share one.
  lifecycle {
    precondition {
      condition     = split(":", var.waiter.role_arn)[1] == local.partition
      error_message = "waiter.role_arn is in the partition ${split(":", var.waiter.role_arn)[1]}, this account in ${local.partition}: a role can only be assumed from its own partition. Apply this module in an account of the platform's partition."
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "pipeline-waiter"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.access.json
}
