# The platform handlers: the deployment's seven here, the approval handler in approvals.tf, the
# releases' three in releases.tf, the notifier in notifications.tf (with chat destinations only). Each one
# has its own log group, role and inline policy; the policy
# documents below grant each handler what it touches for every service (the platform's buckets,
# table, key and the services' registrations). A service's functions, deployment groups and
# pipeline it reaches only as that service's access role for it, which it may assume
# (modules/service/iam.tf).

locals {
  deployment_handlers = {
    validate_code = {
      function_name = "${var.name_prefix}-validate-code"
      description   = "Checks that a build artifact is a deployable package of the application."
      memory_size   = 512
      timeout       = 120
    }
    run_tests = {
      function_name = "${var.name_prefix}-run-tests"
      description   = "Runs the declared test cases against the package, staging or production."
      memory_size   = 1024
      # Lambda's maximum: one phase runs every test case, each limited to TEST_TIMEOUT_SECONDS.
      timeout = 900
      # /tmp holds the artifact and the package unzipped from it (up to Lambda's 250 MB each).
      ephemeral_storage = 1024
    }
    staging = {
      function_name = "${var.name_prefix}-deploy-staging"
      description   = "Publishes an artifact to the staging function and shifts its alias with CodeDeploy."
      memory_size   = 512
      timeout       = 300
    }
    production = {
      function_name = "${var.name_prefix}-deploy-production"
      description   = "Publishes an artifact to the production function and shifts its alias with CodeDeploy."
      memory_size   = 512
      timeout       = 300
    }
    rollback = {
      function_name = "${var.name_prefix}-rollback"
      description   = "Points each alias a failed deployment touched back at the version it ran before."
      memory_size   = 256
      timeout       = 120
    }
    waiter = {
      function_name = "${var.name_prefix}-waiter"
      description   = "Starts the deployment state machine for a pipeline job and reports its outcome to CodePipeline."
      memory_size   = 256
      # Before failing a job whose execution may still run, it waits for stop_deployment's rollback.
      timeout = 180
    }
    stop_deployment = {
      function_name = "${var.name_prefix}-stop-deployment"
      description   = "Stops and rolls back a deployment whose pipeline run was stopped, superseded or failed."
      memory_size   = 256
      timeout       = 150
    }
  }
  handlers = merge(local.deployment_handlers, local.approval_handlers, local.release_handlers, local.notification_handlers)

  # Built from the names: the handlers' policies name each other, and the functions depend on their policies.
  handler_function_arns = { for name, handler in local.handlers : name => "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${handler.function_name}" }

  # The waiter's pipeline mode (docs/pipeline-waits.md): the session name it assumes a target
  # account's role with (modules/pipeline-access trusts that name only; the pipeline_waiter output
  # hands it to the module), and the pipelines of this account it may follow or start.
  pipeline_waiter_session_name = "pipeline-waiter"
  waiter_pipeline_arns         = { for name in keys(var.waiter_pipelines) : name => "arn:${local.partition}:codepipeline:${local.region}:${local.account_id}:${name}" }
  waiter_started_pipeline_arns = [for name, pipeline in var.waiter_pipelines : local.waiter_pipeline_arns[name] if pipeline.start]

  # Besides POWERTOOLS_SERVICE_NAME and POWERTOOLS_LOG_LEVEL, which every handler gets. A handler
  # learns a deployment's targets from the execution input and checks them against the service's
  # registration under SERVICES_PARAMETER_PREFIX (modules/service).
  deployment_handler_environment = {
    validate_code = {
      SERVICES_PARAMETER_PREFIX = local.services_parameter_prefix
    }
    run_tests = {
      SERVICES_PARAMETER_PREFIX = local.services_parameter_prefix
    }
    staging = {
      SERVICES_PARAMETER_PREFIX = local.services_parameter_prefix
      RELEASE_BUCKET            = aws_s3_bucket.this["releases"].id
      DEPLOYMENTS_TABLE         = aws_dynamodb_table.deployments.name
    }
    production = {
      SERVICES_PARAMETER_PREFIX = local.services_parameter_prefix
      RELEASE_BUCKET            = aws_s3_bucket.this["releases"].id
      DEPLOYMENTS_TABLE         = aws_dynamodb_table.deployments.name
    }
    rollback = {
      SERVICES_PARAMETER_PREFIX = local.services_parameter_prefix
      DEPLOYMENTS_TABLE         = aws_dynamodb_table.deployments.name
    }
    waiter = {
      SERVICES_PARAMETER_PREFIX = local.services_parameter_prefix
      STATE_MACHINE_ARN         = local.state_machine_arn
      STOP_FUNCTION_NAME        = local.handlers.stop_deployment.function_name
      PIPELINE_SESSION_NAME     = local.pipeline_waiter_session_name
      WAITER_ROLE_ARN           = aws_iam_role.handler["waiter"].arn
      NOTIFICATION_TOPIC_ARN    = aws_sns_topic.notifications.arn
      CONSOLE_URL               = local.console_url
    }
    stop_deployment = {
      STATE_MACHINE_ARN      = local.state_machine_arn
      ROLLBACK_FUNCTION_NAME = local.handlers.rollback.function_name
      DEPLOYMENTS_TABLE      = aws_dynamodb_table.deployments.name
      NOTIFICATION_TOPIC_ARN = aws_sns_topic.notifications.arn
      CONSOLE_URL            = local.console_url
    }
  }
  handler_environment = merge(local.deployment_handler_environment, local.approval_handler_environment, local.release_handler_environment, local.notification_handler_environment)

  deployment_handler_policies = {
    validate_code   = data.aws_iam_policy_document.validate_code.json
    run_tests       = data.aws_iam_policy_document.run_tests.json
    staging         = data.aws_iam_policy_document.deploy["staging"].json
    production      = data.aws_iam_policy_document.deploy["production"].json
    rollback        = data.aws_iam_policy_document.rollback.json
    waiter          = data.aws_iam_policy_document.waiter.json
    stop_deployment = data.aws_iam_policy_document.stop_deployment.json
  }
  handler_policies = merge(local.deployment_handler_policies, local.approval_handler_policies, local.release_handler_policies, local.notification_handler_policies)

  # The partition's console, for the links of answers and notifications ("" where AWS documents none).
  console_url = local.console == null ? "" : local.console

  artifact_objects_arn = "${aws_s3_bucket.this["artifacts"].arn}/*"
  table_arn            = aws_dynamodb_table.deployments.arn
}

