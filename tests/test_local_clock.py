"""The local clock: a state machine's Wait and Retry take 1/speedup of their AWS time."""

import json
import time
from collections.abc import Iterator

import boto3
import pytest

from local_aws import clock
from local_aws.codedeploy import restore

ROLE = "arn:aws:iam::123456789012:role/states"


@pytest.fixture
def fast_clock(aws: None) -> Iterator[None]:
    patches = clock.patch_moto(speedup=100.0)
    try:
        yield
    finally:
        restore(patches)


def run(definition: dict) -> tuple[dict, float]:
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(name="clock", definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    started = time.monotonic()
    arn = sfn.start_execution(stateMachineArn=machine, name="run", input="{}")["executionArn"]
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        time.sleep(0.02)
    return described, time.monotonic() - started


@pytest.fixture
def executing(fast_clock: None) -> Iterator[None]:
    from moto.core.config import default_user_config

    previous = default_user_config["stepfunctions"]["execute_state_machine"]
    default_user_config["stepfunctions"]["execute_state_machine"] = True
    try:
        yield
    finally:
        default_user_config["stepfunctions"]["execute_state_machine"] = previous


def test_a_five_minute_wait_takes_three_seconds(executing: None) -> None:
    described, seconds = run({"StartAt": "Canary", "States": {"Canary": {"Type": "Wait", "Seconds": 300, "End": True}}})

    assert described["status"] == "SUCCEEDED"
    assert 2.5 < seconds < 6


def test_retry_intervals_are_scaled_too(executing: None) -> None:
    failing = {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:missing", "End": True}
    retried = failing | {"Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 100, "MaxAttempts": 2, "BackoffRate": 1.0}]}
    described, seconds = run({"StartAt": "Flaky", "States": {"Flaky": retried}})

    assert described["status"] == "FAILED"
    assert 1.5 < seconds < 5
