"""modules/pipeline-access, the role the platform's waiter and release handlers assume in a target
account: every rule of its variables stops the plan with its message, and its applies render the
trust policy (a statement for the waiter's role and one for the release handlers' roles, each with
its session-name condition, the organization condition when set) and the permissions (reading the
named pipelines, starting only those with start = true, and stopping those for the releases'
sessions alone) as IAM receives them.

The module runs with `terraform test` in a copy of its folder, with the real AWS provider
configured offline: the policy documents are rendered by the provider itself, so the JSON below
is the JSON the role gets. Only the calls that would reach AWS are overridden (the caller
identity, the role and its policy), and no AWS endpoint is involved. The Region comes from the
provider's own aws_region data source, as in a real apply.
"""

import json
import shutil
from typing import Any

import hcl2
import pytest

from local_aws.terraform import ROOT, find_provider_mirror
from test_plan_checks import HCL, HCL_OPTIONS, flat, hcl_escape, hcl_string, terraform_test, variables_block

# Its module's fixture runs `terraform test` once: every test of the module on one worker (make test-unit runs
# pytest-xdist with --dist loadgroup), not once on each.
pytestmark = pytest.mark.xdist_group("pipeline-access-plans")

MODULE = ROOT / "modules" / "pipeline-access"
TARGET_ACCOUNT = "210987654321"
ROLE_ARN = f"arn:aws:iam::{TARGET_ACCOUNT}:role/pipeline-waiter-access"
WAITER_ROLE = "arn:aws:iam::123456789012:role/sls-cd-waiter-role"
SESSION = "pipeline-waiter"
RELEASE_ROLES = ["arn:aws:iam::123456789012:role/sls-cd-release-steps-role", "arn:aws:iam::123456789012:role/sls-cd-release-events-role"]
RELEASE_SESSION = "pipeline-release"
READ_ACTIONS = ["codepipeline:GetPipelineExecution", "codepipeline:ListActionExecutions", "codepipeline:ListPipelineExecutions"]

PROVIDER_SETTINGS = """  access_key                  = "offline"
  secret_key                  = "offline"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
"""

PROVIDERS = f"""provider "aws" {{
  region = "eu-west-1"
{PROVIDER_SETTINGS}}}

provider "aws" {{
  alias  = "china"
  region = "cn-north-1"
{PROVIDER_SETTINGS}}}

provider "aws" {{
  alias  = "govcloud"
  region = "us-gov-west-1"
{PROVIDER_SETTINGS}}}

# What would reach AWS: STS for the account, IAM for the role and its policy.
override_data {{
  target = data.aws_caller_identity.current
  values = {{ account_id = "{TARGET_ACCOUNT}" }}
}}

override_resource {{
  target = aws_iam_role.this
  values = {{ arn = "{ROLE_ARN}" }}
}}

override_resource {{
  target = aws_iam_role_policy.this
}}
"""


def waiter(role_arn: str = WAITER_ROLE, session_name: str = SESSION) -> HCL:
    """The platform's pipeline_waiter output as the module gets it, function_name included."""
    return HCL(f'{{ function_name = "sls-cd-waiter", role_arn = {hcl_string(role_arn)}, session_name = {hcl_string(session_name)} }}')


def releases(role_arns: list[str] = RELEASE_ROLES, session_name: str = RELEASE_SESSION) -> HCL:
    """The platform's pipeline_releases output as the module gets it."""
    return HCL(f"{{ role_arns = [{', '.join(hcl_string(arn) for arn in role_arns)}], session_name = {hcl_string(session_name)} }}")


VALID: dict[str, str] = {"waiter": waiter(), "pipelines": HCL("{ api = {} }")}

# A pipeline a release may start: releases requires one.
STARTED = HCL("{ api = { start = true } }")

