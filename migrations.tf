# Migrations: the single-application configuration (up to commit 34ed23e) -> the shared platform with services
#
# The application's resources moved into modules/service, as the service keyed default, which
# keeps their names: a plan after the upgrade moves them and updates some in place (the handlers'
# environment and policies, the pipeline's Deploy action), and destroys or replaces nothing. Each
# block moves every instance of the resource (for_each keys and count indexes are kept). Removing a
# block would make Terraform destroy the application of a configuration that has not yet upgraded.

moved {
  from = aws_cloudwatch_log_group.app
  to   = module.service["default"].aws_cloudwatch_log_group.app
}

moved {
  from = aws_iam_role.app
  to   = module.service["default"].aws_iam_role.app
}

moved {
  from = aws_iam_role_policy.app
  to   = module.service["default"].aws_iam_role_policy.app
}

moved {
  from = aws_lambda_function.app
  to   = module.service["default"].aws_lambda_function.app
}

moved {
  from = aws_lambda_alias.app
  to   = module.service["default"].aws_lambda_alias.app
}

moved {
  from = aws_codedeploy_app.this
  to   = module.service["default"].aws_codedeploy_app.this
}

moved {
  from = aws_cloudwatch_metric_alarm.production_errors
  to   = module.service["default"].aws_cloudwatch_metric_alarm.production_errors
}

moved {
  from = aws_iam_role.codedeploy
  to   = module.service["default"].aws_iam_role.codedeploy
}

moved {
  from = aws_iam_role_policy.codedeploy
  to   = module.service["default"].aws_iam_role_policy.codedeploy
}

moved {
  from = aws_codedeploy_deployment_group.environment
  to   = module.service["default"].aws_codedeploy_deployment_group.environment
}

moved {
  from = aws_cloudwatch_log_group.build
  to   = module.service["default"].aws_cloudwatch_log_group.build
}

moved {
  from = aws_iam_role.codebuild
  to   = module.service["default"].aws_iam_role.codebuild
}

moved {
  from = aws_iam_role_policy.codebuild
  to   = module.service["default"].aws_iam_role_policy.codebuild
}

moved {
  from = aws_codebuild_project.build
  to   = module.service["default"].aws_codebuild_project.build
}

moved {
  from = aws_iam_role.pipeline
  to   = module.service["default"].aws_iam_role.pipeline
}

moved {
  from = aws_iam_role_policy.pipeline
  to   = module.service["default"].aws_iam_role_policy.pipeline
}

moved {
  from = aws_codepipeline.this
  to   = module.service["default"].aws_codepipeline.this
}

moved {
  from = aws_iam_role.events
  to   = module.service["default"].aws_iam_role.events
}

moved {
  from = aws_iam_role_policy.events
  to   = module.service["default"].aws_iam_role_policy.events
}

moved {
  from = aws_cloudwatch_event_rule.source_changed
  to   = module.service["default"].aws_cloudwatch_event_rule.source_changed
}

moved {
  from = aws_cloudwatch_event_target.start_pipeline
  to   = module.service["default"].aws_cloudwatch_event_target.start_pipeline
}
