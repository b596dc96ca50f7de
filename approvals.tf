# Production approvals (docs/approvals.md): a service whose production_approval is required waits,
# once staging's tests pass, for a decision by one of its approvers before DeployProduction. The
# approval handler asks for it (the state machine's RequestApproval state, with a task token) with
# a change summary told to the topic and the chat destinations, and takes the decision from
# POST /approvals on the platform's API (releases-api.tf; it keeps its name, <prefix>-releases, since
# a new name would replace it and change its URL), AWS_IAM-authorized. The handler and the
# method exist whether or not a service requires approval, so services registered by
# modules/service elsewhere can.

locals {
  approval_handlers = {
    approval = {
      function_name = "${var.name_prefix}-approval"
      description   = "Asks for a decision on production with a change summary, and takes it from POST /approvals."
      memory_size   = 512
      timeout       = 120
      # /tmp holds the new package and production's release copy (up to Lambda's 250 MB each).
      ephemeral_storage = 1024
    }
  }

  approval_api_path = "approvals"
  # Built from the API's id: the stage's invoke_url depends on this function, through its integration.
  approval_api_url = "https://${aws_api_gateway_rest_api.releases.id}.execute-api.${local.region}.${local.dns_suffix}/${local.release_api_stage}/${local.approval_api_path}"

  approval_handler_environment = {
    approval = {
      SERVICES_PARAMETER_PREFIX = local.services_parameter_prefix
      DEPLOYMENTS_TABLE         = aws_dynamodb_table.deployments.name
      STATE_MACHINE_ARN         = local.state_machine_arn
      NOTIFICATION_TOPIC_ARN    = aws_sns_topic.notifications.arn
      APPROVAL_API_URL          = local.approval_api_url
      CONSOLE_URL               = local.console_url
    }
  }

  approval_handler_policies = {
    approval = data.aws_iam_policy_document.approval.json
  }
}

resource "aws_api_gateway_resource" "approvals" {
  rest_api_id = aws_api_gateway_rest_api.releases.id
  parent_id   = aws_api_gateway_rest_api.releases.root_resource_id
  path_part   = local.approval_api_path
}

resource "aws_api_gateway_model" "approval_decision" {
  rest_api_id  = aws_api_gateway_rest_api.releases.id
  name         = "ApprovalDecision"
  description  = "A decision on a deployment waiting for approval (schemas/approval-decision.schema.json)."
  content_type = "application/json"
  schema       = file("${path.module}/schemas/approval-decision.schema.json")
}

resource "aws_api_gateway_method" "decide_approval" {
  rest_api_id          = aws_api_gateway_rest_api.releases.id
  resource_id          = aws_api_gateway_resource.approvals.id
  http_method          = "POST"
  authorization        = "AWS_IAM"
  request_validator_id = aws_api_gateway_request_validator.body.id
  request_models       = { "application/json" = aws_api_gateway_model.approval_decision.name }
}

resource "aws_api_gateway_integration" "decide_approval" {
  rest_api_id             = aws_api_gateway_rest_api.releases.id
  resource_id             = aws_api_gateway_resource.approvals.id
  http_method             = aws_api_gateway_method.decide_approval.http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = aws_lambda_function.handler["approval"].invoke_arn
}

resource "aws_lambda_permission" "approval_api" {
  statement_id  = "AcceptDecisionsFromTheApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.handler["approval"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.releases.execution_arn}/*/${aws_api_gateway_method.decide_approval.http_method}${aws_api_gateway_resource.approvals.path}"
}

# What an approver (a person's role) needs besides being one of a service's approvers.
data "aws_iam_policy_document" "approval_api_invoke" {
  statement {
    sid       = "DecideApprovals"
    actions   = ["execute-api:Invoke"]
    resources = ["${aws_api_gateway_rest_api.releases.execution_arn}/${local.release_api_stage}/POST/${local.approval_api_path}"]
  }
}

data "aws_iam_policy_document" "approval" {
  source_policy_documents = [
    data.aws_iam_policy_document.handler_basics["approval"].json,
    data.aws_iam_policy_document.read_artifacts.json,
    data.aws_iam_policy_document.execution_data.json,
    data.aws_iam_policy_document.publish_notifications.json,
    data.aws_iam_policy_document.use_key_through_dynamodb.json,
  ]

  # The copy of the code each service's production runs: <service>/production/<commit>.zip.
  statement {
    sid       = "ReadProductionReleases"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.this["releases"].arn}/*/production/*"]
  }

  statement {
    sid       = "RecordApprovals"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [local.table_arn]
  }

  # The decision's execution: its input names the commit and the service.
  statement {
    sid       = "ReadDeployments"
    actions   = ["states:DescribeExecution"]
    resources = [local.state_machine_executions_arn]
  }

  # The task token names the execution, which IAM cannot scope SendTaskSuccess to (the Service
  # Authorization Reference lists no resource type for task tokens of service integrations): only
  # "*" matches it.
  statement {
    sid       = "AnswerApprovals"
    actions   = ["states:SendTaskSuccess"]
    resources = ["*"]
  }
}
