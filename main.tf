data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # The provider runs in var.aws_region. data.aws_region has no attribute that works in both
  # provider lines without a warning (`name` is deprecated in 6.x, `region` is missing in 5.x).
  region     = var.aws_region
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix

  pipeline_name           = "${var.name_prefix}-pipeline"
  source_rule_name        = "${local.pipeline_name}-source-changed"
  build_project_name      = "${var.name_prefix}-build"
  codedeploy_app_name     = "${var.name_prefix}-app"
  state_machine_name      = "${var.name_prefix}-deployment"
  deployments_table_name  = "${var.name_prefix}-deployments"
  notification_topic_name = "${var.name_prefix}-deployments"
  key_alias               = "alias/${var.name_prefix}"
  bucket_name_suffix      = "${local.account_id}-${local.region}"

  # Built from the name so that the waiter and the IAM policies can refer to the state machine
  # without depending on it (the state machine depends on the handlers).
  state_machine_arn            = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.state_machine_name}"
  state_machine_executions_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.state_machine_name}:*"

  environments = ["staging", "production"]

  deployment_configs = {
    staging    = var.staging_deployment_config
    production = var.production_deployment_config
  }

  existing_app_function_names = {
    staging    = var.existing_staging_function_name
    production = var.existing_production_function_name
  }
  created_app_environments = toset([for environment, name in local.existing_app_function_names : environment if name == null])
  existing_app_environments = {
    for environment, name in local.existing_app_function_names : environment => name if name != null
  }
  app_function_names = { for environment in local.environments : environment => "${var.name_prefix}-app-${environment}" }

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
}

# ---------------------------------------------------------------------------
# Encryption key
# ---------------------------------------------------------------------------

resource "aws_kms_key" "platform" {
  description             = "Encrypts the artifacts, releases, logs, executions, notifications and deployment records of ${var.name_prefix}."
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "platform" {
  name          = local.key_alias
  target_key_id = aws_kms_key.platform.key_id
}

# The roles of this configuration get their use of the key from their own IAM policies, which the
# first statement enables. Only AWS services that act without one of those roles are named here.
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key only; the account root statement is the AWS default that delegates to IAM.
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; the account root statement is the AWS default that delegates to IAM.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only.
  statement {
    sid       = "AccountAdministersKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsPlatformLogGroups"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.${local.dns_suffix}"]
    }

    # The encryption context is typed String; StringLike matches the log group ARN patterns.
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${var.name_prefix}-*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/codebuild/${var.name_prefix}-*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/vendedlogs/states/${var.name_prefix}-*",
      ]
    }
  }

  # The state machine's execution logs are vended logs: the log delivery service decrypts what
  # Step Functions encrypted with this key before CloudWatch Logs stores it.
  statement {
    sid       = "LogDeliveryDecryptsStateMachineLogs"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["delivery.logs.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:SourceArn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:*"]
    }
  }
}

# ---------------------------------------------------------------------------
# S3: pipeline artifacts, promoted releases and (S3 source only) the source bucket
# ---------------------------------------------------------------------------

