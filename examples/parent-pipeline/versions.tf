terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7.0"
    }
  }
}

# The platform's account: the parent pipeline and the waiter it invokes.
provider "aws" {
  region = var.aws_region
}

# The target account: Terraform assumes a role there to create the role the waiter assumes. With
# the two accounts in separate configurations, apply modules/pipeline-access from the target
# account's own configuration instead.
provider "aws" {
  alias  = "target_account"
  region = var.aws_region

  assume_role {
    role_arn     = var.target_account_terraform_role_arn
    session_name = "terraform-pipeline-access"
  }
}
