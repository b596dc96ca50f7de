# The services the platform deploys: one modules/service per entry of var.services (or, while it is
# null, the single service keyed default that the flat variables describe), and the deployment
# configurations of the platform's own that the services' groups may name.

locals {
  # The single-application variables of earlier releases, as the service keyed default. Their nulls
  # take the module's defaults.
  single_service = {
    default = {
      app = {
        handler                           = var.app_handler
        alias                             = var.alias_name
        initial_package                   = null
        existing_staging_function_name    = var.existing_staging_function_name
        existing_production_function_name = var.existing_production_function_name
      }
      tests = {
        cases_path      = var.test_cases_path
        timeout_seconds = var.test_timeout_seconds
      }
      deployment = {
        staging_config        = var.staging_deployment_config
        production_config     = var.production_deployment_config
        timeout_seconds       = var.deployment_timeout_seconds
        poll_interval_seconds = var.poll_interval_seconds
      }
      production_error_alarm     = var.production_error_alarm
      production_rollback_alarms = var.production_rollback_alarms
      production_approval        = var.production_approval
      pipeline_source = {
        provider        = var.source_provider
        object_key      = var.source_object_key
        repository_name = var.repository_name
        connection_arn  = var.connection_arn
        repository_id   = var.repository_id
        branch          = var.branch
      }
      build = {
        buildspec_path = var.buildspec_path
        image          = var.codebuild_image
      }
    }
  }
  services = var.services == null ? local.single_service : var.services

  # Each service's source provider, S3 when unset (the module's default).
  source_providers = { for key, service in local.services : key => try(coalesce(service.pipeline_source.provider, "S3"), "S3") }
  # The platform creates the source bucket when a service of its own takes its source from S3.
  creates_source_bucket = var.create_source_bucket || contains(values(local.source_providers), "S3")

  services_parameter_prefix = "/${var.name_prefix}/services/"
  services_parameter_arn    = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.services_parameter_prefix}*"

  # Everything a service needs from the platform: the module's `platform` input, and the root's output.
  platform = {
    name_prefix               = var.name_prefix
    region                    = local.region
    account_id                = local.account_id
    partition                 = local.partition
    dns_suffix                = local.dns_suffix
    kms_key_arn               = aws_kms_key.platform.arn
    artifact_bucket_name      = aws_s3_bucket.this["artifacts"].id
    artifact_bucket_arn       = aws_s3_bucket.this["artifacts"].arn
    release_bucket_arn        = aws_s3_bucket.this["releases"].arn
    source_bucket_name        = local.source_bucket_name
    source_bucket_arn         = local.source_bucket_arn
    services_parameter_prefix = local.services_parameter_prefix
    state_machine_arn         = aws_sfn_state_machine.deployment.arn
    waiter_function_name      = aws_lambda_function.handler["waiter"].function_name
    waiter_function_arn       = aws_lambda_function.handler["waiter"].arn
    handler_role_arns         = { for name, role in aws_iam_role.handler : name => role.arn }
    lambda_runtime            = var.lambda_runtime
    lambda_architecture       = var.lambda_architecture
    log_retention_days        = var.log_retention_days
    deployment_config_names   = { for key, config in aws_codedeploy_deployment_config.custom : key => config.deployment_config_name }
  }
}

module "service" {
  source   = "./modules/service"
  for_each = local.services

  name     = each.key
  platform = local.platform
  # The service keyed default keeps the names the single-application release gave its resources.
  resource_name_prefix = each.key == "default" ? var.name_prefix : null

  # Terraform creates a service's functions from the sample application's package; the pipeline's first run replaces it.
  app                        = merge(each.value.app, { initial_package = coalesce(each.value.app.initial_package, "${path.module}/build/app.zip") })
  tests                      = each.value.tests
  deployment                 = each.value.deployment
  production_error_alarm     = each.value.production_error_alarm
  production_rollback_alarms = each.value.production_rollback_alarms
  production_approval        = each.value.production_approval
  pipeline_source            = each.value.pipeline_source
  build                      = each.value.build
}

resource "aws_codedeploy_deployment_config" "custom" {
  for_each = var.custom_deployment_configs

  deployment_config_name = "${var.name_prefix}-${each.key}"
  compute_platform       = "Lambda"

  traffic_routing_config {
    type = each.value.type

    dynamic "time_based_canary" {
      for_each = each.value.type == "TimeBasedCanary" ? [each.value] : []

      content {
        percentage = time_based_canary.value.percentage
        interval   = time_based_canary.value.interval_minutes
      }
    }

    dynamic "time_based_linear" {
      for_each = each.value.type == "TimeBasedLinear" ? [each.value] : []

      content {
        percentage = time_based_linear.value.percentage
        interval   = time_based_linear.value.interval_minutes
      }
    }
  }

  # CodeDeploy refuses to delete a configuration a group uses: the group moves to a new key's
  # configuration before the old key's is deleted, in the same apply.
  lifecycle {
    create_before_destroy = true
  }
}
