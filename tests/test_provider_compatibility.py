"""Compatibility guard for the hashicorp/aws 6.x line, which versions.tf admits next to 5.100.

Only provider 5.100 is installed here, so what 6.x removed or deprecated comes from its documentation:
the Version 6 upgrade guide (website/docs/guides/version-6-upgrade.html.markdown), the Enhanced Region
Support guide, and the CHANGELOG from 6.0.0 through 6.31.0, plus the late-5.x deprecations that 6.x
kept (read from the 5.100 provider schema, `deprecated: true`). CHANGES below lists what applies to
the resource types and data sources of this configuration and to the provider block; REVIEWED_TYPES
lists the types that were checked against those sources, so that a new type fails until it is reviewed.

Arguments and blocks are read from the HCL with python-hcl2; attribute references are found in the raw
text, because hcl2 gives expressions as strings.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import hcl2
import pytest

from test_terraform import HCL_OPTIONS, ROOT, all_tf_files, blocks

REMOVED = "removed in 6.0.0"
DEPRECATED = "deprecated in 6.x"
SIX_ONLY = "exists in 6.x only (an error on 5.100, which versions.tf still admits)"
CHANGED = "changed meaning in 6.0.0"

GUIDE = "Version 6 upgrade guide"
REGION_SOURCE = f"{GUIDE} › Enhanced Region Support; Enhanced Region Support guide › Non-region-aware resources"
REMOVED_ENDPOINT = f"{GUIDE} › Removed Provider Arguments"
S3_REFACTOR = "Version 4 upgrade guide › S3 Bucket Refactor; still deprecated in the 5.100 schema, not removed by 6.0.0"
S3_OWNER = "CHANGELOG 6.31.0 NOTES #46262"
API_DEPLOYMENT = f"{GUIDE} › resource/aws_api_gateway_deployment; CHANGELOG 6.0.0 BREAKING CHANGES #42249; deprecated in the 5.100 schema"
GSI_KEY_SCHEMA = "CHANGELOG 6.29.0 ENHANCEMENTS #45357 (multi-attribute GSI keys, released as `key_schema`: #46197, docs #46359); resource docs: “Deprecated … Use `key_schema` instead”"
LEAVE_REGION = "var.aws_region / local.region (the provider's Region)"


class Change(NamedTuple):
    kind: str
    type_name: str
    path: str
    status: str
    replacement: str
    source: str


CHANGES: tuple[Change, ...] = (
    Change("provider", "aws", "endpoints.opsworks", REMOVED, "delete it (OpsWorks Stacks reached end of life)", REMOVED_ENDPOINT),
    Change("provider", "aws", "endpoints.simpledb", REMOVED, "delete it (SimpleDB support removed)", REMOVED_ENDPOINT),
    Change("provider", "aws", "endpoints.sdb", REMOVED, "delete it (SimpleDB support removed)", REMOVED_ENDPOINT),
    Change("provider", "aws", "endpoints.worklink", REMOVED, "delete it (WorkLink support removed)", REMOVED_ENDPOINT),
    Change("provider", "aws", "endpoints.iotanalytics", REMOVED, "delete it", "CHANGELOG 6.0.0 BREAKING CHANGES #42703"),
    Change("provider", "aws", "endpoints.iotevents", REMOVED, "delete it", "CHANGELOG 6.0.0 BREAKING CHANGES #42703"),
    Change("provider", "aws", "s3_us_east_1_regional_endpoint", DEPRECATED, 'delete it, or set "regional" (the argument goes in 7.0.0)', f"{GUIDE} › S3 Global Endpoint Deprecation"),
    Change("resource", "*", "region", SIX_ONLY, f"{LEAVE_REGION}; on IAM resources, which are global, `region` is an error in 6.x too", REGION_SOURCE),
    Change("data", "*", "region", SIX_ONLY, f"{LEAVE_REGION}; on global data sources (caller identity, partition, IAM) `region` is an error in 6.x too", REGION_SOURCE),
    Change("data", "aws_region", "name", DEPRECATED, f"{LEAVE_REGION}; 6.x's `region` is missing in 5.100", f"{GUIDE} › Data Source `aws_region`; CHANGELOG 6.0.0 NOTES #42131"),
    Change("data", "aws_region", "region", SIX_ONLY, f"{LEAVE_REGION}; `name`, its 5.x counterpart, is deprecated in 6.x", f"{GUIDE} › Data Source `aws_region`"),
    Change("resource", "aws_s3_bucket", "region", CHANGED, f"{LEAVE_REGION}; 6.x has `bucket_region` for it (missing in 5.100)", f"{GUIDE} › Resource `aws_s3_bucket`"),
    Change("resource", "aws_s3_bucket", "bucket_region", SIX_ONLY, LEAVE_REGION, f"{GUIDE} › Resource `aws_s3_bucket`"),
    Change("resource", "aws_s3_bucket", "acceleration_status", DEPRECATED, "aws_s3_bucket_accelerate_configuration", S3_REFACTOR),
    Change("resource", "aws_s3_bucket", "acl", DEPRECATED, "aws_s3_bucket_acl (or aws_s3_bucket_ownership_controls BucketOwnerEnforced)", S3_REFACTOR),
    Change("resource", "aws_s3_bucket", "grant", DEPRECATED, "aws_s3_bucket_acl", S3_REFACTOR),
    Change("resource", "aws_s3_bucket", "policy", DEPRECATED, "aws_s3_bucket_policy", S3_REFACTOR),
    Change("resource", "aws_s3_bucket", "request_payer", DEPRECATED, "aws_s3_bucket_request_payment_configuration", S3_REFACTOR),
    Change("resource", "aws_s3_bucket", "cors_rule", DEPRECATED, "aws_s3_bucket_cors_configuration", S3_REFACTOR),
    Change("resource", "aws_s3_bucket", "lifecycle_rule", DEPRECATED, "aws_s3_bucket_lifecycle_configuration", S3_REFACTOR),
    Change("resource", "aws_s3_bucket", "logging", DEPRECATED, "aws_s3_bucket_logging", S3_REFACTOR),
    Change("resource", "aws_s3_bucket", "object_lock_configuration", DEPRECATED, "object_lock_enabled and aws_s3_bucket_object_lock_configuration", S3_REFACTOR),
    Change("resource", "aws_s3_bucket", "replication_configuration", DEPRECATED, "aws_s3_bucket_replication_configuration", S3_REFACTOR),
    Change("resource", "aws_s3_bucket", "server_side_encryption_configuration", DEPRECATED, "aws_s3_bucket_server_side_encryption_configuration", S3_REFACTOR),
    Change("resource", "aws_s3_bucket", "versioning", DEPRECATED, "aws_s3_bucket_versioning", S3_REFACTOR),
    Change("resource", "aws_s3_bucket", "website", DEPRECATED, "aws_s3_bucket_website_configuration", S3_REFACTOR),
    Change("resource", "aws_s3_bucket", "website_domain", DEPRECATED, "aws_s3_bucket_website_configuration.website_domain", S3_REFACTOR),
    Change("resource", "aws_s3_bucket", "website_endpoint", DEPRECATED, "aws_s3_bucket_website_configuration.website_endpoint", S3_REFACTOR),
    Change("resource", "aws_s3_bucket_lifecycle_configuration", "rule.prefix", DEPRECATED, "rule.filter.prefix", "5.100 schema: “Specify a prefix using 'filter' instead”; kept in 6.x"),
    Change("resource", "aws_s3_bucket_lifecycle_configuration", "id", DEPRECATED, "bucket", "5.100 schema: `id` deprecated; kept in 6.x"),
    Change("resource", "aws_s3_bucket_lifecycle_configuration", "expected_bucket_owner", DEPRECATED, "delete it", S3_OWNER),
    Change("resource", "aws_s3_bucket_server_side_encryption_configuration", "expected_bucket_owner", DEPRECATED, "delete it", S3_OWNER),
    Change("resource", "aws_s3_bucket_versioning", "expected_bucket_owner", DEPRECATED, "delete it", S3_OWNER),
    Change("resource", "aws_iam_role", "inline_policy", DEPRECATED, "aws_iam_role_policy (+ aws_iam_role_policies_exclusive)", "CHANGELOG 5.68.0 NOTES #39203; kept in 6.x"),
    Change(
        "resource",
        "aws_iam_role",
        "managed_policy_arns",
        DEPRECATED,
        "aws_iam_role_policy_attachment / aws_iam_role_policy_attachments_exclusive",
        "CHANGELOG 5.72.0 #39718; kept in 6.x",
    ),
    Change("resource", "aws_api_gateway_deployment", "stage_name", REMOVED, "an aws_api_gateway_stage of the deployment", API_DEPLOYMENT),
    Change("resource", "aws_api_gateway_deployment", "stage_description", REMOVED, "aws_api_gateway_stage.description", API_DEPLOYMENT),
    Change("resource", "aws_api_gateway_deployment", "canary_settings", REMOVED, "aws_api_gateway_stage.canary_settings", API_DEPLOYMENT),
    Change("resource", "aws_api_gateway_deployment", "invoke_url", REMOVED, "aws_api_gateway_stage.invoke_url", API_DEPLOYMENT),
    Change("resource", "aws_api_gateway_deployment", "execution_arn", REMOVED, "aws_api_gateway_stage.execution_arn (or aws_api_gateway_rest_api.execution_arn)", API_DEPLOYMENT),
    # The replacement of both is missing in 5.100, which versions.tf still admits: no index can be written for both lines.
    Change(
        "resource", "aws_dynamodb_table", "global_secondary_index.hash_key", DEPRECATED, 'global_secondary_index.key_schema (key_type = "HASH"), 6.29.0 and later only', GSI_KEY_SCHEMA
    ),
    Change(
        "resource", "aws_dynamodb_table", "global_secondary_index.range_key", DEPRECATED, 'global_secondary_index.key_schema (key_type = "RANGE"), 6.29.0 and later only', GSI_KEY_SCHEMA
    ),
    Change(
        "resource", "aws_dynamodb_table", "global_secondary_index.key_schema", SIX_ONLY, "global_secondary_index.hash_key / range_key on 5.100 (deprecated from 6.29.0)", GSI_KEY_SCHEMA
    ),
    Change("resource", "aws_cloudwatch_event_rule", "is_enabled", DEPRECATED, 'state = "ENABLED" / "DISABLED"', "CHANGELOG 5.x #34510 (adds `state`); kept in 6.x"),
    Change("data", "aws_lambda_function", "source_code_hash", DEPRECATED, "code_sha256", "5.100 schema and docs: “Deprecated, use `code_sha256` instead”; kept in 6.x"),
    Change("data", "aws_iam_policy_document", "source_json", DEPRECATED, "source_policy_documents", "5.100 schema: `source_json` deprecated; kept in 6.x"),
    Change("data", "aws_iam_policy_document", "override_json", DEPRECATED, "override_policy_documents", "5.100 schema: `override_json` deprecated; kept in 6.x"),
)

REVIEWED_THROUGH = "6.31.0"

REVIEWED_TYPES: frozenset[tuple[str, str]] = frozenset(
    [("data", name) for name in ("aws_caller_identity", "aws_iam_policy_document", "aws_lambda_alias", "aws_lambda_function", "aws_partition", "aws_region")]
    + [
        ("resource", name)
        for name in (
            # 6.0.0 to 6.31.0 change nothing of these but `region` (above): 6.5.0 recomputes a
            # resource's `path` (#43215), 6.25.0 adds integration_target and response_transfer_mode
            # to the integration (#45311, #45329); aws_api_gateway_deployment lost its stage
            # arguments and attributes in 6.0.0 (CHANGES).
            "aws_api_gateway_deployment",
            "aws_api_gateway_gateway_response",
            "aws_api_gateway_integration",
            "aws_api_gateway_method",
            "aws_api_gateway_method_settings",
            "aws_api_gateway_model",
            "aws_api_gateway_request_validator",
            "aws_api_gateway_resource",
            "aws_api_gateway_rest_api",
            "aws_api_gateway_stage",
            "aws_cloudwatch_event_rule",
            "aws_cloudwatch_event_target",
            "aws_cloudwatch_log_group",
            "aws_cloudwatch_metric_alarm",
            "aws_codebuild_project",
            "aws_codedeploy_app",
            "aws_codedeploy_deployment_config",
            "aws_codedeploy_deployment_group",
            "aws_codepipeline",
            # Its global_secondary_index keys changed in 6.29.0 (CHANGES).
            "aws_dynamodb_table",
            "aws_iam_role",
            "aws_iam_role_policy",
            "aws_kms_alias",
            "aws_kms_key",
            "aws_lambda_alias",
            "aws_lambda_function",
            # Neither the upgrade guide nor the CHANGELOG 6.0.0 to 6.31.0 names it: only `region`
            # (above) applies. No attribute is deprecated in the 5.100 schema.
            "aws_lambda_function_event_invoke_config",
            "aws_lambda_layer_version",
            "aws_lambda_permission",
            "aws_s3_bucket",
            "aws_s3_bucket_lifecycle_configuration",
            "aws_s3_bucket_notification",
            "aws_s3_bucket_ownership_controls",
            "aws_s3_bucket_policy",
            "aws_s3_bucket_public_access_block",
            "aws_s3_bucket_server_side_encryption_configuration",
            "aws_s3_bucket_versioning",
            # 6.0.0 to 6.31.0 change nothing of it but `region` (above): 6.10.0 adds resource identity
            # (#43872), 6.13.0 warns instead of failing on an invalid remote `policy` (#44228);
            # `replica.region` is the replica's Region, not the 6.x argument. No attribute is
            # deprecated in the 5.100 schema.
            "aws_secretsmanager_secret",
            "aws_sfn_state_machine",
            "aws_sns_topic",
            "aws_sns_topic_subscription",
            # 6.0.0 to 6.31.0 change nothing of it but `region` (above): 6.8.0 raises the upper limit
            # of `max_message_size` from 256 KiB to 1024 KiB (#43710; above 262144 is an error on
            # 5.100), 6.10.0 and 6.19.0 change only its resource identity (#43918, #44846). No
            # attribute is deprecated in the 5.100 schema.
            "aws_sqs_queue",
            # 6.0.0 changes nothing of it but `region` (above); `overwrite`, deprecated in some 5.x
            # docs, is undeprecated in both schemas and left unset: Terraform updates the
            # parameter it created in place.
            "aws_ssm_parameter",
        )
    ]
)

# The attributes of data.aws_region the configuration may read. It has none naming the Region in
# both lines (`name` is deprecated in 6.x, `region` missing in 5.100: CHANGES), so
# modules/pipeline-access reads the Region from `endpoint` (ec2.<region>.<dns suffix>), which both
# schemas have without a deprecation. Any other attribute is to be checked against both lines first.
AWS_REGION_ATTRIBUTES = frozenset({"endpoint"})
AWS_REGION_REFERENCE = re.compile(r"(?<![\w.])data\.aws_region\.[A-Za-z_][\w-]*(?:\[[^\]]*\])?\.([A-Za-z_][\w-]*)")

ADMITTED_VERSIONS = ("5.100.0", "6.0.0", REVIEWED_THROUGH)
REJECTED_VERSIONS = ("7.0.0",)

META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection", "alias"}
TOP_LEVEL_HEADER = re.compile(r'^(?:(resource|data)\s+"([^"]+)"\s+"([^"]+)"|(output|variable|module|provider)\s+"([^"]+)"|(locals|terraform|moved|import|removed|check)\b)', re.M)


@dataclass(frozen=True)
class Source:
    name: str
    text: str
    document: dict[str, Any]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def parse(name: str, text: str) -> Source:
    return Source(name, text, hcl2.loads(text, serialization_options=HCL_OPTIONS))


def root_sources() -> list[Source]:
    return [parse(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")) for path in all_tf_files()]


def matching_changes(kind: str, type_name: str, path: str) -> list[Change]:
    """The entries of CHANGES for one argument path; a wildcard entry only when no specific one applies."""
    specific = [c for c in CHANGES if c.kind == kind and c.type_name == type_name and c.path == path]
    return specific or [c for c in CHANGES if c.kind == kind and c.type_name == "*" and c.path == path]


def argument_paths(body: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every argument and nested block of a block body, `dynamic` blocks included."""
    for key, value in body.items():
        if not prefix and key in META_ARGUMENTS:
            continue
        if key == "dynamic" and isinstance(value, list):
            for dynamic in value:
                for name, spec in dynamic.items():
                    yield prefix + name
                    for content in spec.get("content", []):
                        yield from argument_paths(content, f"{prefix}{name}.")
            continue
        yield prefix + key
        if isinstance(value, dict):
            yield from argument_paths(value, f"{prefix}{key}.")
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for item in value:
                yield from argument_paths(item, f"{prefix}{key}.")