# Plans a variable's validation stops: (the variables that differ from VALID, that variable, a phrase of its failing rule's message).
INVALID: dict[str, tuple[dict[str, str], str, str]] = {
    "waiter_role_arn_with_a_wildcard": ({"waiter": waiter("arn:aws:iam::123456789012:role/*")}, "waiter", "waiter.role_arn must be"),
    "waiter_role_arn_of_a_user": ({"waiter": waiter("arn:aws:iam::123456789012:user/deployer")}, "waiter", "waiter.role_arn must be"),
    "waiter_role_arn_of_no_partition": ({"waiter": waiter("arn:amazon:iam::123456789012:role/sls-cd-waiter-role")}, "waiter", "waiter.role_arn must be"),
    "waiter_role_arn_short_account": ({"waiter": waiter("arn:aws:iam::12345:role/sls-cd-waiter-role")}, "waiter", "waiter.role_arn must be"),
    "waiter_session_name_of_one_character": ({"waiter": waiter(session_name="p")}, "waiter", "waiter.session_name must be"),
    "waiter_session_name_with_a_space": ({"waiter": waiter(session_name="pipeline waiter")}, "waiter", "waiter.session_name must be"),
    "waiter_session_name_over_64_characters": ({"waiter": waiter(session_name="p" * 65)}, "waiter", "waiter.session_name must be"),
    "neither_waiter_nor_releases": ({"waiter": HCL("null")}, "releases", "waiter and releases are both null"),
    "releases_without_a_role": ({"releases": releases([]), "pipelines": STARTED}, "releases", "must list at least one role"),
    "releases_role_arn_with_a_wildcard": (
        {"releases": releases(["arn:aws:iam::123456789012:role/sls-cd-release-*"]), "pipelines": STARTED},
        "releases",
        "each entry must be the ARN of an IAM role",
    ),
    "releases_role_arn_of_a_user": (
        {"releases": releases([RELEASE_ROLES[0], "arn:aws:iam::123456789012:user/deployer"]), "pipelines": STARTED},
        "releases",
        "each entry must be the ARN of an IAM role",
    ),
    "releases_role_listed_twice": ({"releases": releases([RELEASE_ROLES[0], RELEASE_ROLES[0]]), "pipelines": STARTED}, "releases", "lists a role twice"),
    "releases_session_name_of_one_character": ({"releases": releases(session_name="p"), "pipelines": STARTED}, "releases", "releases.session_name must be"),
    "releases_session_name_with_a_space": ({"releases": releases(session_name="pipeline release"), "pipelines": STARTED}, "releases", "releases.session_name must be"),
    "releases_session_name_of_the_waiter": ({"releases": releases(session_name=SESSION), "pipelines": STARTED}, "releases", "must be told apart from the waiter"),
    "releases_role_of_the_waiter": ({"releases": releases([WAITER_ROLE, RELEASE_ROLES[1]]), "pipelines": STARTED}, "releases", "must be told apart from the waiter"),
    "releases_without_a_pipeline_to_start": ({"releases": releases()}, "releases", "no pipeline of pipelines has start = true"),
    "no_pipeline": ({"pipelines": HCL("{}")}, "pipelines", "must name at least one pipeline"),
    "pipeline_name_with_a_wildcard": ({"pipelines": HCL('{ "api-*" = {} }')}, "pipelines", "each key must be a pipeline name"),
    "pipeline_name_over_100_characters": ({"pipelines": HCL(f'{{ "{"p" * 101}" = {{}} }}')}, "pipelines", "each key must be a pipeline name"),
    "region_not_a_region_code": ({"region": "Ireland"}, "region", "region must be a Region code"),
    "organization_id_not_an_organization": ({"organization_id": "123456789012"}, "organization_id", "organization_id must be"),
    "organization_id_too_short": ({"organization_id": "o-abc"}, "organization_id", "organization_id must be"),
    "role_name_with_a_slash": ({"role_name": "team/pipeline-waiter"}, "role_name", "role_name must be"),
    "role_name_over_64_characters": ({"role_name": "r" * 65}, "role_name", "role_name must be"),
    "role_path_without_its_last_slash": ({"role_path": "/platform"}, "role_path", "role_path must start and end with /"),
    "role_path_with_a_wildcard": ({"role_path": "/plat*/"}, "role_path", "role_path must start and end with /"),
    "permissions_boundary_of_a_role": ({"permissions_boundary": "arn:aws:iam::210987654321:role/boundary"}, "permissions_boundary", "permissions_boundary must be"),
    "tag_key_of_aws": ({"tags": HCL('{ "aws:team" = "platform" }')}, "tags", "IAM takes at most 50 tags"),
    "tags_over_50": ({"tags": HCL("{ " + ", ".join(f't{n} = "v"' for n in range(51)) + " }")}, "tags", "IAM takes at most 50 tags"),
}

