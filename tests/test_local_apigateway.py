"""The local API Gateway serves the REST APIs stored in moto as API Gateway serves `POST /releases`:
SigV4-signed callers only (IAM users and assumed roles), execute-api:Invoke authorized by their
policies and the API's resource policy, the body validated against the release manifest's model,
the Lambda proxy integration invoked only with a permission for API Gateway, gateway responses
rendered; and tools/release.py, the release button, against it."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import ROOT
from local_aws.apigateway import LocalApiGateway
from local_aws.compat import LocalAws
from local_functions import ACCOUNT, REGION, create_function, create_role
from tools import release

SCHEMA = ROOT / "schemas" / "release-manifest.schema.json"
MANIFEST = {"release_id": "5.16", "pipelines": ["api", {"name": "web", "after": ["api"]}]}
# Marks each run in the bucket `marks`, and answers 202 with what a release intake answers and the event it got.
INTAKE = """
import json
import boto3

def handler(event, context):
    boto3.client("s3").put_object(Bucket="marks", Key=f"ran/{context.aws_request_id}", Body=b"")
    release_id = json.loads(event["body"] or "{}").get("release_id") or (event["pathParameters"] or {}).get("release_id")
    execution_arn = f"arn:aws:states:us-east-1:123456789012:execution:ReleaseStateMachine:{release_id}"
    body = {"release_id": release_id, "execution_arn": execution_arn, "console_url": f"https://console.aws.amazon.com/states/home#/v2/executions/details/{execution_arn}", "event": event}
    return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {"X-Release": [release_id, "seen"]}, "body": json.dumps(body)}
"""
FAILING = """
def handler(event, context):
    raise RuntimeError("the intake broke")
"""
INVOKE_ALL = {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:*/v1/POST/releases"}


@dataclass(frozen=True)
class ReleaseApi:
    api_id: str
    url: str  # of POST /releases


@dataclass(frozen=True)
class Called:
    status: int
    headers: dict[str, str]
    body: Any


@pytest.fixture
def gateway(aws: None) -> Iterator[LocalApiGateway]:
    patches = LocalAws()
    patches.install()
    boto3.client("s3").create_bucket(Bucket="marks")
    local = LocalApiGateway()
    local.start()
    try:
        yield local
    finally:
        local.stop()
        patches.uninstall()


def release_api(gateway: LocalApiGateway, source: str = INTAKE, permission: bool = True, policy: dict[str, Any] | None = None) -> ReleaseApi:
    """What the Terraform of the release API creates: POST /releases with AWS_IAM, the manifest
    model and a body validator, an AWS_PROXY integration, a BAD_REQUEST_BODY gateway response,
    stage v1, and (with `permission`) API Gateway's permission to invoke the function."""
    function_arn = create_function("release-intake", source, create_role("release-intake", "lambda.amazonaws.com"))
    client = boto3.client("apigateway")
    api_id = client.create_rest_api(name="releases", **({"policy": json.dumps(policy)} if policy else {}))["id"]
    root = next(item["id"] for item in client.get_resources(restApiId=api_id)["items"] if item["path"] == "/")
    resource = client.create_resource(restApiId=api_id, parentId=root, pathPart="releases")["id"]
    client.create_model(restApiId=api_id, name="ReleaseManifest", contentType="application/json", schema=SCHEMA.read_text(encoding="utf-8"))
    validator = client.create_request_validator(restApiId=api_id, name="body", validateRequestBody=True, validateRequestParameters=False)["id"]
    client.put_method(
        restApiId=api_id,
        resourceId=resource,
        httpMethod="POST",
        authorizationType="AWS_IAM",
        requestValidatorId=validator,
        requestModels={"application/json": "ReleaseManifest"},
    )
    uri = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    client.put_integration(restApiId=api_id, resourceId=resource, httpMethod="POST", type="AWS_PROXY", integrationHttpMethod="POST", uri=uri)
    templates = {"application/json": '{"message": "$context.error.validationErrorString"}'}
    client.put_gateway_response(restApiId=api_id, responseType="BAD_REQUEST_BODY", statusCode="400", responseTemplates=templates)
    client.create_deployment(restApiId=api_id, stageName="v1")
    if permission:
        source_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*/POST/releases"
        boto3.client("lambda").add_permission(
            FunctionName="release-intake", StatementId="apigateway", Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com", SourceArn=source_arn
        )
    return ReleaseApi(api_id, f"{gateway.invoke_url(api_id, 'v1')}/releases")