def ignored_paths(body: dict[str, Any]) -> Iterator[str]:
    """The attribute paths a block's lifecycle.ignore_changes names, indexes dropped."""
    for lifecycle in body.get("lifecycle", []):
        entries = lifecycle.get("ignore_changes", [])
        for entry in entries if isinstance(entries, list) else []:
            yield re.sub(r"\[[^\]]*\]", "", str(entry).removeprefix("${").removesuffix("}")).strip()


def block_bodies(source: Source) -> Iterator[tuple[str, str, str | None, dict[str, Any]]]:
    """(kind, type, label, body) of every resource, data and provider block of a file."""
    for kind in ("resource", "data"):
        for type_name in sorted({name for entry in source.document.get(kind, []) for name in entry}):
            for label, body in blocks(source.document, kind, type_name).items():
                yield kind, type_name, label, body
    for entry in source.document.get("provider", []):
        for name, body in entry.items():
            yield "provider", name, None, body


def address(kind: str, type_name: str, label: str | None) -> str:
    return {"resource": f"{type_name}.{label}", "data": f"data.{type_name}.{label}"}.get(kind, f'provider "{type_name}"')


def argument_line(text: str, kind: str, type_name: str, label: str | None, path: str) -> int:
    """The 1-based line of `path` inside the block, or of the block header when it cannot be placed."""
    header = rf'^\s*{kind}\s+"{re.escape(type_name)}"' + (rf'\s+"{re.escape(label)}"' if label else "")
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(header, line)), 0)
    depth, end = 0, len(lines)
    for i in range(start, len(lines)):
        depth += lines[i].count("{") - lines[i].count("}")
        if depth <= 0 and i > start:
            end = i
            break
    found = start
    for segment in filter(None, path.split(".")):
        pattern = re.compile(rf'^\s*(?:{re.escape(segment)}\s*[={{]|dynamic\s+"{re.escape(segment)}")')
        found = next((i for i in range(found + 1, end + 1) if pattern.match(lines[i])), found)
    return found + 1


