# The console host of each partition whose console AWS documents; elsewhere the URLs are null.
locals {
  console_hosts = {
    aws        = "${local.region}.console.aws.amazon.com"
    aws-cn     = "console.amazonaws.cn"
    aws-us-gov = "console.amazonaws-us-gov.com"
  }
  console_host = lookup(local.console_hosts, local.partition, null)
  console      = local.console_host == null ? null : "https://${local.console_host}"
}

output "pipeline_name" {
  description = "Name of the CodePipeline pipeline."
  value       = aws_codepipeline.this.name
}

output "pipeline_console_url" {
  description = "The pipeline in the AWS console."
  value       = local.console == null ? null : "${local.console}/codesuite/codepipeline/pipelines/${aws_codepipeline.this.name}/view?region=${local.region}"
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
  description = "S3 bucket of the released artifacts, staging/<commit>.zip and production/<commit>.zip."
  value       = aws_s3_bucket.this["releases"].id
}

output "source_bucket_name" {
  description = "S3 bucket to upload the source zip to (S3 source only, otherwise null)."
  value       = local.source_bucket_name
}

output "staging_function_name" {
  description = "Name of the staging application function."
  value       = local.app.staging.function_name
}

output "production_function_name" {
  description = "Name of the production application function."
  value       = local.app.production.function_name
}

output "alias_name" {
  description = "Alias that serves each environment's traffic."
  value       = var.alias_name
}

output "notification_topic_arn" {
  description = "SNS topic of the deployment notifications."
  value       = aws_sns_topic.notifications.arn
}

output "codedeploy_application_name" {
  description = "CodeDeploy application that holds the staging and production deployment groups."
  value       = aws_codedeploy_app.this.name
}

output "handler_function_names" {
  description = "Name of each platform handler's function (its logs are in /aws/lambda/<name>)."
  value       = { for name, handler in local.handlers : name => handler.function_name }
}
