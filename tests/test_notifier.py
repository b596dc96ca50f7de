"""The chat notifier (lambda_src/notifier) against moto and a real HTTP server on 127.0.0.1 playing
the chat services: what each service receives (Slack's blocks, the Teams card, the generic note with
its links), retries and their waits (the handler's `sleep` is patched, nothing waits), timeouts, the
secrets holding the webhook URLs, the dead-letter queue, the statuses filter, the completion of a
deployment's notification from its record, and that the URL, a secret, is never logged, returned or
dead-lettered.
"""

import copy
import functools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from conftest import REGION, FakeLambdaContext, load_handler
from shared import aws as shared_aws, errors, notifications
from shared.observability import logger

notifier = load_handler("notifier")
render = notifier.render

EVENTS = Path(__file__).parent / "events"
ACCOUNT = "123456789012"
TABLE = "sls-cd-deployments"
QUEUE = "sls-cd-chat-failures"
CONSOLE = "https://us-east-1.console.aws.amazon.com"
# The webhook URLs' secret part: a path token, as Slack's and Teams' URLs have.
TOKEN = "T0SECRET/B0SECRET/xq7Zr2TokenNeverLogged"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
EXECUTION_NAME = "clock-0123456789ab-1"
EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:sls-cd-deployment:{EXECUTION_NAME}"
PIPELINE_EXECUTION = "5f1c8a3e-2b7d-4c1e-9a0f-3d2e1b4c5a69"
EXECUTION_LINK = f"{CONSOLE}/states/home?region={REGION}#/v2/executions/details/{EXECUTION_ARN}"
PIPELINE_LINK = f"{CONSOLE}/codesuite/codepipeline/pipelines/clock-pipeline/executions/{PIPELINE_EXECUTION}/timeline?region={REGION}"
CAUSE = "CodeDeploy reported the deployment d-ABCDEF123 Failed: the alarm clock-errors went into ALARM during the canary"


