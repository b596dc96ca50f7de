"""Small Lambda functions, created in moto from Python source, for the tests of the local AWS."""

import io
import json
import zipfile
from typing import Any

import boto3

ACCOUNT = "123456789012"
REGION = "us-east-1"


def create_role(name: str, service: str, policy: dict[str, Any] | None = None) -> str:
    """An IAM role that `service` (e.g. lambda.amazonaws.com) may assume, with `policy` inline."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
    arn = boto3.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if policy is not None:
        boto3.client("iam").put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    return str(arn)


def function_zip(source: str) -> bytes:
    """A deployment package whose handler.py is `source`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", source)
    return buffer.getvalue()


def create_function(name: str, source: str, role_arn: str) -> str:
    """A python3.12 function whose handler.py is `source` (handler `handler.handler`); its ARN."""
    function = boto3.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role_arn, Handler="handler.handler", Code={"ZipFile": function_zip(source)}, Timeout=60
    )
    return str(function["FunctionArn"])


def allow_rule(function_name: str, rule_arn: str, statement_id: str = "events") -> None:
    """What `aws_lambda_permission` with `source_arn` writes: EventBridge may invoke the function for this rule."""
    boto3.client("lambda").add_permission(FunctionName=function_name, StatementId=statement_id, Action="lambda:InvokeFunction", Principal="events.amazonaws.com", SourceArn=rule_arn)