def reference_pattern(change: Change) -> re.Pattern[str]:
    type_part = r"aws_[a-z0-9_]+" if change.type_name == "*" else re.escape(change.type_name)
    prefix = r"data\." if change.kind == "data" else ""
    attribute = r"(?:\[[^\]]*\])?\.".join(re.escape(segment) for segment in change.path.split("."))
    return re.compile(rf"(?<![\w.]){prefix}(?P<type>{type_part})\.[A-Za-z_][\w-]*(?:\[[^\]]*\])?\.{attribute}(?![\w-])")


def enclosing_block(text: str, position: int) -> str:
    """Address of the top-level block around a position of the text."""
    headers = [m for m in TOP_LEVEL_HEADER.finditer(text) if m.start() <= position]
    if not headers:
        return "(top level)"
    m = headers[-1]
    if m.group(1):
        return address(m.group(1), m.group(2), m.group(3))
    if m.group(4):
        return f"{m.group(4)}.{m.group(5)}"
    return m.group(6)


def without_comment_lines(text: str) -> str:
    """The text with whole-line comments blanked, line numbers kept ('#' also opens ${...} templates and URL fragments)."""
    return re.sub(r"(?m)^[ \t]*(?:#|//).*$", "", text)


def describe(change: Change) -> str:
    return f"{change.status} → {change.replacement} [{change.source}]"


