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
# The application being deployed
# ---------------------------------------------------------------------------

variable "app_handler" {
  description = "Handler of the application functions, module.function inside the artifact (APP_HANDLER of validate_code and run_tests)."
  type        = string
  default     = "app.handler"

  validation {
    condition     = can(regex("^[A-Za-z0-9_./-]+\\.[A-Za-z_][A-Za-z0-9_]*$", var.app_handler))
    error_message = "app_handler must look like module.function, for example app.handler."
  }
}

variable "alias_name" {
  description = "Alias that serves the application's traffic in each environment; CodeDeploy shifts it between versions."
  type        = string
  default     = "live"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{0,127}$", var.alias_name))
    error_message = "alias_name must start with a letter and hold at most 128 letters, digits, hyphens or underscores."
  }
}

variable "existing_staging_function_name" {
  description = "Name of an existing Lambda function to use as the staging application instead of creating one. It must already have an alias named var.alias_name that points to a published version. Null creates the function from build/app.zip."
  type        = string
  default     = null
}

variable "existing_production_function_name" {
  description = "Name of an existing Lambda function to use as the production application instead of creating one. It must already have an alias named var.alias_name that points to a published version. Null creates the function from build/app.zip."
  type        = string
  default     = null

  validation {
    condition     = var.existing_production_function_name == null || var.existing_production_function_name != var.existing_staging_function_name
    error_message = "existing_production_function_name and existing_staging_function_name name the same function: staging and production must be two functions, or a staging deployment would change production."
  }
}

variable "test_cases_path" {
  description = "Path of the declared test cases inside the artifact (TEST_CASES_PATH of run_tests)."
  type        = string
  default     = "test_cases.json"
}