locals {
  buckets = merge(
    {
      artifacts = {
        name                         = "${var.name_prefix}-artifacts-${local.bucket_name_suffix}"
        expire_current_after_days    = var.artifact_retention_days
        expire_noncurrent_after_days = var.artifact_retention_days
      }
      # <environment>/<commit>.zip: the artifact promoted to staging/ and production/.
      releases = {
        name                         = "${var.name_prefix}-releases-${local.bucket_name_suffix}"
        expire_current_after_days    = var.release_retention_days
        expire_noncurrent_after_days = var.release_retention_days
      }
    },
    var.source_provider == "S3" ? {
      # The current source.zip stays; the versions it replaced expire.
      source = {
        name                         = "${var.name_prefix}-source-${local.bucket_name_suffix}"
        expire_current_after_days    = null
        expire_noncurrent_after_days = var.artifact_retention_days
      }
    } : {},
  )

  source_bucket_name = var.source_provider == "S3" ? aws_s3_bucket.this["source"].id : null
  source_bucket_arn  = var.source_provider == "S3" ? aws_s3_bucket.this["source"].arn : null
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Reads and writes happen only through the platform's roles; CloudTrail data events are the audit trail to enable, not a further bucket of access logs.
  #checkov:skip=CKV_AWS_144:Artifacts and releases can be rebuilt from the source and Lambda keeps every published version; cross-region replication is out of scope.
  #checkov:skip=CKV2_AWS_62:Only the source bucket has consumers of its events (EventBridge, enabled by aws_s3_bucket_notification.source).
  for_each = local.buckets

  bucket = each.value.name

  # S3's general purpose bucket naming rules, on the whole name: name_prefix's validation cannot
  # see the account ID and Region that complete it.
  lifecycle {
    precondition {
      condition = alltrue([
        length(each.value.name) <= 63,
        can(regex("^[a-z0-9][a-z0-9-]*[a-z0-9]$", each.value.name)),
        !can(regex("^(xn--|sthree-|amzn-s3-demo-)", each.value.name)),
        !can(regex("(-s3alias|--ol-s3|--x-s3|--table-s3)$", each.value.name)),
      ])
      error_message = "The S3 bucket name ${each.value.name} breaks S3's naming rules: at most 63 characters of lowercase letters, digits and hyphens, starting and ending with a letter or digit, without a reserved prefix (xn--, sthree-, amzn-s3-demo-) or suffix (-s3alias, --ol-s3, --x-s3, --table-s3). Choose another name_prefix."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    bucket_key_enabled = true

    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.platform.arn
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    id     = "expire-old-${each.key}"
    status = "Enabled"

    filter {}

    dynamic "expiration" {
      for_each = local.buckets[each.key].expire_current_after_days == null ? [] : [local.buckets[each.key].expire_current_after_days]

      content {
        days = expiration.value
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = local.buckets[each.key].expire_noncurrent_after_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "bucket_tls_only" {
  for_each = local.buckets

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this[each.key].arn,
      "${aws_s3_bucket.this[each.key].arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  policy = data.aws_iam_policy_document.bucket_tls_only[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_notification" "source" {
  count = var.source_provider == "S3" ? 1 : 0

  bucket      = aws_s3_bucket.this["source"].id
  eventbridge = true
}

# ---------------------------------------------------------------------------
# Deployment records and notifications
# ---------------------------------------------------------------------------

resource "aws_dynamodb_table" "deployments" {
  name                        = local.deployments_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "commit_id"
  range_key                   = "execution_name"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "commit_id"
    type = "S"
  }

  attribute {
    name = "execution_name"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.platform.arn
  }
}

resource "aws_sns_topic" "notifications" {
  name              = local.notification_topic_name
  kms_master_key_id = aws_kms_key.platform.arn
}

resource "aws_sns_topic_subscription" "email" {
  count = var.notification_email == null ? 0 : 1

  topic_arn = aws_sns_topic.notifications.arn
  protocol  = "email"
  endpoint  = var.notification_email
}

# ---------------------------------------------------------------------------
# Trust policies of every role
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
  name          = var.alias_name
}

resource "aws_cloudwatch_log_group" "app" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30 days) because these are operational logs; the deployment history lives in the DynamoDB table. Set 365 or more where a compliance rule requires it.
  for_each = local.created_app_environments

  name              = "/aws/lambda/${local.app_function_names[each.key]}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
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
  runtime          = var.lambda_runtime
  architectures    = [var.lambda_architecture]
  handler          = var.app_handler
  filename         = "${path.module}/build/app.zip"
  source_code_hash = filebase64sha256("${path.module}/build/app.zip")
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

  name             = var.alias_name
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

resource "aws_codedeploy_deployment_config" "custom" {
  for_each = var.custom_deployment_configs

  deployment_config_name = "${var.name_prefix}-${each.key}"
  compute_platform       = "Lambda"

  traffic_routing_config {
    type = each.value.type

    dynamic "time_based_canary" {
      for_each = each.value.type == "TimeBasedCanary" ? [each.value] : []

      content {
        percentage = time_based_canary.value.percentage
        interval   = time_based_canary.value.interval_minutes
      }
    }

    dynamic "time_based_linear" {
      for_each = each.value.type == "TimeBasedLinear" ? [each.value] : []

      content {
        percentage = time_based_linear.value.percentage
        interval   = time_based_linear.value.interval_minutes
      }
    }
  }

  # CodeDeploy refuses to delete a configuration a group uses: the group moves to a new key's
  # configuration before the old key's is deleted, in the same apply.
  lifecycle {
    create_before_destroy = true
  }
}

locals {
  # The configuration each group deploys with, by name: a predefined one as given, a custom one as created.
  custom_deployment_config_names = { for key, config in aws_codedeploy_deployment_config.custom : key => config.deployment_config_name }
  deployment_config_names        = { for environment, config in local.deployment_configs : environment => lookup(local.custom_deployment_config_names, config, config) }

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
  alarm_name          = "${var.name_prefix}-production-errors"
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
    Resource     = "${local.app.production.function_name}:${var.alias_name}"
  }
}

resource "aws_iam_role" "codedeploy" {
  name               = "${var.name_prefix}-codedeploy"
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
# CodeBuild: runs var.buildspec_path (default app/buildspec.yml) from the source
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "build" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30 days) because these are operational logs; the deployment history lives in the DynamoDB table. Set 365 or more where a compliance rule requires it.
  name              = "/aws/codebuild/${local.build_project_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
}

resource "aws_iam_role" "codebuild" {
  name               = "${local.build_project_name}-role"
  description        = "Service role of the ${local.build_project_name} CodeBuild project."
  assume_role_policy = data.aws_iam_policy_document.trust["codebuild"].json
}

data "aws_iam_policy_document" "codebuild" {
  statement {
    sid       = "WriteBuildLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.build.arn}:log-stream:*"]
  }

  statement {
    sid       = "ReadAndWriteArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${aws_s3_bucket.this["artifacts"].arn}/*"]
  }

  statement {
    sid       = "InspectArtifactBucket"
    actions   = ["s3:GetBucketAcl", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.this["artifacts"].arn]
  }

  statement {
    sid       = "UseKeyThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.platform.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.${local.dns_suffix}"]
    }
  }
}

