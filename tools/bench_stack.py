"""Prints how the whole stack performs on the local AWS (`make bench`, after tools/bench.py).

- wall time of `terraform init` / `apply` / `destroy` against the local AWS, and what adding a
  service costs: the platform applied with one service (the sample application), then with the
  second of the local platform (examples/clock): that apply's wall time, the resources it adds,
  and that the shared platform's resources are the same, created once;
- per happy-path deployment, with Terraform's defaults (staging all at once, production a 10%
  canary for 5 minutes, a check at the end of the shift, then every poll_interval_seconds) on a
  clock 60 times faster: the push's wall time, the state transitions (states entered, counted in
  the execution history, as Step Functions bills them) and the detection delay: from CodeDeploy's
  deployment succeeding to the check that sees it, with real timings. CodeDeploy finishes `lag`
  AWS seconds after its last traffic shift; AWS does not document that lag, so several values are
  run. The delay is computed from the waiting strategy (checks at shift + k x poll), because local
  invocations take real milliseconds that a 60x clock would inflate into seconds;
- per release (docs/releases.md) of three pipelines in two waves, run twice, with pipelines of 2 s
  and of 20 s: the release's state transitions (the same however long its pipelines run) and the
  detection delay of each pipeline's end (from the run's end, GetPipelineExecution's lastUpdateTime,
  to the end of the release's wait for it in the execution's history), next to what a loop polling
  each pipeline every 30 seconds costs for pipelines of 20 minutes (a Wait, a check and a Choice per
  poll: 3 transitions; its detection delay is up to the poll interval);
- wall time of the end-to-end suite (pytest tests/e2e), unless --no-e2e.
Targets: <= 30 transitions for a happy path with a 5-minute production canary, <= 5 s detection;
a release's transitions independent of its pipelines' length, <= 5 s detection of a pipeline's end.
"""

import argparse
import contextlib
import json
import logging
import math
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from local_aws.stack import DEFAULT_SERVICE, DEFAULT_VARIABLES, LOCAL_SERVICES, LocalServer, LocalStack, app_commit

ROOT = Path(__file__).resolve().parent.parent
LAGS_SECONDS = (0.0, 2.0, 7.0, 12.0, 30.0)
TRANSITIONS_TARGET = 30
DETECTION_TARGET_SECONDS = 5.0


def detection_delay_seconds(lag: float, poll: float) -> float:
    """The first check at or after CodeDeploy succeeds (checks at the end of the shift, then every
    `poll` seconds), minus the moment it succeeded."""
    return math.ceil(lag / poll) * poll - lag


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER TARGET"


def managed_resources(stack: LocalStack) -> dict[str, list[str]]:
    """The state's managed resources (not data sources), by owner: "platform" or the service key."""
    owners: dict[str, list[str]] = {}
    for address in stack.terraform.run("state", "list").stdout.split():
        if ".data." in address or address.startswith("data."):
            continue
        owner = address.split('"')[1] if address.startswith("module.service[") else "platform"
        owners.setdefault(owner, []).append(address)
    return owners


def handler_policy_characters(stack: LocalStack) -> dict[str, int]:
    """The characters of each handler role's inline policies, as IAM counts them against its
    10,240 per role (no whitespace)."""
    iam = boto3.client("iam")
    sizes = {}
    for handler, function in stack.handler_functions.items():
        role = f"{function}-role"
        documents = [iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"] for name in iam.list_role_policies(RoleName=role)["PolicyNames"]]
        sizes[handler] = sum(len(json.dumps(document, separators=(",", ":"))) for document in documents)
    return sizes


def add_a_service(stack: LocalStack, log: object) -> None:
    """Apply the second service on top of the first and print what that cost."""
    before, policies_before = managed_resources(stack), handler_policy_characters(stack)
    stack.terraform.variables = dict(DEFAULT_VARIABLES)
    with contextlib.redirect_stdout(log):  # type: ignore[type-var]
        started = time.monotonic()
        stack.terraform.apply()
        seconds = time.monotonic() - started
    stack.outputs = stack.terraform.outputs()
    after, policies_after = managed_resources(stack), handler_policy_characters(stack)
    added = sorted(set(after) - set(before))
    shared_same = after["platform"] == before["platform"]
    print(
        f"adding service {', '.join(added)}: apply {seconds:.1f} s, {sum(len(after[key]) for key in added)} resources added "
        f"({len(before.get(DEFAULT_SERVICE, []))} in the first service); shared platform: {len(after['platform'])} resources, "
        f"{'the same before and after (created once)' if shared_same else 'CHANGED'}"
    )
    largest = max(policies_after, key=lambda handler: policies_after[handler])
    print(
        f"handler roles' inline policies: {'unchanged' if policies_after == policies_before else 'CHANGED'} by the service "
        f"(it brings its own access roles); the largest, {largest}'s, holds {policies_after[largest]:,} of IAM's 10,240 characters"
    )


RELEASE_PIPELINE_SECONDS = (2, 20)
POLL_SECONDS, POLLED_MINUTES, TRANSITIONS_PER_POLL = 30, 20, 3


def release_manifest(release_id: str, seconds: int) -> dict[str, object]:
    sleep = {"sleep_seconds": str(seconds)}
    return {
        "release_id": release_id,
        "pipelines": [{"name": "web", "variables": sleep}, {"name": "search", "variables": sleep}, {"name": "worker", "after": ["web"], "variables": sleep}],
    }


def wait_ends(history: list[dict[str, Any]]) -> dict[str, datetime]:
    """When the release's wait for each pipeline execution ended: the TaskSucceeded of its
    WaitForPipeline (the task's output names the execution)."""
    ends = {}
    for event in history:
        details = event.get("taskSucceededEventDetails")
        if details and details.get("resourceType") == "lambda" and '"execution_id"' in details.get("output", ""):
            ends[json.loads(details["output"])["execution_id"]] = event["timestamp"]
    return ends


def run_ended_at(pipeline: str, execution_id: str) -> datetime:
    """When the pipeline execution ended: its lastUpdateTime in ListPipelineExecutions."""
    summaries = boto3.client("codepipeline").list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]
    return next(summary["lastUpdateTime"] for summary in summaries if summary["pipelineExecutionId"] == execution_id)  # type: ignore[no-any-return]


