# The console host of each partition whose console AWS documents; elsewhere the URLs are null.
locals {
  console_hosts = {
    aws        = "${local.region}.console.aws.amazon.com"
    aws-cn     = "console.amazonaws.cn"
    aws-us-gov = "console.amazonaws-us-gov.com"
  }
  console_host = lookup(local.console_hosts, local.partition, null)
  console      = local.console_host == null ? null : "https://${local.console_host}"

  # The service keyed default, which the single-service outputs below describe (null without it).
  default_service = try(module.service["default"], null)

  pipeline_console_urls = {
    for key, service in module.service : key => local.console == null ? null : "${local.console}/codesuite/codepipeline/pipelines/${service.pipeline_name}/view?region=${local.region}"
  }
}

output "services" {
  description = "Each service by key: its pipeline (name and console URL), functions, alias, CodeDeploy application, deployment configs, error alarm, source and registration parameter."
  value = {
    for key, service in module.service : key => merge(service, { pipeline_console_url = local.pipeline_console_urls[key] })
  }
}

output "platform" {
  description = "What modules/service needs from this platform, for services in other configurations: pass it as the module's platform input."
  value       = local.platform
}

output "pipeline_waiter" {
  description = "The waiter of pipeline actions that wait for other pipelines: its function (the FunctionName of such an action), its role's ARN and the session name it assumes other accounts' roles with. Pass it as modules/pipeline-access's waiter input in a target account."
  value = {
    function_name = aws_lambda_function.handler["waiter"].function_name
    role_arn      = aws_iam_role.handler["waiter"].arn
    session_name  = local.pipeline_waiter_session_name
  }
}

output "pipeline_name" {
  description = "Name of the CodePipeline pipeline of the service keyed default (null without one)."
  value       = try(local.default_service.pipeline_name, null)
}

output "pipeline_console_url" {
  description = "The default service's pipeline in the AWS console."
  value       = try(local.pipeline_console_urls["default"], null)
}

output "state_machine_arn" {
  description = "ARN of the DeploymentStateMachine."
  value       = aws_sfn_state_machine.deployment.arn
}

output "state_machine_executions_console_url" {
  description = "The state machine's executions in the AWS console."
  value       = local.console == null ? null : "${local.console}/states/home?region=${local.region}#/statemachines/view/${aws_sfn_state_machine.deployment.arn}"
}

output "deployments_table_name" {
  description = "DynamoDB table of deployment records (key: commit_id + execution_name)."
  value       = aws_dynamodb_table.deployments.name
}

output "deployments_table_console_url" {
  description = "The deployment records in the AWS console."
  value       = local.console == null ? null : "${local.console}/dynamodbv2/home?region=${local.region}#item-explorer?table=${aws_dynamodb_table.deployments.name}"
}

output "artifact_bucket_name" {
  description = "S3 bucket of the pipeline artifacts."
  value       = aws_s3_bucket.this["artifacts"].id
}

output "release_bucket_name" {
  description = "S3 bucket of the released artifacts, <service>/<environment>/<commit>.zip."
  value       = aws_s3_bucket.this["releases"].id
}

output "source_bucket_name" {
  description = "S3 bucket the S3-sourced services' source zips are uploaded to (null when the platform has none)."
  value       = local.source_bucket_name
}

output "staging_function_name" {
  description = "Name of the default service's staging application function."
  value       = try(local.default_service.functions.staging.function_name, null)
}

output "production_function_name" {
  description = "Name of the default service's production application function."
  value       = try(local.default_service.functions.production.function_name, null)
}

output "alias_name" {
  description = "Alias that serves each environment's traffic in the default service."
  value       = try(local.default_service.alias_name, null)
}

output "notification_topic_arn" {
  description = "SNS topic of the deployment notifications."
  value       = aws_sns_topic.notifications.arn
}

output "codedeploy_application_name" {
  description = "CodeDeploy application of the default service's staging and production deployment groups."
  value       = try(local.default_service.codedeploy_application_name, null)
}

output "handler_function_names" {
  description = "Name of each platform handler's function (its logs are in /aws/lambda/<name>)."
  value       = { for name, handler in local.handlers : name => handler.function_name }
}

output "releases" {
  description = "Releases (docs/releases.md): where to upload a manifest, the IAM policy a caller of POST /releases (release_api_url) needs, the ReleaseStateMachine (and its executions in the console), the records' table, and the pipelines a manifest may name."
  value = {
    upload_location        = "s3://${aws_s3_bucket.this["releases"].id}/${local.release_upload_prefix}"
    api_invoke_policy      = data.aws_iam_policy_document.release_api_invoke.json
    state_machine_arn      = aws_sfn_state_machine.release.arn
    executions_console_url = local.console == null ? null : "${local.console}/states/home?region=${local.region}#/statemachines/view/${aws_sfn_state_machine.release.arn}"
    table_name             = aws_dynamodb_table.releases.name
    sweep_rule_name        = aws_cloudwatch_event_rule.release_sweep.name
    pipelines              = local.release_pipelines
  }
}

output "release_api_url" {
  description = "URL of POST /releases, the release button: `make release MANIFEST=manifest.json URL=\"$(terraform output -raw release_api_url)\"`."
  value       = "${aws_api_gateway_stage.releases.invoke_url}/releases"
}

output "approval_api_url" {
  description = "URL of POST /approvals, where an approver decides a deployment waiting for approval: `make approve EXECUTION=<name> DECISION=approve URL=\"$(terraform output -raw approval_api_url)\"`."
  value       = "${aws_api_gateway_stage.releases.invoke_url}/${local.approval_api_path}"
}

output "approvals" {
  description = "Production approvals (docs/approvals.md): the IAM policy an approver needs to call POST /approvals (approval_api_url), and each service's approval settings as registered."
  value = {
    api_invoke_policy = data.aws_iam_policy_document.approval_api_invoke.json
    services          = { for key, service in module.service : key => service.production_approval }
  }
}

output "pipeline_releases" {
  description = "The release handlers' roles (release_steps and release_events) and the session name they assume other accounts' roles with. Pass it as modules/pipeline-access's releases input in a target account."
  value = {
    role_arns    = [aws_iam_role.handler["release_steps"].arn, aws_iam_role.handler["release_events"].arn]
    session_name = local.release_session_name
  }
}

output "chat_destinations" {
  description = "Each chat destination's type and secret, with the command that puts its webhook URL in a secret Terraform created (docs/notifications.md)."
  value = {
    for key, destination in var.chat_destinations : key => {
      type       = destination.type
      secret_arn = local.chat_secret_arns[key]
      put_url    = destination.secret_arn == null ? "aws secretsmanager put-secret-value --secret-id ${local.chat_secret_arns[key]} --secret-string 'https://...'" : null
    }
  }
}

output "chat_failures" {
  description = "Where chat notifications that could not be delivered wait (the SQS queue's URL), and the alarm that says so; null without chat_destinations."
  value = local.chat_enabled ? {
    queue_url  = aws_sqs_queue.chat_failures[0].url
    alarm_name = aws_cloudwatch_metric_alarm.chat_failures[0].alarm_name
  } : null
}