# Plans that pass every variable's validation and stop on a condition of the configuration:
# (provider, variables that differ from VALID, an override, a phrase of the message).
STOPPED: dict[str, tuple[str | None, dict[str, str], str, str]] = {
    # The waiter's role is in the commercial partition, the account the provider reaches in China's.
    "waiter_of_another_partition": ("china", {}, "", "a role can only be assumed from its own partition"),
    "provider_region_unreadable": (
        None,
        {},
        'override_data {\n    target = data.aws_region.current\n    values = { endpoint = "ec2.amazonaws.com" }\n  }\n',
        "cannot be read from its EC2 endpoint (ec2.amazonaws.com): set region",
    ),
    # The waiter's role is in China's partition, as is the account; the release handlers' roles are not.
    "releases_of_another_partition": (
        "china",
        {"waiter": waiter("arn:aws-cn:iam::123456789012:role/sls-cd-waiter-role"), "releases": releases(), "pipelines": STARTED},
        "",
        f"{RELEASE_ROLES[0]}, {RELEASE_ROLES[1]} are not in this account's partition, aws-cn: a role can only be assumed from its own partition",
    ),
}


def policy_statement(policy: str, sid: str) -> str:
    return f'one([for s in jsondecode({policy}).Statement : s if s.Sid == "{sid}"])'


def statement_values(policy: str, sid: str, key: str) -> str:
    """The Action or Resource of a statement as a set (IAM writes one value as a string)."""
    return f"toset(flatten([{policy_statement(policy, sid)}.{key}]))"


def hcl_set(values: list[str]) -> str:
    return "toset([" + ", ".join(hcl_string(value) for value in values) + "])"


def trust_is(role_arn: str, sid: str = "PlatformWaiter", **conditions: str) -> str:
    """The rendered trust policy is exactly the one statement `sid` that lets `role_arn` assume the
    role with these StringEquals conditions."""
    expected = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": sid,
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"AWS": role_arn},
                "Condition": {"StringEquals": conditions},
            }
        ],
    }
    return f"jsondecode(aws_iam_role.this.assume_role_policy) == jsondecode({hcl_string(json.dumps(expected))})"


POLICY = "aws_iam_role_policy.this.policy"
TRUST = "aws_iam_role.this.assume_role_policy"


def trusts(sid: str, role_arns: list[str], **conditions: str) -> list[str]:
    """The trust policy's statement `sid` lets exactly `role_arns` assume the role, with exactly
    these StringEquals conditions (IAM writes one principal as a string, several as a list in an
    order of its own)."""
    statement = policy_statement(TRUST, sid)
    return [
        f'toset(keys({statement})) == toset(["Action", "Condition", "Effect", "Principal", "Sid"])',
        f'{statement}.Effect == "Allow" && {statement}.Action == "sts:AssumeRole" && toset(keys({statement}.Principal)) == toset(["AWS"])',
        f"{statement_values(TRUST, sid, 'Principal.AWS')} == {hcl_set(role_arns)}",
        f"{statement}.Condition == jsondecode({hcl_string(json.dumps({'StringEquals': conditions}))})",
    ]


def stops_for_releases(session_name: str, *pipeline_arns: str) -> list[str]:
    """The policy's StopPipelines statement lets the sessions named `session_name` alone stop exactly these pipelines."""
    statement = policy_statement(POLICY, "StopPipelines")
    return [
        f'{statement}.Effect == "Allow"',
        f"{statement_values(POLICY, 'StopPipelines', 'Action')} == {hcl_set(['codepipeline:StopPipelineExecution'])}",
        f"{statement_values(POLICY, 'StopPipelines', 'Resource')} == {hcl_set(list(pipeline_arns))}",
        f"{statement}.Condition == jsondecode({hcl_string(json.dumps({'StringLike': {'aws:userid': f'*:{session_name}'}}))})",
        f'alltrue([for s in jsondecode({POLICY}).Statement : !contains(keys(s), "Condition") if s.Sid != "StopPipelines"])',
    ]


def arns(prefix: str, *names: str) -> list[str]:
    return [f"{prefix}:{name}" for name in names]


EU = f"arn:aws:codepipeline:eu-west-1:{TARGET_ACCOUNT}"
US_WEST = f"arn:aws:codepipeline:us-west-2:{TARGET_ACCOUNT}"

