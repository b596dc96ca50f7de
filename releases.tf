# Releases (docs/releases.md): a manifest uploaded to the release bucket under releases/, or POSTed
# to the release API (releases-api.tf), starts the ReleaseStateMachine (asl/release.asl.json), which
# starts the manifest's pipelines in waves and waits for their CodePipeline events. Three handlers
# (lambda.tf creates them with the others): release_intake accepts a manifest once, release_steps
# runs the state machine's steps, release_events hears the pipelines' events and sweeps quiet waits.

locals {
  release_state_machine_name  = "${var.name_prefix}-release"
  release_state_machine_arn   = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.release_state_machine_name}"
  releases_table_name         = "${var.name_prefix}-releases"
  release_upload_prefix       = "releases/"
  release_session_name        = "pipeline-release"
  release_watching_index      = "watching"
  release_execution_index     = "execution"
  release_sweep_rate          = "rate(1 minute)"
  release_pipeline_event_type = "CodePipeline Pipeline Execution State Change"

  # The pipelines of the platform's services, named as modules/service names them (checked against
  # the modules' outputs by the state machine's precondition): the default allow-list.
  service_pipeline_names = [for key in keys(local.services) : key == "default" ? "${var.name_prefix}-pipeline" : "${var.name_prefix}-${key}-pipeline"]
  release_pipelines      = var.release_pipelines == null ? local.service_pipeline_names : var.release_pipelines
  release_pipeline_arns  = [for name in local.release_pipelines : "arn:${local.partition}:codepipeline:${local.region}:${local.account_id}:${name}"]

  release_handlers = {
    release_intake = {
      function_name = "${var.name_prefix}-release-intake"
      description   = "Accepts a release manifest (an upload under releases/ or POST /releases) once, and starts the ReleaseStateMachine."
      memory_size   = 256
      timeout       = 30
    }
    release_steps = {
      function_name = "${var.name_prefix}-release-steps"
      description   = "Runs the ReleaseStateMachine's steps: starts, waits for and stops the pipelines of a release, and sums it up."
      memory_size   = 256
      timeout       = 60
    }
    release_events = {
      function_name = "${var.name_prefix}-release-events"
      description   = "Records the CodePipeline events of releases' pipelines, ends the releases' waits for them, and checks quiet waits."
      memory_size   = 256
      timeout       = 120
    }
  }

  release_handler_environment = {
    release_intake = {
      RELEASES_TABLE            = local.releases_table_name
      RELEASE_BUCKET            = aws_s3_bucket.this["releases"].id
      RELEASE_STATE_MACHINE_ARN = local.release_state_machine_arn
      RELEASE_PIPELINES         = jsonencode(local.release_pipelines)
      RELEASE_ROLE_ARNS         = jsonencode(var.release_target_role_arns)
      NOTIFICATION_TOPIC_ARN    = aws_sns_topic.notifications.arn
      CONSOLE_URL               = local.console_url
    }
    release_steps = {
      RELEASES_TABLE       = local.releases_table_name
      RELEASE_SESSION_NAME = local.release_session_name
      CONSOLE_URL          = local.console_url
    }
    release_events = {
      RELEASES_TABLE        = local.releases_table_name
      RELEASE_SESSION_NAME  = local.release_session_name
      RELEASE_QUIET_SECONDS = tostring(var.release_quiet_minutes * 60)
    }
  }

  release_handler_policies = {
    release_intake = data.aws_iam_policy_document.release_intake.json
    release_steps  = data.aws_iam_policy_document.release_steps.json
    release_events = data.aws_iam_policy_document.release_events.json
  }
}

# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------

resource "aws_dynamodb_table" "releases" {
  name                        = local.releases_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "release_id"
  range_key                   = "record"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "release_id"
    type = "S"
  }

  attribute {
    name = "record"
    type = "S"
  }

  attribute {
    name = "execution_id"
    type = "S"
  }

  attribute {
    name = "watching"
    type = "S"
  }

  attribute {
    name = "last_heard"
    type = "S"
  }

  # A pipeline run by its execution id: how an event finds the release it belongs to.
  global_secondary_index {
    name            = local.release_execution_index
    hash_key        = "execution_id"
    projection_type = "ALL"
  }

  # Sparse: only the runs a release is waiting for, by when the wait last heard of them (the sweep).
  global_secondary_index {
    name            = local.release_watching_index
    hash_key        = "watching"
    range_key       = "last_heard"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.platform.arn
  }
}

# ---------------------------------------------------------------------------
# Events: uploads, pipeline runs, the sweep
# ---------------------------------------------------------------------------

# S3 sends the release bucket's events to EventBridge (no CloudTrail trail needed).
resource "aws_s3_bucket_notification" "releases" {
  bucket      = aws_s3_bucket.this["releases"].id
  eventbridge = true
}

