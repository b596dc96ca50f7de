# role_arn, user_parameters and manifest_entries wait for the role's policy: a waiter or a release
# that assumes the role as soon as they are known finds its permissions there.

output "role_arn" {
  description = "ARN of the role the waiter and the releases assume: list it in the platform's waiter_target_role_arns (with waiter) and release_target_role_arns (with releases), and give it as role_arn in the waiter action's UserParameters or a release manifest's pipeline."
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
  description = "By pipeline name: the UserParameters, as JSON, of a waiter action that waits for that pipeline through this role, with trigger set to its start; paste it into the parent pipeline's action configuration (and add timeout_minutes, variables, ... as needed). Empty without waiter."
  value = var.waiter == null ? {} : {
    for name, pipeline in var.pipelines : name => jsonencode({
      pipeline = name
      role_arn = aws_iam_role.this.arn
      region   = local.region
      trigger  = pipeline.start
    })
  }
  depends_on = [aws_iam_role_policy.this]
}

output "manifest_entries" {
  description = "By pipeline name, for each pipeline with start = true (a release starts every pipeline of its manifest): the entry, as JSON, of a release manifest's pipelines that releases that pipeline through this role, {\"name\", \"role_arn\"}; add after, variables, source_revisions as needed. Empty without releases."
  value = var.releases == null ? {} : {
    for name, pipeline in var.pipelines : name => jsonencode({
      name     = name
      role_arn = aws_iam_role.this.arn
    }) if pipeline.start
  }
  depends_on = [aws_iam_role_policy.this]
}
