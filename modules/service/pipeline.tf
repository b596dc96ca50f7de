# The service's CodeBuild project and CodePipeline: Source -> Build -> Deploy, where Deploy is the
# platform's waiter, which runs the shared DeploymentStateMachine for this service.

# ---------------------------------------------------------------------------
# CodeBuild: runs build.buildspec_path (default app/buildspec.yml) from the source
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "build" {
  #checkov:skip=CKV_AWS_338:Retention is the platform's log_retention_days (default 30 days) because these are operational logs; the deployment history lives in the DynamoDB table. Set 365 or more where a compliance rule requires it.
  name              = "/aws/codebuild/${local.build_project_name}"
  retention_in_days = var.platform.log_retention_days
  kms_key_id        = var.platform.kms_key_arn
}

resource "aws_iam_role" "codebuild" {
  name               = "${local.build_project_name}-role"
  description        = "Service role of the ${local.build_project_name} CodeBuild project."
  assume_role_policy = data.aws_iam_policy_document.trust["codebuild"].json
}

data "aws_iam_policy_document" "codebuild" {
  statement {
    sid       = "WriteBuildLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.build.arn}:log-stream:*"]
  }

  statement {
    sid       = "ReadAndWriteArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${var.platform.artifact_bucket_arn}/*"]
  }

  statement {
    sid       = "InspectArtifactBucket"
    actions   = ["s3:GetBucketAcl", "s3:GetBucketLocation"]
    resources = [var.platform.artifact_bucket_arn]
  }

  statement {
    sid       = "UseKeyThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.platform.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.${local.dns_suffix}"]
    }
  }
}

resource "aws_iam_role_policy" "codebuild" {
  name   = "codebuild"
  role   = aws_iam_role.codebuild.id
  policy = data.aws_iam_policy_document.codebuild.json
}

resource "aws_codebuild_project" "build" {
  name           = local.build_project_name
  description    = "Tests and packages the application with ${var.build.buildspec_path} for ${local.pipeline_name}."
  service_role   = aws_iam_role.codebuild.arn
  encryption_key = var.platform.kms_key_arn
  build_timeout  = 30

  artifacts {
    type = "CODEPIPELINE"
  }

  environment {
    compute_type                = "BUILD_GENERAL1_SMALL"
    image                       = var.build.image
    type                        = strcontains(var.build.image, "aarch64") ? "ARM_CONTAINER" : "LINUX_CONTAINER"
    image_pull_credentials_type = "CODEBUILD"
  }

  source {
    type      = "CODEPIPELINE"
    buildspec = var.build.buildspec_path
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.build.name
    }
  }

  depends_on = [aws_iam_role_policy.codebuild]
}

# ---------------------------------------------------------------------------
# CodePipeline: Source -> Build -> Deploy (the waiter starts the state machine)
# ---------------------------------------------------------------------------

locals {
  codecommit_repository_arn = var.pipeline_source.repository_name == null ? null : "arn:${local.partition}:codecommit:${local.region}:${local.account_id}:${var.pipeline_source.repository_name}"

  source_actions = {
    S3 = {
      provider = "S3"
      configuration = {
        S3Bucket             = var.platform.source_bucket_name
        S3ObjectKey          = var.pipeline_source.object_key
        PollForSourceChanges = "false"
      }
      commit_id = "#{SourceVariables.VersionId}"
    }
    CodeCommit = {
      provider = "CodeCommit"
      configuration = {
        RepositoryName       = var.pipeline_source.repository_name
        BranchName           = var.pipeline_source.branch
        PollForSourceChanges = "false"
        OutputArtifactFormat = "CODE_ZIP"
      }
      commit_id = "#{SourceVariables.CommitId}"
    }
    # No DetectChanges: with a trigger configured, CodePipeline turns default change detection off.
    CodeStarSourceConnection = {
      provider = "CodeStarSourceConnection"
      configuration = {
        ConnectionArn        = var.pipeline_source.connection_arn
        FullRepositoryId     = var.pipeline_source.repository_id
        BranchName           = var.pipeline_source.branch
        OutputArtifactFormat = "CODE_ZIP"
      }
      commit_id = "#{SourceVariables.CommitId}"
    }
  }
  source_action = local.source_actions[var.pipeline_source.provider]

  # S3 and CodeCommit sources start the pipeline through EventBridge instead of polling.
  source_event_patterns = {
    S3 = jsonencode({
      source        = ["aws.s3"]
      "detail-type" = ["Object Created"]
      detail = {
        bucket = { name = [var.platform.source_bucket_name] }
        object = { key = [var.pipeline_source.object_key] }
      }
    })
    CodeCommit = jsonencode({
      source        = ["aws.codecommit"]
      "detail-type" = ["CodeCommit Repository State Change"]
      resources     = [local.codecommit_repository_arn]
      detail = {
        event         = ["referenceCreated", "referenceUpdated"]
        referenceType = ["branch"]
        referenceName = [var.pipeline_source.branch]
      }
    })
  }
  starts_on_event = contains(keys(local.source_event_patterns), var.pipeline_source.provider)
}

resource "aws_iam_role" "pipeline" {
  name               = "${local.pipeline_name}-role"
  description        = "Service role of the ${local.pipeline_name} pipeline."
  assume_role_policy = data.aws_iam_policy_document.trust["codepipeline"].json
}