resource "aws_cloudwatch_log_group" "handler" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30 days) because these are operational logs; the deployment history lives in the DynamoDB table. Set 365 or more where a compliance rule requires it.
  for_each = local.handlers

  name              = "/aws/lambda/${each.value.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
}

resource "aws_iam_role" "handler" {
  for_each = local.handlers

  name               = "${each.value.function_name}-role"
  description        = "Execution role of the ${each.value.function_name} function."
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

resource "aws_iam_role_policy" "handler" {
  for_each = local.handlers

  name   = replace(each.key, "_", "-")
  role   = aws_iam_role.handler[each.key].id
  policy = local.handler_policies[each.key]
}

resource "aws_lambda_layer_version" "handlers" {
  layer_name               = "${var.name_prefix}-handlers"
  description              = "Powertools for AWS Lambda and the X-Ray SDK, shared by the platform handlers."
  filename                 = "${path.module}/build/layer.zip"
  source_code_hash         = filebase64sha256("${path.module}/build/layer.zip")
  compatible_runtimes      = [var.lambda_runtime]
  compatible_architectures = [var.lambda_architecture]
}

resource "aws_lambda_function" "handler" {
  #checkov:skip=CKV_AWS_115:Invocations are bounded by the services' pipelines, each of which runs one execution at a time (QUEUED), and by the releases (the API is throttled, the sweep runs once a minute); reserving concurrency would only take capacity from the account's unreserved pool.
  #checkov:skip=CKV_AWS_116:Step Functions invokes the step handlers synchronously and handles their errors (Retry/Catch), and API Gateway answers its caller. CodePipeline (the waiter) and EventBridge (stop_deployment, release_intake, release_events) invoke asynchronously: Lambda retries a failed invocation twice, each is safe to repeat (a release id is accepted once, a wait answered once), and a job left without a result fails at CodePipeline's action timeout.
  #checkov:skip=CKV_AWS_117:The handlers call only public AWS APIs; a VPC would add NAT or endpoints without protecting anything.
  #checkov:skip=CKV_AWS_173:The environment holds resource names and numbers, no secrets; Lambda encrypts it at rest with its service key.
  #checkov:skip=CKV_AWS_272:The handler zips are built by `make package` from this repository and deployed by Terraform; code signing would need a signing profile and a signed upload path outside this configuration.
  for_each = local.handlers

  function_name    = each.value.function_name
  description      = each.value.description
  role             = aws_iam_role.handler[each.key].arn
  runtime          = var.lambda_runtime
  architectures    = [var.lambda_architecture]
  handler          = "handler.handler"
  filename         = "${path.module}/build/${each.key}.zip"
  source_code_hash = filebase64sha256("${path.module}/build/${each.key}.zip")
  layers           = [aws_lambda_layer_version.handlers.arn]
  memory_size      = each.value.memory_size
  timeout          = each.value.timeout

  # /tmp, where the handlers that read the artifact keep it; Lambda's default is 512 MB.
  ephemeral_storage {
    size = lookup(each.value, "ephemeral_storage", 512)
  }

  environment {
    variables = merge(
      {
        POWERTOOLS_SERVICE_NAME = each.value.function_name
        POWERTOOLS_LOG_LEVEL    = "INFO"
      },
      local.handler_environment[each.key],
    )
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_cloudwatch_log_group.handler, aws_iam_role_policy.handler]
}

# ---------------------------------------------------------------------------
# Policy documents, one per handler
# ---------------------------------------------------------------------------

# What every handler needs: its own log group, and X-Ray.
data "aws_iam_policy_document" "handler_basics" {
  for_each = local.handlers

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.handler[each.key].arn}:log-stream:*"]
  }

  # The Service Authorization Reference lists no resource type for these X-Ray actions: only "*"
  # matches them.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

