output "pipeline_name" {
  description = "Name of the parent pipeline."
  value       = aws_codepipeline.parent.name
}

output "target_account_role_arn" {
  description = "The role the waiter assumes in the target account (list it in the platform's waiter_target_role_arns)."
  value       = module.target_account_access.role_arn
}
