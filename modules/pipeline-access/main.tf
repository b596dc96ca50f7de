# The role the platform assumes in this account to follow and start its pipelines, trusted by two
# kinds of callers, each with its own statement and session name (and, with organization_id, only
# from that organization):
# - the waiter, in its pipeline mode (docs/pipeline-waits.md): var.waiter, its execution role and
#   session name; it reads the executions of the named pipelines and starts those with start = true;
# - the release handlers (docs/releases.md): var.releases, the roles of release_steps and
#   release_events and their session name; they read and start the same pipelines, and may also stop
#   those with start = true (a release stops the runs it started when one of its pipelines fails).
# Stopping is granted to the releases' sessions alone: the waiter never stops a run.
# Either caller may be left out (not both). Apply it with a provider in the pipelines' account.

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

  # Every principal the trust policy names, and those of them in another partition than this account.
  trusted_role_arns = concat(var.waiter == null ? [] : [var.waiter.role_arn], var.releases == null ? [] : var.releases.role_arns)
  foreign_role_arns = [for arn in local.trusted_role_arns : arn if split(":", arn)[1] != local.partition]

  organization_ids = var.organization_id == null ? [] : [var.organization_id]
}

data "aws_iam_policy_document" "trust" {
  dynamic "statement" {
    for_each = var.waiter == null ? [] : [var.waiter]

    content {
      sid     = "PlatformWaiter"
      actions = ["sts:AssumeRole"]

      principals {
        type        = "AWS"
        identifiers = [statement.value.role_arn]
      }

      condition {
        test     = "StringEquals"
        variable = "sts:RoleSessionName"
        values   = [statement.value.session_name]
      }

      dynamic "condition" {
        for_each = local.organization_ids

        content {
          test     = "StringEquals"
          variable = "aws:PrincipalOrgID"
          values   = [condition.value]
        }
      }
    }
  }

  dynamic "statement" {
    for_each = var.releases == null ? [] : [var.releases]

    content {
      sid     = "PlatformReleases"
      actions = ["sts:AssumeRole"]

      principals {
        type        = "AWS"
        identifiers = statement.value.role_arns
      }

      condition {
        test     = "StringEquals"
        variable = "sts:RoleSessionName"
        values   = [statement.value.session_name]
      }

      dynamic "condition" {
        for_each = local.organization_ids

        content {
          test     = "StringEquals"
          variable = "aws:PrincipalOrgID"
          values   = [condition.value]
        }
      }
    }
  }
}

# The resource type of all five actions is the pipeline (Service Authorization Reference), so each
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

  # Only for the releases' sessions. An identity policy of this role is evaluated for this role's
  # sessions alone, whose aws:userid is <role id>:<session name>; the trust policy lets only the
  # release handlers' roles open a session named releases.session_name (and variables.tf keeps the
  # waiter's session name a different one), so the waiter's sessions never match.
  dynamic "statement" {
    for_each = var.releases == null || length(local.started_pipeline_arns) == 0 ? [] : [var.releases.session_name]

    content {
      sid       = "StopPipelines"
      actions   = ["codepipeline:StopPipelineExecution"]
      resources = local.started_pipeline_arns

      condition {
        test     = "StringLike"
        variable = "aws:userid"
        values   = ["*:${statement.value}"]
      }
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

  # STS refuses a role of another partition; every trusted role and this account must share one.
  lifecycle {
    precondition {
      condition     = length(local.foreign_role_arns) == 0
      error_message = "${join(", ", local.foreign_role_arns)} ${length(local.foreign_role_arns) == 1 ? "is" : "are"} not in this account's partition, ${local.partition}: a role can only be assumed from its own partition. Apply this module in an account of the platform's partition."
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "pipeline-waiter"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.access.json
}
