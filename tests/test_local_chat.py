"""The local chat receiver answers webhook posts as Slack, Microsoft Teams and a generic webhook
do, records every request, and fails on demand (a 500, a 429 with Retry-After, a 400)."""

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from local_aws.chat import ChatReceiver, ChatRequest, summary


@pytest.fixture
def receiver() -> Iterator[ChatReceiver]:
    with ChatReceiver() as started:
        yield started


def post(url: str, payload: object, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """POST `payload` as JSON; the status, headers and body of the answer (errors included)."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"} | (headers or {}), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_each_destination_answers_as_its_service_does(receiver: ChatReceiver) -> None:
    slack = post(receiver.url("slack"), {"text": "hello"})
    teams = post(receiver.url("teams"), {"type": "message", "attachments": []})
    webhook = post(receiver.url("webhook"), {"message": "hello"})
    alerts = post(receiver.url("slack-alerts"), {"text": "hello"})

    assert (slack[0], slack[1]["Content-Type"].split(";")[0], slack[2]) == (200, "text/plain", "ok")
    assert (teams[0], teams[2]) == (202, "")
    assert (webhook[0], webhook[2]) == (204, "")
    assert (alerts[0], alerts[2]) == (200, "ok")


def test_every_request_is_recorded_with_what_was_posted(receiver: ChatReceiver) -> None:
    url = receiver.url("slack")
    post(url, {"text": "first"}, {"X-Test": "yes"})
    post(receiver.url("webhook"), {"message": "second"})

    first, second = receiver.requests()

    assert (first.destination, first.method, first.status, first.json, first.headers["X-Test"]) == ("slack", "POST", 200, {"text": "first"}, "yes")
    assert first.path == url.split(str(receiver.port), 1)[1] and json.loads(first.body_text) == {"text": "first"}
    assert (second.destination, second.json, second.status) == ("webhook", {"message": "second"}, 204)
    assert first.received_at <= second.received_at
    assert receiver.requests("webhook") == [second]


def test_the_url_is_stable_and_carries_a_secret_token(receiver: ChatReceiver) -> None:
    url = receiver.url("slack")

    assert receiver.url("slack") == url
    assert url.startswith(f"http://127.0.0.1:{receiver.port}/hooks/slack/")
    token = receiver.token("slack")
    assert len(token) >= 20 and url.endswith(token)
    assert receiver.token("teams") != token


def test_a_wrong_token_or_an_unknown_destination_is_answered_404_and_recorded(receiver: ChatReceiver) -> None:
    url = receiver.url("slack")

    wrong = post(url.rsplit("/", 1)[0] + "/not-the-token", {"text": "x"})
    unknown = post(f"{receiver.base_url}/hooks/never-made/abc", {"text": "x"})

    assert (wrong[0], wrong[2]) == (404, "no_service")
    assert unknown[0] == 404
    assert [(request.destination, request.status, request.succeeded) for request in receiver.requests()] == [("slack", 404, False), ("never-made", 404, False)]
    assert receiver.delivered() == []


def test_fail_answers_errors_the_given_number_of_times(receiver: ChatReceiver) -> None:
    url = receiver.url("teams")
    receiver.fail("teams", status=500, times=2)

    statuses = [post(url, {"n": n})[0] for n in range(3)]

    assert statuses == [500, 500, 202]
    assert [request.status for request in receiver.requests("teams")] == [500, 500, 202]
    assert [request.json["n"] for request in receiver.delivered("teams")] == [2]


def test_a_rate_limited_destination_answers_429_with_retry_after(receiver: ChatReceiver) -> None:
    url = receiver.url("slack")
    receiver.fail("slack", status=429, times=1, retry_after=7)

    status, headers, body = post(url, {"text": "x"})
    again = post(url, {"text": "x"})

    assert (status, headers["Retry-After"], body) == (429, "7", "rate_limited")
    assert again[0] == 200 and "Retry-After" not in again[1]


def test_a_failure_without_times_lasts_until_cleared(receiver: ChatReceiver) -> None:
    url = receiver.url("webhook")
    receiver.fail("webhook", status=400, body="bad payload")

    refused = [post(url, {"n": n}) for n in range(3)]
    receiver.clear_failures()
    accepted = post(url, {"n": 3})

    assert [(status, body) for status, _, body in refused] == [(400, "bad payload")] * 3
    assert accepted[0] == 204


def test_a_failure_affects_only_its_destination(receiver: ChatReceiver) -> None:
    slack, teams = receiver.url("slack"), receiver.url("teams")
    receiver.fail("slack", status=503)

    assert (post(slack, {"text": "x"})[0], post(teams, {})[0]) == (503, 202)


def test_fail_refuses_a_success_status_or_no_times(receiver: ChatReceiver) -> None:
    with pytest.raises(ValueError, match="4xx or 5xx"):
        receiver.fail("slack", status=200)
    with pytest.raises(ValueError, match="at least 1"):
        receiver.fail("slack", times=0)


def test_wait_for_returns_once_the_requests_have_arrived(receiver: ChatReceiver) -> None:
    url = receiver.url("slack")
    receiver.url("teams")

    def later() -> None:
        time.sleep(0.2)
        post(receiver.url("teams"), {})
        post(url, {"text": "one"})
        post(url, {"text": "two"})

    sender = threading.Thread(target=later)
    sender.start()
    got = receiver.wait_for(2, "slack", timeout=10)
    sender.join()

    assert [request.json["text"] for request in got] == ["one", "two"]


def test_wait_for_times_out_when_too_few_requests_arrive(receiver: ChatReceiver) -> None:
    post(receiver.url("slack"), {"text": "only one"})

    with pytest.raises(TimeoutError, match="1 of 2 chat requests for slack"):
        receiver.wait_for(2, "slack", timeout=0.2)


def test_concurrent_posts_are_all_recorded(receiver: ChatReceiver) -> None:
    url = receiver.url("webhook")
    senders = [threading.Thread(target=post, args=(url, {"n": n})) for n in range(20)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()

    assert sorted(request.json["n"] for request in receiver.wait_for(20, timeout=10)) == list(range(20))


def test_a_stopped_receiver_keeps_its_records_and_refuses_connections() -> None:
    receiver = ChatReceiver().start()
    url = receiver.url("slack")
    post(url, {"text": "kept"})
    receiver.stop()

    assert [request.json for request in receiver.requests()] == [{"text": "kept"}]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=2)


def request_of(destination: str, payload: object, status: int = 200) -> ChatRequest:
    return ChatRequest(destination, f"/hooks/{destination}/t", "POST", {}, json.dumps(payload), payload, status, 0.0)


def test_summary_renders_slack_teams_and_webhook_messages() -> None:
    slack_text = request_of("slack", {"text": "✅ clock: deployment succeeded — staging 3 → 4, production 3 → 4"})
    slack_blocks = request_of(
        "slack",
        {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "clock"}}, {"type": "section", "text": {"type": "mrkdwn", "text": "<https://x/e|run 7> *failed*"}}]},
    )
    card = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "❌ clock: rolled back"}, {"type": "FactSet", "facts": [{"title": "staging", "value": "4 → 3"}]}]}
    teams = request_of("teams", {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]})
    webhook = request_of("webhook", {"summary": "clock: deployment succeeded", "status": "SUCCEEDED"})
    refused = request_of("slack", {"text": "nope"}, status=500)

    assert summary(slack_text) == "slack    ✅ clock: deployment succeeded — staging 3 → 4, production 3 → 4"
    assert summary(slack_blocks) == "slack    clock — run 7 *failed*"
    assert summary(teams) == "teams    ❌ clock: rolled back — staging: 4 → 3"
    assert summary(webhook) == "webhook  clock: deployment succeeded"
    assert summary(refused) == "slack    nope  [answered 500]"


def test_describe_lists_every_request(receiver: ChatReceiver) -> None:
    post(receiver.url("slack"), {"text": "one"})
    post(receiver.url("webhook"), {"text": "two"})

    assert receiver.describe() == "slack    one\nwebhook  two"
