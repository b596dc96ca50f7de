"""The platform's notifications (lambda_src/shared/notifications.py): building one, the SNS subject,
the Amazon Q custom notification, the per-protocol SNS message and its size, publishing it (moto's
SNS delivering to an SQS subscriber), the console links in each partition, and shortening."""

import json
from typing import Any

import boto3
import pytest

from conftest import REGION
from shared import notifications
from shared.notifications import SCHEMA, amazon_q, console_links, fitted, notification, sns_message, subject

ACCOUNT = "123456789012"
EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:sls-cd-deployment:clock-0123456789ab-1"
CONSOLE = "https://us-east-1.console.aws.amazon.com"


@pytest.fixture(autouse=True)
def console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSOLE_URL", CONSOLE)
    monkeypatch.setenv("AWS_REGION", REGION)


def deployment(**more: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "service": "clock",
        "commit_id": "0123456789abcdef",
        "execution_arn": EXECUTION_ARN,
        "execution_name": "clock-0123456789ab-1",
        "pipeline": {"name": "clock-pipeline", "execution_id": "e-1"},
    }
    return notification("deployment", "succeeded", "clock: deployment succeeded", "Service clock: commit 0123456789ab is live.", **(fields | more))


def huge(**more: Any) -> dict[str, Any]:
    """A release's notification with a 110 KB cause, a 200 KB text and 200 extra rows."""
    fields: dict[str, Any] = {
        "release_id": "r-1",
        "execution_arn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:sls-cd-release:r-1",
        "error": "DeploymentFailed",
        "cause": "the cause, at length. " * 5000,
        "details": [{"label": f"row {number}", "value": "a detail of the run " * 20} for number in range(200)],
    }
    text = "Release r-1 failed.\n" + "- a pipeline: Failed\n" * 10_000
    return notification("release", "failed", "Release r-1 failed", more.pop("text", text), **(fields | more))


# --- building a notification -----------------------------------------------------------------


def test_a_notification_has_the_schema_and_leaves_out_nulls() -> None:
    note = notification("release", "started", "Release r-1\nstarted", "Release r-1 started.", release_id="r-1", commit_id=None, details=[{"label": "api", "value": "wave 1"}])
    assert note == {
        "schema": SCHEMA,
        "kind": "release",
        "status": "started",
        "title": "Release r-1 started",
        "text": "Release r-1 started.",
        "release_id": "r-1",
        "details": [{"label": "api", "value": "wave 1"}],
    }
    assert notifications.is_notification(note) and not notifications.is_notification({"schema": "other"})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"kind": "build"}, "notification kind 'build' is not one of deployment, release, pipeline_wait"),
        ({"status": "done"}, "notification status 'done' is not one of started, succeeded, failed, stopped, waiting_for_approval"),
        ({"executionArn": "arn"}, "a notification has no field executionArn"),
    ],
)
def test_a_notification_off_the_schema_is_refused(arguments: dict[str, Any], message: str) -> None:
    given = {"kind": "deployment", "status": "failed", "title": "t", "text": "t"} | arguments
    with pytest.raises(ValueError, match=message):
        notification(**given)


def test_every_kind_and_status_is_accepted() -> None:
    assert notifications.KINDS == ("deployment", "release", "pipeline_wait")
    assert notifications.STATUSES == ("started", "succeeded", "failed", "stopped", "waiting_for_approval")
    for kind in notifications.KINDS:
        for status in notifications.STATUSES:
            assert notification(kind, status, "t", "x")["status"] == status


# --- the SNS subject -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("clock: deployment succeeded", "clock: deployment succeeded"),
        ("Déploiement réussi → prod ✅", "Deploiement reussi ? prod ?"),
        ("line one\nline\ttwo  ", "line one line two"),
        ("", "serverless-cd notification"),
        ("✅", "?"),
        ("x" * 99, "x" * 99),
        ("x" * 100, "x" * 96 + "..."),
        ("word " * 40, ("word " * 20)[:96].rstrip() + "..."),
    ],
)
def test_the_subject_is_less_than_100_printable_ascii_characters(title: str, expected: str) -> None:
    made = subject(title)
    assert made == expected
    assert len(made) < 100 and all(" " <= char <= "~" for char in made) and made == made.strip()


# --- console links ---------------------------------------------------------------------------


def test_console_links_in_the_aws_partition() -> None:
    assert console_links(deployment()) == {
        "execution": f"{CONSOLE}/states/home?region={REGION}#/v2/executions/details/{EXECUTION_ARN}",
        "pipeline": f"{CONSOLE}/codesuite/codepipeline/pipelines/clock-pipeline/executions/e-1/timeline?region={REGION}",
    }


def test_console_links_in_the_china_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSOLE_URL", "https://console.amazonaws.cn/")
    arn = "arn:aws-cn:states:cn-north-1:123456789012:execution:sls-cd-deployment:clock-1"
    assert console_links(deployment(execution_arn=arn)) == {
        "execution": f"https://console.amazonaws.cn/states/home?region=cn-north-1#/v2/executions/details/{arn}",
        "pipeline": "https://console.amazonaws.cn/codesuite/codepipeline/pipelines/clock-pipeline/executions/e-1/timeline?region=cn-north-1",
    }