# --- the chat service ------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class ChatService:
    """An HTTP server on 127.0.0.1 (port 0): records every request and answers a request to
    /<name>/... from `replies[name]`, in order, then with 200 "ok"."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.replies: dict[str, list[Reply]] = {}
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                service.received.append(Received(self.path, {name.lower(): value for name, value in self.headers.items()}, self.rfile.read(length)))
                script = service.replies.get(self.path.split("/")[1], [])
                reply = script.pop(0) if script else Reply()
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:  # the client gave up (a timeout)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/{name}/{TOKEN}"

    def to(self, name: str) -> list[Received]:
        return [request for request in self.received if request.path.startswith(f"/{name}/")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSOLE_URL", CONSOLE)


@pytest.fixture
def chat() -> Iterator[ChatService]:
    service = ChatService()
    yield service
    service.close()


# --- the platform in moto --------------------------------------------------------------------


class Platform:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, chat: ChatService) -> None:
        self.monkeypatch, self.chat = monkeypatch, chat
        self.secrets = boto3.client("secretsmanager", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.queue_url = self.sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        self.dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "commit_id", "KeyType": "HASH"}, {"AttributeName": "execution_name", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "commit_id", "AttributeType": "S"}, {"AttributeName": "execution_name", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.sleeps: list[float] = []
        monkeypatch.setattr(notifier, "sleep", self.sleeps.append)
        for name, value in {"CHAT_FAILURES_QUEUE_URL": self.queue_url, "DEPLOYMENTS_TABLE": TABLE, "CONSOLE_URL": CONSOLE}.items():
            monkeypatch.setenv(name, value)
        self.destinations({})

    def secret(self, name: str, value: str | None) -> str:
        if value is None:
            return self.secrets.create_secret(Name=f"chat/{name}")["ARN"]  # type: ignore[no-any-return]
        return self.secrets.create_secret(Name=f"chat/{name}", SecretString=value)["ARN"]  # type: ignore[no-any-return]

    def destinations(self, configured: dict[str, dict[str, Any]]) -> None:
        self.monkeypatch.setenv("CHAT_DESTINATIONS", json.dumps(configured))

    def destination(self, key: str, kind: str, *, statuses: list[str] | None = None, url: str | None = "", secret_arn: str | None = None) -> str:
        """Add a destination whose secret holds `url` ("": the chat service's URL for `key`, None: no value)."""
        arn = secret_arn or self.secret(key, self.chat.url(key) if url == "" else url)
        configured = json.loads(notifier_env("CHAT_DESTINATIONS"))
        configured[key] = {"type": kind, "secret_arn": arn, "statuses": statuses}
        self.destinations(configured)
        return arn

    def record(self, staging: dict[str, str] | None, production: dict[str, str] | None) -> None:
        item: dict[str, Any] = {"commit_id": {"S": COMMIT}, "execution_name": {"S": EXECUTION_NAME}, "status": {"S": "FAILED"}}
        for name, versions in (("staging", staging), ("production", production)):
            if versions is not None:
                item[name] = {"M": {key: {"S": value} for key, value in versions.items()}}
        self.dynamodb.put_item(TableName=TABLE, Item=item)

    def dead_letters(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def notifier_env(name: str) -> str:
    import os

    return os.environ[name]


@functools.cache
def warm_session() -> boto3.Session:
    """One boto3 session for the module: moto resets boto3's default session for every test, and a
    fresh session loads every service model again."""
    return boto3.Session()


@pytest.fixture
def platform(aws: None, monkeypatch: pytest.MonkeyPatch, chat: ChatService) -> Iterator[Platform]:
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", warm_session())
    notifier.forget_urls()
    yield Platform(monkeypatch, chat)
    notifier.forget_urls()


def log_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# --- events ----------------------------------------------------------------------------------


def sample_event() -> dict[str, Any]:
    return json.loads((EVENTS / "sns-notification.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def sample_note() -> dict[str, Any]:
    return json.loads(sample_event()["Records"][0]["Sns"]["Message"])  # type: ignore[no-any-return]


def sns_event(*messages: Any, message_id: str = "m-1") -> dict[str, Any]:
    records = []
    for number, message in enumerate(messages):
        record = copy.deepcopy(sample_event()["Records"][0])
        record["Sns"]["Message"] = message if isinstance(message, str) else json.dumps(message)
        record["Sns"]["MessageId"] = f"{message_id}-{number}" if len(messages) > 1 else message_id
        records.append(record)
    return {"Records": records}


def release_note(status: str = "succeeded", **more: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "release_id": "r-42",
        "execution_arn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:sls-cd-release:r-42",
        "execution_name": "r-42",
        "details": [{"label": "api", "value": "Succeeded (e-1)"}],
    }
    return notifications.notification("release", status, "Release r-42 succeeded", "Release r-42 succeeded.\n- api: Succeeded", **(fields | more))


def invoke(event: dict[str, Any]) -> dict[str, list[str]]:
    return notifier.handler(event, FakeLambdaContext())  # type: ignore[no-any-return]


def completed_sample() -> dict[str, Any]:
    """The sample's notification as the notifier completes it, with the sample record."""
    note = sample_note()
    note.pop("input")
    return note | {
        "commit_id": COMMIT,
        "pipeline": {"name": "clock-pipeline", "execution_id": PIPELINE_EXECUTION},
        "environments": [
            {"name": "staging", "before": "6", "after": "7", "rolled_back_to": None},
            {"name": "production", "before": "7", "after": "8", "rolled_back_to": "7"},
        ],
    }


SAMPLE_RECORD = ({"previous_version": "6", "new_version": "7"}, {"previous_version": "7", "new_version": "8", "rolled_back_to": "7"})


# --- what each service receives --------------------------------------------------------------


def test_slack_receives_block_kit_with_the_versions_from_the_record(platform: Platform, chat: ChatService) -> None:
    platform.destination("team-slack", "slack")
    platform.record(*SAMPLE_RECORD)

    assert invoke(sample_event()) == {"delivered": ["team-slack"], "failed": [], "skipped": []}

    [request] = chat.to("team-slack")
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["user-agent"] == "serverless-cd-notifier"
    assert request.json == {
        "text": "clock: deployment failed",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": ":x: clock: deployment failed", "emoji": True}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Service*\nclock"},
                    {"type": "mrkdwn", "text": "*Commit*\n0123456789ab"},
                    {"type": "mrkdwn", "text": f"*Pipeline*\nclock-pipeline ({PIPELINE_EXECUTION})"},
                    {"type": "mrkdwn", "text": "*staging*\n6 → 7"},
                    {"type": "mrkdwn", "text": "*production*\n7 → 8, rolled back to 7"},
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*DeploymentFailed*\n```{CAUSE}```"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{EXECUTION_LINK}|Execution>"}, {"type": "mrkdwn", "text": f"<{PIPELINE_LINK}|Pipeline>"}]},
        ],
    }
    assert platform.dead_letters() == []


