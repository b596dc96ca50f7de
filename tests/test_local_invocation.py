"""A function run in-process by the local AWS acts with its role's credentials and sees its own
variables, while every other thread of the process (the pipeline runner, the tests, moto's server)
keeps its own credentials and environment the whole time."""

import hashlib
import io
import json
import os
import threading
import zipfile
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from local_aws import iam
from local_aws.compat import LocalAws, run_lambda_in_process

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/probe-role"

# The handler reports the access key its clients sign with and what `event["meanwhile"]` (run in
# another thread while the handler runs) saw there.
PROBE_HANDLER = """
import os
import boto3

def handler(event, context):
    elsewhere = event["meanwhile"]()
    mine = boto3.client("sts")._request_signer._credentials.access_key
    return {"mine": mine, "elsewhere": elsewhere, "variable": os.environ["PROBE_VARIABLE"]}
"""


@pytest.fixture
def local_aws(aws: None) -> Iterator[LocalAws]:
    local = LocalAws(check_iam=True)
    local.install()
    yield local
    local.uninstall()


def probe_function() -> SimpleNamespace:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", PROBE_HANDLER)
    code = buffer.getvalue()
    return SimpleNamespace(
        handler="handler.handler",
        code_bytes=code,
        code_sha_256=hashlib.sha256(code).hexdigest(),
        environment_vars={"PROBE_VARIABLE": "set by the function"},
        function_name="probe",
        version="1",
        function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:probe",
        memory_size=128,
        account_id=ACCOUNT,
        region="us-east-1",
        role=ROLE,
    )


def in_another_thread() -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def look() -> None:
        seen["access_key"] = boto3.client("sts")._request_signer._credentials.access_key
        seen["environment_key"] = os.environ.get("AWS_ACCESS_KEY_ID")
        seen["variable"] = os.environ.get("PROBE_VARIABLE")
        seen["environment"] = dict(os.environ)

    thread = threading.Thread(target=look)
    thread.start()
    thread.join()
    return seen


def test_a_function_signs_with_its_role_and_other_threads_keep_their_credentials(local_aws: LocalAws) -> None:
    own_key, own_environment = os.environ["AWS_ACCESS_KEY_ID"], dict(os.environ)
    identity = iam.Identity(ROLE, "probe", ())

    payload, failed, _ = run_lambda_in_process(probe_function(), {"meanwhile": in_another_thread}, identity)

    result = json.loads(payload)
    assert not failed, result
    assert result["variable"] == "set by the function"
    assert result["mine"] != own_key and result["mine"].startswith("ASIA")  # the role's session
    assert result["elsewhere"]["access_key"] == own_key
    assert result["elsewhere"]["environment_key"] == own_key
    assert result["elsewhere"]["variable"] is None
    # The process's environment is never changed by a function: other threads iterating it
    # (botocore reads proxy settings that way) cannot meet a name that vanishes mid-way.
    assert result["elsewhere"]["environment"] == own_environment
    assert os.environ["AWS_ACCESS_KEY_ID"] == own_key and "PROBE_VARIABLE" not in os.environ
    assert boto3.client("sts")._request_signer._credentials.access_key == own_key
