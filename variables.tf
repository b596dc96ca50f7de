# ---------------------------------------------------------------------------
# General
# ---------------------------------------------------------------------------

variable "aws_region" {
  description = "AWS Region that holds every resource of the platform."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]+(-[a-z]+)+-[0-9]+$", var.aws_region))
    error_message = "aws_region must be a Region code such as us-east-1, us-gov-west-1 or eusc-de-east-1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (and of the S3 bucket names, which also carry the account ID and Region). Lowercase letters, digits and hyphens, 2 to 20 characters, starting with a letter."
  type        = string
  default     = "sls-cd"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.name_prefix))
    error_message = "name_prefix must match ^[a-z][a-z0-9-]{1,19}$ (it ends up in S3 bucket names, which allow no uppercase letters)."
  }

  validation {
    condition     = !can(regex("^(xn--|sthree-|amzn-s3-demo-)", var.name_prefix))
    error_message = "name_prefix must not start with xn--, sthree- or amzn-s3-demo-: S3 reserves these prefixes, and the bucket names start with name_prefix."
  }
}

variable "tags" {
  description = "Tags added to every resource, next to Project and ManagedBy."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------
# Lambda functions (the seven platform handlers and the application)
# ---------------------------------------------------------------------------

variable "lambda_runtime" {
  description = "Python runtime of the platform handlers, their layer and the application functions."
  type        = string
  default     = "python3.12"

  validation {
    condition     = contains(["python3.11", "python3.12", "python3.13"], var.lambda_runtime)
    error_message = "lambda_runtime must be python3.11, python3.12 or python3.13."
  }
}

variable "lambda_architecture" {
  description = "Instruction set of every Lambda function. The layer holds pure-Python packages only, so both work."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the logs of every function, the state machine and the build."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the retention periods CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

# ---------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------

variable "services" {
  description = "The services the platform deploys, by key (modules/service with each entry's settings; docs/services.md describes each field and its default). Null: the one service keyed default that the single-service variables below describe, the sample application with the defaults."
  type = map(object({
    app = optional(object({
      handler                           = optional(string)
      alias                             = optional(string)
      initial_package                   = optional(string)
      existing_staging_function_name    = optional(string)
      existing_production_function_name = optional(string)
    }), {})
    tests = optional(object({
      cases_path      = optional(string)
      timeout_seconds = optional(number)
    }))
    deployment = optional(object({
      staging_config        = optional(string)
      production_config     = optional(string)
      timeout_seconds       = optional(number)
      poll_interval_seconds = optional(number)
    }))
    production_error_alarm = optional(object({
      threshold          = optional(number)
      period_seconds     = optional(number)
      evaluation_periods = optional(number)
    }))
    production_rollback_alarms = optional(list(string))
    production_approval = optional(object({
      required        = optional(bool)
      approvers       = optional(list(string))
      timeout_minutes = optional(number)
    }))
    pipeline_source = optional(object({
      provider        = optional(string)
      object_key      = optional(string)
      repository_name = optional(string)
      connection_arn  = optional(string)
      repository_id   = optional(string)
      branch          = optional(string)
    }))
    build = optional(object({
      buildspec_path = optional(string)
      image          = optional(string)
    }))
  }))
  default = null

  validation {
    condition     = var.services == null || alltrue([for key in keys(coalesce(var.services, {})) : can(regex("^[a-z][a-z0-9-]{0,22}$", key))])
    error_message = "services: each key must be 1 to 23 lowercase letters, digits or hyphens, starting with a letter; it names the service's executions and resources."
  }

  # One upload to the source bucket must start one pipeline.
  validation {
    condition = var.services == null || length(distinct([
      for key, service in coalesce(var.services, {}) : try(coalesce(service.pipeline_source.object_key, "source.zip"), "source.zip") if try(coalesce(service.pipeline_source.provider, "S3"), "S3") == "S3"
    ])) == length([for key, service in coalesce(var.services, {}) : key if try(coalesce(service.pipeline_source.provider, "S3"), "S3") == "S3"])
    error_message = "services: two services with an S3 source have the same pipeline_source.object_key (source.zip when unset); one upload would start both pipelines. Give each its own, e.g. orders/source.zip."
  }

  validation {
    condition = var.services == null || alltrue([for value in [
      var.app_handler, var.alias_name, var.existing_staging_function_name, var.existing_production_function_name, var.test_cases_path, var.test_timeout_seconds,
      var.staging_deployment_config, var.production_deployment_config, var.deployment_timeout_seconds, var.poll_interval_seconds, var.production_error_alarm,
      var.production_rollback_alarms, var.production_approval, var.source_provider, var.source_object_key, var.repository_name, var.connection_arn, var.repository_id, var.branch,
      var.buildspec_path, var.codebuild_image,
    ] : value == null])
    error_message = "services is set, and so is a single-service variable (app_handler, alias_name, existing_*_function_name, test_*, *_deployment_config, deployment_timeout_seconds, poll_interval_seconds, production_error_alarm, production_rollback_alarms, production_approval, source_*, repository_*, connection_arn, branch, buildspec_path or codebuild_image), which only describes the service keyed default while services is null: move its value into services.default."
  }
}

variable "create_source_bucket" {
  description = "Create the S3 source bucket even when no service of var.services takes its source from S3: for services of other configurations (modules/service) that do."
  type        = bool
  default     = false
  nullable    = false
}

# ---------------------------------------------------------------------------
# The single service of earlier releases (used while services is null)
# ---------------------------------------------------------------------------
#
# Each of these sets one field of the service keyed default; null takes the module's default
# (modules/service/variables.tf, shown in brackets).

variable "app_handler" {
  description = "Handler of the application functions, module.function inside the artifact (services.<key>.app.handler) [app.handler]."
  type        = string
  default     = null
}

variable "alias_name" {
  description = "Alias that serves the application's traffic in each environment (services.<key>.app.alias) [live]."
  type        = string
  default     = null
}

variable "existing_staging_function_name" {
  description = "Existing Lambda function to use as the staging application instead of creating one; it must have the alias, on a published version (services.<key>.app.existing_staging_function_name) [null: created]."
  type        = string
  default     = null
}

variable "existing_production_function_name" {
  description = "Existing Lambda function to use as the production application instead of creating one; it must have the alias, on a published version (services.<key>.app.existing_production_function_name) [null: created]."
  type        = string
  default     = null
}

variable "test_cases_path" {
  description = "Path of the declared test cases inside the artifact (services.<key>.tests.cases_path) [test_cases.json]."
  type        = string
  default     = null
}

variable "test_timeout_seconds" {
  description = "Time limit of one test case (services.<key>.tests.timeout_seconds) [30]."
  type        = number
  default     = null
}

variable "staging_deployment_config" {
  description = "Deployment configuration of the staging group: predefined or a key of custom_deployment_configs (services.<key>.deployment.staging_config) [CodeDeployDefault.LambdaAllAtOnce]."
  type        = string
  default     = null
}

variable "production_deployment_config" {
  description = "Deployment configuration of the production group: predefined or a key of custom_deployment_configs (services.<key>.deployment.production_config) [CodeDeployDefault.LambdaCanary10Percent5Minutes]."
  type        = string
  default     = null
}

variable "deployment_timeout_seconds" {
  description = "How long a deployment may run past its traffic shift before it is rolled back (services.<key>.deployment.timeout_seconds) [1800]."
  type        = number
  default     = null
}

variable "poll_interval_seconds" {
  description = "Seconds between two checks of a deployment still running past its traffic shift (services.<key>.deployment.poll_interval_seconds) [5]."
  type        = number
  default     = null
}

variable "production_error_alarm" {
  description = "The production error alarm: threshold, period_seconds, evaluation_periods (services.<key>.production_error_alarm) [1, 60, 1]."
  type = object({
    threshold          = optional(number)
    period_seconds     = optional(number)
    evaluation_periods = optional(number)
  })
  default = null
}

variable "production_rollback_alarms" {
  description = "Alarms of your own that also stop and roll back a production deployment (services.<key>.production_rollback_alarms) [none]."
  type        = list(string)
  default     = null
}

variable "production_approval" {
  description = "Whether production waits for a decision by one of approvers (ARNs of IAM roles, whose sessions decide as the role, users or role sessions) once staging's tests pass, for at most timeout_minutes, after which staging is rolled back (services.<key>.production_approval; docs/approvals.md) [not required]."
  type = object({
    required        = optional(bool)
    approvers       = optional(list(string))
    timeout_minutes = optional(number)
  })
  default = null
}

variable "source_provider" {
  description = "Where the pipeline takes the source from: S3, CodeCommit or CodeStarSourceConnection (services.<key>.pipeline_source.provider) [S3]."
  type        = string
  default     = null
}

variable "source_object_key" {
  description = "S3 source: key of the zip in the source bucket (services.<key>.pipeline_source.object_key) [source.zip]."
  type        = string
  default     = null
}

variable "repository_name" {
  description = "CodeCommit source: name of the repository (services.<key>.pipeline_source.repository_name)."
  type        = string
  default     = null
}

variable "connection_arn" {
  description = "CodeStarSourceConnection source: ARN of an AVAILABLE CodeConnections connection (services.<key>.pipeline_source.connection_arn)."
  type        = string
  default     = null
}

variable "repository_id" {
  description = "CodeStarSourceConnection source: repository as owner/name (services.<key>.pipeline_source.repository_id)."
  type        = string
  default     = null
}

variable "branch" {
  description = "CodeCommit and CodeStarSourceConnection sources: branch whose pushes start the pipeline (services.<key>.pipeline_source.branch) [main]."
  type        = string
  default     = null
}

variable "buildspec_path" {
  description = "Path, inside the source, of the buildspec (services.<key>.build.buildspec_path) [app/buildspec.yml]."
  type        = string
  default     = null
}

variable "codebuild_image" {
  description = "CodeBuild image that runs the buildspec (services.<key>.build.image) [aws/codebuild/amazonlinux-x86_64-standard:5.0]."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------
# Deployments and notifications
# ---------------------------------------------------------------------------

variable "custom_deployment_configs" {
  description = "Deployment configurations of your own, by key, each created as <name_prefix>-<key>; a service names one by its key in deployment.staging_config or deployment.production_config. TimeBasedCanary shifts percentage % of the traffic, then the rest interval_minutes later; TimeBasedLinear shifts percentage % more every interval_minutes. Terraform replaces a changed configuration, and CodeDeploy refuses to delete one a group uses: to change one in use, add the new shape under a new key, point the group at it and remove the old key, in one apply."
  type = map(object({
    type             = string
    percentage       = number
    interval_minutes = number
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for key in keys(var.custom_deployment_configs) : can(regex("^[A-Za-z0-9+=,.@_-]+$", key)) && !startswith(key, "CodeDeployDefault.") && length("${var.name_prefix}-${key}") <= 100])
    error_message = "custom_deployment_configs: a key may hold only letters, digits and + = , . @ _ - (the characters of CodeDeploy configuration names), must not start with CodeDeployDefault., and <name_prefix>-<key>, the configuration's name, must be at most 100 characters."
  }

  validation {
    condition     = alltrue([for config in values(var.custom_deployment_configs) : contains(["TimeBasedCanary", "TimeBasedLinear"], config.type)])
    error_message = "custom_deployment_configs: type must be TimeBasedCanary or TimeBasedLinear (for all traffic at once, use CodeDeployDefault.LambdaAllAtOnce)."
  }

  validation {
    condition     = alltrue([for config in values(var.custom_deployment_configs) : config.percentage >= 1 && config.percentage <= 99 && floor(config.percentage) == config.percentage])
    error_message = "custom_deployment_configs: percentage must be a whole number from 1 to 99, the share of the traffic the canary gets first (TimeBasedCanary) or each step adds (TimeBasedLinear)."
  }

  validation {
    condition     = alltrue([for config in values(var.custom_deployment_configs) : config.interval_minutes >= 1 && floor(config.interval_minutes) == config.interval_minutes])
    error_message = "custom_deployment_configs: interval_minutes must be a whole number of at least 1, the minutes before the rest of the traffic moves (TimeBasedCanary) or between two steps (TimeBasedLinear)."
  }

  # A linear configuration's last step comes interval_minutes × (ceil(100 / percentage) - 1) after its first.
  validation {
    condition = alltrue([
      for config in values(var.custom_deployment_configs) :
      (config.type == "TimeBasedLinear" && config.percentage >= 1 ? config.interval_minutes * (ceil(100 / config.percentage) - 1) : config.interval_minutes) <= 2880
    ])
    error_message = "custom_deployment_configs: a traffic shift may last at most 2880 minutes (48 hours, CodeDeploy's limit for Lambda deployments): interval_minutes for TimeBasedCanary, interval_minutes × (ceil(100 / percentage) - 1) for TimeBasedLinear."
  }
}

variable "notification_email" {
  description = "E-mail address subscribed to the deployment notifications (AWS sends a confirmation message first). Null subscribes nobody."
  type        = string
  default     = null

  validation {
    condition     = var.notification_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.notification_email))
    error_message = "notification_email must be an e-mail address or null."
  }
}

variable "table_deletion_protection" {
  description = "Protect the deployments table from deletion. False lets `terraform destroy` remove a demo; set true for real use."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------
# The waiter's pipeline mode: pipeline actions that wait for other pipelines
# ---------------------------------------------------------------------------

variable "waiter_target_role_arns" {
  description = "IAM roles in other accounts that the waiter may assume, with the session name of the pipeline_waiter output, to follow or start their pipelines: each the role_arn output of modules/pipeline-access applied there. Empty: it assumes none."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.waiter_target_role_arns : can(regex("^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$", arn))])
    error_message = "waiter_target_role_arns: each must be the ARN of an IAM role, arn:<partition>:iam::<12-digit account>:role/<path/><name>, without wildcards (* or ?): the waiter may assume exactly these roles."
  }

  validation {
    condition     = length(distinct(var.waiter_target_role_arns)) == length(var.waiter_target_role_arns)
    error_message = "waiter_target_role_arns must name each role once."
  }
}