# Applies of the module: (provider, variables that differ from VALID, what must then hold).
APPLIED: dict[str, tuple[str | None, dict[str, str], list[str]]] = {
    # One pipeline to follow, the defaults: the Region is the provider's, nothing may be started.
    "read_only": (
        None,
        {"pipelines": HCL('{ "shared-services" = {} }')},
        [
            trust_is(WAITER_ROLE, **{"sts:RoleSessionName": SESSION}),
            f'[for s in jsondecode({POLICY}).Statement : s.Sid] == ["FollowPipelines"]',
            f'{policy_statement(POLICY, "FollowPipelines")}.Effect == "Allow"',
            f"{statement_values(POLICY, 'FollowPipelines', 'Action')} == {hcl_set(READ_ACTIONS)}",
            f"{statement_values(POLICY, 'FollowPipelines', 'Resource')} == {hcl_set(arns(EU, 'shared-services'))}",
            "length(data.aws_region.current) == 1",
            'aws_iam_role.this.name == "pipeline-waiter-access" && aws_iam_role.this.path == "/"',
            "aws_iam_role.this.max_session_duration == 3600 && aws_iam_role.this.permissions_boundary == null",
            'aws_iam_role_policy.this.name == "pipeline-waiter" && aws_iam_role_policy.this.role == aws_iam_role.this.id',
            'output.role_arn == aws_iam_role.this.arn && output.role_name == "pipeline-waiter-access"',
            f'output.pipeline_arns == {{ "shared-services" = "{EU}:shared-services" }}',
            'jsondecode(output.user_parameters["shared-services"]) == { pipeline = "shared-services", region = "eu-west-1", role_arn = aws_iam_role.this.arn, trigger = false }',
        ],
    ),
    # Two of three pipelines may be started, from one organization only, in a Region of their own.
    "start_where_asked_and_organization": (
        None,
        {
            "pipelines": HCL('{ api = { start = true }, "nightly-tests" = {}, "release.train" = { start = true } }'),
            "organization_id": "o-a1b2c3d4e5",
            "region": "us-west-2",
            "role_name": "platform-waiter",
            "role_path": "/platform/",
            "permissions_boundary": f"arn:aws:iam::{TARGET_ACCOUNT}:policy/boundaries/workload",
            "tags": HCL('{ Team = "platform" }'),
        },
        [
            trust_is(WAITER_ROLE, **{"sts:RoleSessionName": SESSION, "aws:PrincipalOrgID": "o-a1b2c3d4e5"}),
            f'[for s in jsondecode({POLICY}).Statement : s.Sid] == ["FollowPipelines", "StartPipelines"]',
            f"{statement_values(POLICY, 'FollowPipelines', 'Action')} == {hcl_set(READ_ACTIONS)}",
            f"{statement_values(POLICY, 'FollowPipelines', 'Resource')} == {hcl_set(arns(US_WEST, 'api', 'nightly-tests', 'release.train'))}",
            f'{policy_statement(POLICY, "StartPipelines")}.Effect == "Allow"',
            f"{statement_values(POLICY, 'StartPipelines', 'Action')} == {hcl_set(['codepipeline:StartPipelineExecution'])}",
            f"{statement_values(POLICY, 'StartPipelines', 'Resource')} == {hcl_set(arns(US_WEST, 'api', 'release.train'))}",
            "length(data.aws_region.current) == 0",
            'aws_iam_role.this.name == "platform-waiter" && aws_iam_role.this.path == "/platform/"',
            f'aws_iam_role.this.permissions_boundary == "arn:aws:iam::{TARGET_ACCOUNT}:policy/boundaries/workload"',
            'aws_iam_role.this.tags == tomap({ Team = "platform" })',
            'output.role_name == "platform-waiter"',
            f'output.pipeline_arns["release.train"] == "{US_WEST}:release.train"',
            '[for name in ["api", "nightly-tests", "release.train"] : jsondecode(output.user_parameters[name]).trigger] == [true, false, true]',
            'alltrue([for name, parameters in output.user_parameters : jsondecode(parameters) == { pipeline = name, region = "us-west-2", role_arn = aws_iam_role.this.arn, trigger = name != "nightly-tests" }])',
            "length(output.manifest_entries) == 0",
        ],
    ),
    # The waiter and the releases, from one organization: each trusted with its own session name;
    # the releases' sessions alone may stop the pipelines they may start.
    "waiter_and_releases": (
        None,
        {
            "releases": releases(),
            "pipelines": HCL('{ api = { start = true }, "nightly-tests" = {}, "release.train" = { start = true } }'),
            "organization_id": "o-a1b2c3d4e5",
        },
        [
            f'[for s in jsondecode({TRUST}).Statement : s.Sid] == ["PlatformWaiter", "PlatformReleases"]',
            *trusts("PlatformWaiter", [WAITER_ROLE], **{"sts:RoleSessionName": SESSION, "aws:PrincipalOrgID": "o-a1b2c3d4e5"}),
            *trusts("PlatformReleases", RELEASE_ROLES, **{"sts:RoleSessionName": RELEASE_SESSION, "aws:PrincipalOrgID": "o-a1b2c3d4e5"}),
            f'[for s in jsondecode({POLICY}).Statement : s.Sid] == ["FollowPipelines", "StartPipelines", "StopPipelines"]',
            f"{statement_values(POLICY, 'FollowPipelines', 'Action')} == {hcl_set(READ_ACTIONS)}",
            f"{statement_values(POLICY, 'FollowPipelines', 'Resource')} == {hcl_set(arns(EU, 'api', 'nightly-tests', 'release.train'))}",
            f"{statement_values(POLICY, 'StartPipelines', 'Action')} == {hcl_set(['codepipeline:StartPipelineExecution'])}",
            f"{statement_values(POLICY, 'StartPipelines', 'Resource')} == {hcl_set(arns(EU, 'api', 'release.train'))}",
            *stops_for_releases(RELEASE_SESSION, *arns(EU, "api", "release.train")),
            'aws_iam_role.this.name == "pipeline-waiter-access" && aws_iam_role_policy.this.name == "pipeline-waiter"',
            'keys(output.user_parameters) == tolist(["api", "nightly-tests", "release.train"])',
            'keys(output.manifest_entries) == tolist(["api", "release.train"])',
            "alltrue([for name, entry in output.manifest_entries : jsondecode(entry) == { name = name, role_arn = aws_iam_role.this.arn }])",
        ],
    ),
    # The releases alone, with one role: the waiter may not assume the role, and has no UserParameters.
    "releases_only": (
        None,
        {"waiter": HCL("null"), "releases": releases([RELEASE_ROLES[0]], "release-session"), "pipelines": HCL('{ api = { start = true }, "shared-services" = {} }')},
        [
            trust_is(RELEASE_ROLES[0], "PlatformReleases", **{"sts:RoleSessionName": "release-session"}),
            f'[for s in jsondecode({POLICY}).Statement : s.Sid] == ["FollowPipelines", "StartPipelines", "StopPipelines"]',
            f"{statement_values(POLICY, 'FollowPipelines', 'Resource')} == {hcl_set(arns(EU, 'api', 'shared-services'))}",
            f"{statement_values(POLICY, 'StartPipelines', 'Resource')} == {hcl_set(arns(EU, 'api'))}",
            *stops_for_releases("release-session", *arns(EU, "api")),
            "length(output.user_parameters) == 0",
            'jsondecode(output.manifest_entries["api"]) == { name = "api", role_arn = aws_iam_role.this.arn } && length(output.manifest_entries) == 1',
            f'output.pipeline_arns == {{ api = "{EU}:api", "shared-services" = "{EU}:shared-services" }}',
        ],
    ),
    # The ARNs name the partition and Region of the provider's account.
    "china": (
        "china",
        {"waiter": waiter("arn:aws-cn:iam::123456789012:role/sls-cd-waiter-role"), "pipelines": HCL("{ api = { start = true } }")},
        [
            trust_is("arn:aws-cn:iam::123456789012:role/sls-cd-waiter-role", **{"sts:RoleSessionName": SESSION}),
            f"{statement_values(POLICY, 'FollowPipelines', 'Resource')} == {hcl_set([f'arn:aws-cn:codepipeline:cn-north-1:{TARGET_ACCOUNT}:api'])}",
            f"{statement_values(POLICY, 'StartPipelines', 'Resource')} == {hcl_set([f'arn:aws-cn:codepipeline:cn-north-1:{TARGET_ACCOUNT}:api'])}",
            'jsondecode(output.user_parameters["api"]).region == "cn-north-1"',
        ],
    ),
    "govcloud": (
        "govcloud",
        {"waiter": waiter("arn:aws-us-gov:iam::123456789012:role/sls-cd-waiter-role")},
        [
            f"{statement_values(POLICY, 'FollowPipelines', 'Resource')} == {hcl_set([f'arn:aws-us-gov:codepipeline:us-gov-west-1:{TARGET_ACCOUNT}:api'])}",
            f'[for s in jsondecode({POLICY}).Statement : s.Sid] == ["FollowPipelines"]',
        ],
    ),
}


