"""A local chat receiver: stands in for Slack, Microsoft Teams and a generic JSON webhook, so the
notifier can post to real HTTP endpoints in tests and the demo.

    with ChatReceiver() as receiver:
        slack = receiver.url("slack")            # http://127.0.0.1:PORT/hooks/slack/<token>
        ...                                      # something posts to it
        [request] = receiver.wait_for(1, "slack")
        print(summary(request))                  # slack    ✅ clock: deployment succeeded — ...

An HTTP server on 127.0.0.1 (a free port) answers in a thread of its own, as each service answers
an incoming webhook:
- Slack ("Sending messages using incoming webhooks", "Handling errors"): 200 with the text body
  `ok`; a webhook URL it does not know, 404 `no_service`; rate limiting is 429 with Retry-After.
- Microsoft Teams, a Workflows ("Post to a channel when a webhook request is received") webhook:
  202 Accepted with an empty body (the flow runs after it answers).
- Any other destination is a generic webhook: 204 No Content.
A destination whose name starts with `slack` or `teams` (slack-alerts, teams-ops) answers like that
service. Each destination's URL carries a random token in its path, as a real webhook URL carries
its secret, so a test can check that the URL never shows up in logs or messages; a request with
another token is answered 404 and recorded. `fail` makes a destination answer errors (a 500, a 429
with Retry-After, a 400) for a number of requests or until `clear_failures`. Every request is
recorded, failed ones with the status they were answered, in the order they arrived.
"""

import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

HOST = "127.0.0.1"
PATH = re.compile(r"^/hooks/(?P<destination>[A-Za-z0-9_.-]+)/(?P<token>[^/?#]+)$")
DESTINATION_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
# Slack mrkdwn links and emphasis, rendered as text: <https://x|label> → label, <https://x> → https://x.
SLACK_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>|<([^<>|]+)>")


@dataclass(frozen=True)
class ChatRequest:
    """One request the receiver got, and how it answered it."""

    destination: str  # the name in the path (slack, teams, webhook, ...); "" for a path that is no webhook
    path: str
    method: str
    headers: dict[str, str]
    body_text: str
    json: Any  # the body parsed as JSON; None when it is not JSON
    status: int  # the status the receiver answered
    received_at: float  # time.time() when it arrived

    @property
    def succeeded(self) -> bool:
        return self.status < 400

    def summary(self) -> str:
        return summary(self)


@dataclass
class Failure:
    """How a destination answers while it fails."""

    status: int
    remaining: int | None  # requests still to fail; None: until cleared
    retry_after: int | None
    body: str


def kind_of(destination: str) -> str:
    """slack, teams or webhook: which service a destination answers like."""
    for kind in ("slack", "teams"):
        if destination == kind or destination.startswith((f"{kind}-", f"{kind}_")):
            return kind
    return "webhook"


def success_answer(destination: str) -> tuple[int, str, str | None]:
    """Status, body and content type of a delivered message, as the destination's service answers it."""
    kind = kind_of(destination)
    if kind == "slack":
        return 200, "ok", "text/plain; charset=utf-8"
    if kind == "teams":
        return 202, "", None
    return 204, "", None


def error_body(destination: str, status: int) -> str:
    """What the service says with an error status (Slack answers a short error code as text)."""
    if kind_of(destination) == "slack":
        return {400: "invalid_payload", 403: "invalid_token", 404: "no_service", 410: "channel_is_archived", 429: "rate_limited"}.get(status, "internal_error")
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