def user(name: str, *statements: dict[str, Any]) -> Credentials:
    """An IAM user with an access key and `statements` as its inline policy."""
    iam = boto3.client("iam")
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="invoke", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def call(url: str, body: Any, credentials: Credentials | None, method: str = "POST", content_type: str = "application/json") -> Called:
    """Send `body` (JSON) to `url`, signed with SigV4 for execute-api when `credentials` are given."""
    data = json.dumps(body).encode()
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": content_type})
    if credentials is not None:
        SigV4Auth(credentials, "execute-api", REGION).add_auth(request)
    sent = urllib.request.Request(url, data=data, headers=dict(request.headers.items()), method=method)
    try:
        with urllib.request.urlopen(sent, timeout=30) as answer:
            status, received, content = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        status, received, content = error.code, error.headers, error.read()
    headers = {name: ", ".join(received.get_all(name)) for name in set(received.keys())}
    return Called(status, headers, json.loads(content) if content else None)


def runs_of_intake() -> int:
    return int(boto3.client("s3").list_objects_v2(Bucket="marks", Prefix="ran/")["KeyCount"])


def test_a_signed_allowed_call_reaches_the_function_with_the_proxy_event(gateway: LocalApiGateway) -> None:
    api = release_api(gateway)
    alice = user("alice", INVOKE_ALL)

    called = call(api.url + "?dry=1&dry=2", MANIFEST, alice)

    assert called.status == 202, called.body
    assert called.body["release_id"] == "5.16" and called.body["execution_arn"].endswith(":ReleaseStateMachine:5.16")
    assert called.headers["X-Release"] == "5.16, seen" and called.headers["x-amzn-RequestId"]
    event = called.body["event"]
    assert json.loads(event["body"]) == MANIFEST and event["isBase64Encoded"] is False
    assert (event["resource"], event["path"], event["httpMethod"]) == ("/releases", "/releases", "POST")
    assert event["queryStringParameters"] == {"dry": "2"} and event["multiValueQueryStringParameters"] == {"dry": ["1", "2"]}
    assert event["pathParameters"] is None and event["headers"]["Content-Type"] == "application/json"
    assert event["multiValueHeaders"]["Content-Type"] == ["application/json"]
    context = event["requestContext"]
    assert context["requestId"] == called.headers["x-amzn-RequestId"]
    assert {key: context[key] for key in ("accountId", "apiId", "stage", "resourcePath", "httpMethod", "path")} == {
        "accountId": ACCOUNT,
        "apiId": api.api_id,
        "stage": "v1",
        "resourcePath": "/releases",
        "httpMethod": "POST",
        "path": "/v1/releases",
    }
    identity = context["identity"]
    assert identity["userArn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert (identity["accessKey"], identity["accountId"], identity["sourceIp"], identity["cognitoIdentityId"]) == (alice.access_key, ACCOUNT, "127.0.0.1", None)
    assert runs_of_intake() == 1


def test_an_unsigned_call_or_an_unknown_path_is_missing_authentication_token(gateway: LocalApiGateway) -> None:
    api = release_api(gateway)
    alice = user("alice", INVOKE_ALL)

    for called in (call(api.url, MANIFEST, None), call(api.url + "/other", MANIFEST, alice), call(api.url, MANIFEST, alice, method="PUT")):
        assert (called.status, called.body) == (403, {"message": "Missing Authentication Token"})
        assert called.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert call(f"{gateway.invoke_url('nosuchapi', 'v1')}/releases", MANIFEST, alice).status == 403
    assert runs_of_intake() == 0


def test_a_wrong_secret_or_an_unknown_key_is_refused(gateway: LocalApiGateway) -> None:
    api = release_api(gateway)
    alice = user("alice", INVOKE_ALL)

    wrong_secret = call(api.url, MANIFEST, Credentials(alice.access_key, "not-the-secret"))
    unknown_key = call(api.url, MANIFEST, Credentials("AKIAIOSFODNN7EXAMPLE", alice.secret_key))

    assert wrong_secret.status == 403
    assert wrong_secret.body["message"].startswith("The request signature we calculated does not match the signature you provided.")
    assert f"The Canonical String for this request should have been\n'POST\n/{api.api_id}/v1/releases\n" in wrong_secret.body["message"]
    assert (unknown_key.status, unknown_key.body) == (403, {"message": "The security token included in the request is invalid."})
    assert runs_of_intake() == 0


def test_a_caller_without_execute_api_invoke_is_not_authorized(gateway: LocalApiGateway) -> None:
    api = release_api(gateway)
    bob = user("bob", {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api.api_id}/v1/GET/*"})

    called = call(api.url, MANIFEST, bob)

    resource = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api.api_id}/v1/POST/releases"
    assert (called.status, called.body) == (403, {"Message": f"User: arn:aws:iam::{ACCOUNT}:user/bob is not authorized to perform: execute-api:Invoke on resource: {resource}"})
    assert runs_of_intake() == 0


def test_an_explicit_deny_wins(gateway: LocalApiGateway) -> None:
    api = release_api(gateway)
    carol = user(
        "carol",
        {"Effect": "Allow", "Action": "execute-api:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:*/POST/releases"},
    )

    called = call(api.url, MANIFEST, carol)

    assert called.status == 403 and called.body["Message"].endswith("/v1/POST/releases with an explicit deny")
    assert runs_of_intake() == 0


def test_the_resource_policy_can_allow_and_deny(gateway: LocalApiGateway) -> None:
    dave_arn = f"arn:aws:iam::{ACCOUNT}:user/dave"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": dave_arn}, "Action": "execute-api:Invoke", "Resource": "execute-api:/v1/POST/releases"},
            {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*", "Condition": {"StringEquals": {"aws:username": "erin"}}},
        ],
    }
    api = release_api(gateway, policy=policy)
    dave = user("dave")  # no identity policy: the resource policy names him
    erin = user("erin", INVOKE_ALL)

    assert call(api.url, MANIFEST, dave).status == 202
    denied = call(api.url, MANIFEST, erin)
    assert denied.status == 403 and denied.body["Message"].endswith("with an explicit deny")
    assert runs_of_intake() == 1


