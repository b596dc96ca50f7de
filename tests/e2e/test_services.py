"""Two services on one platform (local_aws/stack.py: the sample application keyed default and
examples/clock): their commits deploy at the same time, each to its own functions; a failure in
one rolls back that one only; two commits of one service queue; and an execution input that names
a function outside a service's registration is refused, with nothing changed."""

import json
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from e2e.deployments import PREFIX, Outcome, failing_case, new_version, push
from local_aws import executions
from local_aws.stack import DEFAULT_SERVICE, LocalStack

CLOCK = "clock"


def clock_version(version: str) -> dict[str, Callable[[str], str]]:
    return {"src/app.py": lambda text: text.replace('VERSION = "1.0.0"', f'VERSION = "{version}"')}


def at_once(*pushes: Callable[[], Outcome]) -> list[Outcome]:
    """Run each push in its own thread, all at once; their outcomes in order."""
    outcomes: list[Any] = [None] * len(pushes)
    errors: list[BaseException] = []

    def run(index: int, push_one: Callable[[], Outcome]) -> None:
        try:
            outcomes[index] = push_one()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index, push_one)) for index, push_one in enumerate(pushes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    return outcomes


def interval(outcome: Outcome) -> tuple[datetime, datetime]:
    return outcome.execution["startDate"], outcome.execution["stopDate"]


def answer(function: str, event: dict[str, Any]) -> dict[str, Any]:
    payload = boto3.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event))["Payload"].read()
    return json.loads(json.loads(payload)["body"])  # type: ignore[no-any-return]


def live(stack: LocalStack, service: str, environment: str) -> str:
    return f"{stack.service(service)['functions'][environment]['function_name']}:{stack.service(service)['alias_name']}"


def test_two_services_deploy_at_the_same_time_each_to_its_own_functions(stack: LocalStack, tmp_path: Path) -> None:
    app, clock = at_once(
        lambda: push(stack, tmp_path, "both-app01", new_version("2.1.0")),
        lambda: push(stack, tmp_path, "both-clock01", clock_version("2.2.0"), service=CLOCK),
    )

    for outcome in (app, clock):
        assert outcome.execution["status"] == "SUCCEEDED", f"{outcome.execution.get('error')}: {outcome.execution.get('cause')}"
        assert all(int(outcome.live_after[environment]) == int(outcome.live_before[environment]) + 1 for environment in ("staging", "production"))
    (app_start, app_stop), (clock_start, clock_stop) = interval(app), interval(clock)
    assert app_start < clock_stop and clock_start < app_stop, "the two deployments did not run at the same time"
    assert app.execution["name"].startswith(f"{DEFAULT_SERVICE}-both-app01-") and clock.execution["name"].startswith(f"{CLOCK}-both-clock01-")
    assert app.record["service"] == DEFAULT_SERVICE and clock.record["service"] == CLOCK
    # Each production alias runs its own service's new code.
    assert answer(live(stack, DEFAULT_SERVICE, "production"), {"name": "Ada"})["version"] == "2.1.0"
    assert answer(live(stack, CLOCK, "production"), {"queryStringParameters": {"at": "0"}}) == {"utc": "1970-01-01T00:00:00Z", "version": "2.2.0"}


def test_a_failure_in_one_service_rolls_back_that_service_only(stack: LocalStack, tmp_path: Path) -> None:
    app, clock = at_once(
        lambda: push(stack, tmp_path, "fail-app01", failing_case("staging", "2.3.0")),
        lambda: push(stack, tmp_path, "fine-clock01", clock_version("2.4.0"), service=CLOCK),
    )

    assert app.execution["status"] == "FAILED" and app.execution["error"] == "StagingTestsFailed", app.execution.get("cause")
    assert app.live_after == app.live_before
    assert stack.alias_routing("staging") == {} and stack.alias_routing("production") == {}
    assert clock.execution["status"] == "SUCCEEDED", f"{clock.execution.get('error')}: {clock.execution.get('cause')}"
    assert int(clock.live_after["production"]) == int(clock.live_before["production"]) + 1
    assert app.record["service"] == DEFAULT_SERVICE and "production" not in app.record


def test_two_commits_of_one_service_queue(stack: LocalStack, tmp_path: Path) -> None:
    first, second = at_once(
        lambda: push(stack, tmp_path, "queue-clock01", clock_version("2.5.0"), service=CLOCK),
        lambda: push(stack, tmp_path, "queue-clock02", clock_version("2.6.0"), service=CLOCK),
    )

    for outcome in (first, second):
        assert outcome.execution["status"] == "SUCCEEDED", f"{outcome.execution.get('error')}: {outcome.execution.get('cause')}"
    earlier, later = sorted((first, second), key=lambda outcome: outcome.execution["startDate"])
    assert later.execution["startDate"] >= earlier.execution["stopDate"], "the second deployment of the service started before the first ended"
    assert int(later.live_after["production"]) == int(earlier.live_after["production"]) + 1
    assert stack.live_versions(CLOCK)["production"] == later.live_after["production"]


def test_an_execution_input_naming_a_function_outside_the_service_is_refused(stack: LocalStack) -> None:
    states, ssm = boto3.client("stepfunctions"), boto3.client("ssm")
    registered = json.loads(ssm.get_parameter(Name=f"/{PREFIX}/services/{CLOCK}")["Parameter"]["Value"])
    # As someone allowed states:StartExecution might: the clock's registration, with the sample
    # application's production function as the clock's.
    crafted = json.loads(json.dumps(registered))
    victim = stack.service(DEFAULT_SERVICE)["functions"]["production"]["function_name"]
    crafted["environments"]["production"]["function_name"] = victim
    artifact = {"bucket": stack.outputs["artifact_bucket_name"], "key": "crafted/artifact.zip"}
    before = {service: stack.live_versions(service) for service in (DEFAULT_SERVICE, CLOCK)}
    versions_before = len(boto3.client("lambda").list_versions_by_function(FunctionName=victim)["Versions"])

    started = states.start_execution(
        stateMachineArn=stack.outputs["state_machine_arn"],
        name="crafted-input-01",
        input=json.dumps({"commit_id": "crafted01", "artifact": artifact, "pipeline": {"name": "none", "execution_id": "none", "job_id": "none"}, "service": crafted}),
    )
    described = executions.wait(started["executionArn"])

    assert described["status"] == "FAILED" and described["error"] == "TargetNotAllowed", described.get("cause")
    assert "environments.production.function_name" in described["cause"] and victim in described["cause"]
    assert {service: stack.live_versions(service) for service in (DEFAULT_SERVICE, CLOCK)} == before
    assert len(boto3.client("lambda").list_versions_by_function(FunctionName=victim)["Versions"]) == versions_before
