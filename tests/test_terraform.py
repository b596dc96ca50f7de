"""Static checks of the Terraform root configuration, read with python-hcl2. `terraform fmt` and
`terraform validate` run in `make lint` (tools/validate_terraform.py).
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

from conftest import HANDLERS
from local_aws.terraform import configuration_files

ROOT = Path(__file__).resolve().parent.parent
ASL = ROOT / "asl" / "deployment.asl.json"
HCL_OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)

# The one statement allowed a wildcard action: the account-root statement of the key policy, which
# is AWS's default key policy statement and only hands the key's administration to IAM.
WILDCARD_ALLOWED = {("key", "AccountAdministersKey")}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def load_hcl(name: str) -> dict[str, Any]:
    with open(ROOT / name, encoding="utf-8") as file:
        return hcl2.load(file, serialization_options=HCL_OPTIONS)


def all_tf_files() -> list[Path]:
    return configuration_files(ROOT)


def blocks(document: dict[str, Any], kind: str, type_name: str) -> dict[str, dict[str, Any]]:
    """Every `kind "type_name" "label"` block of a parsed file, by label."""
    found: dict[str, dict[str, Any]] = {}
    for entry in document.get(kind, []):
        for label, body in entry.get(type_name, {}).items():
            found[label] = body
    return found


def resources(name: str, type_name: str) -> dict[str, dict[str, Any]]:
    return blocks(load_hcl(name), "resource", type_name)


def locals_of(name: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for entry in load_hcl(name).get("locals", []):
        merged.update(entry)
    return merged


def statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The statements of a parsed aws_iam_policy_document, dynamic ones included."""
    yield from document.get("statement", [])
    for dynamic in document.get("dynamic", []):
        yield from dynamic.get("statement", {}).get("content", [])


# ---------------------------------------------------------------------------
# Static checks of the HCL
# ---------------------------------------------------------------------------


def test_provider_constraint_allows_5_100_and_6_x() -> None:
    terraform_block = load_hcl("versions.tf")["terraform"][0]
    aws = terraform_block["required_providers"][0]["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert aws["version"] == ">= 5.100, < 7.0"
    # 1.9: variable validations that refer to other variables (the source and config rules).
    assert terraform_block["required_version"] == ">= 1.9"


def test_asl_placeholders_match_templatefile_variables() -> None:
    if not ASL.is_file():
        pytest.skip(f"{ASL.relative_to(ROOT)} does not exist yet")
    template = ASL.read_text(encoding="utf-8")
    placeholders = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}", template))

    definition = resources("step-functions.tf", "aws_sfn_state_machine")["deployment"]["definition"]
    match = re.search(r'templatefile\("\$\{path\.module\}/asl/deployment\.asl\.json",\s*\{(.*)\}\)\}$', definition, flags=re.S)
    assert match, f"definition is not templatefile() of asl/deployment.asl.json: {definition}"
    variables = set(re.findall(r"(?:^|,)\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)", match.group(1)))

    assert placeholders == variables, f"only in the ASL: {sorted(placeholders - variables)}; only in templatefile(): {sorted(variables - placeholders)}"
    rendered = re.sub(r"(?<!\$)\$\{[A-Za-z_][A-Za-z0-9_]*\}", "placeholder", template).replace("$${", "${")
    json.loads(rendered)


def test_lambda_tf_configures_every_handler_of_lambda_src_and_no_other() -> None:
    # lambda.tf's maps hold the deployment's handlers, approvals.tf's the approval handler's,
    # releases.tf's the releases', notifications.tf the notifier's (only with chat destinations);
    # lambda.tf merges them.
    lambda_locals, approval_locals, release_locals, notification_locals = (locals_of(name) for name in ("lambda.tf", "approvals.tf", "releases.tf", "notifications.tf"))
    for name in ("handlers", "handler_policies", "handler_environment"):
        deployment, approval, releases = set(lambda_locals[f"deployment_{name}"]), set(approval_locals[f"approval_{name}"]), set(release_locals[f"release_{name}"])
        optional = notification_locals[f"notification_{name}"]
        assert optional.startswith("${local.chat_enabled ? {notifier = ") and optional.endswith("} : {}}"), optional
        assert approval == {"approval"} and not deployment & releases and deployment | approval | releases | {"notifier"} == set(HANDLERS), name
        assert lambda_locals[name] == f"${{merge(local.deployment_{name}, local.approval_{name}, local.release_{name}, local.notification_{name})}}", name
    # Each handler's policy is a document of its own.
    policies = [*lambda_locals["deployment_handler_policies"].values(), *approval_locals["approval_handler_policies"].values(), *release_locals["release_handler_policies"].values()]
    assert len(set(policies)) == len(HANDLERS) - 1 and "data.aws_iam_policy_document.notifier[0].json" in notification_locals["notification_handler_policies"]


