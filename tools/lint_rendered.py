"""Lint what Terraform renders, not the templates: apply the configuration to the local AWS (no
AWS account is involved), then check

- each state machine definition Terraform created with statelint and asl-validator;
- each IAM policy document the configuration sets (identity, trust, key and bucket policies)
  with parliament, plus this project's rules: no wildcard actions in an Allow (except the
  account-root statement of a KMS key policy, AWS's default), no NotAction/NotResource in an
  Allow, and a trust policy of a service principal carries the aws:SourceAccount and
  aws:SourceArn conditions that service documents;
- in the .tf source, that each statement granting Resource "*" says why in a comment.

    python -m tools.lint_rendered        # exit 0: clean, 1: findings, 2: cannot run here
"""

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_aws.terraform import configuration_files

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = ROOT / ".local-aws" / "lint"
OUTPUT = ROOT / "build" / "lint"
POLICY_ATTRIBUTES = ("policy", "assume_role_policy", "policy_document")
STATELINT = Path(sys.executable).parent / "statelint"
ASL_VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"


@dataclass
class Document:
    address: str  # Terraform resource address and attribute, e.g. aws_iam_role_policy.handler["waiter"].policy
    text: str

    @property
    def kind(self) -> str:
        """identity (a role's policy), trust (who may assume a role), key (a KMS key policy) or
        resource (another resource-based policy)."""
        # module.service["default"].aws_iam_role_policy.app["staging"].policy -> aws_iam_role_policy
        resource_type = re.sub(r'^(module\.[\w-]+(\["[^"]*"\])?\.)+', "", self.address).split(".")[0]
        attribute = self.address.rsplit(".", 1)[1]
        if attribute == "assume_role_policy":
            return "trust"
        if resource_type in ("aws_iam_role_policy", "aws_iam_policy"):
            return "identity"
        return "key" if resource_type == "aws_kms_key" else "resource"


def rendered_documents(state: dict[str, Any], configured: set[tuple[str, str]]) -> tuple[list[Document], list[Document]]:
    """State machine definitions and policy documents from `terraform show -json` of an applied
    configuration: exactly what the provider sent to AWS. Only policies the configuration sets
    count (`configured`: (resource type, attribute) pairs); e.g. an SNS topic's default policy,
    which AWS writes, does not."""
    definitions: list[Document] = []
    policies: list[Document] = []
    for resource in resources_of(state["values"]["root_module"]):
        values = resource.get("values") or {}
        if resource["type"] == "aws_sfn_state_machine":
            definitions.append(Document(f"{resource['address']}.definition", values["definition"]))
        for attribute in POLICY_ATTRIBUTES:
            text = values.get(attribute)
            if isinstance(text, str) and (resource["type"], attribute) in configured:
                policies.append(Document(f"{resource['address']}.{attribute}", text))
    return definitions, policies


def configured_policy_attributes(folder: Path = ROOT) -> set[tuple[str, str]]:
    """(resource type, attribute) for every policy attribute the .tf files set."""
    import hcl2
    from hcl2 import SerializationOptions

    options = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
    configured = set()
    for path in configuration_files(folder):
        with path.open(encoding="utf-8") as file:
            document = hcl2.load(file, serialization_options=options)
        for entry in document.get("resource", []):
            for resource_type, by_name in entry.items():
                for body in by_name.values():
                    configured |= {(resource_type, attribute) for attribute in POLICY_ATTRIBUTES if attribute in body}
    return configured