def run_block(name: str, command: str, variables: dict[str, str], provider: str | None = None, extra: str = "", conditions: tuple[str, ...] = ()) -> str:
    providers = f"  providers = {{\n    aws = aws.{provider}\n  }}\n\n" if provider else ""
    asserts = "".join(f'\n  assert {{\n    condition     = {condition}\n    error_message = "{name}: {hcl_escape(condition)}"\n  }}\n' for condition in conditions)
    return f'run "{name}" {{\n  command = {command}\n\n' + providers + variables_block(VALID | variables) + (f"\n  {extra}" if extra else "") + asserts + "}\n"


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """Each run's outcome (pass or fail) and what Terraform printed for it."""
    mirror = find_provider_mirror()
    if shutil.which("terraform") is None or mirror is None:
        pytest.skip("terraform or a filesystem mirror of hashicorp/aws is missing (see the README)")
    workdir = tmp_path_factory.mktemp("pipeline-access")
    for tf_file in MODULE.glob("*.tf"):
        shutil.copy2(tf_file, workdir / tf_file.name)
    tests = workdir / "tests"
    tests.mkdir()
    for name, (variables, _, _) in INVALID.items():
        (tests / f"{name}.tftest.hcl").write_text(PROVIDERS + "\n" + run_block(name, "plan", variables), encoding="utf-8")
    for name, (provider, variables, extra, _) in STOPPED.items():
        (tests / f"{name}.tftest.hcl").write_text(PROVIDERS + "\n" + run_block(name, "plan", variables, provider, extra), encoding="utf-8")
    for name, (provider, variables, conditions) in APPLIED.items():
        (tests / f"applied_{name}.tftest.hcl").write_text(PROVIDERS + "\n" + run_block(name, "apply", variables, provider, conditions=tuple(conditions)), encoding="utf-8")
    return terraform_test(workdir, mirror)