# ---------------------------------------------------------------------------
# The checks, each a function of the parsed files so that the self-tests can feed them snippets
# ---------------------------------------------------------------------------


def argument_findings(sources: list[Source]) -> list[str]:
    findings = []
    for source in sources:
        for kind, type_name, label, body in block_bodies(source):
            for path in dict.fromkeys(argument_paths(body)):
                for change in matching_changes(kind, type_name, path):
                    line = argument_line(source.text, kind, type_name, label, path)
                    findings.append(f"{source.name}:{line}: {address(kind, type_name, label)}: argument/block `{path}` {describe(change)}")
            for path in dict.fromkeys(ignored_paths(body)):
                for change in matching_changes(kind, type_name, path):
                    line = argument_line(source.text, kind, type_name, label, "lifecycle.ignore_changes")
                    findings.append(f"{source.name}:{line}: {address(kind, type_name, label)}: lifecycle.ignore_changes names `{path}`, {describe(change)}")
    return findings


def reference_findings(sources: list[Source]) -> list[str]:
    findings: dict[tuple[str, int], str] = {}
    for source in sources:
        text = without_comment_lines(source.text)
        for change in sorted((c for c in CHANGES if c.kind != "provider"), key=lambda c: c.type_name == "*"):
            for match in reference_pattern(change).finditer(text):
                if change.type_name == "*" and matching_changes(change.kind, match.group("type"), change.path) != [change]:
                    continue
                line = text.count("\n", 0, match.start()) + 1
                findings.setdefault((source.name, match.start()), f"{source.name}:{line}: {enclosing_block(text, match.start())}: reference `{match.group(0)}` {describe(change)}")
    return list(findings.values())


