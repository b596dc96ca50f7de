# A pipeline run that is stopped ("Stop and wait" or "Stop and abandon"), superseded, canceled or
# failed no longer waits for its Deploy action, but the DeploymentStateMachine execution it started
# would go on shifting traffic. CodePipeline reports each change of a run's state to EventBridge;
# this rule hands those to the stop_deployment handler (lambda.tf), which stops the execution and
# restores every alias it moved. The waiter calls the same handler before it fails a job.

locals {
  pipeline_run_ended_states = ["STOPPING", "STOPPED", "SUPERSEDED", "CANCELED", "FAILED"]
}

# Every service's pipeline is named <name_prefix>-...-pipeline; stop_deployment stops only the
# executions the waiter started for that pipeline run, so other pipelines' events find nothing.
resource "aws_cloudwatch_event_rule" "pipeline_run_ended" {
  name        = "${var.name_prefix}-pipeline-run-ended"
  description = "Stops the deployment of a ${var.name_prefix} service's pipeline run that was stopped, superseded, canceled or failed."
  event_pattern = jsonencode({
    source        = ["aws.codepipeline"]
    "detail-type" = ["CodePipeline Pipeline Execution State Change"]
    detail = {
      pipeline = [{ prefix = "${var.name_prefix}-" }]
      state    = local.pipeline_run_ended_states
    }
  })
}

resource "aws_cloudwatch_event_target" "stop_deployment" {
  rule = aws_cloudwatch_event_rule.pipeline_run_ended.name
  arn  = aws_lambda_function.handler["stop_deployment"].arn
}

resource "aws_lambda_permission" "pipeline_run_ended" {
  statement_id  = "StopDeploymentOfEndedPipelineRuns"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.handler["stop_deployment"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.pipeline_run_ended.arn
}

data "aws_iam_policy_document" "stop_deployment" {
  source_policy_documents = [
    data.aws_iam_policy_document.handler_basics["stop_deployment"].json,
    data.aws_iam_policy_document.execution_data.json,
    data.aws_iam_policy_document.record_and_notify.json,
  ]

  statement {
    sid       = "FindRunningDeployments"
    actions   = ["states:ListExecutions"]
    resources = [local.state_machine_arn]
  }

  statement {
    sid       = "StopDeployments"
    actions   = ["states:DescribeExecution", "states:StopExecution"]
    resources = [local.state_machine_executions_arn]
  }

  statement {
    sid       = "RollBack"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.handler_function_arns["rollback"]]
  }
}
