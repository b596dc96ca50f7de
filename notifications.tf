# Chat notifications (docs/notifications.md): every notification the platform publishes to its topic
# (deployments, releases, pipeline waits) is also posted by the notifier to each chat destination of
# var.chat_destinations: Slack, Microsoft Teams or a generic JSON webhook. Webhook URLs are secrets in
# Secrets Manager that only the notifier reads. A delivery that still fails after the notifier's
# retries waits in the chat-failures queue, whose depth raises an alarm. None of this exists while
# var.chat_destinations is empty.

locals {
  chat_enabled    = length(var.chat_destinations) > 0
  chat_alarm_name = "${var.name_prefix}-chat-notifications-failing"

  # The secret of each destination: the one given, or the one created here (without a value).
  chat_secret_arns = {
    for key, destination in var.chat_destinations :
    key => destination.secret_arn != null ? destination.secret_arn : aws_secretsmanager_secret.chat[key].arn
  }

  notification_handlers = local.chat_enabled ? {
    notifier = {
      function_name = "${var.name_prefix}-notifier"
      description   = "Posts the platform's notifications (its SNS topic) to the chat destinations: Slack, Microsoft Teams, webhooks."
      memory_size   = 256
      # Destinations are posted to at once; each gets three attempts of at most 5 s, and a wait a
      # rate-limited service asks for of at most 10 s.
      timeout = 60
    }
  } : {}

  notifier_environment = {
    CHAT_DESTINATIONS = jsonencode({
      for key, destination in var.chat_destinations :
      key => { type = destination.type, secret_arn = local.chat_secret_arns[key], statuses = destination.statuses }
    })
    CHAT_FAILURES_QUEUE_URL = one(aws_sqs_queue.chat_failures[*].url)
    DEPLOYMENTS_TABLE       = aws_dynamodb_table.deployments.name
    CONSOLE_URL             = local.console_url
  }
  notification_handler_environment = local.chat_enabled ? { notifier = local.notifier_environment } : {}

  notification_handler_policies = local.chat_enabled ? { notifier = data.aws_iam_policy_document.notifier[0].json } : {}
}

resource "aws_secretsmanager_secret" "chat" {
  #checkov:skip=CKV2_AWS_57:A webhook URL is issued by the chat service (Slack, Teams); no rotation function can make a new one. Replace it with put-secret-value when the service reissues it.
  for_each = { for key, destination in var.chat_destinations : key => destination if destination.secret_arn == null }

  name        = "${var.name_prefix}/chat/${each.key}"
  description = "Webhook URL of the ${each.key} chat destination (${each.value.type}). Terraform creates it without a value: put the URL with aws secretsmanager put-secret-value."
  kms_key_id  = aws_kms_key.platform.arn
}

resource "aws_sqs_queue" "chat_failures" {
  count = local.chat_enabled ? 1 : 0

  name                              = "${var.name_prefix}-chat-failures"
  kms_master_key_id                 = aws_kms_key.platform.arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = 1209600 # 14 days, SQS's maximum
}

resource "aws_sns_topic_subscription" "notifier" {
  count = local.chat_enabled ? 1 : 0

  topic_arn = aws_sns_topic.notifications.arn
  protocol  = "lambda"
  endpoint  = aws_lambda_function.handler["notifier"].arn
}

resource "aws_lambda_permission" "topic_invokes_notifier" {
  count = local.chat_enabled ? 1 : 0

  statement_id  = "TopicInvokesNotifier"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.handler["notifier"].function_name
  principal     = "sns.amazonaws.com"
  source_arn    = aws_sns_topic.notifications.arn
}

# SNS invokes the notifier asynchronously. The notifier retries each destination itself and queues
# what still fails; a second run by Lambda would post again to every destination that already got
# the message, so a run that fails as a whole (a timeout) goes to the queue at once, event and all.
resource "aws_lambda_function_event_invoke_config" "notifier" {
  count = local.chat_enabled ? 1 : 0

  function_name                = aws_lambda_function.handler["notifier"].function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 3600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.chat_failures[0].arn
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "chat_failures" {
  count = local.chat_enabled ? 1 : 0

  alarm_name          = local.chat_alarm_name
  alarm_description   = "Chat notifications could not be delivered. Each waits in the ${aws_sqs_queue.chat_failures[0].name} queue with its destination and the error (a secret without a value, a chat service that is down or refuses the webhook)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.chat_failures[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = concat([aws_sns_topic.notifications.arn], var.chat_alarm_actions)
  ok_actions          = concat([aws_sns_topic.notifications.arn], var.chat_alarm_actions)
}

data "aws_iam_policy_document" "notifier" {
  count = local.chat_enabled ? 1 : 0

  source_policy_documents = [data.aws_iam_policy_document.handler_basics["notifier"].json]

  statement {
    sid       = "ReadWebhookUrls"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(local.chat_secret_arns)
  }

  # The versions before and after, from the deployment record.
  statement {
    sid       = "ReadDeploymentRecords"
    actions   = ["dynamodb:GetItem"]
    resources = [local.table_arn]
  }

  # Both the notifier and Lambda's on-failure destination send with the notifier's role.
  statement {
    sid       = "QueueFailedDeliveries"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.chat_failures[0].arn]
  }

  statement {
    sid       = "UseKeyThroughSecretsSqsAndDynamoDB"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = concat([aws_kms_key.platform.arn], var.chat_secret_key_arns)

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "secretsmanager.${local.region}.${local.dns_suffix}",
        "sqs.${local.region}.${local.dns_suffix}",
        "dynamodb.${local.region}.${local.dns_suffix}",
      ]
    }
  }
}