def aws_region_attribute_findings(sources: list[Source]) -> list[str]:
    findings = []
    for source in sources:
        text = without_comment_lines(source.text)
        for match in AWS_REGION_REFERENCE.finditer(text):
            if match.group(1) not in AWS_REGION_ATTRIBUTES:
                line = text.count("\n", 0, match.start()) + 1
                findings.append(
                    f"{source.name}:{line}: {enclosing_block(text, match.start())}: reference `{match.group(0)}` reads data.aws_region's `{match.group(1)}`, not in AWS_REGION_ATTRIBUTES"
                )
    return findings


def unreviewed_types(sources: list[Source]) -> list[str]:
    return [
        f"{source.name}:{argument_line(source.text, kind, type_name, label, '')}: {address(kind, type_name, label)}: "
        f"{kind} type {type_name} is not in REVIEWED_TYPES: check it against the {GUIDE} and the CHANGELOG through {REVIEWED_THROUGH}, add its entries to CHANGES"
        for source in sources
        for kind, type_name, label, _ in block_bodies(source)
        if kind != "provider" and (kind, type_name) not in REVIEWED_TYPES
    ]


def version_tuple(version: str) -> tuple[int, int, int]:
    parts = [int(part) for part in version.split(".")] + [0, 0]
    return parts[0], parts[1], parts[2]


def admits(constraint: str, version: str) -> bool:
    """Whether a Terraform version constraint (=, !=, >, >=, <, <=, ~>, comma-separated) admits a version."""
    candidate = version_tuple(version)
    for clause in constraint.split(","):
        match = re.fullmatch(r"\s*(=|!=|>=|<=|>|<|~>)?\s*v?(\d+(?:\.\d+){0,2})\s*", clause)
        if match is None:
            raise ValueError(f"unsupported version constraint clause {clause!r} in {constraint!r}")
        operator, bound_text = match.group(1) or "=", match.group(2)
        bound, segments = version_tuple(bound_text), len(bound_text.split("."))
        satisfied = {
            "=": candidate == bound,
            "!=": candidate != bound,
            ">": candidate > bound,
            ">=": candidate >= bound,
            "<": candidate < bound,
            "<=": candidate <= bound,
            "~>": candidate >= bound and candidate[: max(segments - 1, 1)] == bound[: max(segments - 1, 1)],
        }[operator]
        if not satisfied:
            return False
    return True


def aws_constraints(sources: list[Source]) -> list[tuple[str, Any]]:
    """(file, requirement) of every required_providers entry named aws."""
    return [
        (source.name, requirements["aws"])
        for source in sources
        for terraform_block in source.document.get("terraform", [])
        for requirements in terraform_block.get("required_providers", [])
        if "aws" in requirements
    ]


