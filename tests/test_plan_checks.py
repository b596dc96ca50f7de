"""What `terraform plan` tells a user before anything is created: a bad aws_region or name_prefix,
or a bucket name S3 would refuse, stops the plan with a message that says why; valid Regions of
every partition plan, and the console URLs point at that partition's console.

The plans run with `terraform test` against a mocked AWS provider, in a copy of the
configuration: no AWS endpoint is involved.
"""

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

from local_aws.terraform import ROOT, cli_config, copy_configuration, find_provider_mirror

HCL_OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)

MOCK_PROVIDER = """mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }

  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }

  # The roles check that their trust policy is JSON.
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\\"Version\\":\\"2012-10-17\\",\\"Statement\\":[]}" }
  }
}
"""

# Plans expected to fail: the variables of the run.
REJECTED = {
    "region_not_a_region_code": {"aws_region": "Mars"},
    "prefix_xn": {"name_prefix": "xn--deploy"},
    "prefix_sthree": {"name_prefix": "sthree-deploy"},
    "prefix_amzn_s3_demo": {"name_prefix": "amzn-s3-demo-cd"},
    "bucket_name_too_long": {"name_prefix": "a-twenty-char-prefix", "aws_region": "xx-somewhere-far-away-1"},
}

# Plans expected to pass: (variables, partition, host the console URLs use or None for no URL).
ACCEPTED = {
    "commercial": ({"aws_region": "us-east-1"}, "aws", "us-east-1.console.aws.amazon.com"),
    "govcloud": ({"aws_region": "us-gov-west-1"}, "aws-us-gov", "console.amazonaws-us-gov.com"),
    "china": ({"aws_region": "cn-north-1"}, "aws-cn", "console.amazonaws.cn"),
    "european_sovereign_cloud": ({"aws_region": "eusc-de-east-1"}, "aws-eusc", None),
}
CONSOLE_OUTPUTS = ("pipeline_console_url", "deployments_table_console_url")


def hcl_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def variables_block(variables: dict[str, str]) -> str:
    return "  variables {\n" + "".join(f"    {name} = {hcl_string(value)}\n" for name, value in variables.items()) + "  }\n"


ACCEPTED_RUN = """run "{name}" {{
  command = plan

{variables}
  override_data {{
    target = data.aws_partition.current
    values = {{ partition = "{partition}", dns_suffix = "amazonaws.com" }}
  }}

  assert {{
    condition     = {condition}
    error_message = "console URLs in {partition}: ${{jsonencode([{outputs}])}}"
  }}
}}
"""


def accepted_run(name: str, variables: dict[str, str], partition: str, host: str | None) -> str:
    outputs = [f"output.{output}" for output in CONSOLE_OUTPUTS]
    conditions = [f"{output} == null" if host is None else f'startswith({output}, "https://{host}/")' for output in outputs]
    return ACCEPTED_RUN.format(name=name, variables=variables_block(variables), partition=partition, condition=" && ".join(conditions), outputs=", ".join(outputs))


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """Each run's outcome (pass or fail) and what Terraform printed for it."""
    mirror = find_provider_mirror()
    if shutil.which("terraform") is None or mirror is None:
        pytest.skip("terraform or a filesystem mirror of hashicorp/aws is missing (see the README)")
    workdir = tmp_path_factory.mktemp("plan-checks")
    copy_configuration(workdir, stub_missing_packages=True)
    tests = workdir / "tests"
    tests.mkdir()
    for name, variables in REJECTED.items():
        (tests / f"{name}.tftest.hcl").write_text(MOCK_PROVIDER + f'\nrun "{name}" {{\n  command = plan\n\n' + variables_block(variables) + "}\n", encoding="utf-8")
    (tests / "accepted.tftest.hcl").write_text(MOCK_PROVIDER + "".join("\n" + accepted_run(name, *case) for name, case in ACCEPTED.items()), encoding="utf-8")

    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "TF_"))}
    env |= {"TF_CLI_CONFIG_FILE": str(cli_config(workdir, mirror)), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    init = subprocess.run(["terraform", "init", "-backend=false", "-input=false", "-no-color"], cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert init.returncode == 0, init.stdout + init.stderr
    # One stream, so that each run's errors follow its status line.
    result = subprocess.run(["terraform", "test", "-no-color"], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, check=False)
    return dict(runs(result.stdout))


def runs(output: str) -> Iterator[tuple[str, tuple[str, str]]]:
    """(run name, (status, the text Terraform printed after it)) for every run in the output."""
    parts = re.split(r'^\s*run "(\w+)"\.\.\. (pass|fail|skip)\s*$', output, flags=re.M)
    for index in range(1, len(parts) - 2, 3):
        yield parts[index], (parts[index + 1], " ".join(parts[index + 2].split()))


def error_messages(variable: str) -> list[str]:
    with open(ROOT / "variables.tf", encoding="utf-8") as file:
        document: dict[str, Any] = hcl2.load(file, serialization_options=HCL_OPTIONS)
    body = next(entry[variable] for entry in document["variable"] if variable in entry)
    return [validation["error_message"] for validation in body["validation"]]


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_region_validation_takes_the_region_codes_of_every_partition_and_nothing_else(plans: dict[str, tuple[str, str]]) -> None:
    status, text = plans["region_not_a_region_code"]
    assert status == "fail" and flat(error_messages("aws_region")[0]) in text, text
    for case, (variables, _, _) in ACCEPTED.items():
        status, text = plans[case]
        assert status != "skip" and "Invalid value for variable" not in text, f"{variables['aws_region']}: {text}"


@pytest.mark.parametrize("case", ["prefix_xn", "prefix_sthree", "prefix_amzn_s3_demo"])
def test_a_prefix_s3_reserves_for_bucket_names_stops_the_plan(plans: dict[str, tuple[str, str]], case: str) -> None:
    status, text = plans[case]
    reserved = [message for message in error_messages("name_prefix") if "reserves" in message]
    assert reserved, "name_prefix has no validation of the prefixes S3 reserves"
    assert status == "fail" and flat(reserved[0]) in text, text


def test_a_bucket_name_s3_would_refuse_stops_the_plan_with_the_reason(plans: dict[str, tuple[str, str]]) -> None:
    status, text = plans["bucket_name_too_long"]
    assert status == "fail" and "Resource precondition failed" in text and "breaks S3's naming rules" in text, text


def test_the_console_urls_point_at_the_console_of_the_partition(plans: dict[str, tuple[str, str]]) -> None:
    failed = {case: plans[case][1] for case in ACCEPTED if plans[case][0] != "pass"}
    assert not failed, failed