def bench_releases(stack: LocalStack, log: object) -> None:
    from local_aws import releases

    with contextlib.redirect_stdout(log):  # type: ignore[type-var]
        releases.create_pipelines()
    print(f"\nreleases of 3 pipelines in 2 waves; a {POLL_SECONDS}-s poll loop of {POLLED_MINUTES}-minute pipelines shown for comparison")
    print(f"{'pipelines run':<16}{'release wall s':>15}{'transitions':>13}{'detection delay s (max)':>25}")
    for seconds in RELEASE_PIPELINE_SECONDS:
        release_id = f"bench-{seconds}s"
        started = time.monotonic()
        releases.upload(stack, release_manifest(release_id, seconds))
        execution = releases.wait_for_release(stack, release_id, timeout_seconds=300)
        wall = time.monotonic() - started
        history = stack.history(execution["executionArn"])
        transitions = len([event for event in history if "stateEnteredEventDetails" in event])
        ends = wait_ends(history)
        delays = []
        for record, run in releases.records(stack, release_id).items():
            if record.startswith("pipeline#") and run.get("execution_id") in ends:
                delays.append((ends[run["execution_id"]] - run_ended_at(run["pipeline"], run["execution_id"])).total_seconds())
        delay = max(delays) if delays else float("nan")
        print(f"{f'{seconds} s each':<16}{wall:>15.1f}{transitions:>13}{delay:>25.2f}  {verdict(execution['status'] == 'SUCCEEDED' and delay <= DETECTION_TARGET_SECONDS)}")
    polls = POLLED_MINUTES * 60 // POLL_SECONDS
    print(
        f"{f'{POLLED_MINUTES} min, 30-s poll':<16}{'':>15}{3 * polls * TRANSITIONS_PER_POLL:>13}{POLL_SECONDS:>25.2f}  ({polls} polls x {TRANSITIONS_PER_POLL} transitions x 3 pipelines, plus the release's own)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-e2e", action="store_true", help="skip timing the end-to-end suite")
    arguments = parser.parse_args()

    logging.getLogger("moto").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as workdir, open(Path(workdir) / "handlers.log", "w", encoding="utf-8") as log:
        server = LocalServer.start()
        one_service = DEFAULT_VARIABLES | {"services": json.dumps({DEFAULT_SERVICE: LOCAL_SERVICES[DEFAULT_SERVICE]})}
        with contextlib.redirect_stdout(log):
            stack = LocalStack.apply(server, workdir=Path(workdir) / "terraform", variables=one_service)
        print(f"\nterraform against the local AWS, one service: init {stack.seconds['init']:.1f} s, apply {stack.seconds['apply']:.1f} s")
        add_a_service(stack, log)
        registration = boto3.client("ssm").get_parameter(Name=stack.service()["registration_parameter_name"])["Parameter"]["Value"]
        poll = float(json.loads(registration)["poll_interval_seconds"])
        print(f"checks every {poll:.0f} s after the shift (poll_interval_seconds): the detection delay is at most {poll:.0f} s, whatever the lag")
        print(f"{'CodeDeploy lag (AWS s)':<24}{'push wall s':>12}{'transitions':>13}  {'':<12}{'detection delay s':>18}  {'':<12}")
        try:
            for number, lag in enumerate(LAGS_SECONDS, start=1):
                stack.patches.deployments.completion_lag_seconds = lag
                commit = f"bench{number:03d}"
                edits = {"src/app.py": lambda text, n=number: text.replace('VERSION = "1.0.0"', f'VERSION = "2.0.{n}"')}
                with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(log):
                    started = time.monotonic()
                    run = stack.push(app_commit(Path(folder), edits), commit)
                    seconds = time.monotonic() - started
                execution = stack.execution(run)
                if execution is None or execution["status"] != "SUCCEEDED":
                    print(f"{lag:<24.0f}deployment did not succeed: {run.actions[-1].summary[:200]}")
                    continue
                transitions = len(stack.states_entered(execution["executionArn"]))
                delay = detection_delay_seconds(lag, poll)
                print(f"{lag:<24.0f}{seconds:>12.1f}{transitions:>13}  {verdict(transitions <= TRANSITIONS_TARGET):<12}{delay:>18.1f}  {verdict(delay <= DETECTION_TARGET_SECONDS):<12}")
            bench_releases(stack, log)
        finally:
            with contextlib.redirect_stdout(log):
                stack.empty_buckets()
                started = time.monotonic()
                stack.terraform.destroy()
                stack.terraform.close()
                server.stop()
            print(f"terraform destroy: {time.monotonic() - started:.1f} s")

    if not arguments.no_e2e:
        started = time.monotonic()
        finished = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/e2e"], cwd=ROOT, capture_output=True, text=True, check=False)
        summary = (finished.stdout.strip().splitlines() or ["no output"])[-1]
        print(f"end-to-end suite (pytest tests/e2e): {time.monotonic() - started:.1f} s wall, {summary}")


if __name__ == "__main__":
    main()