def constraint_problems(sources: list[Source]) -> list[str]:
    constraints = aws_constraints(sources)
    if not constraints:
        return ["no terraform.required_providers.aws entry found"]
    problems = []
    for name, requirement in constraints:
        if not isinstance(requirement, dict):
            problems.append(f"{name}: required_providers.aws must be an object with source and version, got {requirement!r}")
            continue
        constraint = str(requirement.get("version", ""))
        if requirement.get("source") != "hashicorp/aws":
            problems.append(f"{name}: required_providers.aws.source is {requirement.get('source')!r}, not hashicorp/aws")
        problems += [f"{name}: version constraint {constraint!r} does not admit {v}" for v in ADMITTED_VERSIONS if not admits(constraint, v)]
        problems += [
            f"{name}: version constraint {constraint!r} admits {v}, beyond the {REVIEWED_THROUGH} this guard was reviewed against" for v in REJECTED_VERSIONS if admits(constraint, v)
        ]
    return problems


# ---------------------------------------------------------------------------
# The configuration
# ---------------------------------------------------------------------------


# Deprecations the configuration keeps while it supports 5.100, each with why: (file, address,
# argument path). A finding matches when it names all three.
KEPT_WHILE_5_100_IS_SUPPORTED = {
    # The releases table's two indexes: 6.29.0 deprecates hash_key and range_key of
    # global_secondary_index for key_schema, which 5.100 does not have; no index can be written for
    # both lines. 6.29 and later plan with a deprecation warning, not an error.
    ("releases.tf", "aws_dynamodb_table.releases", "global_secondary_index.hash_key"),
    ("releases.tf", "aws_dynamodb_table.releases", "global_secondary_index.range_key"),
}


def kept(finding: str) -> bool:
    return any(finding.startswith(f"{name}:") and f" {address}:" in finding and f"`{path}`" in finding for name, address, path in KEPT_WHILE_5_100_IS_SUPPORTED)


def assert_no_removed_or_deprecated_arguments(sources: list[Source]) -> None:
    findings = [finding for finding in argument_findings(sources) if not kept(finding)]
    assert not findings, "arguments or blocks the 6.x line removed or deprecated:\n" + "\n".join(findings)


def assert_no_removed_or_deprecated_references(sources: list[Source]) -> None:
    findings = reference_findings(sources)
    assert not findings, "attribute references the 6.x line removed or deprecated:\n" + "\n".join(findings)


def assert_every_type_reviewed(sources: list[Source]) -> None:
    problems = unreviewed_types(sources)
    assert not problems, "resource or data types not reviewed against the 6.x line:\n" + "\n".join(problems)


def assert_constraint_admits_5_100_and_6_x(sources: list[Source]) -> None:
    problems = constraint_problems(sources)
    assert not problems, "hashicorp/aws constraint:\n" + "\n".join(problems)


def test_no_argument_or_block_removed_or_deprecated_in_6_x() -> None:
    assert_no_removed_or_deprecated_arguments(root_sources())


def test_each_deprecation_kept_is_still_there_and_5_100_still_supported() -> None:
    findings = argument_findings(root_sources())
    for name, address_, path in KEPT_WHILE_5_100_IS_SUPPORTED:
        assert any(finding.startswith(f"{name}:") and f" {address_}:" in finding and f"`{path}`" in finding for finding in findings), (
            f"{name} {address_} {path} is no longer used: drop it from KEPT_WHILE_5_100_IS_SUPPORTED"
        )
    assert all(admits(str(requirement.get("version", "")), "5.100.0") for _, requirement in aws_constraints(root_sources()) if isinstance(requirement, dict)), (
        "5.100 is no longer supported: use key_schema and empty KEPT_WHILE_5_100_IS_SUPPORTED"
    )


def test_no_attribute_reference_removed_or_deprecated_in_6_x() -> None:
    assert_no_removed_or_deprecated_references(root_sources())


def test_data_aws_region_is_read_only_through_attributes_both_lines_have() -> None:
    findings = aws_region_attribute_findings(root_sources())
    assert not findings, "data.aws_region attributes to check against 5.100 and 6.x:\n" + "\n".join(findings)


def test_every_resource_and_data_type_was_reviewed_against_6_x() -> None:
    assert_every_type_reviewed(root_sources())


def test_required_providers_admit_5_100_and_6_x() -> None:
    assert_constraint_admits_5_100_and_6_x(root_sources())


def test_root_has_tf_files() -> None:
    assert all_tf_files(), f"no *.tf files in {ROOT}"
    assert {path.name for path in all_tf_files()} >= {"main.tf", "versions.tf"}, sorted(p.name for p in all_tf_files())


# ---------------------------------------------------------------------------
# Self-tests: every check above fails on a snippet that uses what it guards against
# ---------------------------------------------------------------------------

REQUIRED_PROVIDERS = 'terraform {\n  required_providers {\n    aws = {\n      source  = "hashicorp/aws"\n      version = ">= 5.100, < 7.0"\n    }\n  }\n}\n'

