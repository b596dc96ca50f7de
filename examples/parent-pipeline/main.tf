# A parent pipeline whose "Components" stage waits for two other pipelines through the platform's
# waiter, in its pipeline mode: one in this account, which it starts, and one in another account,
# whose current run it follows. The platform must let the waiter do both (variables
# waiter_pipelines and waiter_target_role_arns).

module "target_account_access" {
  source = "../../modules/pipeline-access"
  providers = {
    aws = aws.target_account
  }

  waiter    = var.pipeline_waiter
  pipelines = { (var.target_account_pipeline) = { start = var.allow_starting_target_account_pipeline } }
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["codepipeline.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "parent" {
  name               = "${var.name}-pipeline"
  description        = "Service role of the ${var.name} pipeline."
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

data "aws_iam_policy_document" "parent" {
  statement {
    sid       = "ReadSource"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${var.platform.source_bucket_arn}/${var.name}/source.zip"]
  }

  statement {
    sid       = "InspectSourceBucket"
    actions   = ["s3:GetBucketAcl", "s3:GetBucketLocation", "s3:GetBucketVersioning"]
    resources = [var.platform.source_bucket_arn]
  }

  statement {
    sid       = "ReadAndWriteArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${var.platform.artifact_bucket_arn}/*"]
  }

  statement {
    sid       = "UseKeyThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.platform.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.platform.region}.${var.platform.dns_suffix}"]
    }
  }

  statement {
    sid       = "InvokeWaiter"
    actions   = ["lambda:InvokeFunction"]
    resources = [var.platform.waiter_function_arn]
  }
}

resource "aws_iam_role_policy" "parent" {
  name   = "codepipeline"
  role   = aws_iam_role.parent.id
  policy = data.aws_iam_policy_document.parent.json
}

resource "aws_codepipeline" "parent" {
  name           = var.name
  role_arn       = aws_iam_role.parent.arn
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

  stage {
    name = "Source"

    action {
      name             = "Source"
      category         = "Source"
      owner            = "AWS"
      provider         = "S3"
      version          = "1"
      namespace        = "SourceVariables"
      output_artifacts = ["SourceOutput"]

      configuration = {
        S3Bucket             = var.platform.source_bucket_name
        S3ObjectKey          = "${var.name}/source.zip"
        PollForSourceChanges = "false"
      }
    }
  }

  stage {
    name = "Components"

    # Starts the API's pipeline for this run and waits for that execution.
    action {
      name      = "Api"
      category  = "Invoke"
      owner     = "AWS"
      provider  = "Lambda"
      version   = "1"
      namespace = "Api"
      run_order = 1

      configuration = {
        FunctionName = var.platform.waiter_function_name
        UserParameters = jsonencode({
          pipeline        = var.same_account_pipeline
          trigger         = true
          timeout_minutes = 60
          variables       = { release = "#{SourceVariables.VersionId}" }
        })
      }
    }

    # Waits for the shared-services account's pipeline: its execution in progress, else its most
    # recent one, which must succeed.
    action {
      name      = "SharedServices"
      category  = "Invoke"
      owner     = "AWS"
      provider  = "Lambda"
      version   = "1"
      namespace = "SharedServices"
      run_order = 1

      configuration = {
        FunctionName = var.platform.waiter_function_name
        UserParameters = jsonencode({
          pipeline        = var.target_account_pipeline
          role_arn        = module.target_account_access.role_arn
          timeout_minutes = 120
        })
      }
    }
  }
}
