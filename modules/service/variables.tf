# ---------------------------------------------------------------------------
# The service and the platform it registers with
# ---------------------------------------------------------------------------

variable "name" {
  description = "The service's key: it names the service in the platform's registry, its executions (<name>-<commit>-<job>), deployment records and notifications, and (unless resource_name_prefix is set) its resources."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}$", var.name))
    error_message = "name must be 1 to 23 lowercase letters, digits or hyphens, starting with a letter: it ends up in execution names (80 characters) and IAM role names (64)."
  }
}

variable "platform" {
  description = "The shared platform this service deploys through: the root configuration's `platform` output."
  type = object({
    name_prefix               = string
    region                    = string
    account_id                = string
    partition                 = string
    dns_suffix                = string
    kms_key_arn               = string
    artifact_bucket_name      = string
    artifact_bucket_arn       = string
    release_bucket_arn        = string
    source_bucket_name        = optional(string)
    source_bucket_arn         = optional(string)
    services_parameter_prefix = string
    state_machine_arn         = string
    waiter_function_name      = string
    waiter_function_arn       = string
    handler_role_arns         = map(string)
    lambda_runtime            = string
    lambda_architecture       = string
    log_retention_days        = number
    deployment_config_names   = map(string)
  })
}

variable "resource_name_prefix" {
  description = "Prefix of the names of this service's resources. Null: <platform name_prefix>-<name>. The root configuration passes the platform's own prefix for the service keyed default, so that it keeps the names the single-application release gave them."
  type        = string
  default     = null

  validation {
    condition     = var.resource_name_prefix == null || can(regex("^[a-z][a-z0-9-]{1,43}$", var.resource_name_prefix))
    error_message = "resource_name_prefix must be 2 to 44 lowercase letters, digits or hyphens, starting with a letter (IAM role names such as <prefix>-app-production-role are at most 64 characters)."
  }

  # The platform key's policy lets CloudWatch Logs use it for log groups named after the platform's
  # prefix, and the rule that stops deployments of ended pipeline runs matches pipelines named so.
  validation {
    condition     = var.resource_name_prefix == null || var.resource_name_prefix == var.platform.name_prefix || startswith(coalesce(var.resource_name_prefix, "-"), "${var.platform.name_prefix}-")
    error_message = "resource_name_prefix must be the platform's name_prefix or start with it and a hyphen: the platform key encrypts only log groups named so, and the platform stops only the deployments of pipelines named so."
  }
}

# ---------------------------------------------------------------------------
# The application
# ---------------------------------------------------------------------------

variable "app" {
  description = "The application functions: handler (module.function inside the artifact), alias (serves each environment's traffic; CodeDeploy shifts it), initial_package (the zip Terraform creates the functions from; the pipeline's first run replaces it), or existing functions of your own to deploy instead of creating two (each must already have the alias, on a published version)."
  type = object({
    handler                           = optional(string, "app.handler")
    alias                             = optional(string, "live")
    initial_package                   = optional(string)
    existing_staging_function_name    = optional(string)
    existing_production_function_name = optional(string)
  })
  default  = {}
  nullable = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_./-]+\\.[A-Za-z_][A-Za-z0-9_]*$", var.app.handler))
    error_message = "app.handler must look like module.function, for example app.handler."
  }

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{0,127}$", var.app.alias))
    error_message = "app.alias must start with a letter and hold at most 128 letters, digits, hyphens or underscores."
  }

  validation {
    condition     = var.app.existing_production_function_name == null || var.app.existing_production_function_name != var.app.existing_staging_function_name
    error_message = "existing_production_function_name and existing_staging_function_name name the same function: staging and production must be two functions, or a staging deployment would change production."
  }

  validation {
    condition     = var.app.initial_package != null || (var.app.existing_staging_function_name != null && var.app.existing_production_function_name != null)
    error_message = "app.initial_package is needed to create the staging or production function: set it to the path of a Lambda zip (the root configuration uses build/app.zip), or name both existing functions."
  }
}

variable "tests" {
  description = "The declared test cases: cases_path inside the artifact, and the time limit of one case in seconds."
  type = object({
    cases_path      = optional(string, "test_cases.json")
    timeout_seconds = optional(number, 30)
  })
  default  = {}
  nullable = false

  validation {
    condition     = length(trimspace(var.tests.cases_path)) > 0
    error_message = "tests.cases_path must not be empty."
  }

  validation {
    condition     = var.tests.timeout_seconds >= 1 && var.tests.timeout_seconds <= 840
    error_message = "tests.timeout_seconds must be between 1 and 840, below the 900-second limit of the run_tests function."
  }
}

# ---------------------------------------------------------------------------
# Deployments
# ---------------------------------------------------------------------------

locals {
  # The predefined deployment configurations of the Lambda compute platform.
  predefined_deployment_configs = [
    "CodeDeployDefault.LambdaAllAtOnce",
    "CodeDeployDefault.LambdaCanary10Percent5Minutes",
    "CodeDeployDefault.LambdaCanary10Percent10Minutes",
    "CodeDeployDefault.LambdaCanary10Percent15Minutes",
    "CodeDeployDefault.LambdaCanary10Percent30Minutes",
    "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
    "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
    "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
    "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
  ]
}

