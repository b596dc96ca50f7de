# ---------------------------------------------------------------------------
# Who may assume the role
# ---------------------------------------------------------------------------

variable "waiter" {
  description = "The platform's waiter: the root configuration's `pipeline_waiter` output (its function_name is not used). role_arn is the waiter's execution role, the one principal the role trusts; session_name is the session name the waiter assumes the role with, which the trust policy requires."
  type = object({
    role_arn     = string
    session_name = string
  })
  nullable = false

  validation {
    condition     = can(regex("^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$", var.waiter.role_arn))
    error_message = "waiter.role_arn must be the ARN of an IAM role, arn:<partition>:iam::<12-digit account>:role/<path/><name> (partition aws, aws-cn, aws-us-gov, ...), without wildcards: the trust policy names it as its one principal. Pass the platform's pipeline_waiter output."
  }

  validation {
    condition     = can(regex("^[\\w+=,.@-]{2,64}$", var.waiter.session_name))
    error_message = "waiter.session_name must be 2 to 64 letters, digits or + = , . @ _ - (an STS role session name): the session name the platform's waiter uses, its pipeline_waiter output's session_name."
  }
}

variable "organization_id" {
  description = "ID of the AWS Organizations organization the waiter's account belongs to. Set, the trust policy also requires aws:PrincipalOrgID to be it; null adds no such condition."
  type        = string
  default     = null

  validation {
    condition     = var.organization_id == null || can(regex("^o-[a-z0-9]{10,32}$", var.organization_id))
    error_message = "organization_id must be an organization ID such as o-a1b2c3d4e5 (o- and 10 to 32 lowercase letters or digits), or null."
  }
}

# ---------------------------------------------------------------------------
# What the role may do
# ---------------------------------------------------------------------------

variable "pipelines" {
  description = "The pipelines of this account the waiter may follow, by name: it may read their executions and action executions (GetPipelineExecution, ListPipelineExecutions, ListActionExecutions), and with start = true also start them (StartPipelineExecution, a waiter action with \"trigger\": true)."
  type = map(object({
    start = optional(bool, false)
  }))
  nullable = false

  validation {
    condition     = length(var.pipelines) > 0
    error_message = "pipelines must name at least one pipeline: a role that may follow none would be of no use to the waiter."
  }

  validation {
    condition     = alltrue([for name in keys(var.pipelines) : can(regex("^[A-Za-z0-9.@_-]{1,100}$", name))])
    error_message = "pipelines: each key must be a pipeline name, 1 to 100 letters, digits or . @ _ - (CodePipeline's naming rule); the role's policy names the pipeline's ARN built from it, so a wildcard is refused."
  }
}

variable "region" {
  description = "Region of the pipelines. Null: the Region of the module's AWS provider."
  type        = string
  default     = null

  validation {
    condition     = var.region == null || can(regex("^[a-z]+(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be a Region code such as us-east-1, us-gov-west-1 or eusc-de-east-1, or null for the provider's Region."
  }
}

# ---------------------------------------------------------------------------
# The role
# ---------------------------------------------------------------------------

variable "role_name" {
  description = "Name of the role. The platform's waiter_target_role_arns lists its ARN, so changing the name means changing that list too."
  type        = string
  default     = "pipeline-waiter-access"
  nullable    = false

  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.role_name))
    error_message = "role_name must be 1 to 64 letters, digits or + = , . @ _ - (IAM's rule for role names)."
  }
}

variable "role_path" {
  description = "IAM path of the role: / or /<segment>/.../, part of its ARN."
  type        = string
  default     = "/"
  nullable    = false

  validation {
    condition     = length(var.role_path) <= 512 && can(regex("^/([\\w+=,.@-]+/)*$", var.role_path))
    error_message = "role_path must start and end with /, with segments of letters, digits or + = , . @ _ - between (e.g. / or /platform/), at most 512 characters."
  }
}

variable "permissions_boundary" {
  description = "ARN of a managed policy set as the role's permissions boundary, where the account requires one. Null: none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary == null || can(regex("^arn:aws(-[a-z]+)*:iam::([0-9]{12}|aws):policy/([\\w+=,.@-]+/)*[\\w+=,.@-]{1,128}$", var.permissions_boundary))
    error_message = "permissions_boundary must be the ARN of an IAM managed policy, arn:<partition>:iam::<12-digit account or aws>:policy/<path/><name>, or null."
  }
}

variable "tags" {
  description = "Tags of the role, next to the provider's default_tags."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = length(var.tags) <= 50 && alltrue([for key, value in var.tags : length(key) >= 1 && length(key) <= 128 && length(value) <= 256 && !startswith(lower(key), "aws:")])
    error_message = "tags: IAM takes at most 50 tags on a role, each key 1 to 128 characters not starting with aws:, each value at most 256 characters."
  }
}