# Only manifests: releases/<name>.json. The bucket's other objects (<service>/<environment>/<commit>.zip) are not.
resource "aws_cloudwatch_event_rule" "release_uploaded" {
  name        = "${var.name_prefix}-release-uploaded"
  description = "Starts a release for each manifest uploaded under ${local.release_upload_prefix} in the release bucket."
  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [aws_s3_bucket.this["releases"].id] }
      object = { key = [{ wildcard = "${local.release_upload_prefix}*.json" }] }
    }
  })
}

resource "aws_cloudwatch_event_target" "release_intake" {
  rule = aws_cloudwatch_event_rule.release_uploaded.name
  arn  = aws_lambda_function.handler["release_intake"].arn
}

resource "aws_lambda_permission" "release_uploaded" {
  statement_id  = "AcceptUploadedReleases"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.handler["release_intake"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.release_uploaded.arn
}

# Every state change of the pipelines releases may start; release_events ignores runs no release started.
resource "aws_cloudwatch_event_rule" "release_pipeline_changed" {
  name        = "${var.name_prefix}-release-pipeline-changed"
  description = "Tells the releases waiting for a pipeline run that its state changed."
  event_pattern = jsonencode({
    source        = ["aws.codepipeline"]
    "detail-type" = [local.release_pipeline_event_type]
  })
}

resource "aws_cloudwatch_event_target" "release_pipeline_changed" {
  rule = aws_cloudwatch_event_rule.release_pipeline_changed.name
  arn  = aws_lambda_function.handler["release_events"].arn
}

resource "aws_lambda_permission" "release_pipeline_changed" {
  statement_id  = "HearReleasePipelines"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.handler["release_events"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.release_pipeline_changed.arn
}

resource "aws_cloudwatch_event_rule" "release_sweep" {
  name                = "${var.name_prefix}-release-sweep"
  description         = "Checks the pipeline runs releases have heard nothing of for ${var.release_quiet_minutes} minutes."
  schedule_expression = local.release_sweep_rate
}

resource "aws_cloudwatch_event_target" "release_sweep" {
  rule = aws_cloudwatch_event_rule.release_sweep.name
  arn  = aws_lambda_function.handler["release_events"].arn
}

resource "aws_lambda_permission" "release_sweep" {
  statement_id  = "SweepQuietReleaseWaits"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.handler["release_events"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.release_sweep.arn
}

# ---------------------------------------------------------------------------
# The ReleaseStateMachine
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "release_state_machine" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30 days) because these are operational logs; the release history lives in the DynamoDB table. Set 365 or more where a compliance rule requires it.
  name              = "/aws/vendedlogs/states/${local.release_state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
}

resource "aws_iam_role" "release_state_machine" {
  name               = "${local.release_state_machine_name}-role"
  description        = "Execution role of the ${local.release_state_machine_name} state machine."
  assume_role_policy = data.aws_iam_policy_document.state_machine_trust.json
}

# The release's input, output and history are encrypted with the platform key: the state machine,
# release_intake (which starts it) and the handlers answering its task tokens use it for them.
data "aws_iam_policy_document" "release_execution_data" {
  statement {
    sid       = "EncryptReleaseExecutionData"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.platform.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:states:stateMachineArn"
      values   = [local.release_state_machine_arn]
    }
  }
}

data "aws_iam_policy_document" "release_state_machine" {
  source_policy_documents = [
    data.aws_iam_policy_document.release_execution_data.json,
    data.aws_iam_policy_document.state_machine_logs_and_traces.json,
    data.aws_iam_policy_document.publish_notifications.json,
  ]

  statement {
    sid     = "InvokeReleaseSteps"
    actions = ["lambda:InvokeFunction"]
    resources = [
      aws_lambda_function.handler["release_steps"].arn,
      "${aws_lambda_function.handler["release_steps"].arn}:*",
    ]
  }
}

resource "aws_iam_role_policy" "release_state_machine" {
  name   = "release-state-machine"
  role   = aws_iam_role.release_state_machine.id
  policy = data.aws_iam_policy_document.release_state_machine.json
}

