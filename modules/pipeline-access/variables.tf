# ---------------------------------------------------------------------------
# Who may assume the role
# ---------------------------------------------------------------------------

variable "waiter" {
  description = "The platform's waiter: the root configuration's `pipeline_waiter` output (its function_name is not used). role_arn is the waiter's execution role, which the trust policy's PlatformWaiter statement names as its one principal; session_name is the session name the waiter assumes the role with, which that statement requires. Null: the waiter may not assume the role (releases must then be set)."
  type = object({
    role_arn     = string
    session_name = string
  })
  default = null

  validation {
    condition     = var.waiter == null || can(regex("^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$", var.waiter.role_arn))
    error_message = "waiter.role_arn must be the ARN of an IAM role, arn:<partition>:iam::<12-digit account>:role/<path/><name> (partition aws, aws-cn, aws-us-gov, ...), without wildcards: the trust policy's PlatformWaiter statement names it as its one principal. Pass the platform's pipeline_waiter output."
  }

  validation {
    condition     = var.waiter == null || can(regex("^[\\w+=,.@-]{2,64}$", var.waiter.session_name))
    error_message = "waiter.session_name must be 2 to 64 letters, digits or + = , . @ _ - (an STS role session name): the session name the platform's waiter uses, its pipeline_waiter output's session_name."
  }
}

variable "releases" {
  description = "The platform's release handlers (docs/releases.md): the root configuration's `pipeline_releases` output. role_arns are the roles of release_steps and release_events, which the trust policy's PlatformReleases statement names as its principals; session_name is the session name they assume the role with, which that statement requires. Set, the releases' sessions may also stop the pipelines with start = true (StopPipelines). Null: no release may assume the role."
  type = object({
    role_arns    = list(string)
    session_name = string
  })
  default = null

  # The rules that also read var.waiter are here (a rule of var.waiter reading var.releases would
  # make a cycle).
  validation {
    condition     = var.waiter != null || var.releases != null
    error_message = "waiter and releases are both null: the role would trust nobody. Set waiter (the platform's pipeline_waiter output), releases (its pipeline_releases output), or both."
  }

  validation {
    condition     = var.releases == null || try(length(var.releases.role_arns) > 0, false)
    error_message = "releases.role_arns must list at least one role: the platform's pipeline_releases output lists the roles of release_steps and release_events."
  }

  validation {
    condition     = var.releases == null || try(alltrue([for arn in var.releases.role_arns : can(regex("^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$", arn))]), true)
    error_message = "releases.role_arns: each entry must be the ARN of an IAM role, arn:<partition>:iam::<12-digit account>:role/<path/><name> (partition aws, aws-cn, aws-us-gov, ...), without wildcards: the trust policy names them as its principals. Pass the platform's pipeline_releases output."
  }

  validation {
    condition     = var.releases == null || anytrue([for pipeline in var.pipelines : pipeline.start])
    error_message = "releases is set but no pipeline of pipelines has start = true: a release starts every pipeline of its manifest, so it could release none here. Set start = true on the pipelines releases may run, or leave releases null."
  }

  validation {
    condition     = var.releases == null || try(length(distinct(var.releases.role_arns)) == length(var.releases.role_arns), true)
    error_message = "releases.role_arns lists a role twice: list each once."
  }

  validation {
    condition     = var.releases == null || can(regex("^[\\w+=,.@-]{2,64}$", var.releases.session_name))
    error_message = "releases.session_name must be 2 to 64 letters, digits or + = , . @ _ - (an STS role session name): the session name the platform's release handlers use, its pipeline_releases output's session_name."
  }

  # The role's policy lets only the releases' sessions stop a pipeline, telling them from the
  # waiter's by their session name (main.tf, StopPipelines).
  validation {
    condition     = try(var.releases.session_name != var.waiter.session_name && !contains(var.releases.role_arns, var.waiter.role_arn), true)
    error_message = "releases must be told apart from the waiter: releases.session_name must differ from waiter.session_name, and releases.role_arns must not list waiter.role_arn (only a release's session may stop a pipeline). Pass the platform's pipeline_releases and pipeline_waiter outputs."
  }
}

variable "organization_id" {
  description = "ID of the AWS Organizations organization the platform's account belongs to. Set, each statement of the trust policy (the waiter's and the releases') also requires aws:PrincipalOrgID to be it; null adds no such condition."
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
  description = "The pipelines of this account the waiter and the releases may follow, by name: they may read their executions and action executions (GetPipelineExecution, ListPipelineExecutions, ListActionExecutions), and with start = true also start them (StartPipelineExecution: a waiter action with \"trigger\": true, or a release, which starts every pipeline of its manifest), and, the releases alone, stop them (StopPipelineExecution)."
  type = map(object({
    start = optional(bool, false)
  }))
  nullable = false

  validation {
    condition     = length(var.pipelines) > 0
    error_message = "pipelines must name at least one pipeline: a role that may follow none would be of no use to the waiter or a release."
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
  description = "Name of the role. The platform's waiter_target_role_arns (and, with releases, release_target_role_arns) lists its ARN, so changing the name means changing those lists too."
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