def test_teams_receives_an_adaptive_card(platform: Platform, chat: ChatService) -> None:
    platform.destination("ops-teams", "teams")
    platform.record(*SAMPLE_RECORD)

    assert invoke(sample_event())["delivered"] == ["ops-teams"]

    [request] = chat.to("ops-teams")
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.json == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": "clock: deployment failed", "size": "Medium", "weight": "Bolder", "color": "Attention", "wrap": True},
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "Service", "value": "clock"},
                                {"title": "Commit", "value": "0123456789ab"},
                                {"title": "Pipeline", "value": f"clock-pipeline ({PIPELINE_EXECUTION})"},
                                {"title": "staging", "value": "6 → 7"},
                                {"title": "production", "value": "7 → 8, rolled back to 7"},
                            ],
                        },
                        {"type": "TextBlock", "text": f"**DeploymentFailed**\n\n{CAUSE}", "wrap": True, "color": "Attention"},
                    ],
                    "actions": [
                        {"type": "Action.OpenUrl", "title": "Execution", "url": EXECUTION_LINK},
                        {"type": "Action.OpenUrl", "title": "Pipeline", "url": PIPELINE_LINK},
                    ],
                },
            }
        ],
    }


def test_a_generic_webhook_receives_the_completed_notification_and_its_links(platform: Platform, chat: ChatService) -> None:
    platform.destination("audit", "webhook")
    platform.record(*SAMPLE_RECORD)

    assert invoke(sample_event())["delivered"] == ["audit"]

    [request] = chat.to("audit")
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.json == completed_sample() | {"links": {"execution": EXECUTION_LINK, "pipeline": PIPELINE_LINK}}
    assert "input" not in request.json


@pytest.mark.parametrize(
    ("status", "emoji", "color"),
    [
        ("started", ":rocket:", "Accent"),
        ("succeeded", ":white_check_mark:", "Good"),
        ("failed", ":x:", "Attention"),
        ("stopped", ":octagonal_sign:", "Warning"),
        ("waiting_for_approval", ":raised_hand:", "Warning"),
    ],
)
def test_each_status_has_its_emoji_and_color(status: str, emoji: str, color: str) -> None:
    note = release_note(status)
    assert render.slack(note)["blocks"][0]["text"]["text"] == f"{emoji} Release r-42 succeeded"
    assert render.teams(note)["attachments"][0]["content"]["body"][0]["color"] == color