def error_messages(variable: str) -> list[str]:
    with open(MODULE / "variables.tf", encoding="utf-8") as file:
        document: dict[str, Any] = hcl2.load(file, serialization_options=HCL_OPTIONS)
    body = next(entry[variable] for entry in document["variable"] if variable in entry)
    return [validation["error_message"] for validation in body.get("validation", [])]


@pytest.mark.parametrize("case", sorted(INVALID))
def test_a_rule_of_a_variable_stops_the_plan_with_its_message(plans: dict[str, tuple[str, str]], case: str) -> None:
    _, variable, phrase = INVALID[case]
    messages = [message for message in error_messages(variable) if phrase in message]
    assert len(messages) == 1, f"{variable} has {len(messages)} validations whose message says {phrase!r}"
    status, text = plans[case]
    assert status == "fail" and text.count("Error: ") == 1 and "Error: Invalid value for variable" in text and flat(messages[0]) in text, text


def test_every_validation_of_the_module_has_a_case() -> None:
    with open(MODULE / "variables.tf", encoding="utf-8") as file:
        document: dict[str, Any] = hcl2.load(file, serialization_options=HCL_OPTIONS)
    rules = {(name, validation["error_message"]) for entry in document["variable"] for name, body in entry.items() for validation in body.get("validation", [])}
    covered = {(variable, message) for _, variable, phrase in INVALID.values() for message in error_messages(variable) if phrase in message}
    assert rules and sorted(rules - covered) == [], "validations without a case in INVALID"


@pytest.mark.parametrize("case", sorted(STOPPED))
def test_a_condition_of_the_configuration_stops_the_plan_with_its_message(plans: dict[str, tuple[str, str]], case: str) -> None:
    phrase = STOPPED[case][3]
    status, text = plans[case]
    assert status == "fail" and "condition failed" in text and phrase in text, text


@pytest.mark.parametrize("case", sorted(APPLIED))
def test_the_role_gets_the_rendered_trust_and_permissions(plans: dict[str, tuple[str, str]], case: str) -> None:
    status, text = plans[case]
    assert status == "pass", text
