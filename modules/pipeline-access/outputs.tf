# role_arn and user_parameters wait for the role's policy: a waiter that assumes the role as soon as
# they are known finds its permissions there.

output "role_arn" {
  description = "ARN of the role the waiter assumes: list it in the platform's waiter_target_role_arns, and give it as role_arn in the waiter action's UserParameters."
  value       = aws_iam_role.this.arn
  depends_on  = [aws_iam_role_policy.this]
}

output "role_name" {
  description = "Name of the role."
  value       = aws_iam_role.this.name
}

output "pipeline_arns" {
  description = "The ARN of each pipeline of var.pipelines, by name, as the role's policy names it."
  value       = local.pipeline_arns
}

output "user_parameters" {
  description = "By pipeline name: the UserParameters, as JSON, of a waiter action that waits for that pipeline through this role, with trigger set to its start; paste it into the parent pipeline's action configuration (and add timeout_minutes, variables, ... as needed)."
  value = {
    for name, pipeline in var.pipelines : name => jsonencode({
      pipeline = name
      role_arn = aws_iam_role.this.arn
      region   = local.region
      trigger  = pipeline.start
    })
  }
  depends_on = [aws_iam_role_policy.this]
}