def test_a_body_failing_the_schema_is_400_with_the_validation_errors_and_the_function_does_not_run(gateway: LocalApiGateway) -> None:
    api = release_api(gateway)
    alice = user("alice", INVOKE_ALL)

    missing = call(api.url, {"pipelines": ["api"]}, alice)
    several = call(api.url, {"release_id": "5 16", "pipelines": [], "colour": "blue"}, alice)

    assert (missing.status, missing.body) == (400, {"message": '[object has missing required properties (["release_id"])]'})
    assert missing.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert several.status == 400
    assert several.body["message"] == (
        '[object instance has properties which are not allowed by the schema: ["colour"], '
        "/pipelines: array is too short: must have at least 1 elements but instance has 0 elements, "
        '/release_id: ECMA 262 regex "^[A-Za-z0-9][A-Za-z0-9._-]*$" does not match input string "5 16"]'
    )
    assert runs_of_intake() == 0


def test_without_a_gateway_response_a_bad_body_gets_api_gateways_default(gateway: LocalApiGateway) -> None:
    api = release_api(gateway)
    boto3.client("apigateway").delete_gateway_response(restApiId=api.api_id, responseType="BAD_REQUEST_BODY")
    boto3.client("apigateway").put_gateway_response(
        restApiId=api.api_id,
        responseType="ACCESS_DENIED",
        statusCode="401",
        responseParameters={"gatewayresponse.header.X-Why": "'denied'"},
        responseTemplates={"application/json": '{"type": "$context.error.responseType", "request": "$context.requestId", "why": $context.error.messageString}'},
    )

    bad = call(api.url, {"release_id": "5.16"}, user("alice", INVOKE_ALL))
    denied = call(api.url, MANIFEST, user("bob"))

    assert (bad.status, bad.body) == (400, {"message": "Invalid request body"})
    assert (denied.status, denied.headers["X-Why"], denied.body["type"]) == (401, "denied", "ACCESS_DENIED")
    assert denied.body["request"] == denied.headers["x-amzn-RequestId"] and "user/bob is not authorized" in denied.body["why"]