def test_no_console_no_links(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSOLE_URL", "")
    assert console_links(deployment()) == {"execution": None, "pipeline": None}
    monkeypatch.delenv("CONSOLE_URL")
    assert console_links(deployment()) == {"execution": None, "pipeline": None}


def test_a_pipeline_without_a_run_links_to_the_pipeline_in_the_functions_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    note = notification("pipeline_wait", "waiting_for_approval", "api: waiting", "api waits for approval", pipeline={"name": "api pipeline", "execution_id": None})
    assert console_links(note) == {"execution": None, "pipeline": f"{CONSOLE}/codesuite/codepipeline/pipelines/api%20pipeline/view?region=eu-west-1"}


def test_a_malformed_arn_has_no_execution_link() -> None:
    assert console_links(deployment(execution_arn="not-an-arn", pipeline=None)) == {"execution": None, "pipeline": None}


# --- Amazon Q Developer in chat applications -------------------------------------------------


def test_amazon_q_gets_a_custom_notification_with_the_links() -> None:
    note = deployment(details=[{"label": "staging", "value": "3 → 4"}])
    links = console_links(note)
    assert amazon_q(note) == {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": "clock: deployment succeeded",
            "description": f"Service clock: commit 0123456789ab is live.\n\nstaging: 3 → 4\n\nExecution: {links['execution']}\nPipeline: {links['pipeline']}",
        },
    }


def test_without_a_console_amazon_q_names_the_execution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSOLE_URL", "")
    assert amazon_q(deployment())["content"]["description"] == f"Service clock: commit 0123456789ab is live.\n\nExecution: {EXECUTION_ARN}"


def test_amazon_q_keeps_under_8000_characters_and_keeps_the_links() -> None:
    description = amazon_q(huge())["content"]["description"]
    assert len(description) <= 8000
    assert description.startswith("Release r-1 failed.\n- a pipeline: Failed\n")
    assert description.endswith(f"Execution: {CONSOLE}/states/home?region={REGION}#/v2/executions/details/arn:aws:states:{REGION}:{ACCOUNT}:execution:sls-cd-release:r-1")
    assert "…\n\nrow 0: a detail" in description


# --- the SNS message -------------------------------------------------------------------------


def test_the_sns_message_has_a_form_for_each_protocol() -> None:
    note = deployment()
    message = json.loads(sns_message(note))
    assert set(message) == {"default", "https", "email", "lambda", "sqs"}
    assert all(isinstance(value, str) for value in message.values())
    assert json.loads(message["default"]) == json.loads(message["https"]) == amazon_q(note)
    assert message["email"] == note["text"]
    assert json.loads(message["lambda"]) == json.loads(message["sqs"]) == note


def test_a_huge_notification_keeps_the_sns_message_under_256_kb() -> None:
    note = huge(text="é" * 200_000)
    message = sns_message(note)
    assert len(message.encode("utf-8")) < 256 * 1024 - 4096
    forms = json.loads(message)
    sent = json.loads(forms["lambda"])
    assert sent["schema"] == SCHEMA and sent["release_id"] == "r-1" and sent["execution_arn"] == note["execution_arn"]
    assert sent["cause"].endswith("…") and len(sent["cause"]) < len(note["cause"])
    assert sent["text"].endswith("…") and forms["email"] == sent["text"]
    assert len(sent["details"]) == 200
    assert len(json.loads(forms["default"])["content"]["description"]) <= 8000


def test_a_notification_that_fits_is_sent_whole() -> None:
    note = huge(text="Release r-1 failed.", details=None, cause="c" * 100_000)
    assert len(json.dumps(note)) > 100_000
    assert json.loads(json.loads(sns_message(note))["sqs"]) == note


def test_publish_sends_the_forms_with_message_structure_json(aws: None) -> None:
    from shared import aws as shared_aws

    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="sls-cd-notifications")["TopicArn"]
    queue = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    published: list[dict[str, Any]] = []
    shared_aws.client("sns").meta.events.register("before-parameter-build.sns.Publish", lambda params, **_: published.append(dict(params)))
    note = deployment()
    note["title"] = "clock: déploiement réussi ✅"

    notifications.publish(topic, note)

    [request] = published
    assert request["Subject"] == "clock: deploiement reussi ?" and request["MessageStructure"] == "json"
    [received] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(received["Body"])
    assert envelope["Subject"] == "clock: deploiement reussi ?"
    assert json.loads(envelope["Message"]) == note


# --- shortening ------------------------------------------------------------------------------


def test_fitted_shortens_the_cause_and_text_before_the_rows() -> None:
    note = huge()
    size = len(json.dumps(note))
    kept = fitted(note, lambda candidate: len(json.dumps(candidate)), size - 10_000)
    assert len(kept["details"]) == 200 and kept["details"] == note["details"]
    assert kept["cause"].endswith("…") and kept["error"] == "DeploymentFailed"


def test_fitted_leaves_out_rows_and_says_how_many() -> None:
    note = huge(cause="short")
    kept = fitted(note, lambda candidate: len(json.dumps(candidate)), 20_000)
    assert len(json.dumps(kept)) <= 20_000
    assert 1 < len(kept["details"]) < 200
    assert kept["details"][-1] == {"label": "…", "value": f"{201 - len(kept['details'])} more not shown"}
    assert kept["release_id"] == "r-1" and kept["execution_arn"] == note["execution_arn"]


def test_fitted_returns_the_shortest_when_nothing_fits() -> None:
    kept = fitted(huge(), lambda candidate: len(json.dumps(candidate)), 10)
    assert kept["details"] == [{"label": "…", "value": "200 more not shown"}]
    assert len(kept["cause"]) <= 64 and len(kept["text"]) <= 64
