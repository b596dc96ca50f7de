# The platform's API, which also serves POST /approvals (approvals.tf). The release button:
# POST /releases on an API Gateway REST API, signed with the caller's AWS credentials (AWS_IAM
# authorization: a caller needs execute-api:Invoke on the method, the releases output's
# api_invoke_policy). API Gateway refuses a body that breaks the manifest's JSON Schema (400, with
# the validation message); release_intake answers the rest (202 with the execution, 400 for a rule
# the schema cannot express, 409 for a release id submitted before). tools/release.py
# (make release MANIFEST=...) signs and sends the request.

locals {
  release_api_stage = "v1"
}

resource "aws_api_gateway_rest_api" "releases" {
  name        = "${var.name_prefix}-releases"
  description = "The API of ${var.name_prefix}: POST /releases starts a release, POST /approvals decides a production approval; requests are signed with AWS credentials."

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_resource" "releases" {
  rest_api_id = aws_api_gateway_rest_api.releases.id
  parent_id   = aws_api_gateway_rest_api.releases.root_resource_id
  path_part   = "releases"
}

# One source for the manifest's shape: the schema release_intake checks with, and docs/releases.md describes.
resource "aws_api_gateway_model" "release_manifest" {
  rest_api_id  = aws_api_gateway_rest_api.releases.id
  name         = "ReleaseManifest"
  description  = "A release manifest (schemas/release-manifest.schema.json)."
  content_type = "application/json"
  schema       = file("${path.module}/schemas/release-manifest.schema.json")
}

resource "aws_api_gateway_request_validator" "body" {
  rest_api_id           = aws_api_gateway_rest_api.releases.id
  name                  = "manifest-body"
  validate_request_body = true
}

resource "aws_api_gateway_method" "submit_release" {
  rest_api_id          = aws_api_gateway_rest_api.releases.id
  resource_id          = aws_api_gateway_resource.releases.id
  http_method          = "POST"
  authorization        = "AWS_IAM"
  request_validator_id = aws_api_gateway_request_validator.body.id
  request_models       = { "application/json" = aws_api_gateway_model.release_manifest.name }
}

resource "aws_api_gateway_integration" "submit_release" {
  rest_api_id             = aws_api_gateway_rest_api.releases.id
  resource_id             = aws_api_gateway_resource.releases.id
  http_method             = aws_api_gateway_method.submit_release.http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = aws_lambda_function.handler["release_intake"].invoke_arn
}

# The schema's own words: which field, and why (API Gateway's default says only "Invalid request body").
resource "aws_api_gateway_gateway_response" "bad_request_body" {
  rest_api_id   = aws_api_gateway_rest_api.releases.id
  response_type = "BAD_REQUEST_BODY"
  status_code   = "400"

  response_templates = {
    "application/json" = "{\"message\": \"$context.error.validationErrorString\"}"
  }
}

resource "aws_lambda_permission" "release_api" {
  statement_id  = "AcceptReleasesFromTheApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.handler["release_intake"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.releases.execution_arn}/*/${aws_api_gateway_method.submit_release.http_method}${aws_api_gateway_resource.releases.path}"
}

resource "aws_api_gateway_deployment" "releases" {
  rest_api_id = aws_api_gateway_rest_api.releases.id

  # A new deployment whenever what it serves changes: the parts' ids and the settings given here
  # (whole resources would also hash the attributes AWS fills in, and redeploy on every plan).
  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_resource.releases.id,
      aws_api_gateway_model.release_manifest.id,
      filesha1("${path.module}/schemas/release-manifest.schema.json"),
      aws_api_gateway_request_validator.body.id,
      aws_api_gateway_method.submit_release.id,
      aws_api_gateway_method.submit_release.authorization,
      aws_api_gateway_integration.submit_release.id,
      aws_api_gateway_integration.submit_release.uri,
      aws_api_gateway_gateway_response.bad_request_body.id,
      aws_api_gateway_gateway_response.bad_request_body.response_templates,
      aws_api_gateway_resource.approvals.id,
      aws_api_gateway_model.approval_decision.id,
      filesha1("${path.module}/schemas/approval-decision.schema.json"),
      aws_api_gateway_method.decide_approval.id,
      aws_api_gateway_method.decide_approval.authorization,
      aws_api_gateway_integration.decide_approval.id,
      aws_api_gateway_integration.decide_approval.uri,
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [aws_api_gateway_integration.submit_release, aws_api_gateway_integration.decide_approval]
}

resource "aws_api_gateway_stage" "releases" {
  #checkov:skip=CKV_AWS_76:Access logs to CloudWatch need the account-wide API Gateway logging role (aws_api_gateway_account), which this configuration must not take over; every submission is logged by release_intake and recorded in the releases table with the caller's ARN.
  #checkov:skip=CKV_AWS_120:POST /releases starts a release: an answer must never come from a cache.
  #checkov:skip=CKV2_AWS_29:Every request must be SigV4-signed by a principal allowed execute-api:Invoke, and the stage is throttled; put a WAF web ACL in front where a policy asks for one.
  #checkov:skip=CKV2_AWS_4:Execution logging needs the account-wide API Gateway logging role (see CKV_AWS_76); release_intake logs every submission.
  #checkov:skip=CKV2_AWS_51:Callers authenticate with AWS SigV4 (AWS_IAM authorization); the Lambda integration is not an HTTP backend that a client certificate would protect.
  rest_api_id          = aws_api_gateway_rest_api.releases.id
  deployment_id        = aws_api_gateway_deployment.releases.id
  stage_name           = local.release_api_stage
  xray_tracing_enabled = true
}

resource "aws_api_gateway_method_settings" "releases" {
  #checkov:skip=CKV2_AWS_4:Execution logging needs the account-wide API Gateway logging role (see the stage); release_intake logs every submission.
  #checkov:skip=CKV_AWS_225:POST /releases starts a release: an answer must never come from a cache.
  rest_api_id = aws_api_gateway_rest_api.releases.id
  stage_name  = aws_api_gateway_stage.releases.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    throttling_burst_limit = 10
    throttling_rate_limit  = 5
  }
}

# What a caller (a person's role, a CI job's role) needs to press the button.
data "aws_iam_policy_document" "release_api_invoke" {
  statement {
    sid       = "SubmitReleases"
    actions   = ["execute-api:Invoke"]
    resources = ["${aws_api_gateway_rest_api.releases.execution_arn}/${local.release_api_stage}/POST/releases"]
  }
}
