output "name" {
  description = "The service's key in the platform's registry."
  value       = var.name
}

output "pipeline_name" {
  description = "Name of the service's CodePipeline pipeline."
  value       = aws_codepipeline.this.name
}

output "pipeline_arn" {
  description = "ARN of the service's pipeline."
  value       = aws_codepipeline.this.arn
}

output "functions" {
  description = "The application function of each environment (staging, production): its name, ARN and the ARN of its alias."
  value       = local.app
}

output "alias_name" {
  description = "Alias that serves each environment's traffic."
  value       = var.app.alias
}

output "codedeploy_application_name" {
  description = "CodeDeploy application that holds the service's staging and production deployment groups."
  value       = aws_codedeploy_app.this.name
}

output "deployment_config_names" {
  description = "The deployment configuration of each environment's group, by name."
  value       = local.deployment_config_names
}

output "production_error_alarm_name" {
  description = "The alarm on the production alias's errors that stops and rolls back a production deployment."
  value       = aws_cloudwatch_metric_alarm.production_errors.alarm_name
}

output "source" {
  description = "Where a commit goes to start the pipeline: the provider, and for S3 the bucket and key to upload the source zip to."
  value = {
    provider   = var.pipeline_source.provider
    bucket     = var.pipeline_source.provider == "S3" ? var.platform.source_bucket_name : null
    object_key = var.pipeline_source.provider == "S3" ? var.pipeline_source.object_key : null
  }
}

output "registration_parameter_name" {
  description = "SSM parameter that registers the service with the platform (what its handlers may deploy, test and roll back)."
  value       = aws_ssm_parameter.registration.name
}

output "production_approval" {
  description = "Whether production waits for a decision, whose (approvers) and for how long (timeout_minutes), as the service registers it."
  value       = var.production_approval
}