variable "test_timeout_seconds" {
  description = "Time limit of one test case (TEST_TIMEOUT_SECONDS of run_tests)."
  type        = number
  default     = 30

  validation {
    condition     = var.test_timeout_seconds >= 1 && var.test_timeout_seconds <= 840
    error_message = "test_timeout_seconds must be between 1 and 840, below the 900-second limit of the run_tests function."
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

variable "staging_deployment_config" {
  description = "CodeDeploy deployment configuration of the staging deployment group: a predefined CodeDeployDefault.Lambda* configuration or a key of custom_deployment_configs."
  type        = string
  default     = "CodeDeployDefault.LambdaAllAtOnce"

  validation {
    condition     = contains(local.predefined_deployment_configs, var.staging_deployment_config) || contains(keys(var.custom_deployment_configs), var.staging_deployment_config)
    error_message = "staging_deployment_config must be a predefined configuration (CodeDeployDefault.LambdaAllAtOnce, CodeDeployDefault.LambdaCanary10Percent5Minutes, CodeDeployDefault.LambdaCanary10Percent10Minutes, CodeDeployDefault.LambdaCanary10Percent15Minutes, CodeDeployDefault.LambdaCanary10Percent30Minutes, CodeDeployDefault.LambdaLinear10PercentEvery1Minute, CodeDeployDefault.LambdaLinear10PercentEvery2Minutes, CodeDeployDefault.LambdaLinear10PercentEvery3Minutes or CodeDeployDefault.LambdaLinear10PercentEvery10Minutes) or a key of custom_deployment_configs. For another shape, add one there, e.g. custom_deployment_configs = { canary-25-15 = { type = \"TimeBasedCanary\", percentage = 25, interval_minutes = 15 } }, and set this variable to its key."
  }
}

variable "production_deployment_config" {
  description = "CodeDeploy deployment configuration of the production deployment group: a predefined CodeDeployDefault.Lambda* configuration or a key of custom_deployment_configs."
  type        = string
  default     = "CodeDeployDefault.LambdaCanary10Percent5Minutes"

  validation {
    condition     = contains(local.predefined_deployment_configs, var.production_deployment_config) || contains(keys(var.custom_deployment_configs), var.production_deployment_config)
    error_message = "production_deployment_config must be a predefined configuration (CodeDeployDefault.LambdaAllAtOnce, CodeDeployDefault.LambdaCanary10Percent5Minutes, CodeDeployDefault.LambdaCanary10Percent10Minutes, CodeDeployDefault.LambdaCanary10Percent15Minutes, CodeDeployDefault.LambdaCanary10Percent30Minutes, CodeDeployDefault.LambdaLinear10PercentEvery1Minute, CodeDeployDefault.LambdaLinear10PercentEvery2Minutes, CodeDeployDefault.LambdaLinear10PercentEvery3Minutes or CodeDeployDefault.LambdaLinear10PercentEvery10Minutes) or a key of custom_deployment_configs. For another shape, add one there, e.g. custom_deployment_configs = { canary-25-15 = { type = \"TimeBasedCanary\", percentage = 25, interval_minutes = 15 } }, and set this variable to its key."
  }
}

variable "custom_deployment_configs" {
  description = "Deployment configurations of your own, by key, each created as <name_prefix>-<key>; staging_deployment_config and production_deployment_config name one by its key. TimeBasedCanary shifts percentage % of the traffic, then the rest interval_minutes later; TimeBasedLinear shifts percentage % more every interval_minutes. Terraform replaces a changed configuration, and CodeDeploy refuses to delete one a group uses: to change one in use, add the new shape under a new key, point the group at it and remove the old key, in one apply."
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

variable "deployment_timeout_seconds" {
  description = "How long a deployment may run after its traffic shift should have ended before the state machine gives up and rolls back (DEPLOYMENT_TIMEOUT_SECONDS)."
  type        = number
  default     = 1800

  validation {
    condition     = var.deployment_timeout_seconds >= 60 && var.deployment_timeout_seconds <= 86400
    error_message = "deployment_timeout_seconds must be between 60 and 86400."
  }
}

variable "poll_interval_seconds" {
  description = "Seconds between two checks of a CodeDeploy deployment still running after its traffic shift time (POLL_INTERVAL_SECONDS). The first check comes when the shift should end, so this bounds how late a finished deployment is noticed."
  type        = number
  default     = 5

  validation {
    condition     = var.poll_interval_seconds >= 1 && var.poll_interval_seconds <= 300
    error_message = "poll_interval_seconds must be between 1 and 300."
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
    error_message = "production_rollback_alarms may name at most 9 alarms: CodeDeploy allows 10 per deployment group, and <name_prefix>-production-errors is one of them."
  }

  validation {
    condition     = alltrue([for name in var.production_rollback_alarms : length(name) >= 1 && length(name) <= 255 && !can(regex("[*?]", name))])
    error_message = "production_rollback_alarms: each name must be 1 to 255 characters without * or ?, which would be wildcards in the ARNs the CodeDeploy role may describe."
  }

  validation {
    condition     = length(distinct(var.production_rollback_alarms)) == length(var.production_rollback_alarms) && !contains(var.production_rollback_alarms, "${var.name_prefix}-production-errors")
    error_message = "production_rollback_alarms must name each alarm once, and not <name_prefix>-production-errors, which the production deployment group always has."
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
# Pipeline source
# ---------------------------------------------------------------------------

variable "source_provider" {
  description = "Where the pipeline takes the source from: S3 (a bucket created here), CodeCommit or CodeStarSourceConnection (GitHub, GitLab, Bitbucket through a CodeConnections connection)."
  type        = string
  default     = "S3"

  validation {
    condition     = contains(["S3", "CodeCommit", "CodeStarSourceConnection"], var.source_provider)
    error_message = "source_provider must be S3, CodeCommit or CodeStarSourceConnection."
  }
}

variable "source_object_key" {
  description = "S3 source: key of the zip in the source bucket; uploading a new version starts the pipeline."
  type        = string
  default     = "source.zip"

  validation {
    condition     = length(trimspace(var.source_object_key)) > 0
    error_message = "source_object_key must not be empty."
  }
}

variable "repository_name" {
  description = "CodeCommit source: name of the repository (required when source_provider is CodeCommit)."
  type        = string
  default     = null

  validation {
    condition     = var.source_provider != "CodeCommit" || var.repository_name != null
    error_message = "source_provider CodeCommit needs repository_name: set it to the name of the CodeCommit repository whose branch deploys."
  }
}

variable "connection_arn" {
  description = "CodeStarSourceConnection source: ARN of an AVAILABLE CodeConnections (CodeStar Connections) connection (required when source_provider is CodeStarSourceConnection)."
  type        = string
  default     = null

  validation {
    condition     = var.connection_arn == null || can(regex("^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:[0-9]{12}:connection/.+$", var.connection_arn))
    error_message = "connection_arn must be the ARN of a CodeConnections or CodeStar Connections connection."
  }

  validation {
    condition     = var.source_provider != "CodeStarSourceConnection" || var.connection_arn != null
    error_message = "source_provider CodeStarSourceConnection needs connection_arn: set it to the ARN of an AVAILABLE CodeConnections connection, arn:aws:codeconnections:<region>:<account>:connection/<id>."
  }
}

variable "repository_id" {
  description = "CodeStarSourceConnection source: repository as owner/name (required when source_provider is CodeStarSourceConnection)."
  type        = string
  default     = null

  validation {
    condition     = var.repository_id == null || can(regex("^[^/\\s]+/[^/\\s]+$", var.repository_id))
    error_message = "repository_id must look like owner/repository."
  }

  validation {
    condition     = var.source_provider != "CodeStarSourceConnection" || var.repository_id != null
    error_message = "source_provider CodeStarSourceConnection needs repository_id: set it to the repository as owner/repository, e.g. my-org/my-service."
  }
}

variable "branch" {
  description = "CodeCommit and CodeStarSourceConnection sources: branch whose pushes start the pipeline."
  type        = string
  default     = "main"
}

variable "buildspec_path" {
  description = "Path, inside the source, of the buildspec that tests the application and assembles its Lambda deployment package."
  type        = string
  default     = "app/buildspec.yml"
}

variable "codebuild_image" {
  description = "CodeBuild image that runs the buildspec. An image whose name contains aarch64 runs on an ARM container."
  type        = string
  default     = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
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
  description = "Days the release bucket keeps the artifact promoted to each environment (<environment>/<commit>.zip)."
  type        = number
  default     = 365

  validation {
    condition     = var.release_retention_days >= 1 && var.release_retention_days <= 3650
    error_message = "release_retention_days must be between 1 and 3650."
  }
}