variable "deployment" {
  description = "How each environment deploys: staging_config and production_config name a predefined CodeDeployDefault.Lambda* configuration or a key of the platform's custom_deployment_configs; timeout_seconds is how long a deployment may run past its traffic shift before it is rolled back; poll_interval_seconds is the time between two checks of a deployment still running then."
  type = object({
    staging_config        = optional(string, "CodeDeployDefault.LambdaAllAtOnce")
    production_config     = optional(string, "CodeDeployDefault.LambdaCanary10Percent5Minutes")
    timeout_seconds       = optional(number, 1800)
    poll_interval_seconds = optional(number, 5)
  })
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for config in [var.deployment.staging_config, var.deployment.production_config] : contains(local.predefined_deployment_configs, config) || contains(keys(var.platform.deployment_config_names), config)])
    error_message = "deployment.staging_config and deployment.production_config must each be a predefined configuration (CodeDeployDefault.LambdaAllAtOnce, CodeDeployDefault.LambdaCanary10Percent5Minutes, CodeDeployDefault.LambdaCanary10Percent10Minutes, CodeDeployDefault.LambdaCanary10Percent15Minutes, CodeDeployDefault.LambdaCanary10Percent30Minutes, CodeDeployDefault.LambdaLinear10PercentEvery1Minute, CodeDeployDefault.LambdaLinear10PercentEvery2Minutes, CodeDeployDefault.LambdaLinear10PercentEvery3Minutes or CodeDeployDefault.LambdaLinear10PercentEvery10Minutes) or a key of the platform's custom_deployment_configs. For another shape, add one there, e.g. custom_deployment_configs = { canary-25-15 = { type = \"TimeBasedCanary\", percentage = 25, interval_minutes = 15 } }, and name its key here."
  }

  validation {
    condition     = var.deployment.timeout_seconds >= 60 && var.deployment.timeout_seconds <= 86400
    error_message = "deployment.timeout_seconds must be between 60 and 86400."
  }

  validation {
    condition     = var.deployment.poll_interval_seconds >= 1 && var.deployment.poll_interval_seconds <= 300
    error_message = "deployment.poll_interval_seconds must be between 1 and 300."
  }
}

variable "production_approval" {
  description = "Whether production waits for a person's decision once staging's tests pass: required, approvers (ARNs of IAM roles, whose sessions decide as the role, IAM users or role sessions, who may approve or reject through the platform's POST /approvals) and timeout_minutes (no decision by then: staging is rolled back and the deployment fails with ApprovalTimedOut)."
  type = object({
    required        = optional(bool, false)
    approvers       = optional(list(string), [])
    timeout_minutes = optional(number, 60)
  })
  default  = {}
  nullable = false

  validation {
    condition     = !var.production_approval.required || length(var.production_approval.approvers) > 0
    error_message = "production_approval.required is true but approvers is empty: nobody could approve a deployment. Name the IAM roles (or users) of the people who decide."
  }

  validation {
    condition     = length(var.production_approval.approvers) <= 50 && alltrue([for arn in var.production_approval.approvers : can(regex("^arn:aws[a-z-]*:(iam::[0-9]{12}:(user|role)/[A-Za-z0-9+=,.@_/-]{1,512}|sts::[0-9]{12}:assumed-role/[A-Za-z0-9+=,.@_-]{1,64}/[A-Za-z0-9+=,.@_-]{2,64})$", arn))])
    error_message = "production_approval.approvers must be at most 50 ARNs of IAM roles (arn:aws:iam::123456789012:role/release-managers), IAM users or role sessions (arn:aws:sts::123456789012:assumed-role/release-managers/ada)."
  }

  # The pipeline's Deploy action (the waiter) has 24 hours in all; the deployment needs the rest.
  validation {
    condition     = var.production_approval.timeout_minutes == floor(var.production_approval.timeout_minutes) && var.production_approval.timeout_minutes >= 1 && var.production_approval.timeout_minutes <= 720
    error_message = "production_approval.timeout_minutes must be a whole number from 1 to 720 (12 hours): CodePipeline gives the Deploy action 24 hours in all, and production's deployment must fit in the rest."
  }
}