def test_without_a_lambda_permission_for_api_gateway_the_answer_is_500(gateway: LocalApiGateway) -> None:
    api = release_api(gateway, permission=False)
    boto3.client("lambda").add_permission(
        FunctionName="release-intake",
        StatementId="other-api",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:otherapi/*/POST/releases",
    )

    called = call(api.url, MANIFEST, user("alice", INVOKE_ALL))

    assert (called.status, called.body) == (500, {"message": "Internal server error"})
    assert "Invalid permissions on Lambda function" in str(gateway.executions[-1].detail)
    assert runs_of_intake() == 0


def test_a_function_that_raises_is_502(gateway: LocalApiGateway) -> None:
    api = release_api(gateway, source=FAILING)

    called = call(api.url, MANIFEST, user("alice", INVOKE_ALL))

    assert (called.status, called.body) == (502, {"message": "Internal server error"})
    assert "the intake broke" in str(gateway.executions[-1].detail)


def test_an_assumed_role_caller_is_authorized_by_its_role_and_named_by_its_session(gateway: LocalApiGateway) -> None:
    api = release_api(gateway)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}
    role = boto3.client("iam").create_role(RoleName="releaser", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    boto3.client("iam").put_role_policy(RoleName="releaser", PolicyName="invoke", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [INVOKE_ALL]}))
    session = boto3.client("sts").assume_role(RoleArn=role, RoleSessionName="alice")["Credentials"]
    credentials = Credentials(session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])

    called = call(api.url, MANIFEST, credentials)
    without_token = call(api.url, MANIFEST, Credentials(session["AccessKeyId"], session["SecretAccessKey"]))

    assert called.status == 202, called.body
    identity = called.body["event"]["requestContext"]["identity"]
    assert identity["userArn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/releaser/alice"
    assert identity["caller"].endswith(":alice") and identity["accessKey"] == session["AccessKeyId"]
    assert (without_token.status, without_token.body["message"]) == (403, "The security token included in the request is invalid.")


def test_a_signature_of_another_time_is_refused(gateway: LocalApiGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    api = release_api(gateway)
    alice = user("alice", INVOKE_ALL)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=6))

    called = call(api.url, MANIFEST, alice)

    assert called.status == 403 and called.body["message"].startswith("Signature expired: ")


def test_path_parameters_any_method_and_no_authorization(gateway: LocalApiGateway) -> None:
    api = release_api(gateway)
    client = boto3.client("apigateway")
    releases = next(item["id"] for item in client.get_resources(restApiId=api.api_id)["items"] if item["path"] == "/releases")
    one = client.create_resource(restApiId=api.api_id, parentId=releases, pathPart="{release_id}")["id"]
    client.put_method(restApiId=api.api_id, resourceId=one, httpMethod="ANY", authorizationType="NONE")
    uri = client.get_integration(restApiId=api.api_id, resourceId=releases, httpMethod="POST")["uri"]
    client.put_integration(restApiId=api.api_id, resourceId=one, httpMethod="ANY", type="AWS_PROXY", integrationHttpMethod="POST", uri=uri)
    boto3.client("lambda").add_permission(
        FunctionName="release-intake",
        StatementId="one-release",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api.api_id}/*/*/releases/{{release_id}}",
    )

    called = call(f"{api.url}/5.16", {}, None, method="GET")

    assert called.status == 202, called.body
    event = called.body["event"]
    assert (event["resource"], event["path"], event["pathParameters"]) == ("/releases/{release_id}", "/releases/5.16", {"release_id": "5.16"})
    assert event["requestContext"]["identity"]["userArn"] is None


def test_the_release_button_prints_the_release_and_exits_0(gateway: LocalApiGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    api = release_api(gateway)
    alice = user("alice", INVOKE_ALL)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", alice.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", alice.secret_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    manifest = tmp_path / "5.16.json"
    manifest.write_text(json.dumps(MANIFEST), encoding="utf-8")
    monkeypatch.setenv("RELEASE_API_URL", api.url)

    assert release.main([str(manifest)]) == 0

    printed = capsys.readouterr().out
    assert printed.startswith("release accepted (HTTP 202)\n")
    assert "  release_id     5.16\n" in printed and "  execution_arn  arn:aws:states:us-east-1:123456789012:execution:ReleaseStateMachine:5.16\n" in printed
    assert "  console_url    https://console.aws.amazon.com/states/" in printed


def test_the_release_button_exits_1_on_a_bad_manifest_and_2_without_a_url(
    gateway: LocalApiGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = release_api(gateway)
    alice = user("alice", INVOKE_ALL)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", alice.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", alice.secret_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    monkeypatch.delenv("RELEASE_API_URL", raising=False)
    manifest = tmp_path / "bad.json"
    manifest.write_text(json.dumps({"pipelines": ["api"]}), encoding="utf-8")

    assert release.main([str(manifest), "--url", api.url, "--region", REGION]) == 1
    assert capsys.readouterr().err == 'HTTP 400: [object has missing required properties (["release_id"])]\n'
    assert release.main([str(manifest)]) == 2
    assert '--url "$(terraform output -raw release_api_url)"' in capsys.readouterr().err
    assert runs_of_intake() == 0


def test_local_url_maps_an_aws_invoke_url(gateway: LocalApiGateway) -> None:
    assert gateway.local_url("https://abc123.execute-api.eu-west-1.amazonaws.com/v1/releases") == f"{gateway.url}/abc123/v1/releases"
    assert release.region_of("https://abc123.execute-api.eu-west-1.amazonaws.com/v1/releases", None) == "eu-west-1"