def test_a_release_shows_its_details_and_escapes_slack_markup() -> None:
    note = release_note(details=[{"label": "api <prod>", "value": "Failed & stopped"}, {"label": "web", "value": "Succeeded"}])
    blocks = render.slack(note)["blocks"]
    assert blocks[1] == {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Release*\nr-42"}]}
    assert blocks[2] == {"type": "section", "fields": [{"type": "mrkdwn", "text": "*api &lt;prod&gt;*\nFailed &amp; stopped"}, {"type": "mrkdwn", "text": "*web*\nSucceeded"}]}
    assert blocks[3]["type"] == "context" and "Execution>" in blocks[3]["elements"][0]["text"]
    facts = render.teams(note)["attachments"][0]["content"]["body"][2]
    assert facts == {"type": "FactSet", "facts": [{"title": "api <prod>", "value": "Failed & stopped"}, {"title": "web", "value": "Succeeded"}]}


# --- retries ---------------------------------------------------------------------------------


def test_a_5xx_is_retried_after_1_then_2_seconds(platform: Platform, chat: ChatService) -> None:
    platform.destination("team-slack", "slack")
    chat.replies["team-slack"] = [Reply(500, b"oops"), Reply(503, b"")]

    assert invoke(sns_event(release_note())) == {"delivered": ["team-slack"], "failed": [], "skipped": []}

    assert len(chat.to("team-slack")) == 3
    assert len({request.body for request in chat.received}) == 1
    assert platform.sleeps == [1.0, 2.0]
    assert platform.dead_letters() == []


@pytest.mark.parametrize(("retry_after", "waited"), [("7", 7.0), ("120", 10.0), ("0", 0.0), ("soon", 1.0)])
def test_a_429_waits_its_retry_after_at_most_10_seconds(platform: Platform, chat: ChatService, retry_after: str, waited: float) -> None:
    platform.destination("ops-teams", "teams")
    chat.replies["ops-teams"] = [Reply(429, b"", {"Retry-After": retry_after})]

    assert invoke(sns_event(release_note()))["delivered"] == ["ops-teams"]

    assert len(chat.to("ops-teams")) == 2
    assert platform.sleeps == [waited]


def test_a_retry_after_date_is_honoured() -> None:
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= notifier.parse_retry_after(later) <= 30
    assert notifier.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_a_4xx_is_not_retried_and_is_dead_lettered(platform: Platform, chat: ChatService) -> None:
    platform.destination("team-slack", "slack")
    chat.replies["team-slack"] = [Reply(400, b"invalid_payload")]

    assert invoke(sns_event(release_note(), message_id="m-400")) == {"delivered": [], "failed": ["team-slack"], "skipped": []}

    assert len(chat.to("team-slack")) == 1
    assert platform.sleeps == []
    [letter] = platform.dead_letters()
    assert letter == {
        "destination": "team-slack",
        "type": "slack",
        "error": "HTTP 400: invalid_payload",
        "attempts": 1,
        "sns_message_id": "m-400",
        "notification": release_note(),
    }


def test_a_removed_webhook_says_to_put_its_current_url(platform: Platform, chat: ChatService) -> None:
    platform.destination("team-slack", "slack")
    chat.replies["team-slack"] = [Reply(404, b"no_service")]

    assert invoke(sns_event(release_note()))["failed"] == ["team-slack"]

    [letter] = platform.dead_letters()
    assert letter["error"] == "HTTP 404: no_service (the webhook was removed or its URL is wrong: put its current URL in its secret)"


def test_a_reply_that_echoes_the_url_is_not_repeated(platform: Platform, chat: ChatService) -> None:
    platform.destination("audit", "webhook")
    chat.replies["audit"] = [Reply(403, chat.url("audit").encode()), Reply(400, b"xq7zr2tokenneverlogged")]

    assert invoke(sns_event(release_note(), release_note("failed")))["failed"] == ["audit", "audit"]

    errors_ = [letter["error"] for letter in platform.dead_letters()]
    assert errors_ == ["HTTP 403 (the webhook was removed or its URL is wrong: put its current URL in its secret)", "HTTP 400"]


def test_a_redirect_is_not_followed(platform: Platform, chat: ChatService) -> None:
    platform.destination("audit", "webhook")
    chat.replies["audit"] = [Reply(302, b"", {"Location": chat.url("elsewhere")})]

    assert invoke(sns_event(release_note()))["failed"] == ["audit"]

    assert [request.path for request in chat.received] == [f"/audit/{TOKEN}"]
    [letter] = platform.dead_letters()
    assert letter["error"].startswith("HTTP 302 (a redirect, not followed") and letter["attempts"] == 1


def test_a_timeout_is_retried_then_dead_lettered(platform: Platform, chat: ChatService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notifier, "TIMEOUT_SECONDS", 0.2)
    platform.destination("team-slack", "slack")
    chat.replies["team-slack"] = [Reply(200, delay=0.6) for _ in range(3)]

    assert invoke(sns_event(release_note()))["failed"] == ["team-slack"]

    assert len(chat.to("team-slack")) == 3
    assert platform.sleeps == [1.0, 2.0]
    [letter] = platform.dead_letters()
    assert letter["error"] == "timed out after 0.2 s" and letter["attempts"] == 3


def test_a_refused_connection_is_retried(platform: Platform, chat: ChatService) -> None:
    closed = ChatService()
    url = closed.url("gone")
    closed.close()
    platform.destination("gone", "webhook", url=url)

    assert invoke(sns_event(release_note()))["failed"] == ["gone"]

    [letter] = platform.dead_letters()
    assert letter["error"] == "connection failed (ConnectionRefusedError)" and letter["attempts"] == 3
    assert platform.sleeps == [1.0, 2.0]


def test_retries_stop_when_the_function_runs_out_of_time(platform: Platform, chat: ChatService, monkeypatch: pytest.MonkeyPatch) -> None:
    platform.destination("team-slack", "slack")
    chat.replies["team-slack"] = [Reply(500), Reply(500)]
    context = FakeLambdaContext()
    monkeypatch.setattr(context, "get_remaining_time_in_millis", lambda: 15_000)

    assert notifier.handler(sns_event(release_note()), context)["failed"] == ["team-slack"]

    assert len(chat.to("team-slack")) == 1 and platform.sleeps == []
    [letter] = platform.dead_letters()
    assert letter["error"] == "HTTP 500; not retried: the function's time was running out"


def test_destinations_are_posted_to_at_once(platform: Platform, chat: ChatService) -> None:
    for key in ("one", "two", "three"):
        platform.destination(key, "webhook")
    chat.replies.update({key: [Reply(200, delay=0.5)] for key in ("one", "two", "three")})

    started = time.monotonic()
    assert sorted(invoke(sns_event(release_note()))["delivered"]) == ["one", "three", "two"]

    assert time.monotonic() - started < 1.2


# --- secrets and URLs ------------------------------------------------------------------------


def test_a_secret_without_a_value_says_how_to_put_one(platform: Platform, chat: ChatService) -> None:
    arn = platform.destination("team-slack", "slack", url=None)

    assert invoke(sns_event(release_note())) == {"delivered": [], "failed": ["team-slack"], "skipped": []}

    assert chat.received == []
    [letter] = platform.dead_letters()
    assert letter["error"] == (f"secret {arn} has no value (or does not exist): put the webhook URL with `aws secretsmanager put-secret-value --secret-id {arn} --secret-string <url>`")
    assert letter["attempts"] == 0


@pytest.mark.parametrize(
    "url", ["http://hooks.example.com/services/x", "ftp://127.0.0.1/x", "hooks.slack.com/services/x", "https://", "https://exa mple.com/x", "http://127.0.0.1:notaport/x"]
)
def test_a_url_that_is_not_https_is_refused(platform: Platform, chat: ChatService, url: str) -> None:
    arn = platform.destination("team-slack", "slack", url=url)

    assert invoke(sns_event(release_note()))["failed"] == ["team-slack"]

    assert chat.received == []
    [letter] = platform.dead_letters()
    assert letter["error"].startswith(f"the value of secret {arn} is not an https URL (http only to 127.0.0.1, ::1 or localhost): put the webhook URL with")
    assert url not in json.dumps(letter)


def test_an_unreadable_secret_says_what_to_allow(platform: Platform, chat: ChatService) -> None:
    from aws_fixtures import Refusals

    arn = platform.destination("team-slack", "slack")
    Refusals(shared_aws.client("secretsmanager"), "GetSecretValue", "AccessDeniedException", 1, status=400)

    assert invoke(sns_event(release_note()))["failed"] == ["team-slack"]

    [letter] = platform.dead_letters()
    assert letter["error"] == f"secret {arn} cannot be read (AccessDeniedException): allow the notifier's role secretsmanager:GetSecretValue on it, and kms:Decrypt on its KMS key"


def test_the_url_is_read_once_per_five_minutes(platform: Platform, chat: ChatService, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = platform.destination("audit", "webhook")
    reads: list[str] = []
    shared_aws.client("secretsmanager").meta.events.register("before-parameter-build.secrets-manager.GetSecretValue", lambda params, **_: reads.append(params["SecretId"]))
    now = [1000.0]
    monkeypatch.setattr(notifier, "clock", lambda: now[0])

    invoke(sns_event(release_note()))
    now[0] += 299
    invoke(sns_event(release_note()))
    assert reads == [arn]

    platform.secrets.put_secret_value(SecretId=arn, SecretString=chat.url("audit-new") + "\n")
    now[0] += 2
    assert invoke(sns_event(release_note()))["delivered"] == ["audit"]
    assert reads == [arn, arn]
    assert [request.path for request in chat.received] == [f"/audit/{TOKEN}", f"/audit/{TOKEN}", f"/audit-new/{TOKEN}"]


def test_the_url_is_read_again_after_a_failed_delivery(platform: Platform, chat: ChatService) -> None:
    arn = platform.destination("audit", "webhook", url="http://hooks.example.com/x")
    assert invoke(sns_event(release_note()))["failed"] == ["audit"]

    platform.secrets.put_secret_value(SecretId=arn, SecretString=chat.url("audit"))
    assert invoke(sns_event(release_note()))["delivered"] == ["audit"]

    chat.replies["audit"] = [Reply(404, b"")]
    platform.secrets.put_secret_value(SecretId=arn, SecretString=chat.url("audit-moved"))
    assert invoke(sns_event(release_note()))["failed"] == ["audit"]
    assert invoke(sns_event(release_note()))["delivered"] == ["audit"]
    assert [request.path for request in chat.received] == [f"/audit/{TOKEN}", f"/audit/{TOKEN}", f"/audit-moved/{TOKEN}"]


# --- destinations ----------------------------------------------------------------------------


def test_a_destination_takes_only_its_statuses(platform: Platform, chat: ChatService) -> None:
    platform.destination("failures", "slack", statuses=["failed", "stopped"])
    platform.destination("everything", "teams")

    assert invoke(sns_event(release_note("succeeded"))) == {"delivered": ["everything"], "failed": [], "skipped": ["failures"]}
    assert invoke(sns_event(release_note("failed"))) == {"delivered": ["failures", "everything"], "failed": [], "skipped": []}

    assert len(chat.to("failures")) == 1 and len(chat.to("everything")) == 2


def test_a_failed_destination_does_not_stop_the_others(platform: Platform, chat: ChatService) -> None:
    platform.destination("broken", "webhook", url=None)
    platform.destination("refused", "slack")
    platform.destination("working", "teams")
    chat.replies["refused"] = [Reply(410, b"channel_is_archived")]

    assert invoke(sns_event(release_note())) == {"delivered": ["working"], "failed": ["broken", "refused"], "skipped": []}

    assert sorted(letter["destination"] for letter in platform.dead_letters()) == ["broken", "refused"]


def test_a_misconfigured_destination_fails_alone(platform: Platform, chat: ChatService) -> None:
    platform.destination("working", "webhook")
    configured = json.loads(notifier_env("CHAT_DESTINATIONS")) | {"odd": {"type": "irc", "secret_arn": "nope", "statuses": ["sometimes", {"a": 1}]}, "bare": "slack"}
    platform.destinations(configured)

    assert invoke(sns_event(release_note())) == {"delivered": ["working"], "failed": ["odd", "bare"], "skipped": []}

    letters = {letter["destination"]: letter for letter in platform.dead_letters()}
    assert letters["bare"]["error"].startswith("destination bare of CHAT_DESTINATIONS is not a JSON object")
    letter = letters["odd"]
    assert letter["type"] == "unknown" and letter["attempts"] == 0
    assert "its type 'irc' is not one of slack, teams, webhook" in letter["error"]
    assert "its secret_arn is not a secret's ARN" in letter["error"] and "its statuses must be null or a list of" in letter["error"]


@pytest.mark.parametrize("configured", ["", "not json", "[]"])
def test_chat_destinations_must_be_a_json_object(platform: Platform, monkeypatch: pytest.MonkeyPatch, configured: str) -> None:
    monkeypatch.setenv("CHAT_DESTINATIONS", configured)
    with pytest.raises(errors.ConfigurationError, match="CHAT_DESTINATIONS"):
        invoke(sns_event(release_note()))


def test_no_destination_is_nothing_to_do(platform: Platform, chat: ChatService) -> None:
    assert invoke(sample_event()) == {"delivered": [], "failed": [], "skipped": []}
    assert chat.received == []


# --- the dead-letter queue -------------------------------------------------------------------


def test_a_dead_letter_that_cannot_be_sent_fails_the_function(platform: Platform, chat: ChatService, monkeypatch: pytest.MonkeyPatch) -> None:
    platform.destination("team-slack", "slack")
    platform.destination("working", "webhook")
    monkeypatch.setenv("CHAT_FAILURES_QUEUE_URL", platform.queue_url + "-missing")
    chat.replies["team-slack"] = [Reply(400)]

    with pytest.raises(errors.AwsRequestFailed, match="SendMessage"):
        invoke(sns_event(release_note()))

    assert len(chat.to("working")) == 1


def test_a_dead_letter_keeps_under_the_sqs_limit(platform: Platform, chat: ChatService) -> None:
    platform.destination("team-slack", "slack")
    chat.replies["team-slack"] = [Reply(400)]
    note = release_note("failed", error="DeploymentFailed", cause="x" * 300_000, details=[{"label": f"pipeline-{n}", "value": "Failed " * 50} for n in range(200)])

    assert invoke(sns_event(note))["failed"] == ["team-slack"]

    [letter] = platform.dead_letters()
    assert len(json.dumps(letter).encode()) < 256 * 1024
    assert letter["notification"]["cause"].endswith("…") and letter["notification"]["title"] == note["title"]


# --- completing a deployment's notification --------------------------------------------------


def test_a_deployment_is_completed_from_its_input_and_record(platform: Platform) -> None:
    platform.record({"previous_version": "3", "new_version": "4"}, None)
    note = sample_note()
    note.pop("execution_name")

    completed = notifier.completed(note)

    expected = sample_note() | {
        "commit_id": COMMIT,
        "pipeline": {"name": "clock-pipeline", "execution_id": PIPELINE_EXECUTION},
        "environments": [{"name": "staging", "before": "3", "after": "4", "rolled_back_to": None}],
    }
    expected.pop("input")
    assert completed == expected
    assert completed["execution_name"] == EXECUTION_NAME


def test_what_the_notification_names_is_kept(platform: Platform) -> None:
    platform.record(*SAMPLE_RECORD)
    given = [{"name": "staging", "before": "1", "after": "2", "rolled_back_to": None}]
    note = sample_note() | {"commit_id": "abc", "pipeline": {"name": "other", "execution_id": None}, "environments": given}

    completed = notifier.completed(note)

    assert completed["commit_id"] == "abc" and completed["pipeline"] == {"name": "other", "execution_id": None} and completed["environments"] == given


def test_a_deployment_without_a_record_goes_without_versions(platform: Platform) -> None:
    completed = notifier.completed(sample_note())
    assert "environments" not in completed and completed["commit_id"] == COMMIT


def test_an_unreadable_record_is_logged_and_the_notification_goes_on(
    platform: Platform, chat: ChatService, monkeypatch: pytest.MonkeyPatch, captured_logs: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEPLOYMENTS_TABLE", "no-such-table")
    platform.destination("audit", "webhook")

    assert invoke(sample_event())["delivered"] == ["audit"]

    received = chat.to("audit")[0].json
    assert "environments" not in received and received["commit_id"] == COMMIT
    [warning] = [line for line in log_lines(captured_logs.readouterr().out) if line["level"] == "WARNING"]
    assert warning["message"] == "the deployment record could not be read: the notification goes without versions"
    assert warning["error"] == "AwsRequestFailed" and "GetItem" in warning["cause"]


def test_other_kinds_are_not_completed(platform: Platform) -> None:
    platform.record(*SAMPLE_RECORD)
    note = sample_note() | {"kind": "pipeline_wait"}
    completed = notifier.completed(note)
    assert completed == {name: value for name, value in note.items() if name != "input"}


# --- messages that are not notifications -----------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "Deployment succeeded: Service clock: commit abc is live.",
        json.dumps({"AlarmName": "sls-cd-chat-failures", "NewStateValue": "ALARM", "NewStateReason": "Threshold Crossed"}),
        json.dumps({"schema": "serverless-cd.notification/0", "kind": "deployment", "status": "failed", "title": "t", "text": "t"}),
        json.dumps(["serverless-cd.notification/1"]),
        "",
    ],
)
def test_a_message_that_is_not_a_notification_is_skipped(platform: Platform, chat: ChatService, captured_logs: pytest.CaptureFixture[str], message: str) -> None:
    platform.destination("team-slack", "slack")

    assert invoke(sns_event(message, message_id="m-other")) == {"delivered": [], "failed": [], "skipped": []}

    assert chat.received == [] and platform.dead_letters() == []
    [line] = [line for line in log_lines(captured_logs.readouterr().out) if line["message"] == "not a notification: skipped"]
    assert line["level"] == "INFO" and line["sns_message_id"] == "m-other"


def test_records_are_aggregated(platform: Platform, chat: ChatService) -> None:
    platform.destination("failures", "slack", statuses=["failed"])
    platform.destination("audit", "webhook")

    outcome = invoke(sns_event(release_note("failed"), "plain text", release_note("succeeded")))

    assert outcome == {"delivered": ["failures", "audit", "audit"], "failed": [], "skipped": ["failures"]}


@pytest.mark.parametrize("event", [{}, {"Records": "x"}, [], "text"])
def test_an_event_that_is_not_an_sns_event_is_invalid_input(platform: Platform, event: Any) -> None:
    with pytest.raises(errors.InvalidInput, match="SNS event"):
        invoke(event)


# --- shortening ------------------------------------------------------------------------------


def huge_note() -> dict[str, Any]:
    return notifications.notification(
        "release",
        "failed",
        "Release r-huge failed: " + "a very long title " * 30,
        "summary " * 30_000,
        release_id="r-huge",
        service="clock",
        commit_id=COMMIT,
        execution_arn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:sls-cd-release:r-huge",
        pipeline={"name": "clock-pipeline", "execution_id": PIPELINE_EXECUTION},
        error="TargetPipelineFailed",
        cause="line of the cause <&> " * 5000,
        details=[{"label": f"pipeline-{number}", "value": f"Failed (execution {number}): " + "stage Build failed. " * 30} for number in range(200)],
    )


def test_slack_keeps_to_its_limits() -> None:
    note = huge_note()
    assert len(note["cause"]) >= 100_000
    message = render.slack(note)
    blocks = message["blocks"]

    assert len(blocks) <= 50
    assert len(blocks[0]["text"]["text"]) <= 150 and blocks[0]["text"]["text"].endswith("…")
    for block in blocks:
        assert len(block.get("fields", [])) <= 10
        assert all(len(item["text"]) <= 2000 for item in block.get("fields", []))
        if "text" in block and block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    failure = blocks[2]["text"]["text"]
    assert failure.startswith("*TargetPipelineFailed*\n```line of the cause &lt;&amp;&gt; ") and failure.endswith("…```")
    assert sum(len(block.get("fields", [])) for block in blocks[2:]) + 1 >= 200 or blocks[-2]["type"] == "context"
    assert blocks[-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|{label}>"} for label, link in links_of(note)]}
    assert len(message["text"]) <= 3000


def test_slack_says_how_many_rows_it_left_out() -> None:
    note = huge_note() | {"details": [{"label": f"p{number}", "value": "ok"} for number in range(1000)]}
    blocks = render.slack(note)["blocks"]
    assert len(blocks) == 50
    shown = sum(len(block.get("fields", [])) for block in blocks[3:])
    assert blocks[-2] == {"type": "context", "elements": [{"type": "mrkdwn", "text": f"… {1000 - shown} more rows not shown"}]}


def test_teams_keeps_under_28_kb() -> None:
    note = huge_note()
    payload = render.teams(note)
    size = len(render.body(payload))

    assert 20_000 < size <= 28_000
    card = payload["attachments"][0]["content"]
    cause = card["body"][2]["text"]
    assert cause.startswith("**TargetPipelineFailed**\n\nline of the cause") and cause.endswith("…")
    assert [action["url"] for action in card["actions"]] == [link for _, link in links_of(note)]
    assert card["body"][0]["text"].startswith(note["title"][:500])


def test_a_webhook_keeps_under_256_kb() -> None:
    note = huge_note() | {"cause": "é" * 200_000}
    payload = render.webhook(note)

    assert len(render.body(payload)) <= 256_000
    assert payload["cause"].endswith("…") and payload["links"]["execution"] is not None
    assert payload["release_id"] == "r-huge" and payload["execution_arn"] == note["execution_arn"]


def test_a_small_notification_is_not_shortened() -> None:
    note = release_note("failed", error="E", cause="c" * 10_000)
    assert render.webhook(note) == note | {"links": notifications.console_links(note)}
    assert render.teams(note)["attachments"][0]["content"]["body"][1]["facts"] == [{"title": "Release", "value": "r-42"}]


def test_huge_notifications_are_delivered_to_every_service(platform: Platform, chat: ChatService) -> None:
    for key, kind in (("team-slack", "slack"), ("ops-teams", "teams"), ("audit", "webhook")):
        platform.destination(key, kind)

    assert sorted(invoke(sns_event(huge_note()))["delivered"]) == ["audit", "ops-teams", "team-slack"]

    assert len(chat.to("ops-teams")[0].body) <= 28_000 and len(chat.to("audit")[0].body) <= 256_000
    assert len(chat.to("team-slack")[0].json["blocks"]) <= 50


def links_of(note: dict[str, Any]) -> list[tuple[str, str]]:
    links = notifications.console_links(note)
    return [(label, links[name]) for label, name in (("Execution", "execution"), ("Pipeline", "pipeline")) if links[name]]  # type: ignore[misc]


# --- the URL never leaks ---------------------------------------------------------------------


def test_the_url_never_reaches_logs_results_or_dead_letters(platform: Platform, chat: ChatService, monkeypatch: pytest.MonkeyPatch, captured_logs: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(notifier, "TIMEOUT_SECONDS", 0.2)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    logger.setLevel("DEBUG")
    urls = [chat.url(key) for key in ("team-slack", "ops-teams", "audit", "slow")]
    platform.destination("team-slack", "slack")
    platform.destination("ops-teams", "teams")
    platform.destination("audit", "webhook")
    platform.destination("slow", "webhook")
    platform.destination("plain-http", "slack", url="http://hooks.example.com/services/" + TOKEN)
    chat.replies.update({"team-slack": [Reply(500)], "ops-teams": [Reply(200, delay=0.5)]})
    platform.record(*SAMPLE_RECORD)

    try:
        outcome = invoke(sample_event())
        with pytest.raises(errors.AwsRequestFailed):
            monkeypatch.setenv("CHAT_FAILURES_QUEUE_URL", platform.queue_url + "-missing")
            invoke(sample_event())
    finally:
        logger.setLevel("INFO")

    assert outcome["failed"] and outcome["delivered"]
    logs = captured_logs.readouterr()
    lines = log_lines(logs.out)
    delivered = [line for line in lines if line["message"] == "chat notification delivered"]
    failed = [line for line in lines if line["message"] == "chat notification failed"]
    assert delivered and failed
    assert {"destination", "type", "status_code", "attempts", "milliseconds"} <= set(delivered[0])
    assert {"destination", "type", "error", "attempts", "milliseconds"} <= set(failed[0])
    everything = logs.out + logs.err + json.dumps(outcome) + json.dumps(platform.dead_letters())
    secrets = [*urls, TOKEN, *TOKEN.split("/"), "hooks.example.com"]
    assert [secret for secret in secrets if secret in everything] == []
