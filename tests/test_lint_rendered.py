"""The rules of `tools.lint_rendered`, the linter of what Terraform renders: each one reports a
policy or definition a user's scanner would flag, and lets through what AWS documents as right."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tools.lint_rendered import ASL_VALIDATOR, STATELINT, Document, asl_findings, policy_findings, rendered_documents, unexplained_wildcard_resources

ACCOUNT = "123456789012"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/deployments"


def role_policy(*statements: dict[str, Any], address: str = 'aws_iam_role_policy.handler["waiter"].policy') -> Document:
    return Document(address, json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


def allow(actions: list[str], resources: Any, **extra: Any) -> dict[str, Any]:
    return {"Sid": "Tested", "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def test_a_scoped_policy_is_clean() -> None:
    assert policy_findings(role_policy(allow(["dynamodb:GetItem", "dynamodb:UpdateItem"], TABLE))) == []


def test_an_unknown_action_is_reported() -> None:
    assert any("UNKNOWN_ACTION" in finding for finding in policy_findings(role_policy(allow(["dynamodb:GetItems"], TABLE))))


def test_a_resource_of_the_wrong_type_is_reported() -> None:
    findings = policy_findings(role_policy(allow(["s3:GetObject"], TABLE)))
    assert any("RESOURCE_MISMATCH" in finding and "s3:GetObject" in finding for finding in findings)


def test_one_of_the_resource_types_an_action_lists_is_enough() -> None:
    execution = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:sls-cd-deployment:*"
    assert policy_findings(role_policy(allow(["states:DescribeExecution"], execution))) == []


def test_a_wildcard_resource_is_reported_where_the_action_has_resource_level_permissions() -> None:
    assert any("RESOURCE_STAR" in finding for finding in policy_findings(role_policy(allow(["lambda:UpdateAlias"], "*"))))
    assert policy_findings(role_policy(allow(["xray:PutTraceSegments", "codedeploy:StopDeployment"], "*"))) == []


def test_wildcard_actions_and_not_elements_are_reported() -> None:
    assert any("wildcard actions ['dynamodb:*']" in finding for finding in policy_findings(role_policy(allow(["dynamodb:*"], TABLE))))
    not_action = {"Sid": "Tested", "Effect": "Allow", "NotAction": ["iam:*"], "Resource": TABLE}
    assert any("NotAction" in finding for finding in policy_findings(role_policy(not_action)))


def test_a_deny_may_name_every_action() -> None:
    deny = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "arn:aws:s3:::bucket/*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert policy_findings(role_policy(deny, address='aws_s3_bucket_policy.this["source"].policy')) == []


def test_a_key_policy_may_give_the_account_root_the_key_and_nothing_else_a_wildcard() -> None:
    root = {"Sid": "AccountAdministersKey", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
    assert policy_findings(role_policy(root, address="aws_kms_key.platform.policy")) == []
    service = {"Sid": "Logs", "Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"}, "Action": "kms:*", "Resource": "*"}
    assert any("wildcard actions" in finding for finding in policy_findings(role_policy(service, address="aws_kms_key.platform.policy")))


def test_a_trust_policy_needs_no_resource() -> None:
    trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    assert policy_findings(role_policy(trust, address='aws_iam_role.handler["waiter"].assume_role_policy')) == []
    assert any("MALFORMED" in finding for finding in policy_findings(role_policy(trust)))


def trust(service: str, condition: dict[str, Any] | None = None) -> Document:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"} | ({"Condition": condition} if condition else {})
    return role_policy(statement, address="aws_iam_role.codedeploy.assume_role_policy")


def test_a_service_that_documents_confused_deputy_conditions_is_trusted_only_with_them() -> None:
    group = f"arn:aws:codedeploy:us-east-1:{ACCOUNT}:deploymentgroup:sls-cd-app/production"
    scoped = {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnLike": {"aws:SourceArn": group}}
    assert policy_findings(trust("codedeploy.amazonaws.com", scoped)) == []

    unconditioned = policy_findings(trust("codedeploy.amazonaws.com"))
    assert any("aws:SourceAccount" in finding for finding in unconditioned) and any("aws:SourceArn" in finding for finding in unconditioned), unconditioned
    another_service = scoped | {"ArnLike": {"aws:SourceArn": f"arn:aws:codebuild:us-east-1:{ACCOUNT}:project/sls-cd-build"}}
    assert any("aws:SourceArn" in finding for finding in policy_findings(trust("codedeploy.amazonaws.com", another_service)))
    another_account = scoped | {"ArnLike": {"aws:SourceArn": group.replace(ACCOUNT, "210987654321")}}
    assert any("aws:SourceArn" in finding for finding in policy_findings(trust("codedeploy.amazonaws.com", another_account)))
    if_exists = {"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}, "ArnLike": {"aws:SourceArn": group}}
    assert any("aws:SourceAccount" in finding for finding in policy_findings(trust("codedeploy.amazonaws.com", if_exists)))


def test_a_service_that_documents_no_confused_deputy_conditions_is_trusted_as_it_is_and_an_unknown_one_is_reported() -> None:
    assert policy_findings(trust("lambda.amazonaws.com")) == []
    assert policy_findings(trust("codepipeline.amazonaws.com")) == []
    assert policy_findings(trust("codebuild.amazonaws.com")) == []
    assert any("has not looked up" in finding for finding in policy_findings(trust("scheduler.amazonaws.com")))


def test_only_policies_the_configuration_sets_are_linted() -> None:
    default_topic_policy = json.dumps({"Version": "2008-10-17", "Statement": []})
    state = {
        "values": {
            "root_module": {
                "resources": [
                    {"mode": "managed", "type": "aws_sns_topic", "address": "aws_sns_topic.notifications", "values": {"policy": default_topic_policy}},
                    {"mode": "managed", "type": "aws_iam_role_policy", "address": "aws_iam_role_policy.pipeline", "values": {"policy": default_topic_policy}},
                    {"mode": "managed", "type": "aws_sfn_state_machine", "address": "aws_sfn_state_machine.deployment", "values": {"definition": "{}"}},
                ]
            }
        }
    }
    definitions, policies = rendered_documents(state, {("aws_iam_role_policy", "policy")})
    assert [document.address for document in definitions] == ["aws_sfn_state_machine.deployment.definition"]
    assert [document.address for document in policies] == ["aws_iam_role_policy.pipeline.policy"]


def test_a_wildcard_resource_needs_a_comment(tmp_path: Path) -> None:
    (tmp_path / "policies.tf").write_text(
        'data "aws_iam_policy_document" "a" {\n'
        "  # X-Ray has no resource-level permissions.\n"
        "  statement {\n"
        '    actions   = ["xray:PutTraceSegments"]\n'
        '    resources = ["*"]\n'
        "  }\n"
        "\n"
        "  statement {\n"
        '    actions   = ["codedeploy:StopDeployment"]\n'
        '    resources = ["*"]\n'
        "  }\n"
        "}\n",
        encoding="utf-8",
    )
    assert unexplained_wildcard_resources(tmp_path) == ['policies.tf:10: Resource "*" without a comment saying why']


@pytest.mark.skipif(not ASL_VALIDATOR.exists() or shutil.which(str(STATELINT)) is None, reason="statelint or asl-validator not installed: run `make install`")
def test_both_asl_linters_report_a_broken_definition(tmp_path: Path) -> None:
    broken = tmp_path / "broken.asl.json"
    broken.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Missing"}}}), encoding="utf-8")
    findings = asl_findings(broken)
    assert [finding.split(":")[0] for finding in findings] == ["statelint", "asl-validator"]
    assert all("Missing" in finding for finding in findings)