def test_every_handler_function_has_design_handler_tracing_and_own_role() -> None:
    functions = resources("lambda.tf", "aws_lambda_function")
    roles = resources("lambda.tf", "aws_iam_role")
    role_policies = resources("lambda.tf", "aws_iam_role_policy")
    assert functions, "lambda.tf declares no aws_lambda_function"

    for label, function in functions.items():
        assert function["handler"] == "handler.handler", label
        assert function["tracing_config"] == [{"mode": "Active"}], label
        assert function["filename"] == "${path.module}/build/${each.key}.zip", label
        assert "filebase64sha256" in function["source_code_hash"], label

        role = re.fullmatch(r"\$\{aws_iam_role\.(\w+)\[each\.key\]\.arn\}", function["role"])
        assert role, f"{label}: role must be aws_iam_role.<name>[each.key].arn, one role per function"
        role_resource = roles[role.group(1)]
        assert role_resource["for_each"] == function["for_each"], f"{label}: roles and functions must share their keys"

        policies = [p for p in role_policies.values() if p["role"] == f"${{aws_iam_role.{role.group(1)}[each.key].id}}"]
        assert len(policies) == 1 and policies[0]["for_each"] == function["for_each"], f"{label}: one inline policy per role"


def test_no_allow_statement_grants_a_wildcard_action() -> None:
    offenders = []
    for tf_file in all_tf_files():
        documents = blocks(load_hcl(str(tf_file.relative_to(ROOT))), "data", "aws_iam_policy_document")
        for document_name, document in documents.items():
            for statement in statements(document):
                if statement.get("effect", "Allow") != "Allow":
                    continue
                if (document_name, statement.get("sid")) in WILDCARD_ALLOWED:
                    continue
                offenders += [f"{tf_file.name}: {document_name}/{statement.get('sid')}: {action}" for action in statement.get("actions", []) if "*" in action]
    assert not offenders, "wildcard actions:\n" + "\n".join(offenders)


def templatefile_variables() -> dict[str, str]:
    """The variables templatefile() passes to the ASL, as name -> HCL expression."""
    definition = resources("step-functions.tf", "aws_sfn_state_machine")["deployment"]["definition"]
    match = re.search(r'templatefile\("\$\{path\.module\}/asl/deployment\.asl\.json",\s*\{(.*)\}\)\}$', definition, flags=re.S)
    assert match, f"definition is not templatefile() of asl/deployment.asl.json: {definition}"
    return dict(re.findall(r"(?:^|,)\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)\s*([^,]+?)\s*(?=,|$)", match.group(1)))


@pytest.mark.parametrize("partition", ["aws-us-gov", "aws-cn"])
def test_the_state_machine_definition_names_the_partition_it_is_deployed_in(partition: str) -> None:
    variables = templatefile_variables()
    assert variables.get("partition") == "local.partition", f"templatefile() must pass partition = local.partition: {variables}"
    assert locals_of("main.tf")["partition"] == "${data.aws_partition.current.partition}"

    # Render as templatefile() would in that partition: ARNs of that partition, names as they are.
    values = {name: f"arn:{partition}:lambda:region-1:123456789012:function:{name}" if expression.endswith(".arn") else name for name, expression in variables.items()}
    values["partition"] = partition
    template = ASL.read_text(encoding="utf-8")
    rendered = re.sub(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda placeholder: values[placeholder.group(1)], template).replace("$${", "${")

    json.loads(rendered)
    assert "arn:aws:" not in rendered, [line.strip() for line in rendered.splitlines() if "arn:aws:" in line]
    assert all(arn.startswith(f"arn:{partition}:") for arn in re.findall(r"arn:[^\"]+", rendered))