class ChatReceiver:
    """Webhook endpoints on 127.0.0.1 that record what is posted to them. Thread-safe."""

    def __init__(self, host: str = HOST, port: int = 0) -> None:
        self.host, self.port = host, port
        self._tokens: dict[str, str] = {}
        self._failures: dict[str, Failure] = {}
        self._requests: list[ChatRequest] = []
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> "ChatReceiver":
        """Listen (port 0: a free port) in a background thread; returns the receiver."""
        if self._server is not None:
            return self
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                receiver._answer(self)

            do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests and the demo print what they want from `requests`

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128  # a burst of posts (one per destination and retry) is not refused

        self._server = Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="chat-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; what was recorded stays readable."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> "ChatReceiver":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        self.stop()

    # Destinations

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the chat receiver is not started: call start() first")
        return f"http://{self.host}:{self.port}"

    def url(self, destination: str) -> str:
        """The webhook URL of `destination` (slack, teams, webhook, slack-alerts, ...): the same for
        every call, with a random token in its path."""
        if not DESTINATION_NAME.match(destination):
            raise ValueError(f"a destination name is letters, digits, '.', '_' and '-': {destination!r}")
        with self._changed:
            token = self._tokens.setdefault(destination, secrets.token_urlsafe(18))
        return f"{self.base_url}/hooks/{destination}/{token}"

    def token(self, destination: str) -> str:
        """The secret part of the destination's URL, to check that it appears nowhere it should not."""
        return urlsplit(self.url(destination)).path.rsplit("/", 1)[1]

    def fail(self, destination: str, status: int = 500, times: int | None = None, retry_after: int | None = None, body: str | None = None) -> None:
        """Answer the destination's next `times` requests (None: every one until `clear_failures`)
        with `status`, a Retry-After header of `retry_after` seconds if given, and `body` (default:
        what the service says with that status)."""
        if status < 400:
            raise ValueError(f"a failure answers 4xx or 5xx, not {status}")
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1 (or None for until cleared), not {times}")
        with self._changed:
            self._failures[destination] = Failure(status, times, retry_after, error_body(destination, status) if body is None else body)

    def clear_failures(self, destination: str | None = None) -> None:
        """Every destination (or just `destination`) answers as the service does again."""
        with self._changed:
            if destination is None:
                self._failures.clear()
            else:
                self._failures.pop(destination, None)

    # What was received

    def requests(self, destination: str | None = None) -> list[ChatRequest]:
        """The requests received (for `destination` only, if given), oldest first."""
        with self._changed:
            return self._matching(destination)

    def delivered(self, destination: str | None = None) -> list[ChatRequest]:
        """The requests that were answered with success, oldest first."""
        return [request for request in self.requests(destination) if request.succeeded]

    def wait_for(self, count: int, destination: str | None = None, timeout: float = 30.0) -> list[ChatRequest]:
        """Block until at least `count` requests (for `destination`, if given; answered with success
        or not) have arrived; returns all of them, oldest first. Raises TimeoutError after `timeout` s."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._matching(destination)) >= count, timeout):
                got = self._matching(destination)
                raise TimeoutError(f"{len(got)} of {count} chat requests{f' for {destination}' if destination else ''} after {timeout} s: {[summary(r) for r in got]}")
            return self._matching(destination)

    def clear(self) -> None:
        """Forget the requests received so far."""
        with self._changed:
            self._requests.clear()

    def describe(self, destination: str | None = None) -> str:
        """Every request received, one readable line each."""
        return "\n".join(summary(request) for request in self.requests(destination))

    def _matching(self, destination: str | None) -> list[ChatRequest]:
        return [request for request in self._requests if destination is None or request.destination == destination]

    # Answering

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        body_text = raw.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(body_text) if body_text else None
        except ValueError:
            parsed = None
        path = urlsplit(handler.path).path
        match = PATH.match(path)
        destination = match.group("destination") if match else ""
        headers: dict[str, str] = {}
        content_type: str | None
        with self._changed:
            known = match is not None and self._tokens.get(destination) == match.group("token")
            failure = self._failures.get(destination) if known else None
            if not known:
                status, body, content_type = 404, error_body(destination, 404) if destination else "Not Found", "text/plain; charset=utf-8"
            elif handler.command != "POST":
                status, body, content_type = 405, error_body(destination, 405), "text/plain; charset=utf-8"
            elif failure is not None:
                status, body, content_type = failure.status, failure.body, "text/plain; charset=utf-8"
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(failure.retry_after)
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        del self._failures[destination]
            else:
                status, body, content_type = success_answer(destination)
            self._requests.append(
                ChatRequest(
                    destination=destination,
                    path=path,
                    method=handler.command,
                    headers={name: value for name, value in handler.headers.items()},
                    body_text=body_text,
                    json=parsed,
                    status=status,
                    received_at=time.time(),
                )
            )
            self._changed.notify_all()
        encoded = body.encode("utf-8")
        handler.send_response(status)
        if content_type and encoded:
            headers["Content-Type"] = content_type
        headers["Content-Length"] = str(len(encoded))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if encoded:
            handler.wfile.write(encoded)


# Rendering


def _slack_text(text: str) -> str:
    return SLACK_LINK.sub(lambda link: link.group(2) or link.group(3), text)


def _texts_of_blocks(blocks: Any) -> Iterator[str]:
    """The text of Slack blocks (section text and fields, header, context elements)."""
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict):
            continue
        text = block.get("text")
        if isinstance(text, dict) and text.get("text"):
            yield str(text["text"])
        for item in (block.get("fields") or []) + (block.get("elements") or []):
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                yield item["text"]


def _texts_of_card(element: Any) -> Iterator[str]:
    """The TextBlock texts of an Adaptive Card, depth first (containers, columns, facts)."""
    if isinstance(element, list):
        for item in element:
            yield from _texts_of_card(item)
    elif isinstance(element, dict):
        if element.get("type") == "TextBlock" and element.get("text"):
            yield str(element["text"])
        if element.get("type") == "FactSet":
            yield from (f"{fact.get('title')}: {fact.get('value')}" for fact in element.get("facts") or [] if isinstance(fact, dict))
        for key in ("body", "items", "columns"):
            yield from _texts_of_card(element.get(key))


def message_text(request: ChatRequest) -> str:
    """The readable text of a posted message: Slack's text (or its blocks, or attachments), a Teams
    Adaptive Card's text blocks (or a MessageCard's title and text), a webhook's text-like field,
    else the body itself."""
    payload = request.json
    if not isinstance(payload, dict):
        return request.body_text.strip()
    parts: list[str] = []
    kind = kind_of(request.destination)
    if kind == "slack" or "blocks" in payload:
        # The blocks are what Slack shows; the top-level text is their notification fallback.
        parts = list(_texts_of_blocks(payload.get("blocks")))
        if not parts and payload.get("text"):
            parts = [str(payload["text"])]
        if not parts:
            for attachment in payload.get("attachments") or []:
                if isinstance(attachment, dict):
                    parts += [str(attachment[key]) for key in ("pretext", "title", "text", "fallback") if attachment.get(key)][:1]
                    parts += list(_texts_of_blocks(attachment.get("blocks")))
        parts = [_slack_text(part) for part in parts]
    if not parts and (kind == "teams" or "attachments" in payload or payload.get("@type") == "MessageCard"):
        for attachment in payload.get("attachments") or []:
            if isinstance(attachment, dict):
                parts += list(_texts_of_card(attachment.get("content")))
        if not parts:
            parts = [str(payload[key]) for key in ("title", "summary", "text") if payload.get(key)][:2]
            for section in payload.get("sections") or []:
                if isinstance(section, dict):
                    parts += [str(section[key]) for key in ("activityTitle", "text") if section.get(key)]
    if not parts:
        parts = [str(payload[key]) for key in ("text", "message", "summary", "title") if payload.get(key)][:1]
    return " — ".join(part.strip() for part in parts if part.strip()) or json.dumps(payload, sort_keys=True)


def summary(request: ChatRequest, width: int = 200) -> str:
    """One readable line for a received message, e.g.
    `slack    ✅ clock: deployment succeeded — staging 3 → 4, production 3 → 4`;
    a request answered with an error ends with the status it got."""
    text = " ".join(message_text(request).split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    line = f"{request.destination or request.path:<8} {text}"
    return line if request.succeeded else f"{line}  [answered {request.status}]"
