variable "aws_region" {
  description = "Region of the platform, the parent pipeline and both target pipelines."
  type        = string
  default     = "us-east-1"
}

variable "platform" {
  description = "The platform's `platform` output (terraform output -json platform): its artifact and source buckets, key and waiter function."
  type = object({
    partition            = string
    region               = string
    dns_suffix           = string
    kms_key_arn          = string
    artifact_bucket_name = string
    artifact_bucket_arn  = string
    source_bucket_name   = string
    source_bucket_arn    = string
    waiter_function_name = string
    waiter_function_arn  = string
  })
}

variable "pipeline_waiter" {
  description = "The platform's `pipeline_waiter` output: the waiter's role and the session name it assumes target roles with."
  type = object({
    role_arn     = string
    session_name = string
  })
}

variable "name" {
  description = "Name of the parent pipeline."
  type        = string
  default     = "release-train"
}

variable "same_account_pipeline" {
  description = "A pipeline in the platform's account that the parent starts and waits for. The platform's waiter_pipelines must list it with start = true."
  type        = string
}

variable "target_account_pipeline" {
  description = "A pipeline in the target account whose in-progress (else most recent) execution the parent waits for."
  type        = string
}

variable "target_account_terraform_role_arn" {
  description = "A role in the target account that Terraform assumes to create the pipeline-access role there."
  type        = string
}

variable "allow_starting_target_account_pipeline" {
  description = "Whether the pipeline-access role may also start the target account's pipeline (a waiter action with trigger = true)."
  type        = bool
  default     = false
}
