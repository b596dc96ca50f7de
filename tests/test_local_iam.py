"""The local IAM check: a function's calls are allowed or denied by its role's identity policies."""

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from local_aws import iam

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/deployer"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::artifacts/*"},
        {"Effect": "Allow", "Action": ["dynamodb:UpdateItem", "dynamodb:GetItem"], "Resource": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/deployments"},
        {"Effect": "Allow", "Action": "lambda:Get*", "Resource": [f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:app", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:app:*"]},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::artifacts/secret/*"},
        {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/platform/services/*"},
    ],
}


@pytest.fixture
def deployer(aws: None) -> Iterator[iam.Identity]:
    from moto.iam.models import iam_backends

    client = boto3.client("iam")
    client.create_role(RoleName="deployer", AssumeRolePolicyDocument=json.dumps(TRUST))
    client.put_role_policy(RoleName="deployer", PolicyName="deploy", PolicyDocument=json.dumps(POLICY))
    boto3.client("s3").create_bucket(Bucket="artifacts")
    boto3.client("s3").put_object(Bucket="artifacts", Key="build.zip", Body=b"zip")
    undo = iam.patch_botocore()
    try:
        yield iam.Identity(ROLE, "deploy-staging", iam.role_policies(iam_backends[ACCOUNT]["global"], ROLE))
    finally:
        undo()


def error_of(call: object) -> dict[str, str]:
    with pytest.raises(ClientError) as raised:
        call()  # type: ignore[operator]
    return raised.value.response["Error"]


def test_an_allowed_call_goes_through(deployer: iam.Identity) -> None:
    with iam.acting_as(deployer):
        assert boto3.client("s3").get_object(Bucket="artifacts", Key="build.zip")["Body"].read() == b"zip"


def test_an_action_the_role_lacks_is_access_denied(deployer: iam.Identity) -> None:
    with iam.acting_as(deployer):
        error = error_of(lambda: boto3.client("s3").put_object(Bucket="artifacts", Key="x", Body=b""))
    assert error["Code"] == "AccessDenied"
    assert "assumed-role/deployer/deploy-staging is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::artifacts/x" in error["Message"]


def test_a_resource_outside_the_scope_is_denied(deployer: iam.Identity) -> None:
    with iam.acting_as(deployer):
        error = error_of(lambda: boto3.client("dynamodb").get_item(TableName="other", Key={"k": {"S": "v"}}))
    assert error["Code"] == "AccessDeniedException" and "table/other" in error["Message"]


def test_a_parameter_is_matched_by_its_arn(deployer: iam.Identity) -> None:
    ssm = boto3.client("ssm")
    for name in ("/platform/services/orders", "/platform/other/orders"):
        ssm.put_parameter(Name=name, Value="{}", Type="String")
    with iam.acting_as(deployer):
        assert ssm.get_parameter(Name="/platform/services/orders")["Parameter"]["Value"] == "{}"
        error = error_of(lambda: ssm.get_parameter(Name="/platform/other/orders"))
    assert error["Code"] == "AccessDeniedException" and f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/platform/other/orders" in error["Message"]


def test_an_explicit_deny_wins(deployer: iam.Identity) -> None:
    with iam.acting_as(deployer):
        error = error_of(lambda: boto3.client("s3").get_object(Bucket="artifacts", Key="secret/key.pem"))
    assert "s3:GetObject" in error["Message"]


def test_wildcard_actions_and_qualified_functions_match(deployer: iam.Identity) -> None:
    assert iam.decision(deployer.policies, "lambda:GetAlias", [f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:app"]) == "Allow"
    assert iam.decision(deployer.policies, "lambda:GetFunction", [f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:app:7"]) == "Allow"
    assert iam.decision(deployer.policies, "lambda:UpdateAlias", [f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:app"]) == "ImplicitDeny"


def test_head_object_needs_get_object(deployer: iam.Identity) -> None:
    with iam.acting_as(deployer):
        assert boto3.client("s3").head_object(Bucket="artifacts", Key="build.zip")["ContentLength"] == 3


def test_calls_outside_a_function_are_not_checked(deployer: iam.Identity) -> None:
    boto3.client("s3").put_object(Bucket="artifacts", Key="by-the-test", Body=b"")
    with iam.acting_as(deployer), iam.acting_as(None):
        boto3.client("s3").put_object(Bucket="artifacts", Key="nested-unchecked", Body=b"")


def test_a_call_naming_no_resource_is_decided_on_its_action(deployer: iam.Identity) -> None:
    # e.g. codedeploy:GetDeployment names a deployment id, not the group ARN a policy scopes it to
    assert iam.decision(deployer.policies, "dynamodb:GetItem", []) == "Allow"
    assert iam.decision(deployer.policies, "dynamodb:PutItem", []) == "ImplicitDeny"


def access_role(trusted: str) -> str:
    """A role that trusts `trusted` and may read one table, as a service's access role would."""
    client = boto3.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": trusted}, "Action": "sts:AssumeRole"}]}
    arn: str = client.create_role(RoleName="orders-access", Path="/platform/services/", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    allowed = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders"}]}
    client.put_role_policy(RoleName="orders-access", PolicyName="service", PolicyDocument=json.dumps(allowed))
    return arn


def with_assume(identity: iam.Identity, target: str) -> iam.Identity:
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": target}
    return iam.Identity(identity.role_arn, identity.session_name, (*identity.policies, {"Version": "2012-10-17", "Statement": [statement]}))


def test_calls_with_an_assumed_roles_credentials_are_checked_against_that_role(deployer: iam.Identity) -> None:
    target = access_role(ROLE)
    boto3.client("dynamodb").create_table(
        TableName="orders", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}], AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST"
    )
    with iam.acting_as(with_assume(deployer, target)):
        credentials = boto3.client("sts").assume_role(RoleArn=target, RoleSessionName="staging-orders")["Credentials"]
        session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"], aws_session_token=credentials["SessionToken"]
        )
        assert session.client("dynamodb").get_item(TableName="orders", Key={"k": {"S": "v"}}).get("Item") is None
        # The function's own role may read deployments; the assumed one may not.
        error = error_of(lambda: session.client("dynamodb").get_item(TableName="deployments", Key={"k": {"S": "v"}}))
    assert error["Code"] == "AccessDeniedException" and "assumed-role/orders-access/staging-orders" in error["Message"]


def test_assuming_a_role_whose_trust_policy_names_another_principal_is_denied(deployer: iam.Identity) -> None:
    target = access_role(f"arn:aws:iam::{ACCOUNT}:role/someone-else")
    with iam.acting_as(with_assume(deployer, target)):
        error = error_of(lambda: boto3.client("sts").assume_role(RoleArn=target, RoleSessionName="staging-orders"))
    assert error["Code"] == "AccessDenied" and "its trust policy does not name" in error["Message"]
    # Without sts:AssumeRole in its own policies, the trust policy does not matter.
    with iam.acting_as(deployer):
        error = error_of(lambda: boto3.client("sts").assume_role(RoleArn=access_role_arn(), RoleSessionName="x"))
    assert error["Code"] == "AccessDenied" and "is not authorized to perform: sts:AssumeRole" in error["Message"]


def access_role_arn() -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/platform/services/orders-access"


def test_roles_are_listed_from_a_copy_while_another_request_creates_one(aws: None) -> None:
    from moto.iam.models import iam_backends

    from local_aws.compat import roles_snapshot

    client = boto3.client("iam")
    client.create_role(RoleName="first", AssumeRolePolicyDocument=json.dumps(TRUST))
    backend = iam_backends[ACCOUNT]["global"]
    listed = roles_snapshot(backend)
    walking = iter(listed)
    next(walking)
    client.create_role(RoleName="second", AssumeRolePolicyDocument=json.dumps(TRUST))
    # moto's own get_roles is a view of the dict: resuming this walk after a CreateRole would raise.
    assert list(walking) == [] and [role.name for role in roles_snapshot(backend)] == ["first", "second"]


def test_a_query_or_scan_of_an_index_is_authorized_on_the_index() -> None:
    dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
    table = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/deployments"
    for operation in ("Query", "Scan"):
        assert iam.resources_of(dynamodb, operation, {"TableName": "deployments", "IndexName": "by-service"}, ACCOUNT) == [f"{table}/index/by-service"]
        assert iam.resources_of(dynamodb, operation, {"TableName": "deployments"}, ACCOUNT) == [table]


def test_an_allow_on_the_table_does_not_cover_its_indexes(deployer: iam.Identity) -> None:
    boto3.client("dynamodb").create_table(
        TableName="deployments",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}, {"AttributeName": "service", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-service", "KeySchema": [{"AttributeName": "service", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
    )
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/deployments"
    on_table = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:Query", "Resource": table}]}
    on_index = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:Query", "Resource": f"{table}/index/by-service"}]}
    query = {"TableName": "deployments", "IndexName": "by-service", "KeyConditionExpression": "service = :s", "ExpressionAttributeValues": {":s": {"S": "orders"}}}

    with iam.acting_as(iam.Identity(ROLE, "deploy-staging", (on_table,))):
        error = error_of(lambda: boto3.client("dynamodb").query(**query))
        assert boto3.client("dynamodb").query(TableName="deployments", KeyConditionExpression="k = :k", ExpressionAttributeValues={":k": {"S": "v"}})["Count"] == 0
    assert error["Code"] == "AccessDeniedException" and f"dynamodb:Query on resource: {table}/index/by-service" in error["Message"]
    with iam.acting_as(iam.Identity(ROLE, "deploy-staging", (on_index,))):
        assert boto3.client("dynamodb").query(**query)["Count"] == 0
    of_index = iam.resources_of(boto3.client("dynamodb"), "Query", query, ACCOUNT)
    assert iam.decision((on_table,), "dynamodb:Query", of_index) == "ImplicitDeny"
    assert iam.decision((on_index,), "dynamodb:Query", of_index) == "Allow"


def test_a_secret_and_a_queue_are_authorized_on_their_arns() -> None:
    secret = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:sls-cd/chat/slack-AbCdEf"
    queue_url = f"http://127.0.0.1:5000/{ACCOUNT}/sls-cd-chat-failures"
    assert iam.resources_of(boto3.client("secretsmanager", region_name="eu-west-1"), "GetSecretValue", {"SecretId": secret}, ACCOUNT) == [secret]
    of_queue = iam.resources_of(boto3.client("sqs", region_name="eu-west-1"), "SendMessage", {"QueueUrl": queue_url, "MessageBody": "{}"}, ACCOUNT)
    assert of_queue == [f"arn:aws:sqs:eu-west-1:{ACCOUNT}:sls-cd-chat-failures"]
    other_queue = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:other"}]}
    assert iam.decision((other_queue,), "sqs:SendMessage", of_queue) == "ImplicitDeny"