resource "aws_iam_role_policy" "codebuild" {
  name   = "codebuild"
  role   = aws_iam_role.codebuild.id
  policy = data.aws_iam_policy_document.codebuild.json
}

resource "aws_codebuild_project" "build" {
  name           = local.build_project_name
  description    = "Tests and packages the application with ${var.buildspec_path} for ${local.pipeline_name}."
  service_role   = aws_iam_role.codebuild.arn
  encryption_key = aws_kms_key.platform.arn
  build_timeout  = 30

  artifacts {
    type = "CODEPIPELINE"
  }

  environment {
    compute_type                = "BUILD_GENERAL1_SMALL"
    image                       = var.codebuild_image
    type                        = strcontains(var.codebuild_image, "aarch64") ? "ARM_CONTAINER" : "LINUX_CONTAINER"
    image_pull_credentials_type = "CODEBUILD"
  }

  source {
    type      = "CODEPIPELINE"
    buildspec = var.buildspec_path
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.build.name
    }
  }

  depends_on = [aws_iam_role_policy.codebuild]
}

# ---------------------------------------------------------------------------
# CodePipeline: Source -> Build -> Deploy (the waiter starts the state machine)
# ---------------------------------------------------------------------------

locals {
  codecommit_repository_arn = var.repository_name == null ? null : "arn:${local.partition}:codecommit:${local.region}:${local.account_id}:${var.repository_name}"

  source_actions = {
    S3 = {
      provider = "S3"
      configuration = {
        S3Bucket             = local.source_bucket_name
        S3ObjectKey          = var.source_object_key
        PollForSourceChanges = "false"
      }
      commit_id = "#{SourceVariables.VersionId}"
    }
    CodeCommit = {
      provider = "CodeCommit"
      configuration = {
        RepositoryName       = var.repository_name
        BranchName           = var.branch
        PollForSourceChanges = "false"
        OutputArtifactFormat = "CODE_ZIP"
      }
      commit_id = "#{SourceVariables.CommitId}"
    }
    # No DetectChanges: with a trigger configured, CodePipeline turns default change detection off.
    CodeStarSourceConnection = {
      provider = "CodeStarSourceConnection"
      configuration = {
        ConnectionArn        = var.connection_arn
        FullRepositoryId     = var.repository_id
        BranchName           = var.branch
        OutputArtifactFormat = "CODE_ZIP"
      }
      commit_id = "#{SourceVariables.CommitId}"
    }
  }
  source_action = local.source_actions[var.source_provider]

  # S3 and CodeCommit sources start the pipeline through EventBridge instead of polling.
  source_event_patterns = {
    S3 = jsonencode({
      source        = ["aws.s3"]
      "detail-type" = ["Object Created"]
      detail = {
        bucket = { name = [local.source_bucket_name] }
        object = { key = [var.source_object_key] }
      }
    })
    CodeCommit = jsonencode({
      source        = ["aws.codecommit"]
      "detail-type" = ["CodeCommit Repository State Change"]
      resources     = [local.codecommit_repository_arn]
      detail = {
        event         = ["referenceCreated", "referenceUpdated"]
        referenceType = ["branch"]
        referenceName = [var.branch]
      }
    })
  }
  starts_on_event = contains(keys(local.source_event_patterns), var.source_provider)
}

