"""Chat notifications on the applied platform: the notifier, subscribed to the topic by Terraform,
posts each deployment's notifications to the local stack's three destinations (local_aws/stack.py
CHAT_DESTINATIONS), whose webhook URLs, in the secrets Terraform created, point at the local chat
receiver (local_aws/chat.py). A destination that keeps failing changes nothing of the deployment:
its messages wait in the chat-failures queue. The URLs never show up in logs, executions or
messages."""

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from e2e.deployments import Outcome, failing_case, new_version, push
from local_aws.chat import ChatRequest
from local_aws.stack import CHAT_DESTINATIONS, LocalStack


def posted(stack: LocalStack, destination: str, outcome: Outcome) -> list[ChatRequest]:
    """What `destination` received about the push's execution (of every attempt), oldest first."""
    stack.wait_for_deliveries()
    name = outcome.execution["name"]
    return [request for request in stack.chat.requests(destination) if name in request.body_text]


def notes(stack: LocalStack, outcome: Outcome) -> dict[str, dict[str, Any]]:
    """The notifications the webhook destination received about the push, by status."""
    return {request.json["status"]: request.json for request in posted(stack, "webhook", outcome) if request.succeeded}


def failures_queue(stack: LocalStack) -> str:
    return str(stack.outputs["chat_failures"]["queue_url"])


def dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    """Every message of the chat-failures queue, taken off it."""
    sqs, received = boto3.client("sqs"), []
    while True:
        batch = sqs.receive_message(QueueUrl=failures_queue(stack), MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return received
        for message in batch:
            received.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=failures_queue(stack), ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def slack_down(stack: LocalStack) -> Iterator[None]:
    """Slack answers 500 to every message until the test ends."""
    stack.chat.fail("slack", status=500)
    try:
        yield
    finally:
        stack.wait_for_deliveries()
        stack.chat.clear_failures()
        dead_letters(stack)


def test_a_deployment_is_posted_to_slack_teams_and_the_webhook_with_its_versions_and_links(stack: LocalStack, tmp_path: Path) -> None:
    outcome = push(stack, tmp_path, "chat0001", new_version("1.4.0"))
    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution.get("cause")

    by_status = notes(stack, outcome)
    assert list(by_status) == ["started", "succeeded"]
    succeeded = by_status["succeeded"]
    record = outcome.record
    assert succeeded["kind"] == "deployment" and succeeded["service"] == "default" and succeeded["commit_id"] == "chat0001"
    assert succeeded["pipeline"] == {"name": stack.service()["pipeline_name"], "execution_id": outcome.run.execution_id}
    assert succeeded["environments"] == [
        {"name": environment, "before": record[environment]["previous_version"], "after": record[environment]["new_version"], "rolled_back_to": None}
        for environment in ("staging", "production")
    ]
    assert succeeded["links"]["execution"].endswith(f"#/v2/executions/details/{outcome.execution['executionArn']}")
    assert f"/pipelines/{stack.service()['pipeline_name']}/executions/{outcome.run.execution_id}/" in succeeded["links"]["pipeline"]
    assert "input" not in succeeded

    slack = [request.json for request in posted(stack, "slack", outcome)]
    assert [message["text"] for message in slack] == ["default: deployment started", "default: deployment succeeded"]
    fields = [field["text"] for block in slack[1]["blocks"] if block["type"] == "section" for field in block.get("fields", [])]
    assert "*Commit*\nchat0001" in fields
    assert f"*production*\n{record['production']['previous_version']} → {record['production']['new_version']}" in fields
    links = [element["text"] for block in slack[1]["blocks"] if block["type"] == "context" for element in block["elements"]]
    assert any(link.endswith("|Execution>") and outcome.execution["executionArn"] in link for link in links)

    teams = [request.json for request in posted(stack, "teams", outcome)]
    assert len(teams) == 2
    card = teams[1]["attachments"][0]["content"]
    assert teams[1]["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive" and card["type"] == "AdaptiveCard"
    assert card["body"][0]["text"] == "default: deployment succeeded" and card["body"][0]["color"] == "Good"
    assert {"title": "Commit", "value": "chat0001"} in card["body"][1]["facts"]
    assert [action["title"] for action in card["actions"]] == ["Execution", "Pipeline"]


def test_a_failed_deployment_is_posted_with_its_error_cause_and_rollback_and_no_url_anywhere(stack: LocalStack, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # At the level Terraform sets (POWERTOOLS_LOG_LEVEL INFO); botocore's DEBUG wire log, which
    # prints every response body, is off in Lambda (tests/test_notifier.py checks the handler's own
    # DEBUG lines).
    caplog.set_level(logging.INFO)
    outcome = push(stack, tmp_path, "chat0002", failing_case("staging", "1.4.1"))
    assert outcome.execution["error"] == "StagingTestsFailed" and outcome.live_after == outcome.live_before

    failed = notes(stack, outcome)["failed"]
    assert failed["error"] == "StagingTestsFailed" and failed["cause"] == outcome.execution["cause"]
    (staging,) = [environment for environment in failed["environments"] if environment["name"] == "staging"]
    assert staging["rolled_back_to"] == outcome.live_before["staging"] == staging["before"]
    slack = posted(stack, "slack", outcome)[-1].json
    assert any(block["type"] == "section" and block.get("text", {}).get("text", "").startswith("*StagingTestsFailed*\n```") for block in slack["blocks"])

    # The webhook URLs are in no log record (with the fields logged besides the message), in no
    # event of the execution's history, in no published message and not in the notifier's environment.
    logs = "\n".join(json.dumps(vars(record), default=str) for record in caplog.records)
    assert '"msg": "chat notification delivered"' in logs and '"destination": "webhook"' in logs, "the notifier's logs were not captured"
    history = json.dumps(LocalStack.history(outcome.execution["executionArn"]), default=str)
    notifier = json.dumps(boto3.client("lambda").get_function_configuration(FunctionName=stack.handler_functions["notifier"])["Environment"])
    published = json.dumps(stack.notifications())
    for token in (stack.chat.token(name) for name in CHAT_DESTINATIONS):
        assert token not in logs and token not in history and token not in notifier and token not in published


@pytest.mark.usefixtures("slack_down")
def test_a_chat_service_that_is_down_changes_nothing_and_its_messages_wait_in_the_failures_queue(stack: LocalStack, tmp_path: Path) -> None:
    outcome = push(stack, tmp_path, "chat0003", new_version("1.4.2"))

    assert outcome.execution["status"] == "SUCCEEDED" and outcome.run.status == "Succeeded"
    assert outcome.live_after == {"staging": outcome.record["staging"]["new_version"], "production": outcome.record["production"]["new_version"]}
    # Three attempts a message, each refused; Teams and the webhook got theirs at once.
    attempts = posted(stack, "slack", outcome)
    assert len(attempts) == 6 and {request.status for request in attempts} == {500}
    assert [request.status for request in posted(stack, "teams", outcome)] == [202, 202]
    letters = [letter for letter in dead_letters(stack) if letter["notification"].get("execution_name") == outcome.execution["name"]]
    assert [(letter["destination"], letter["attempts"], letter["notification"]["status"]) for letter in letters] == [("slack", 3, "started"), ("slack", 3, "succeeded")]
    assert all(letter["error"].startswith("HTTP 500") for letter in letters), letters
    assert not any(stack.chat.token("slack") in json.dumps(letter) for letter in letters)


def test_the_failures_alarm_watches_the_queue_and_tells_the_topic(stack: LocalStack) -> None:
    name = stack.outputs["chat_failures"]["alarm_name"]
    (alarm,) = boto3.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    queue = failures_queue(stack).rsplit("/", 1)[-1]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible", [{"Name": "QueueName", "Value": queue}])
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0
    assert alarm["AlarmActions"] == [stack.outputs["notification_topic_arn"]] == alarm["OKActions"]