variable "production_error_alarm" {
  description = "The alarm on the production alias's Errors that stops and rolls back a production deployment: it goes off when the errors of evaluation_periods consecutive periods of period_seconds each reach threshold."
  type = object({
    threshold          = optional(number, 1)
    period_seconds     = optional(number, 60)
    evaluation_periods = optional(number, 1)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.production_error_alarm.threshold > 0
    error_message = "production_error_alarm.threshold must be greater than 0: the alarm compares the Sum of errors with GreaterThanOrEqualToThreshold, so 0 would go off in every period the function runs."
  }

  validation {
    condition     = var.production_error_alarm.period_seconds >= 60 && var.production_error_alarm.period_seconds % 60 == 0
    error_message = "production_error_alarm.period_seconds must be a multiple of 60. CloudWatch alarms also take 10, 20 and 30, but only on high-resolution metrics, and Lambda publishes Errors once a minute."
  }

  validation {
    condition     = var.production_error_alarm.evaluation_periods >= 1 && floor(var.production_error_alarm.evaluation_periods) == var.production_error_alarm.evaluation_periods
    error_message = "production_error_alarm.evaluation_periods must be a whole number of at least 1."
  }

  validation {
    condition     = var.production_error_alarm.period_seconds * var.production_error_alarm.evaluation_periods <= (var.production_error_alarm.period_seconds < 3600 ? 86400 : 604800)
    error_message = "production_error_alarm: period_seconds × evaluation_periods may be at most 86400 (one day) when period_seconds is under 3600, and 604800 (seven days) otherwise, CloudWatch's limits."
  }
}

variable "production_rollback_alarms" {
  description = "Names of CloudWatch alarms of your own in this account and Region (e.g. on the production alias's Duration) that also stop and roll back a production deployment, next to the error alarm."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = length(var.production_rollback_alarms) <= 9
    error_message = "production_rollback_alarms may name at most 9 alarms: CodeDeploy allows 10 per deployment group, and the service's production error alarm is one of them."
  }

  validation {
    condition     = alltrue([for name in var.production_rollback_alarms : length(name) >= 1 && length(name) <= 255 && !can(regex("[*?]", name))])
    error_message = "production_rollback_alarms: each name must be 1 to 255 characters without * or ?, which would be wildcards in the ARNs the CodeDeploy role may describe."
  }

  validation {
    condition     = length(distinct(var.production_rollback_alarms)) == length(var.production_rollback_alarms) && !contains(var.production_rollback_alarms, "${local.resource_prefix}-production-errors")
    error_message = "production_rollback_alarms must name each alarm once, and not <prefix>-production-errors, which the production deployment group always has."
  }
}

# ---------------------------------------------------------------------------
# Pipeline source and build
# ---------------------------------------------------------------------------

variable "pipeline_source" {
  description = "Where the pipeline takes the source from. provider: S3 (object_key in the platform's source bucket; uploading a new version starts the pipeline), CodeCommit (repository_name) or CodeStarSourceConnection (GitHub, GitLab, Bitbucket through a CodeConnections connection: connection_arn and repository_id as owner/name); branch for the last two."
  type = object({
    provider        = optional(string, "S3")
    object_key      = optional(string, "source.zip")
    repository_name = optional(string)
    connection_arn  = optional(string)
    repository_id   = optional(string)
    branch          = optional(string, "main")
  })
  default  = {}
  nullable = false

  validation {
    condition     = contains(["S3", "CodeCommit", "CodeStarSourceConnection"], var.pipeline_source.provider)
    error_message = "pipeline_source.provider must be S3, CodeCommit or CodeStarSourceConnection."
  }

  validation {
    condition     = length(trimspace(var.pipeline_source.object_key)) > 0
    error_message = "pipeline_source.object_key must not be empty."
  }

  validation {
    condition     = var.pipeline_source.provider != "S3" || var.platform.source_bucket_name != null
    error_message = "pipeline_source.provider S3 needs the platform's source bucket, which the platform creates when a service of its services map uses an S3 source, or when create_source_bucket is true."
  }

  validation {
    condition     = var.pipeline_source.provider != "CodeCommit" || var.pipeline_source.repository_name != null
    error_message = "pipeline_source.provider CodeCommit needs repository_name: set it to the name of the CodeCommit repository whose branch deploys."
  }

  validation {
    condition     = var.pipeline_source.connection_arn == null || can(regex("^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:[0-9]{12}:connection/.+$", var.pipeline_source.connection_arn))
    error_message = "pipeline_source.connection_arn must be the ARN of a CodeConnections or CodeStar Connections connection."
  }

  validation {
    condition     = var.pipeline_source.provider != "CodeStarSourceConnection" || var.pipeline_source.connection_arn != null
    error_message = "pipeline_source.provider CodeStarSourceConnection needs connection_arn: set it to the ARN of an AVAILABLE CodeConnections connection, arn:aws:codeconnections:<region>:<account>:connection/<id>."
  }

  validation {
    condition     = var.pipeline_source.repository_id == null || can(regex("^[^/\\s]+/[^/\\s]+$", var.pipeline_source.repository_id))
    error_message = "pipeline_source.repository_id must look like owner/repository."
  }

  validation {
    condition     = var.pipeline_source.provider != "CodeStarSourceConnection" || var.pipeline_source.repository_id != null
    error_message = "pipeline_source.provider CodeStarSourceConnection needs repository_id: set it to the repository as owner/repository, e.g. my-org/my-service."
  }
}

variable "build" {
  description = "The CodeBuild project: buildspec_path inside the source (it tests the application and assembles its Lambda package), and the image that runs it (one whose name contains aarch64 runs on an ARM container)."
  type = object({
    buildspec_path = optional(string, "app/buildspec.yml")
    image          = optional(string, "aws/codebuild/amazonlinux-x86_64-standard:5.0")
  })
  default  = {}
  nullable = false
}