resource "aws_sfn_state_machine" "release" {
  name     = local.release_state_machine_name
  type     = "STANDARD"
  role_arn = aws_iam_role.release_state_machine.arn

  definition = templatefile("${path.module}/asl/release.asl.json", {
    release_steps_function_arn = aws_lambda_function.handler["release_steps"].arn
    notification_topic_arn     = aws_sns_topic.notifications.arn
    partition                  = local.partition
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.release_state_machine.arn}:*"
    include_execution_data = true
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }

  encryption_configuration {
    type                              = "CUSTOMER_MANAGED_KMS_KEY"
    kms_key_id                        = aws_kms_key.platform.arn
    kms_data_key_reuse_period_seconds = 300
  }

  lifecycle {
    precondition {
      condition     = alltrue([for key, service in module.service : contains(local.service_pipeline_names, service.pipeline_name)])
      error_message = "The services' pipeline names differ from local.service_pipeline_names, the default release_pipelines: modules/service names its pipeline <resource prefix>-pipeline."
    }

    postcondition {
      condition     = self.arn == local.release_state_machine_arn
      error_message = "The release state machine ARN differs from local.release_state_machine_arn, which release_intake and the IAM policies use."
    }
  }

  depends_on = [aws_iam_role_policy.release_state_machine]
}

# ---------------------------------------------------------------------------
# Policy documents of the release handlers
# ---------------------------------------------------------------------------

# Ending a release's wait for a pipeline run: SendTaskSuccess with the wait's task token.
data "aws_iam_policy_document" "answer_release_waits" {
  source_policy_documents = [data.aws_iam_policy_document.release_execution_data.json]

  # The task token names the execution, which IAM cannot scope SendTaskSuccess to (the Service
  # Authorization Reference lists no resource type for task tokens of service integrations): only
  # "*" matches it.
  statement {
    sid       = "AnswerReleaseWaits"
    actions   = ["states:SendTaskSuccess"]
    resources = ["*"]
  }
}

# Following the releases' pipelines: those of this account in release_pipelines, and those behind
# the roles of other accounts in release_target_role_arns (assumed with the release session name only).
data "aws_iam_policy_document" "follow_release_pipelines" {
  dynamic "statement" {
    for_each = length(local.release_pipeline_arns) == 0 ? [] : [local.release_pipeline_arns]

    content {
      sid       = "FollowReleasePipelines"
      actions   = ["codepipeline:GetPipelineExecution", "codepipeline:ListActionExecutions", "codepipeline:ListPipelineExecutions"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = length(var.release_target_role_arns) == 0 ? [] : [var.release_target_role_arns]

    content {
      sid       = "AssumeReleaseAccessRoles"
      actions   = ["sts:AssumeRole"]
      resources = statement.value

      condition {
        test     = "StringEquals"
        variable = "sts:RoleSessionName"
        values   = [local.release_session_name]
      }
    }
  }
}

data "aws_iam_policy_document" "release_intake" {
  source_policy_documents = [
    data.aws_iam_policy_document.handler_basics["release_intake"].json,
    data.aws_iam_policy_document.release_execution_data.json,
  ]

  statement {
    sid       = "ReadUploadedManifests"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.this["releases"].arn}/${local.release_upload_prefix}*"]
  }

  statement {
    sid       = "RecordSubmissions"
    actions   = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.releases.arn]
  }

  statement {
    sid       = "StartReleases"
    actions   = ["states:StartExecution"]
    resources = [local.release_state_machine_arn]
  }

  statement {
    sid       = "NotifyRejectedUploads"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
  }

  statement {
    sid       = "UseKeyThroughS3DynamoDBAndSns"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.platform.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.${local.dns_suffix}", "dynamodb.${local.region}.${local.dns_suffix}", "sns.${local.region}.${local.dns_suffix}"]
    }
  }
}

data "aws_iam_policy_document" "release_steps" {
  source_policy_documents = [
    data.aws_iam_policy_document.handler_basics["release_steps"].json,
    data.aws_iam_policy_document.use_key_through_dynamodb.json,
    data.aws_iam_policy_document.answer_release_waits.json,
    data.aws_iam_policy_document.follow_release_pipelines.json,
  ]

  statement {
    sid       = "RecordReleases"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.releases.arn]
  }

  dynamic "statement" {
    for_each = length(local.release_pipeline_arns) == 0 ? [] : [local.release_pipeline_arns]

    content {
      sid       = "StartAndStopReleasePipelines"
      actions   = ["codepipeline:StartPipelineExecution", "codepipeline:StopPipelineExecution"]
      resources = statement.value
    }
  }
}

data "aws_iam_policy_document" "release_events" {
  source_policy_documents = [
    data.aws_iam_policy_document.handler_basics["release_events"].json,
    data.aws_iam_policy_document.use_key_through_dynamodb.json,
    data.aws_iam_policy_document.answer_release_waits.json,
    data.aws_iam_policy_document.follow_release_pipelines.json,
  ]

  statement {
    sid       = "RecordReleasePipelines"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.releases.arn]
  }

  statement {
    sid       = "FindWaits"
    actions   = ["dynamodb:Query"]
    resources = ["${aws_dynamodb_table.releases.arn}/index/${local.release_execution_index}", "${aws_dynamodb_table.releases.arn}/index/${local.release_watching_index}"]
  }
}