# Reading build artifacts and the services' registrations: validate_code, run_tests, the deploy
# handlers and rollback (the waiter reads the registrations only).
data "aws_iam_policy_document" "read_artifacts" {
  source_policy_documents = [data.aws_iam_policy_document.read_registrations.json]

  statement {
    sid       = "ReadArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [local.artifact_objects_arn]
  }

  statement {
    sid       = "DecryptArtifacts"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.platform.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.${local.dns_suffix}"]
    }
  }
}

# The registrations are the allow-list: only parameters under the prefix, which modules/service writes.
data "aws_iam_policy_document" "read_registrations" {
  statement {
    sid       = "ReadServiceRegistrations"
    actions   = ["ssm:GetParameter"]
    resources = [local.services_parameter_arn]
  }
}

# Acting for a service: its module's access role for this handler (modules/service/iam.tf), which
# trusts this handler's role only.
data "aws_iam_policy_document" "assume_access" {
  for_each = toset(["run_tests", "staging", "production", "rollback", "waiter"])

  statement {
    sid       = "ActForServices"
    actions   = ["sts:AssumeRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${var.name_prefix}/services/*-${replace(each.key, "_", "-")}-access"]
  }
}

data "aws_iam_policy_document" "validate_code" {
  source_policy_documents = [
    data.aws_iam_policy_document.handler_basics["validate_code"].json,
    data.aws_iam_policy_document.read_artifacts.json,
  ]
}

data "aws_iam_policy_document" "run_tests" {
  source_policy_documents = [
    data.aws_iam_policy_document.handler_basics["run_tests"].json,
    data.aws_iam_policy_document.read_artifacts.json,
    data.aws_iam_policy_document.assume_access["run_tests"].json,
  ]
}

