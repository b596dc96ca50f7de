"""Faults injected into the AWS calls of a function: a delay lets the call through and holds its
answer back, only for that function's calls of that action, only as many times as asked."""

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local_aws import faults

DELAY = 0.3


@pytest.fixture
def injected(aws: None) -> Iterator[faults.Faults]:
    boto3.client("s3").create_bucket(Bucket="artifacts")
    boto3.client("s3").put_object(Bucket="artifacts", Key="build.zip", Body=b"zip")
    injected = faults.Faults()
    undo = injected.patch_botocore()
    try:
        yield injected
    finally:
        undo()


def timed_get(s3: Any, function_name: str | None) -> tuple[bytes, float]:
    """The object's body, read by `function_name` (None: outside a function), and how long GetObject took."""
    started = time.monotonic()
    if function_name is None:
        body = s3.get_object(Bucket="artifacts", Key="build.zip")["Body"].read()
    else:
        with faults.running(function_name):
            body = s3.get_object(Bucket="artifacts", Key="build.zip")["Body"].read()
    return body, time.monotonic() - started


def test_a_delayed_call_goes_through_and_answers_that_much_later(injected: faults.Faults) -> None:
    s3 = boto3.client("s3")
    injected.delay("slow", "s3:GetObject", DELAY)

    body, took = timed_get(s3, "slow")

    assert body == b"zip" and took >= DELAY


def test_a_delay_holds_back_only_that_many_calls(injected: faults.Faults) -> None:
    s3 = boto3.client("s3")
    injected.delay("slow", "s3:GetObject", DELAY, times=2)

    timings = [timed_get(s3, "slow") for _ in range(3)]

    assert [body for body, _ in timings] == [b"zip"] * 3
    assert [took >= DELAY for _, took in timings] == [True, True, False]


def test_a_delay_holds_back_only_that_functions_calls_of_that_action(injected: faults.Faults) -> None:
    s3 = boto3.client("s3")
    injected.delay("slow", "s3:GetObject", DELAY)

    # Another function's call, a call outside any function and another action of the function.
    assert timed_get(s3, "other")[1] < DELAY
    assert timed_get(s3, None)[1] < DELAY
    started = time.monotonic()
    with faults.running("slow"):
        s3.put_object(Bucket="artifacts", Key="other.zip", Body=b"")
    assert time.monotonic() - started < DELAY
    # The delay is still there for the function's next GetObject.
    body, took = timed_get(s3, "slow")
    assert body == b"zip" and took >= DELAY