ARGUMENT_SNIPPETS = {
    "iam_role_inline_policy": ('resource "aws_iam_role" "r" {\n  name = "r"\n  inline_policy {\n    name   = "p"\n    policy = "{}"\n  }\n}\n', "inline_policy"),
    "iam_role_dynamic_inline_policy": (
        'resource "aws_iam_role" "r" {\n  name = "r"\n  dynamic "inline_policy" {\n    for_each = [1]\n    content {\n      name = "p"\n    }\n  }\n}\n',
        "inline_policy",
    ),
    "iam_role_managed_policy_arns": ('resource "aws_iam_role" "r" {\n  name                = "r"\n  managed_policy_arns = []\n}\n', "managed_policy_arns"),
    "event_rule_is_enabled": ('resource "aws_cloudwatch_event_rule" "r" {\n  name       = "r"\n  is_enabled = true\n}\n', "is_enabled"),
    "s3_bucket_acl": ('resource "aws_s3_bucket" "b" {\n  bucket = "b"\n  acl    = "private"\n}\n', "aws_s3_bucket_acl"),
    "s3_bucket_versioning_block": ('resource "aws_s3_bucket" "b" {\n  bucket = "b"\n  versioning {\n    enabled = true\n  }\n}\n', "aws_s3_bucket_versioning"),
    "lifecycle_rule_prefix": (
        'resource "aws_s3_bucket_lifecycle_configuration" "l" {\n  bucket = "b"\n  rule {\n    id     = "x"\n    status = "Enabled"\n    prefix = "logs/"\n  }\n}\n',
        "rule.filter.prefix",
    ),
    "expected_bucket_owner": ('resource "aws_s3_bucket_versioning" "v" {\n  bucket                = "b"\n  expected_bucket_owner = "123456789012"\n}\n', "6.31.0"),
    "provider_endpoint_opsworks": ('provider "aws" {\n  region = "us-east-1"\n  endpoints {\n    opsworks = "http://localhost"\n  }\n}\n', "endpoints.opsworks"),
    "provider_s3_global_endpoint": ('provider "aws" {\n  s3_us_east_1_regional_endpoint = "legacy"\n}\n', "S3 Global Endpoint"),
    "per_resource_region": ('resource "aws_sns_topic" "t" {\n  name   = "t"\n  region = "eu-west-1"\n}\n', "Enhanced Region Support"),
    "per_data_source_region": ('data "aws_caller_identity" "c" {\n  region = "eu-west-1"\n}\n', "Enhanced Region Support"),
    "aws_region_name_argument": ('data "aws_region" "r" {\n  name = "eu-west-1"\n}\n', "Data Source `aws_region`"),
    "policy_document_source_json": ('data "aws_iam_policy_document" "d" {\n  source_json = "{}"\n}\n', "source_policy_documents"),
    "api_gateway_deployment_stage_name": ('resource "aws_api_gateway_deployment" "d" {\n  rest_api_id = "a"\n  stage_name  = "v1"\n}\n', "aws_api_gateway_stage"),
    "dynamodb_gsi_hash_key": (
        'resource "aws_dynamodb_table" "t" {\n  name     = "t"\n  hash_key = "id"\n  global_secondary_index {\n    name            = "i"\n    hash_key        = "other"\n    projection_type = "ALL"\n  }\n}\n',
        "global_secondary_index.hash_key",
    ),
    "ignore_changes_deprecated": ('resource "aws_iam_role" "r" {\n  name = "r"\n  lifecycle {\n    ignore_changes = [managed_policy_arns]\n  }\n}\n', "ignore_changes"),
}

REFERENCE_SNIPPETS = {
    "aws_region_name": ('data "aws_region" "current" {}\n\nlocals {\n  region = data.aws_region.current.name\n}\n', "data.aws_region.current.name"),
    "aws_region_name_in_template": ('output "url" {\n  value = "https://${data.aws_region.current.name}.console.aws.amazon.com/"\n}\n', "data.aws_region.current.name"),
    "aws_region_region": ("locals {\n  region = data.aws_region.here.region\n}\n", "data.aws_region.here.region"),
    "s3_bucket_region": ('output "r" {\n  value = aws_s3_bucket.this["artifacts"].region\n}\n', "bucket_region"),
    "lambda_source_code_hash": ('output "h" {\n  value = data.aws_lambda_function.existing["staging"].source_code_hash\n}\n', "code_sha256"),
    "lifecycle_configuration_id": ('output "i" {\n  value = aws_s3_bucket_lifecycle_configuration.this[each.key].id\n}\n', "bucket"),
    "iam_role_inline_policy": ('output "p" {\n  value = aws_iam_role.handler["waiter"].inline_policy[0].name\n}\n', "inline_policy"),
    "api_gateway_deployment_invoke_url": ('output "u" {\n  value = "${aws_api_gateway_deployment.releases.invoke_url}/releases"\n}\n', "aws_api_gateway_stage.invoke_url"),
}

CONSTRAINT_SNIPPETS = {
    "5_x_only": ("~> 5.0", "does not admit 6.0.0"),
    "6_x_only": ("~> 6.0", "does not admit 5.100.0"),
    "below_5_100": (">= 5.0, < 6.0", "does not admit 6.0.0"),
    "open_ended": (">= 5.100", "admits 7.0.0"),
    "excluded_6_0": (">= 5.100, != 6.0.0, < 7.0", "does not admit 6.0.0"),
}