resource "aws_iam_role" "pipeline" {
  name               = "${local.pipeline_name}-role"
  description        = "Service role of the ${local.pipeline_name} pipeline."
  assume_role_policy = data.aws_iam_policy_document.trust["codepipeline"].json
}

data "aws_iam_policy_document" "pipeline" {
  statement {
    sid       = "ReadAndWriteArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectAcl"]
    resources = ["${aws_s3_bucket.this["artifacts"].arn}/*"]
  }

  statement {
    sid       = "InspectArtifactBucket"
    actions   = ["s3:GetBucketAcl", "s3:GetBucketLocation", "s3:GetBucketVersioning"]
    resources = [aws_s3_bucket.this["artifacts"].arn]
  }

  dynamic "statement" {
    for_each = var.source_provider == "S3" ? [local.source_bucket_arn] : []

    content {
      sid       = "ReadSourceObject"
      actions   = ["s3:GetObject", "s3:GetObjectVersion"]
      resources = ["${statement.value}/${var.source_object_key}"]
    }
  }

  dynamic "statement" {
    for_each = var.source_provider == "S3" ? [local.source_bucket_arn] : []

    content {
      sid       = "InspectSourceBucket"
      actions   = ["s3:GetBucketAcl", "s3:GetBucketLocation", "s3:GetBucketVersioning"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "UseKeyThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.platform.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.${local.dns_suffix}"]
    }
  }

  dynamic "statement" {
    for_each = var.source_provider == "CodeCommit" ? [local.codecommit_repository_arn] : []

    content {
      sid = "ReadSourceRepository"
      actions = [
        "codecommit:GetRepository",
        "codecommit:GetBranch",
        "codecommit:GetCommit",
        "codecommit:UploadArchive",
        "codecommit:GetUploadArchiveStatus",
        "codecommit:CancelUploadArchive",
      ]
      resources = [statement.value]
    }
  }

  # The connection's ARN names either service prefix, depending on when it was created.
  dynamic "statement" {
    for_each = var.source_provider == "CodeStarSourceConnection" ? [var.connection_arn] : []

    content {
      sid       = "UseSourceConnection"
      actions   = ["codestar-connections:UseConnection", "codeconnections:UseConnection"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "RunBuild"
    actions   = ["codebuild:StartBuild", "codebuild:BatchGetBuilds"]
    resources = [aws_codebuild_project.build.arn]
  }

  statement {
    sid       = "InvokeWaiter"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.handler["waiter"].arn]
  }
}

