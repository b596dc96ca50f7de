# The seven platform handlers. Each one has its own log group, role and inline policy; the policy
# documents below grant each handler only what it touches.

locals {
  handlers = {
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

  # Built from the names: the handlers' policies name each other, and the functions depend on their policies.
  handler_function_arns = { for name, handler in local.handlers : name => "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${handler.function_name}" }

  deploy_handler_environment = {
    for environment in local.environments : environment => {
      FUNCTION_NAME              = local.app[environment].function_name
      ALIAS_NAME                 = var.alias_name
      CODEDEPLOY_APPLICATION     = aws_codedeploy_app.this.name
      DEPLOYMENT_GROUP           = aws_codedeploy_deployment_group.environment[environment].deployment_group_name
      RELEASE_BUCKET             = aws_s3_bucket.this["releases"].id
      DEPLOYMENTS_TABLE          = aws_dynamodb_table.deployments.name
      DEPLOYMENT_TIMEOUT_SECONDS = tostring(var.deployment_timeout_seconds)
      POLL_INTERVAL_SECONDS      = tostring(var.poll_interval_seconds)
    }
  }

  # Besides POWERTOOLS_SERVICE_NAME and POWERTOOLS_LOG_LEVEL, which every handler gets.
  handler_environment = {
    validate_code = {
      APP_HANDLER     = var.app_handler
      TEST_CASES_PATH = var.test_cases_path
    }
    run_tests = {
      APP_HANDLER              = var.app_handler
      TEST_CASES_PATH          = var.test_cases_path
      TEST_TIMEOUT_SECONDS     = tostring(var.test_timeout_seconds)
      STAGING_FUNCTION_NAME    = local.app.staging.function_name
      PRODUCTION_FUNCTION_NAME = local.app.production.function_name
      ALIAS_NAME               = var.alias_name
    }
    staging    = local.deploy_handler_environment.staging
    production = local.deploy_handler_environment.production
    rollback = {
      DEPLOYMENTS_TABLE        = aws_dynamodb_table.deployments.name
      STAGING_FUNCTION_NAME    = local.app.staging.function_name
      PRODUCTION_FUNCTION_NAME = local.app.production.function_name
      ALIAS_NAME               = var.alias_name
    }
    waiter = {
      STATE_MACHINE_ARN  = local.state_machine_arn
      STOP_FUNCTION_NAME = local.handlers.stop_deployment.function_name
    }
    stop_deployment = {
      STATE_MACHINE_ARN      = local.state_machine_arn
      ROLLBACK_FUNCTION_NAME = local.handlers.rollback.function_name
      DEPLOYMENTS_TABLE      = aws_dynamodb_table.deployments.name
      NOTIFICATION_TOPIC_ARN = aws_sns_topic.notifications.arn
    }
  }

  handler_policies = {
    validate_code   = data.aws_iam_policy_document.validate_code.json
    run_tests       = data.aws_iam_policy_document.run_tests.json
    staging         = data.aws_iam_policy_document.deploy["staging"].json
    production      = data.aws_iam_policy_document.deploy["production"].json
    rollback        = data.aws_iam_policy_document.rollback.json
    waiter          = data.aws_iam_policy_document.waiter.json
    stop_deployment = data.aws_iam_policy_document.stop_deployment.json
  }

  artifact_objects_arn  = "${aws_s3_bucket.this["artifacts"].arn}/*"
  table_arn             = aws_dynamodb_table.deployments.arn
  codedeploy_arn_prefix = "arn:${local.partition}:codedeploy:${local.region}:${local.account_id}"
  deployment_group_arns = {
    for environment, group in aws_codedeploy_deployment_group.environment :
    environment => "${local.codedeploy_arn_prefix}:deploymentgroup:${aws_codedeploy_app.this.name}/${group.deployment_group_name}"
  }
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
  assume_role_policy = data.aws_iam_policy_document.trust["lambda"].json
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
  #checkov:skip=CKV_AWS_115:Invocations are bounded by the pipeline, which runs one execution at a time (QUEUED); reserving concurrency would only take capacity from the account's unreserved pool.
  #checkov:skip=CKV_AWS_116:Step Functions invokes the step handlers synchronously and handles their errors (Retry/Catch). CodePipeline (the waiter) and EventBridge (stop_deployment) invoke asynchronously: Lambda retries a failed invocation twice, both are safe to repeat, and a job left without a result fails at CodePipeline's action timeout.
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

# Reading build artifacts: validate_code, run_tests and the deploy handlers.
data "aws_iam_policy_document" "read_artifacts" {
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
  ]

  statement {
    sid       = "InvokeApplicationAliases"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.app.staging.alias_arn, local.app.production.alias_arn]
  }
}

# The staging and production handlers: each reaches only its own environment.
data "aws_iam_policy_document" "deploy" {
  for_each = toset(local.environments)

  source_policy_documents = [
    data.aws_iam_policy_document.handler_basics[each.key].json,
    data.aws_iam_policy_document.read_artifacts.json,
  ]

  # UpdateFunctionCode reads the release object with the caller's permissions.
  statement {
    sid       = "WriteOwnReleases"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.this["releases"].arn}/${each.key}/*"]
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
    sid = "UpdateOwnFunction"
    actions = [
      "lambda:GetAlias",
      "lambda:GetFunction",
      "lambda:GetFunctionConfiguration",
      "lambda:UpdateFunctionCode",
      "lambda:PublishVersion",
    ]
    resources = [local.app[each.key].function_arn, "${local.app[each.key].function_arn}:*"]
  }

  statement {
    sid       = "DeployThroughOwnGroup"
    actions   = ["codedeploy:CreateDeployment", "codedeploy:GetDeployment", "codedeploy:GetDeploymentGroup"]
    resources = [local.deployment_group_arns[each.key]]
  }

  # A deployment created while the execution was being stopped is stopped at once. The Service
  # Authorization Reference lists no resource type for StopDeployment: only "*" matches it.
  statement {
    sid       = "StopOwnDeployment"
    actions   = ["codedeploy:StopDeployment"]
    resources = ["*"]
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

  statement {
    sid       = "RecordDeployment"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [local.table_arn]
  }
}

data "aws_iam_policy_document" "rollback" {
  source_policy_documents = [data.aws_iam_policy_document.handler_basics["rollback"].json]

  statement {
    sid       = "RestoreAliases"
    actions   = ["lambda:GetAlias", "lambda:GetFunctionConfiguration", "lambda:UpdateAlias"]
    resources = flatten([for app in values(local.app) : [app.function_arn, "${app.function_arn}:*"]])
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

  statement {
    sid       = "RecordRollback"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [local.table_arn]
  }

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

data "aws_iam_policy_document" "waiter" {
  source_policy_documents = [
    data.aws_iam_policy_document.handler_basics["waiter"].json,
    data.aws_iam_policy_document.execution_data.json,
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

  # Whether the pipeline run still waits, once it has started the run's deployment.
  statement {
    sid       = "ReadPipelineRun"
    actions   = ["codepipeline:GetPipelineExecution"]
    resources = ["arn:${local.partition}:codepipeline:${local.region}:${local.account_id}:${local.pipeline_name}"]
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
}
