"""Commits of the sample application and what a user sees after pushing one: the pipeline's
result, the state machine execution, the `live` aliases, the deployment record, the notification."""

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_aws.codepipeline import PipelineRun
from local_aws.stack import DEFAULT_SERVICE, SERVICE_APPS, LocalStack, app_commit

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "sls-cd"
AwsClient = Callable[[str], Any]
Edits = dict[str, Callable[[str], str]]


@dataclass
class Outcome:
    run: PipelineRun
    execution: dict[str, Any]  # DescribeExecution
    live_before: dict[str, str]
    live_after: dict[str, str]
    record: dict[str, Any]
    notifications: list[dict[str, str]]  # published about the service during this push

    @property
    def job_message(self) -> str:
        """What the pipeline's Deploy action shows: the job's failure message or success summary."""
        deploy = self.run.action("Deploy")
        assert deploy is not None, f"the pipeline stopped before Deploy: {self.run.actions}"
        return deploy.summary

    @property
    def entered(self) -> list[str]:
        return LocalStack.states_entered(self.execution["executionArn"])


def push(stack: LocalStack, folder: Any, commit: str, edits: Edits | None = None, service: str = DEFAULT_SERVICE) -> Outcome:
    """Push a commit of the service's app (default: the sample app) with `edits` through its
    pipeline and collect the outcome."""
    before, published = stack.live_versions(service), len(stack.notifications())
    with tempfile.TemporaryDirectory(dir=folder) as source:
        run = stack.push(app_commit(Path(source), edits, app=SERVICE_APPS[service]), commit, service)
    execution = stack.execution(run)
    assert execution is not None, f"no execution was started: {[(a.stage, a.status, a.summary) for a in run.actions]}"
    return Outcome(
        run=run,
        execution=execution,
        live_before=before,
        live_after=stack.live_versions(service),
        record=stack.record(commit, execution["name"]),
        notifications=[sent for sent in stack.notifications()[published:] if (sent["notification"] or {}).get("service") == service],
    )


def new_version(version: str) -> Edits:
    """The app reports `version`: new code, everything else unchanged."""
    return {"src/app.py": lambda text: text.replace('VERSION = "1.0.0"', f'VERSION = "{version}"')}


def with_case(phase: str, name: str, expect: dict[str, Any], version: str) -> Edits:
    """A new version with one more declared test case, run in `phase` only."""
    case = {"name": name, "event": {"queryStringParameters": {"name": "Ada"}}, "expect": expect, "phases": [phase]}

    def add_case(text: str) -> str:
        document = json.loads(text)
        document["cases"].append(case)
        return json.dumps(document, indent=2)

    return new_version(version) | {"test_cases.json": add_case}


def failing_case(phase: str, version: str) -> Edits:
    """A new version with a test case it does not pass, in `phase`. The build's unit tests run the
    package cases too, so a failing package case also drops them from the buildspec, as a commit
    that "speeds up the build" would: the state machine's own package tests must catch it."""
    edits = with_case(phase, f"greets in French ({phase})", {"statusCode": 200, "body.message": "Bonjour, Ada!"}, version)
    if phase == "package":
        edits["buildspec.yml"] = lambda text: "\n".join(line for line in text.splitlines() if "unittest" not in line) + "\n"
    return edits