resource "aws_iam_role_policy" "pipeline" {
  name   = "codepipeline"
  role   = aws_iam_role.pipeline.id
  policy = data.aws_iam_policy_document.pipeline.json
}

resource "aws_codepipeline" "this" {
  name           = local.pipeline_name
  role_arn       = aws_iam_role.pipeline.arn
  pipeline_type  = "V2"
  execution_mode = "QUEUED"

  artifact_store {
    type     = "S3"
    location = aws_s3_bucket.this["artifacts"].id

    encryption_key {
      type = "KMS"
      id   = aws_kms_key.platform.arn
    }
  }

  dynamic "trigger" {
    for_each = var.source_provider == "CodeStarSourceConnection" ? [var.branch] : []

    content {
      provider_type = "CodeStarSourceConnection"

      git_configuration {
        source_action_name = "Source"

        push {
          branches {
            includes = [trigger.value]
          }
        }
      }
    }
  }

  stage {
    name = "Source"

    action {
      name             = "Source"
      category         = "Source"
      owner            = "AWS"
      provider         = local.source_action.provider
      version          = "1"
      namespace        = "SourceVariables"
      output_artifacts = ["SourceOutput"]
      configuration    = local.source_action.configuration
    }
  }

  stage {
    name = "Build"

    action {
      name             = "Build"
      category         = "Build"
      owner            = "AWS"
      provider         = "CodeBuild"
      version          = "1"
      input_artifacts  = ["SourceOutput"]
      output_artifacts = ["BuildOutput"]

      configuration = {
        ProjectName = aws_codebuild_project.build.name
      }
    }
  }

  stage {
    name = "Deploy"

    action {
      name            = "DeploymentStateMachine"
      category        = "Invoke"
      owner           = "AWS"
      provider        = "Lambda"
      version         = "1"
      namespace       = "DeployVariables"
      input_artifacts = ["BuildOutput"]

      configuration = {
        FunctionName = aws_lambda_function.handler["waiter"].function_name
        UserParameters = jsonencode({
          commit_id             = local.source_action.commit_id
          pipeline_execution_id = "#{codepipeline.PipelineExecutionId}"
          pipeline_name         = local.pipeline_name
        })
      }
    }
  }

  # A new pipeline starts a first execution at once: everything it runs must already exist.
  depends_on = [aws_iam_role_policy.pipeline, aws_sfn_state_machine.deployment]
}

resource "aws_iam_role" "events" {
  count = local.starts_on_event ? 1 : 0

  name               = "${local.pipeline_name}-events"
  description        = "Lets EventBridge start the ${local.pipeline_name} pipeline when its source changes."
  assume_role_policy = data.aws_iam_policy_document.trust["events"].json
}

data "aws_iam_policy_document" "events" {
  statement {
    sid       = "StartPipeline"
    actions   = ["codepipeline:StartPipelineExecution"]
    resources = [aws_codepipeline.this.arn]
  }
}

resource "aws_iam_role_policy" "events" {
  count = local.starts_on_event ? 1 : 0

  name   = "start-pipeline"
  role   = aws_iam_role.events[0].id
  policy = data.aws_iam_policy_document.events.json
}

resource "aws_cloudwatch_event_rule" "source_changed" {
  count = local.starts_on_event ? 1 : 0

  name          = local.source_rule_name
  description   = "Starts ${local.pipeline_name} when its ${var.source_provider} source changes."
  event_pattern = local.source_event_patterns[var.source_provider]
}

resource "aws_cloudwatch_event_target" "start_pipeline" {
  count = local.starts_on_event ? 1 : 0

  rule     = aws_cloudwatch_event_rule.source_changed[0].name
  arn      = aws_codepipeline.this.arn
  role_arn = aws_iam_role.events[0].arn
}