# The staging and production handlers: the function, group and release prefix of a service they
# reach through its access role; here, their environment's release copies and the records.
data "aws_iam_policy_document" "deploy" {
  for_each = toset(["staging", "production"])

  source_policy_documents = [
    data.aws_iam_policy_document.handler_basics[each.key].json,
    data.aws_iam_policy_document.read_artifacts.json,
    data.aws_iam_policy_document.assume_access[each.key].json,
  ]

  # <service>/<environment>/<commit>.zip: the handler writes each service's copy of the artifact.
  statement {
    sid       = "WriteReleases"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.this["releases"].arn}/*/${each.key}/*"]
  }

  statement {
    sid       = "UseKeyThroughS3AndDynamoDB"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.platform.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.${local.dns_suffix}", "dynamodb.${local.region}.${local.dns_suffix}"]
    }
  }

  statement {
    sid       = "RecordDeployment"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [local.table_arn]
  }
}

data "aws_iam_policy_document" "rollback" {
  source_policy_documents = [
    data.aws_iam_policy_document.handler_basics["rollback"].json,
    data.aws_iam_policy_document.read_registrations.json,
    data.aws_iam_policy_document.assume_access["rollback"].json,
    data.aws_iam_policy_document.use_key_through_dynamodb.json,
  ]

  statement {
    sid       = "RecordRollback"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [local.table_arn]
  }
}

# The encrypted tables, for a handler that reaches no other encrypted service through it: rollback,
# the approval handler (approvals.tf) and the release handlers (releases.tf).
data "aws_iam_policy_document" "use_key_through_dynamodb" {
  statement {
    sid       = "UseKeyThroughDynamoDB"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.platform.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.${local.dns_suffix}"]
    }
  }
}

# Telling the encrypted topic, for a principal that reaches no other encrypted service: the waiter
# (how a pipeline wait ended) and the ReleaseStateMachine (releases.tf).
data "aws_iam_policy_document" "publish_notifications" {
  statement {
    sid       = "Notify"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
  }

  statement {
    sid       = "UseKeyThroughSns"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.platform.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${local.region}.${local.dns_suffix}"]
    }
  }
}

data "aws_iam_policy_document" "waiter" {
  source_policy_documents = [
    data.aws_iam_policy_document.handler_basics["waiter"].json,
    data.aws_iam_policy_document.execution_data.json,
    data.aws_iam_policy_document.read_registrations.json,
    data.aws_iam_policy_document.assume_access["waiter"].json,
    data.aws_iam_policy_document.publish_notifications.json,
  ]

  statement {
    sid       = "StartDeployment"
    actions   = ["states:StartExecution"]
    resources = [local.state_machine_arn]
  }

  statement {
    sid       = "FollowDeployments"
    actions   = ["states:DescribeExecution"]
    resources = [local.state_machine_executions_arn]
  }

  # Before failing a job whose execution may still run, it has stop_deployment stop and roll it back.
  statement {
    sid       = "StopDeployments"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.handler_function_arns["stop_deployment"]]
  }

  # The Service Authorization Reference lists no resource type for PutJobSuccessResult and
  # PutJobFailureResult: only "*" matches them.
  statement {
    sid       = "ReportJobResult"
    actions   = ["codepipeline:PutJobSuccessResult", "codepipeline:PutJobFailureResult"]
    resources = ["*"]
  }

  # Its pipeline mode, none of which exists with the defaults. The roles of other accounts it may
  # assume, each made there by modules/pipeline-access, only with the session name those trust.
  dynamic "statement" {
    for_each = length(var.waiter_target_role_arns) == 0 ? [] : [var.waiter_target_role_arns]

    content {
      sid       = "AssumePipelineAccessRoles"
      actions   = ["sts:AssumeRole"]
      resources = statement.value

      condition {
        test     = "StringEquals"
        variable = "sts:RoleSessionName"
        values   = [local.pipeline_waiter_session_name]
      }
    }
  }

  # The pipelines of this account it may follow, and those it may also start.
  dynamic "statement" {
    for_each = length(local.waiter_pipeline_arns) == 0 ? [] : [values(local.waiter_pipeline_arns)]

    content {
      sid       = "FollowPipelines"
      actions   = ["codepipeline:GetPipelineExecution", "codepipeline:ListActionExecutions", "codepipeline:ListPipelineExecutions"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = length(local.waiter_started_pipeline_arns) == 0 ? [] : [local.waiter_started_pipeline_arns]

    content {
      sid       = "StartPipelines"
      actions   = ["codepipeline:StartPipelineExecution"]
      resources = statement.value
    }
  }
}
