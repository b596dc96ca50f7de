"""The upgrade from the single-application release (local_aws.upgrade.PREVIOUS_RELEASE) to the
shared platform, as tests/e2e/conftest.py ran it on the local AWS: the previous release applied
and deployed through, then this configuration planned with the same variables, applied with the
local platform's services, and deployed through again."""

import re

import boto3
import hcl2
from hcl2 import SerializationOptions

from e2e.deployments import ROOT
from local_aws.stack import DEFAULT_SERVICE, LocalStack
from local_aws.upgrade import Upgrade, destroyed_or_replaced, moved
from tools.package import HANDLERS


def moved_blocks() -> dict[str, str]:
    """from -> to of every moved block in migrations.tf."""
    text = (ROOT / "migrations.tf").read_text(encoding="utf-8")
    return dict(re.findall(r"moved \{\s*from = (\S+)\s*to\s*= (\S+)\s*\}", text))


def test_the_previous_release_deployed_before_the_upgrade(upgraded: tuple[LocalStack, Upgrade]) -> None:
    _, upgrade = upgraded
    assert upgrade.before.status == "Succeeded", [(action.stage, action.status, action.summary) for action in upgrade.before.actions]
    assert all(int(version) >= 2 for version in upgrade.versions_before.values()), upgrade.versions_before


def test_the_upgrade_plan_destroys_and_replaces_nothing(upgraded: tuple[LocalStack, Upgrade]) -> None:
    _, upgrade = upgraded
    assert destroyed_or_replaced(upgrade.unchanged_variables_plan) == []
    # The apply that also adds the second service destroyed nothing either.
    assert upgrade.applied["destroyed"] == 0 and upgrade.applied["added"] > 0, upgrade.applied


def test_the_upgrade_plan_moves_every_application_resource_into_the_default_service(upgraded: tuple[LocalStack, Upgrade]) -> None:
    _, upgrade = upgraded
    moves = moved(upgrade.unchanged_variables_plan)
    blocks = moved_blocks()
    assert blocks and all(to.startswith(f'module.service["{DEFAULT_SERVICE}"].') for to in blocks.values())
    # Each instance of a moved resource keeps its key: aws_lambda_function.app["staging"] -> module...app["staging"].
    instance = re.compile(r"^(.*?)(\[[^\]]*\])?$")
    assert moves, "the plan moves nothing"
    for source, target in moves.items():
        resource, key = instance.match(source).groups()  # type: ignore[union-attr]
        assert blocks.get(resource) is not None and target == blocks[resource] + (key or ""), f"{source} -> {target}"
    assert {instance.match(source).group(1) for source in moves} == set(blocks)  # type: ignore[union-attr]


def new_platform_resources() -> list[str]:
    """Every resource of releases.tf, releases-api.tf and approvals.tf, and the release handlers' and
    the approval handler's instances of lambda.tf's resources of each handler."""
    addresses = []
    for name in ("releases.tf", "releases-api.tf", "approvals.tf"):
        with open(ROOT / name, encoding="utf-8") as file:
            document = hcl2.load(file, serialization_options=SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True))
        addresses += [f"{kind}.{label}" for block in document.get("resource", []) for kind, labelled in block.items() for label in labelled]
    per_handler = ("aws_cloudwatch_log_group", "aws_iam_role", "aws_iam_role_policy", "aws_lambda_function")
    return addresses + [f'{kind}.handler["{handler}"]' for kind in per_handler for handler in HANDLERS if handler.startswith("release_") or handler == "approval"]


def test_with_the_same_variables_the_upgrade_only_adds_the_registration_the_access_roles_releases_and_approvals(upgraded: tuple[LocalStack, Upgrade]) -> None:
    _, upgrade = upgraded
    added = sorted(change["address"] for change in upgrade.unchanged_variables_plan if change["change"]["actions"] == ["create"])
    default = f'module.service["{DEFAULT_SERVICE}"]'
    handlers = ("production", "rollback", "run_tests", "staging", "waiter")
    assert added == sorted(
        [f"{default}.aws_ssm_parameter.registration"]
        + [f'{default}.aws_iam_role.access["{handler}"]' for handler in handlers]
        + [f'{default}.aws_iam_role_policy.access["{handler}"]' for handler in handlers]
        + new_platform_resources()
    )


def test_the_upgraded_platform_deploys_the_same_functions_on_from_their_versions(upgraded: tuple[LocalStack, Upgrade]) -> None:
    stack, upgrade = upgraded
    assert upgrade.after.status == "Succeeded", [(action.stage, action.status, action.summary) for action in upgrade.after.actions]
    execution = stack.execution(upgrade.after)
    assert execution is not None and execution["status"] == "SUCCEEDED", execution
    assert execution["name"].startswith(f"{DEFAULT_SERVICE}-after-upgrad")
    functions = boto3.client("lambda")
    for environment, version in upgrade.versions_before.items():
        assert int(upgrade.versions_after[environment]) == int(version) + 1, (environment, upgrade.versions_before, upgrade.versions_after)
        # The versions published before the upgrade are still there to roll back to.
        name = stack.service()["functions"][environment]["function_name"]
        assert functions.get_function(FunctionName=name, Qualifier=version)["Configuration"]["Version"] == version
    before = stack.execution(upgrade.before)
    assert before is not None and stack.record("before-upgrade", before["name"])["status"] == "SUCCEEDED"
