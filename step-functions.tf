# The DeploymentStateMachine: validate, test, deploy to staging, test there, deploy to production,
# verify, and roll back on any failure; with a service's production approval, wait for a decision
# before production (approvals.tf). The flow lives in asl/deployment.asl.json.

resource "aws_cloudwatch_log_group" "state_machine" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30 days) because these are operational logs; the deployment history lives in the DynamoDB table. Set 365 or more where a compliance rule requires it.
  name              = "/aws/vendedlogs/states/${local.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
}

data "aws_iam_policy_document" "state_machine_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    # The form of Step Functions' own example: any state machine of this account and Region.
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:*"]
    }
  }
}

resource "aws_iam_role" "state_machine" {
  name               = "${local.state_machine_name}-role"
  description        = "Execution role of the ${local.state_machine_name} state machine."
  assume_role_policy = data.aws_iam_policy_document.state_machine_trust.json
}

# The state machine's definition, input, output and history are encrypted with the platform key:
# both the state machine and the waiter, which starts and reads executions, use it for them.
data "aws_iam_policy_document" "execution_data" {
  statement {
    sid       = "EncryptExecutionData"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.platform.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:states:stateMachineArn"
      values   = [local.state_machine_arn]
    }
  }
}

# Writing a deployment's final status and telling the topic: the state machine and stop_deployment.
data "aws_iam_policy_document" "record_and_notify" {
  statement {
    sid       = "RecordOutcome"
    actions   = ["dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.deployments.arn]
  }

  statement {
    sid       = "Notify"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
  }

  # The encrypted topic and table.
  statement {
    sid       = "UseKeyThroughSnsAndDynamoDB"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.platform.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${local.region}.${local.dns_suffix}", "dynamodb.${local.region}.${local.dns_suffix}"]
    }
  }
}

data "aws_iam_policy_document" "state_machine" {
  source_policy_documents = [
    data.aws_iam_policy_document.execution_data.json,
    data.aws_iam_policy_document.record_and_notify.json,
    data.aws_iam_policy_document.state_machine_logs_and_traces.json,
  ]

  statement {
    sid     = "InvokeHandlers"
    actions = ["lambda:InvokeFunction"]
    resources = flatten([
      for name in ["validate_code", "run_tests", "staging", "production", "rollback", "approval"] : [
        aws_lambda_function.handler[name].arn,
        "${aws_lambda_function.handler[name].arn}:*",
      ]
    ])
  }
}

# Execution logs and traces: both state machines.
data "aws_iam_policy_document" "state_machine_logs_and_traces" {
  # Execution logs leave Step Functions encrypted for the log delivery service.
  statement {
    sid       = "EncryptExecutionLogs"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.platform.arn]

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:SourceArn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:*"]
    }
  }

  # Log delivery to CloudWatch Logs. The Service Authorization Reference lists no resource type for
  # these actions: only "*" matches them.
  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  # The Service Authorization Reference lists no resource type for these X-Ray actions: only "*"
  # matches them.
  statement {
    sid = "WriteTraces"
    actions = [
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "state-machine"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

resource "aws_sfn_state_machine" "deployment" {
  name     = local.state_machine_name
  type     = "STANDARD"
  role_arn = aws_iam_role.state_machine.arn

  definition = templatefile("${path.module}/asl/deployment.asl.json", {
    validate_code_function_arn = aws_lambda_function.handler["validate_code"].arn
    run_tests_function_arn     = aws_lambda_function.handler["run_tests"].arn
    staging_function_arn       = aws_lambda_function.handler["staging"].arn
    production_function_arn    = aws_lambda_function.handler["production"].arn
    rollback_function_arn      = aws_lambda_function.handler["rollback"].arn
    approval_function_arn      = aws_lambda_function.handler["approval"].arn
    deployments_table_name     = aws_dynamodb_table.deployments.name
    notification_topic_arn     = aws_sns_topic.notifications.arn
    partition                  = local.partition
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
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
    postcondition {
      condition     = self.arn == local.state_machine_arn
      error_message = "The state machine ARN differs from local.state_machine_arn, which the waiter and the IAM policies use."
    }
  }

  depends_on = [aws_iam_role_policy.state_machine]
}