variable "waiter_pipelines" {
  description = "Pipelines of the platform's account and Region that the waiter may follow, by name (GetPipelineExecution, ListPipelineExecutions, ListActionExecutions), and with start = true also start (StartPipelineExecution, a waiter action with \"trigger\": true). Empty: none."
  type = map(object({
    start = optional(bool, false)
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for name in keys(var.waiter_pipelines) : can(regex("^[A-Za-z0-9.@_-]{1,100}$", name))])
    error_message = "waiter_pipelines: each key must be a pipeline name, 1 to 100 letters, digits or . @ _ - (CodePipeline's naming rule); the waiter's policy names the pipeline's ARN built from it, so a wildcard is refused."
  }
}

# ---------------------------------------------------------------------------
# Retention
# ---------------------------------------------------------------------------

variable "artifact_retention_days" {
  description = "Days the artifact bucket keeps pipeline artifacts, and days the source bucket keeps replaced source versions."
  type        = number
  default     = 30

  validation {
    condition     = var.artifact_retention_days >= 1 && var.artifact_retention_days <= 3650
    error_message = "artifact_retention_days must be between 1 and 3650."
  }
}

variable "release_retention_days" {
  description = "Days the release bucket keeps the artifact promoted to each environment (<service>/<environment>/<commit>.zip)."
  type        = number
  default     = 365

  validation {
    condition     = var.release_retention_days >= 1 && var.release_retention_days <= 3650
    error_message = "release_retention_days must be between 1 and 3650."
  }
}