def resources_of(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from (resource for resource in module.get("resources", []) if resource.get("mode") == "managed")
    for child in module.get("child_modules", []):
        yield from resources_of(child)


def asl_findings(path: Path) -> list[str]:
    """statelint's and asl-validator's errors for the definition in `path`."""
    findings = []
    for name, command in (("statelint", [str(STATELINT), str(path)]), ("asl-validator", [str(ASL_VALIDATOR), "--json-path", str(path)])):
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            findings.append(f"{name}: {(result.stdout + result.stderr).strip()}")
    return findings


# parliament checks identity policies. Two of its findings do not apply to the other kinds:
NOT_APPLICABLE: dict[str, set[tuple[str, str | None]]] = {
    # A trust policy names a Principal and no Resource: AWS rejects a Resource there.
    "trust": {("MALFORMED", "Statement contains neither Resource nor NotResource")},
    # In a key policy, Resource "*" is the key the policy is attached to.
    "key": {("RESOURCE_STAR", None)},
}


def policy_findings(document: Document) -> list[str]:
    """parliament's findings and this project's rules for one policy document."""
    from parliament import analyze_policy_string

    policy = json.loads(document.text)
    findings = []
    for finding in analyze_policy_string(document.text).findings:
        skipped = NOT_APPLICABLE.get(document.kind, set())
        if (finding.issue, None) in skipped or (finding.issue, str(finding.detail)) in skipped:
            continue
        if finding.issue == "RESOURCE_MISMATCH":
            unmatched = [item for item in finding.detail if not matches_a_resource_type(item["action"], policy)]
            if not unmatched:
                continue
            finding.detail = unmatched
        findings.append(f"{finding.issue}: {finding.detail}")
    for statement in as_list(policy.get("Statement")):
        if statement.get("Effect") != "Allow":
            continue
        sid = statement.get("Sid", "(no Sid)")
        for key in ("NotAction", "NotResource"):
            if key in statement:
                findings.append(f"{sid}: an Allow with {key} grants everything it does not name")
        wildcards = [action for action in as_list(statement.get("Action")) if "*" in action]
        if wildcards and not is_key_root_statement(statement):
            findings.append(f"{sid}: wildcard actions {wildcards}; name each action")
        if document.kind == "trust":
            findings += confused_deputy_findings(sid, statement)
    return findings


# The services whose "cross-service confused deputy prevention" documentation says they set
# aws:SourceAccount and aws:SourceArn (an ARN of their own) when they assume a role...
SOURCE_CONDITIONS_DOCUMENTED = {"codedeploy", "events", "states"}
# ...and those whose documentation gives neither for the roles this project gives them (a Lambda
# execution role, the CodePipeline and CodeBuild service roles).
SOURCE_CONDITIONS_UNDOCUMENTED = {"lambda", "codepipeline", "codebuild"}
SOURCE_ARN_OPERATORS = {"arnequals", "arnlike", "stringequals", "stringlike"}


def confused_deputy_findings(sid: str, statement: dict[str, Any]) -> list[str]:
    """A trust statement that lets a service assume the role without the aws:SourceAccount and
    aws:SourceArn conditions the service documents: then the service can be made to use the role
    for a resource of another account."""
    principal = statement.get("Principal")
    services = as_list(principal.get("Service")) if isinstance(principal, dict) else []
    accounts = condition_values(statement, "aws:SourceAccount", {"stringequals"})
    arns = condition_values(statement, "aws:SourceArn", SOURCE_ARN_OPERATORS)
    findings = []
    for service in services:
        name = service.split(".")[0]
        if name in SOURCE_CONDITIONS_UNDOCUMENTED:
            continue
        if name not in SOURCE_CONDITIONS_DOCUMENTED:
            findings.append(f"{sid}: trusts {service}, whose confused deputy conditions this project has not looked up; add it to tools/lint_rendered.py")
            continue
        arn = re.compile(rf"arn:aws[\w-]*:{name}:[a-z0-9-]+:(\d{{12}}):.+")
        matches = [arn.fullmatch(value) for value in arns]
        if not accounts or not all(re.fullmatch(r"\d{12}", account) for account in accounts):
            findings.append(f"{sid}: trusts {service} without aws:SourceAccount (StringEquals, the account ID), which {name} documents that it sets")
        if not matches or not all(match and match.group(1) in accounts for match in matches):
            findings.append(f"{sid}: trusts {service} without aws:SourceArn naming {name} resources of the account, which {name} documents that it sets: {arns}")
    return findings


def condition_values(statement: dict[str, Any], key: str, operators: set[str]) -> list[str]:
    """The values a statement's Condition requires of `key` (condition keys and operators are
    case-insensitive) under one of `operators`."""
    values: list[str] = []
    for operator, keys in (statement.get("Condition") or {}).items():
        if operator.lower() in operators and isinstance(keys, dict):
            values += [str(value) for name, value_or_list in keys.items() if name.lower() == key.lower() for value in as_list(value_or_list)]
    return values


def matches_a_resource_type(action: str, policy: dict[str, Any]) -> bool:
    """Whether every statement granting `action` names resources of one of the resource types AWS
    lists for it. parliament 1.6 asks for all of them, although they are alternatives (e.g.
    states:DescribeExecution on a Standard `execution` or an `express` one); parliament#48."""
    from parliament import is_arn_match
    from parliament.statement import get_arn_format, get_privilege_info

    service, name = action.split(":")
    privilege = get_privilege_info(service, name)
    types = [entry["resource_type"].rstrip("*") for entry in privilege["resource_types"] if entry["resource_type"]]
    formats = [(resource_type, get_arn_format(resource_type, privilege["service_resources"])) for resource_type in types]
    granting = [statement for statement in as_list(policy.get("Statement")) if action in as_list(statement.get("Action"))]
    return bool(granting) and all(
        any(is_arn_match(resource_type, arn_format, resource) for resource_type, arn_format in formats) for statement in granting for resource in as_list(statement.get("Resource"))
    )


def is_key_root_statement(statement: dict[str, Any]) -> bool:
    """AWS's default key policy statement: the account root may do kms:* on the key, which
    delegates the key's use to IAM policies. Narrowing it can lock the key out of management."""
    principals = as_list((statement.get("Principal") or {}).get("AWS")) if isinstance(statement.get("Principal"), dict) else []
    actions = as_list(statement.get("Action"))
    return actions == ["kms:*"] and len(principals) == 1 and re.fullmatch(r"arn:aws[\w-]*:iam::\d{12}:root", principals[0]) is not None


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def unexplained_wildcard_resources(folder: Path = ROOT) -> list[str]:
    """`resources = ["*"]` lines of the .tf files with no comment in the statement or just above it."""
    findings = []
    for path in configuration_files(folder):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if re.fullmatch(r'\s*resources\s*=\s*\["\*"\]\s*', line) and not commented(lines, number):
                findings.append(f'{path.relative_to(folder)}:{number + 1}: Resource "*" without a comment saying why')
    return findings


def commented(lines: list[str], number: int) -> bool:
    """A comment between the enclosing block's opening line (inclusive of the lines just above
    it) and `number`; block-level `#checkov:skip` lines count, as they carry a reason."""
    start = number
    while start > 0 and not re.search(r"\{\s*$", lines[start]):
        start -= 1
    while start > 0 and lines[start - 1].strip().startswith("#"):
        start -= 1
    block_start = start
    while block_start > 0 and not re.match(r'^(data|resource) "', lines[block_start]):
        block_start -= 1
    window = lines[start:number] + [line for line in lines[block_start : block_start + 6] if "#checkov:skip" in line]
    return any(line.strip().startswith("#") for line in window)


def missing_tools() -> list[str]:
    """The linters this machine lacks (statelint, asl-validator)."""
    missing = [str(tool.relative_to(ROOT)) for tool in (ASL_VALIDATOR,) if not tool.exists()]
    if shutil.which(str(STATELINT)) is None:
        missing.append("statelint")
    return missing


def lint_state(state: dict[str, Any], out: Any = sys.stdout) -> int:
    """Lint the definitions and policies of `state` (`terraform show -json` of an applied
    configuration) and the .tf source, printing each subject's findings to `out`; the number of
    subjects with findings."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "terraform-state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
    definitions, policies = rendered_documents(state, configured_policy_attributes())

    failures = 0
    for definition in definitions:
        path = OUTPUT / f"{definition.address.split('.')[1]}.asl.json"
        path.write_text(definition.text, encoding="utf-8")
        failures += report(f"{definition.address} ({path.relative_to(ROOT)})", asl_findings(path), out)
    for policy in policies:
        failures += report(f"{policy.address} ({policy.kind})", policy_findings(policy), out)
    failures += report('*.tf statements with Resource "*"', unexplained_wildcard_resources(), out)
    print(f"\n{len(definitions)} state machine definition(s), {len(policies)} policy document(s) checked: {failures} with findings", file=out)
    return failures


def main() -> int:
    from local_aws.stack import LocalStack
    from local_aws.terraform import missing_prerequisites

    reason, missing = missing_prerequisites(), missing_tools()
    if reason or missing:
        print(f"lint_rendered cannot run: {reason or ''} {'missing ' + ', '.join(missing) if missing else ''}".strip(), file=sys.stderr)
        return 2

    stack = LocalStack.up(workdir=WORKDIR)
    try:
        state = json.loads(stack.terraform.run("show", "-json", "-no-color").stdout)
    finally:
        stack.terraform.close()
        stack.server.stop()
    return 1 if lint_state(state) else 0


def report(subject: str, findings: list[str], out: Any = sys.stdout) -> int:
    print(f"{'FAIL' if findings else 'ok  '} {subject}", file=out)
    for finding in findings:
        print(f"       {finding}", file=out)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
