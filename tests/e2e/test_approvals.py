"""Production approvals on the applied platform (docs/approvals.md): the local stack's payments
service registers the release-managers role as its approver, with a one-minute timeout. Its
deployments wait after staging's tests, tell the topic and the chat destinations the change summary,
and take the decision from POST /approvals on the local API Gateway, signed as tools/approve.py
signs it (local_aws/approvals.py).

The tests run in file order: the rejected deployment compares with the release copy the approved
one left in production. The deployment nobody decides on waits its minute while the rest of the
suite runs; the test marked `late` checks how it ended.
"""

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from e2e.deployments import Edits, Outcome, new_version, push
from local_aws import approvals
from local_aws.approvals import APPROVAL_SERVICE, Approver
from local_aws.stack import LocalStack

UNANSWERED = "nobody01"


def pricing(version: str) -> Edits:
    """A new version with a module it did not have."""
    return new_version(version) | {"src/pricing.py": lambda _: "RATE = 0.2\n"}


def start_push(pool: ThreadPoolExecutor, stack: LocalStack, folder: Path, commit: str, edits: Edits) -> "Future[Outcome]":
    return pool.submit(push, stack, folder, commit, edits, APPROVAL_SERVICE)


def waiting_note(stack: LocalStack, execution_name: str) -> dict[str, Any]:
    """The webhook destination's notification that the execution waits for a decision."""
    stack.wait_for_deliveries()
    found = [request.json for request in stack.chat.delivered("webhook") if execution_name in request.body_text and request.json.get("status") == "waiting_for_approval"]
    assert len(found) == 1, [request.summary() for request in stack.chat.requests("webhook")]
    return dict(found[0])


def rows(note: dict[str, Any]) -> dict[str, str]:
    return {row["label"]: row["value"] for row in note.get("details", [])}


@pytest.fixture(scope="module")
def managers(stack: LocalStack) -> Approver:
    return approvals.approver(stack)


@pytest.fixture(scope="package")
def unanswered(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator["Future[Outcome]"]:
    """A deployment of payments nobody decides on, pushed by the first test that asks for it."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield start_push(pool, stack, tmp_path_factory.mktemp("unanswered"), UNANSWERED, new_version("3.9.0"))


def test_an_approved_deployment_reaches_production_and_records_who_approved_it(stack: LocalStack, tmp_path: Path, managers: Approver) -> None:
    outsider = approvals.approver(stack, name="developers", session="bob")
    with ThreadPoolExecutor(max_workers=1) as pool:
        pushed = start_push(pool, stack, tmp_path, "approve01", pricing("3.1.0"))
        waiting = approvals.waiting_record(stack, "approve01")
        name = waiting["execution_name"]

        refused, refusal = approvals.decide(stack, outsider, name, "approve", "looks fine to me")
        assert refused == 403 and outsider.arn in refusal["message"], refusal
        assert stack.record("approve01", name)["approval"]["status"] == "waiting" and pushed.running()

        status, printed = approvals.run_command(stack, managers, [name, "approve", "--reason", "change summary reviewed"])
        assert status == 0, printed
        outcome = pushed.result(timeout=120)

    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution.get("cause")
    assert int(outcome.live_after["production"]) == int(outcome.live_before["production"]) + 1
    approval = outcome.record["approval"]
    assert approval["status"] == "approved" and approval["decided_by"] == managers.arn and approval["reason"] == "change summary reviewed"
    assert "approval_token" not in outcome.record
    assert "RequestApproval" in outcome.entered and outcome.entered.index("RequestApproval") < outcome.entered.index("DeployProduction")

    note = waiting_note(stack, name)
    summary = rows(note)
    assert note["status"] == "waiting_for_approval" and note["service"] == APPROVAL_SERVICE and note["commit_id"] == "approve01"
    assert summary["Production now"].startswith(f"version {outcome.live_before['production']}")
    assert summary["Staging runs"] == f"version {outcome.record['staging']['new_version']}"
    assert "passed" in summary["Tests"] and "tools.approve" in summary["Decide with"]


def test_a_rejected_deployment_rolls_staging_back_and_fails_the_pipeline_saying_who_and_why(stack: LocalStack, tmp_path: Path, managers: Approver) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        pushed = start_push(pool, stack, tmp_path, "reject01", new_version("3.2.0"))
        waiting = approvals.waiting_record(stack, "reject01")
        name = waiting["execution_name"]
        status, answer = approvals.decide(stack, managers, name, "reject", "the pricing change needs a migration first")
        assert status == 200, answer
        again, second = approvals.decide(stack, managers, name, "approve", "changed my mind")
        outcome = pushed.result(timeout=120)

    assert again == 409 and "rejected" in second["message"], second
    assert outcome.execution["status"] == "FAILED" and outcome.execution["error"] == "ProductionRejected"
    assert managers.arn in outcome.execution["cause"] and "needs a migration first" in outcome.execution["cause"]
    assert outcome.live_after == outcome.live_before, "staging rolled back, production untouched"
    assert outcome.run.status == "Failed" and outcome.job_message.startswith("ProductionRejected: rejected by " + managers.arn)
    assert outcome.record["status"] == "FAILED" and outcome.record["approval"]["status"] == "rejected"
    # Production runs the approved commit of the test before: the summary compares with its release copy.
    assert "~ app.py" in waiting["approval"]["summary"] and "- pricing.py" in waiting["approval"]["summary"], waiting["approval"]["summary"]


def test_a_deployment_nobody_decides_on_waits_with_its_change_summary(stack: LocalStack, unanswered: "Future[Outcome]") -> None:
    waiting = approvals.waiting_record(stack, UNANSWERED)

    assert waiting["approval"]["timeout_seconds"] == 60 and waiting["approval"]["approvers"] == [approvals.APPROVER_ROLE_ARN]
    assert "Commit nobody01 -> production" in waiting["approval"]["summary"]
    assert unanswered.running()


@pytest.mark.late
def test_a_deployment_nobody_decides_on_times_out_and_leaves_production_as_it_was(stack: LocalStack, unanswered: "Future[Outcome]", managers: Approver) -> None:
    outcome = unanswered.result(timeout=180)

    assert outcome.execution["status"] == "FAILED" and outcome.execution["error"] == "ApprovalTimedOut", outcome.execution.get("cause")
    assert "within 60 seconds" in outcome.execution["cause"]
    assert outcome.live_after == outcome.live_before, "staging rolled back, production untouched"
    assert outcome.job_message.startswith("ApprovalTimedOut: nobody approved or rejected production")
    assert outcome.record["approval"]["status"] == "timed_out" and "approval_token" not in outcome.record
    late, answer = approvals.decide(stack, managers, outcome.execution["name"], "approve", "sorry, I was out")
    assert late == 409 and "failed" in answer["message"], answer