# ---------------------------------------------------------------------------
# Releases (docs/releases.md)
# ---------------------------------------------------------------------------

variable "release_pipelines" {
  description = "Pipelines of the platform's account and Region that a release manifest may name, by name: the ReleaseStateMachine may start, follow and stop these only. Null: the pipelines of the platform's services."
  type        = list(string)
  default     = null

  validation {
    condition     = var.release_pipelines == null || alltrue([for name in coalesce(var.release_pipelines, []) : can(regex("^[A-Za-z0-9.@_-]{1,100}$", name))])
    error_message = "release_pipelines: each entry must be a pipeline name, 1 to 100 letters, digits or . @ _ - (CodePipeline's naming rule); the policies name the pipeline's ARN built from it, so a wildcard is refused."
  }

  validation {
    condition     = var.release_pipelines == null || length(distinct(coalesce(var.release_pipelines, []))) == length(coalesce(var.release_pipelines, []))
    error_message = "release_pipelines: a pipeline is listed twice."
  }

  # The list travels in release_intake's environment, which Lambda limits to 4 KB in all.
  validation {
    condition     = length(jsonencode(coalesce(var.release_pipelines, []))) <= 2500
    error_message = "release_pipelines: the list is longer than 2,500 characters as JSON (Lambda allows 4 KB of environment variables in all); split the platform."
  }
}