def snippet(text: str) -> list[Source]:
    return [parse("snippet.tf", text)]


@pytest.mark.parametrize(("text", "expected"), ARGUMENT_SNIPPETS.values(), ids=ARGUMENT_SNIPPETS.keys())
def test_self_argument_check_fails_on_removed_or_deprecated(text: str, expected: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(expected)):
        assert_no_removed_or_deprecated_arguments(snippet(text))


@pytest.mark.parametrize(("text", "expected"), REFERENCE_SNIPPETS.values(), ids=REFERENCE_SNIPPETS.keys())
def test_self_reference_check_fails_on_removed_or_deprecated(text: str, expected: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(expected)):
        assert_no_removed_or_deprecated_references(snippet(text))


@pytest.mark.parametrize(("constraint", "expected"), CONSTRAINT_SNIPPETS.values(), ids=CONSTRAINT_SNIPPETS.keys())
def test_self_constraint_check_fails_outside_5_100_to_6_x(constraint: str, expected: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(expected)):
        assert_constraint_admits_5_100_and_6_x(snippet(REQUIRED_PROVIDERS.replace(">= 5.100, < 7.0", constraint)))


def test_self_constraint_check_fails_without_required_providers() -> None:
    with pytest.raises(AssertionError, match="no terraform.required_providers.aws"):
        assert_constraint_admits_5_100_and_6_x(snippet('provider "aws" {}\n'))


def test_self_aws_region_attribute_check() -> None:
    read = "locals {\n  id       = data.aws_region.current.id\n  endpoint = one(data.aws_region.current[*].endpoint)\n  other    = data.aws_region.here[0].description\n}\n"
    findings = aws_region_attribute_findings(snippet(read))
    assert len(findings) == 2 and "`id`" in findings[0] and "`description`" in findings[1], findings


def test_self_type_review_fails_on_unreviewed_type() -> None:
    with pytest.raises(AssertionError, match="aws_instance.web"):
        assert_every_type_reviewed(snippet('resource "aws_instance" "web" {\n  ami = "ami-1"\n}\n'))


def test_self_checks_pass_on_compatible_snippet() -> None:
    """The replacements the findings name are themselves accepted, so the checks do not flag everything."""
    sources = snippet(
        REQUIRED_PROVIDERS
        + 'provider "aws" {\n  region = var.aws_region\n  endpoints {\n    s3 = "http://localhost"\n  }\n}\n'
        + 'resource "aws_iam_role" "r" {\n  name = "r"\n  lifecycle {\n    ignore_changes = [description]\n  }\n}\n'
        + 'resource "aws_iam_role_policy" "p" {\n  role   = aws_iam_role.r.id\n  policy = "{}"\n}\n'
        + 'resource "aws_cloudwatch_event_rule" "e" {\n  name = "e"\n  state = "ENABLED"\n}\n'
        + 'resource "aws_codepipeline" "p" {\n  name = "p"\n  artifact_store {\n    region = "eu-west-1"\n  }\n}\n'
        + 'resource "aws_s3_bucket_lifecycle_configuration" "l" {\n  bucket = aws_s3_bucket.b.bucket\n  rule {\n    id     = "x"\n    status = "Enabled"\n    filter {\n      prefix = "logs/"\n    }\n  }\n}\n'
        + 'resource "aws_api_gateway_deployment" "d" {\n  rest_api_id = "a"\n}\n'
        + 'resource "aws_api_gateway_stage" "s" {\n  rest_api_id   = "a"\n  deployment_id = aws_api_gateway_deployment.d.id\n  stage_name    = "v1"\n}\n'
        + "locals {\n  region = var.aws_region\n  name   = aws_lambda_function.f.function_name\n  hash   = data.aws_lambda_function.f.code_sha256\n  url    = aws_api_gateway_stage.s.invoke_url\n}\n"
    )
    assert_no_removed_or_deprecated_arguments(sources)
    assert_no_removed_or_deprecated_references(sources)
    assert_every_type_reviewed(sources)
    assert_constraint_admits_5_100_and_6_x(sources)


def test_self_every_change_names_a_source_and_a_replacement() -> None:
    assert len(set(CHANGES)) == len(CHANGES), "duplicate entries in CHANGES"
    for change in CHANGES:
        assert change.kind in {"resource", "data", "provider"}, change
        assert change.status in {REMOVED, DEPRECATED, SIX_ONLY, CHANGED}, change
        assert change.replacement and change.source, change
        assert change.type_name == "*" or change.kind == "provider" or (change.kind, change.type_name) in REVIEWED_TYPES, change


def test_self_line_numbers_point_at_the_argument() -> None:
    text = 'resource "aws_iam_role" "r" {\n  name = "r"\n\n  inline_policy {\n    name = "p"\n  }\n}\n'
    findings = argument_findings(snippet(text))
    assert findings and findings[0].startswith("snippet.tf:4: aws_iam_role.r:"), findings