def test_every_module_has_the_files_and_provider_versions_of_the_root() -> None:
    """modules/service and modules/pipeline-access: main.tf, variables.tf, outputs.tf, a versions.tf
    with the root's constraints (no provider block) and a README that opens with a usage example."""
    root = load_hcl("versions.tf")["terraform"][0]
    modules = sorted(path for path in (ROOT / "modules").iterdir() if path.is_dir())
    assert {module.name for module in modules} >= {"service", "pipeline-access"}
    for module in modules:
        missing = [name for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md") if not (module / name).is_file()]
        assert not missing, f"{module.name} lacks {missing}"
        versions = load_hcl(f"modules/{module.name}/versions.tf")
        assert versions["terraform"][0]["required_providers"] == root["required_providers"], module.name
        assert versions["terraform"][0]["required_version"] == root["required_version"], module.name
        assert not any("provider" in load_hcl(str(path.relative_to(ROOT))) for path in module.glob("*.tf")), f"{module.name} configures a provider"
        readme = (module / "README.md").read_text(encoding="utf-8")
        assert readme.index("```hcl") < readme.index("\n## "), f"{module.name}/README.md does not open with a usage example"


def session_name_written_once(name: str, local: str) -> str:
    """The session name the local `local` of `name` holds: an STS role session name, written as a
    literal in that file alone of the root's .tf files. The reference to it, ${local.<local>}."""
    session_name = locals_of(name)[local]
    assert re.fullmatch(r"[\w+=,.@-]{2,64}", session_name), f"{session_name!r} is not an STS role session name"
    written = [path.name for path in sorted(ROOT.glob("*.tf")) if f'"{session_name}"' in path.read_text(encoding="utf-8")]
    assert written == [name], written
    return f"${{local.{local}}}"


def test_the_pipeline_waiter_session_name_is_written_once() -> None:
    """The session name the waiter assumes target roles with is one local: the waiter's environment,
    its AssumeRole condition and the pipeline_waiter output (which modules/pipeline-access's trust
    policy takes) refer to it."""
    reference = session_name_written_once("lambda.tf", "pipeline_waiter_session_name")
    assert locals_of("lambda.tf")["deployment_handler_environment"]["waiter"]["PIPELINE_SESSION_NAME"] == reference
    (output,) = [entry["pipeline_waiter"] for entry in load_hcl("outputs.tf")["output"] if "pipeline_waiter" in entry]
    assert output["value"]["session_name"] == reference
    (statement,) = [s for s in statements(blocks(load_hcl("lambda.tf"), "data", "aws_iam_policy_document")["waiter"]) if s.get("sid") == "AssumePipelineAccessRoles"]
    assert statement["condition"][0]["values"] == [reference]


def test_the_release_session_name_is_written_once() -> None:
    """The session name release_steps and release_events assume other accounts' roles with is one
    local: their environments, their AssumeRole condition and the pipeline_releases output (which
    modules/pipeline-access's trust policy and stop condition take) refer to it, and it is not the
    waiter's (the module tells a release's session from the waiter's by it)."""
    reference = session_name_written_once("releases.tf", "release_session_name")
    assert locals_of("releases.tf")["release_session_name"] != locals_of("lambda.tf")["pipeline_waiter_session_name"]
    environments = locals_of("releases.tf")["release_handler_environment"]
    assert {handler for handler, environment in environments.items() if "RELEASE_SESSION_NAME" in environment} == {"release_steps", "release_events"}
    assert all(environments[handler]["RELEASE_SESSION_NAME"] == reference for handler in ("release_steps", "release_events"))
    (output,) = [entry["pipeline_releases"] for entry in load_hcl("outputs.tf")["output"] if "pipeline_releases" in entry]
    assert output["value"]["session_name"] == reference
    assert output["value"]["role_arns"] == ['${aws_iam_role.handler["release_steps"].arn}', '${aws_iam_role.handler["release_events"].arn}']
    documents = blocks(load_hcl("releases.tf"), "data", "aws_iam_policy_document")
    (statement,) = [s for s in statements(documents["follow_release_pipelines"]) if s.get("sid") == "AssumeReleaseAccessRoles"]
    assert statement["condition"][0] == {"test": "StringEquals", "variable": "sts:RoleSessionName", "values": [reference]}
    # Both handlers that assume the roles take the statement, and no other release handler does.
    takes = {name for name, document in documents.items() if "${data.aws_iam_policy_document.follow_release_pipelines.json}" in document.get("source_policy_documents", [])}
    assert takes == {"release_steps", "release_events"}, takes