variable "release_target_role_arns" {
  description = "Roles in other accounts that releases may assume to start, follow and stop a pipeline there (a manifest pipeline's role_arn), each created there by modules/pipeline-access with this platform's pipeline_releases output as its releases input. Exact ARNs. Empty: releases reach this account only."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.release_target_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", arn)) && !strcontains(arn, "*")])
    error_message = "release_target_role_arns: each entry must be an exact IAM role ARN (arn:<partition>:iam::<account>:role/<name>), without a wildcard."
  }

  validation {
    condition     = length(distinct(var.release_target_role_arns)) == length(var.release_target_role_arns)
    error_message = "release_target_role_arns: a role is listed twice."
  }
}

variable "release_quiet_minutes" {
  description = "Minutes a release waits without hearing of a pipeline run (its CodePipeline events) before it checks the run itself: the most a lost event, or a pipeline of another account that does not forward its events, delays the release. A sweep checks every minute."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.release_quiet_minutes >= 1 && var.release_quiet_minutes <= 60 && floor(var.release_quiet_minutes) == var.release_quiet_minutes
    error_message = "release_quiet_minutes must be a whole number of minutes from 1 to 60."
  }
}

variable "chat_destinations" {
  description = <<-EOT
    Chat destinations the notifier posts each notification to (deployments, releases, pipeline waits), by a name of your choice (docs/notifications.md). type: "slack" (an incoming webhook), "teams" (a Microsoft Teams Workflows webhook) or "webhook" (an HTTPS endpoint that takes the notification as JSON). The webhook URL is a secret: leave secret_arn unset and Terraform creates the secret <name_prefix>/chat/<name>, encrypted with the platform key and without a value (put the URL in it; the chat_destinations output gives the command), or set secret_arn to an existing secret whose value is the URL. statuses: the notifications a destination gets, of started, succeeded, failed, stopped and waiting_for_approval (a production approval's request, docs/approvals.md); unset gets them all. Empty: no notifier.
  EOT
  type = map(object({
    type       = string
    secret_arn = optional(string)
    statuses   = optional(list(string))
  }))
  default = {}

  validation {
    condition     = alltrue([for name in keys(var.chat_destinations) : can(regex("^[a-z0-9][a-z0-9-]{0,39}$", name))])
    error_message = "chat_destinations names must be 1-40 lowercase letters, digits and hyphens, starting with a letter or digit (they name the secrets <name_prefix>/chat/<name>)."
  }

  validation {
    condition     = length(var.chat_destinations) <= 10
    error_message = "chat_destinations can name at most 10 destinations (the notifier's environment, which lists them, is limited to 4 KB)."
  }

  validation {
    condition     = alltrue([for destination in values(var.chat_destinations) : contains(["slack", "teams", "webhook"], destination.type)])
    error_message = "Each chat_destinations type must be \"slack\", \"teams\" or \"webhook\"."
  }

  validation {
    condition     = alltrue([for destination in values(var.chat_destinations) : destination.secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", destination.secret_arn))])
    error_message = "A chat_destinations secret_arn must be the ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>), or unset for Terraform to create one."
  }

  validation {
    condition = alltrue([
      for destination in values(var.chat_destinations) :
      destination.statuses == null || alltrue([for status in coalesce(destination.statuses, []) : contains(["started", "succeeded", "failed", "stopped", "waiting_for_approval"], status)])
    ])
    error_message = "chat_destinations statuses may contain only started, succeeded, failed, stopped and waiting_for_approval."
  }
}

variable "chat_alarm_actions" {
  description = "ARNs told when chat notifications fail and when they recover, besides the platform's topic (e.g. an on-call SNS topic). Only with chat_destinations."
  type        = list(string)
  default     = []
}

variable "chat_secret_key_arns" {
  description = "KMS keys (other than the platform key) that encrypt the existing secrets named by chat_destinations' secret_arn: the notifier may decrypt with them through Secrets Manager. Not needed for secrets under the AWS managed key aws/secretsmanager."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.chat_secret_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", arn))])
    error_message = "chat_secret_key_arns must be KMS key ARNs (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}
