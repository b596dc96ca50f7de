data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # The provider runs in var.aws_region. data.aws_region has no attribute that works in both
  # provider lines without a warning (`name` is deprecated in 6.x, `region` is missing in 5.x).
  region     = var.aws_region
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix

  state_machine_name      = "${var.name_prefix}-deployment"
  deployments_table_name  = "${var.name_prefix}-deployments"
  notification_topic_name = "${var.name_prefix}-deployments"
  key_alias               = "alias/${var.name_prefix}"
  bucket_name_suffix      = "${local.account_id}-${local.region}"

  # Built from the name so that the waiter and the IAM policies can refer to the state machine
  # without depending on it (the state machine depends on the handlers).
  state_machine_arn            = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.state_machine_name}"
  state_machine_executions_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.state_machine_name}:*"
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

  # The chat-failures alarm (notifications.tf) publishes to the encrypted topic as CloudWatch.
  dynamic "statement" {
    for_each = local.chat_enabled ? [local.chat_alarm_name] : []

    content {
      sid       = "CloudWatchAlarmPublishesToTopic"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["cloudwatch.amazonaws.com"]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${statement.value}"]
      }
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
      # <service>/<environment>/<commit>.zip: the artifact promoted to each service's staging and production.
      releases = {
        name                         = "${var.name_prefix}-releases-${local.bucket_name_suffix}"
        expire_current_after_days    = var.release_retention_days
        expire_noncurrent_after_days = var.release_retention_days
      }
    },
    local.creates_source_bucket ? {
      # Each S3-sourced service's current source zip stays; the versions it replaced expire.
      source = {
        name                         = "${var.name_prefix}-source-${local.bucket_name_suffix}"
        expire_current_after_days    = null
        expire_noncurrent_after_days = var.artifact_retention_days
      }
    } : {},
  )

  source_bucket_name = local.creates_source_bucket ? aws_s3_bucket.this["source"].id : null
  source_bucket_arn  = local.creates_source_bucket ? aws_s3_bucket.this["source"].arn : null
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Reads and writes happen only through the platform's roles; CloudTrail data events are the audit trail to enable, not a further bucket of access logs.
  #checkov:skip=CKV_AWS_144:Artifacts and releases can be rebuilt from the source and Lambda keeps every published version; cross-region replication is out of scope.
  #checkov:skip=CKV2_AWS_62:Only the source and release buckets have consumers of their events (EventBridge, enabled by aws_s3_bucket_notification.source and .releases); the artifact bucket's would go nowhere.
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
  count = local.creates_source_bucket ? 1 : 0

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
# Trust policy of the handlers' roles
# ---------------------------------------------------------------------------

# Lambda documents no aws:SourceAccount or aws:SourceArn for execution roles: the trust names the
# service alone, and only a principal allowed iam:PassRole in this account can hand it the role.
data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}