data "aws_iam_policy_document" "pipeline" {
  statement {
    sid       = "ReadAndWriteArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectAcl"]
    resources = ["${var.platform.artifact_bucket_arn}/*"]
  }

  statement {
    sid       = "InspectArtifactBucket"
    actions   = ["s3:GetBucketAcl", "s3:GetBucketLocation", "s3:GetBucketVersioning"]
    resources = [var.platform.artifact_bucket_arn]
  }

  dynamic "statement" {
    for_each = var.pipeline_source.provider == "S3" ? [var.platform.source_bucket_arn] : []

    content {
      sid       = "ReadSourceObject"
      actions   = ["s3:GetObject", "s3:GetObjectVersion"]
      resources = ["${statement.value}/${var.pipeline_source.object_key}"]
    }
  }

  dynamic "statement" {
    for_each = var.pipeline_source.provider == "S3" ? [var.platform.source_bucket_arn] : []

    content {
      sid       = "InspectSourceBucket"
      actions   = ["s3:GetBucketAcl", "s3:GetBucketLocation", "s3:GetBucketVersioning"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "UseKeyThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.platform.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.${local.dns_suffix}"]
    }
  }

  dynamic "statement" {
    for_each = var.pipeline_source.provider == "CodeCommit" ? [local.codecommit_repository_arn] : []

    content {
      sid = "ReadSourceRepository"
      actions = [
        "codecommit:GetRepository",
        "codecommit:GetBranch",
        "codecommit:GetCommit",
        "codecommit:UploadArchive",
        "codecommit:GetUploadArchiveStatus",
        "codecommit:CancelUploadArchive",
      ]
      resources = [statement.value]
    }
  }

  # The connection's ARN names either service prefix, depending on when it was created.
  dynamic "statement" {
    for_each = var.pipeline_source.provider == "CodeStarSourceConnection" ? [var.pipeline_source.connection_arn] : []

    content {
      sid       = "UseSourceConnection"
      actions   = ["codestar-connections:UseConnection", "codeconnections:UseConnection"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "RunBuild"
    actions   = ["codebuild:StartBuild", "codebuild:BatchGetBuilds"]
    resources = [aws_codebuild_project.build.arn]
  }

  statement {
    sid       = "InvokeWaiter"
    actions   = ["lambda:InvokeFunction"]
    resources = [var.platform.waiter_function_arn]
  }
}

resource "aws_iam_role_policy" "pipeline" {
  name   = "codepipeline"
  role   = aws_iam_role.pipeline.id
  policy = data.aws_iam_policy_document.pipeline.json
}

resource "aws_codepipeline" "this" {
  name           = local.pipeline_name
  role_arn       = aws_iam_role.pipeline.arn
  pipeline_type  = "V2"
  execution_mode = "QUEUED"

  artifact_store {
    type     = "S3"
    location = var.platform.artifact_bucket_name

    encryption_key {
      type = "KMS"
      id   = var.platform.kms_key_arn
    }
  }

  dynamic "trigger" {
    for_each = var.pipeline_source.provider == "CodeStarSourceConnection" ? [var.pipeline_source.branch] : []

    content {
      provider_type = "CodeStarSourceConnection"

      git_configuration {
        source_action_name = "Source"

        push {
          branches {
            includes = [trigger.value]
          }
        }
      }
    }
  }

  stage {
    name = "Source"

    action {
      name             = "Source"
      category         = "Source"
      owner            = "AWS"
      provider         = local.source_action.provider
      version          = "1"
      namespace        = "SourceVariables"
      output_artifacts = ["SourceOutput"]
      configuration    = local.source_action.configuration
    }
  }

  stage {
    name = "Build"

    action {
      name             = "Build"
      category         = "Build"
      owner            = "AWS"
      provider         = "CodeBuild"
      version          = "1"
      input_artifacts  = ["SourceOutput"]
      output_artifacts = ["BuildOutput"]

      configuration = {
        ProjectName = aws_codebuild_project.build.name
      }
    }
  }

  stage {
    name = "Deploy"

    action {
      name            = "DeploymentStateMachine"
      category        = "Invoke"
      owner           = "AWS"
      provider        = "Lambda"
      version         = "1"
      namespace       = "DeployVariables"
      input_artifacts = ["BuildOutput"]

      configuration = {
        FunctionName = var.platform.waiter_function_name
        UserParameters = jsonencode({
          service               = var.name
          commit_id             = local.source_action.commit_id
          pipeline_execution_id = "#{codepipeline.PipelineExecutionId}"
          pipeline_name         = local.pipeline_name
        })
      }
    }
  }

  # A new pipeline starts a first execution at once: everything it runs must already exist (the
  # state machine and the waiter come with var.platform).
  depends_on = [aws_iam_role_policy.pipeline, aws_ssm_parameter.registration, aws_iam_role_policy.access]
}

resource "aws_iam_role" "events" {
  count = local.starts_on_event ? 1 : 0

  name               = "${local.pipeline_name}-events"
  description        = "Lets EventBridge start the ${local.pipeline_name} pipeline when its source changes."
  assume_role_policy = data.aws_iam_policy_document.trust["events"].json
}

data "aws_iam_policy_document" "events" {
  statement {
    sid       = "StartPipeline"
    actions   = ["codepipeline:StartPipelineExecution"]
    resources = [aws_codepipeline.this.arn]
  }
}

resource "aws_iam_role_policy" "events" {
  count = local.starts_on_event ? 1 : 0

  name   = "start-pipeline"
  role   = aws_iam_role.events[0].id
  policy = data.aws_iam_policy_document.events.json
}

resource "aws_cloudwatch_event_rule" "source_changed" {
  count = local.starts_on_event ? 1 : 0

  name          = local.source_rule_name
  description   = "Starts ${local.pipeline_name} when its ${var.pipeline_source.provider} source changes."
  event_pattern = local.source_event_patterns[var.pipeline_source.provider]
}

resource "aws_cloudwatch_event_target" "start_pipeline" {
  count = local.starts_on_event ? 1 : 0

  rule     = aws_cloudwatch_event_rule.source_changed[0].name
  arn      = aws_codepipeline.this.arn
  role_arn = aws_iam_role.events[0].arn
}
