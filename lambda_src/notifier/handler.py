"""Delivers the platform's notifications (shared/notifications.py) to chat: Slack, Microsoft Teams and
generic JSON webhooks.

Subscribed to the notification topic; SNS invokes it asynchronously with {"Records": [{"EventSource":
"aws:sns", "Sns": {"MessageId", "TopicArn", "Subject", "Message", "Timestamp", ...}}]}. For each
record:
1. The Message is read as a notification; one that is not JSON or not of schema
   "serverless-cd.notification/1" (a CloudWatch alarm, an older plain-text message on the topic)
   is skipped and logged.
2. A deployment's notification, which the DeploymentStateMachine publishes with its execution input,
   is completed: the commit, pipeline run and service from the input, and each environment's
   versions from the execution's deployment record (DEPLOYMENTS_TABLE; when it cannot be read, the
   notification goes without them). The input itself is not passed on.
3. It goes to each destination of CHAT_DESTINATIONS, {"<key>": {"type": "slack" | "teams" |
   "webhook", "secret_arn": "...", "statuses": [...] | null}}, whose statuses (null: all) include
   the notification's; the others are skipped. The webhook URL is the secret's value (kept by the
   container for 5 minutes, read again after a failed delivery): an https URL, or http to a loopback host. THE URL IS A SECRET: it is
   never logged, returned or put in an error.
4. Each destination is posted to at once (one thread each), with up to 3 attempts: a 429 (after its
   Retry-After, at most 10 s), a 5xx, a failed connection and a timeout (5 s) are retried after 1 s
   then 2 s; another answer that is not 2xx is final.
5. A destination that still failed is sent to the dead-letter queue CHAT_FAILURES_QUEUE_URL with
   what went wrong and the notification; an alarm on the queue's depth says notifications fail. If
   that send fails too, the function fails (Lambda's on-failure destination takes the event). A
   failed destination never keeps the others from theirs.

Returns {"delivered": [keys], "failed": [keys], "skipped": [keys]}, over every record.
"""

import email.utils
import functools
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.config import env
from shared.errors import ConfigurationError, InvalidInput
from shared.notifications import STATUSES, compact, fitted, is_notification, text_of
from shared.observability import lambda_entry, logger, named_error, readable
from shared.records import read_record

if TYPE_CHECKING:  # mypy reads lambda_src/ as the package base
    from notifier import render
else:
    try:  # in the function's zip, render.py is beside handler.py
        import render
    except ModuleNotFoundError as error:  # handler.py loaded from lambda_src/ (the tests)
        if error.name != "render":
            raise
        from notifier import render

TYPES = tuple(render.RENDERERS)
ENVIRONMENTS = ("staging", "production")
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = (1.0, 2.0)
MAX_RETRY_AFTER_SECONDS = 10.0
TIMEOUT_SECONDS = 5.0
URL_CACHE_SECONDS = 300.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
USER_AGENT = "serverless-cd-notifier"
# Retries stop this long before the function's own timeout, and after at most this long in all.
TIME_MARGIN_SECONDS = 10.0
MAX_DELIVERY_SECONDS = 45.0
# An SQS message takes 256 KB; the dead-letter message keeps well under.
MAX_DEAD_LETTER_BYTES = 200_000
# Slack answers an error with a short token (invalid_payload, channel_is_archived, no_service).
SLACK_ERROR = frozenset("abcdefghijklmnopqrstuvwxyz_")

# Patched by the tests, so retries do not wait.
sleep: Callable[[float], None] = time.sleep
clock: Callable[[], float] = time.monotonic

_urls: dict[str, tuple[float, str]] = {}
_urls_lock = threading.Lock()


class DeliveryFailed(Exception):
    """A destination could not be posted to; the message is safe to log (it never holds the URL)."""


@dataclass(frozen=True)
class Destination:
    key: str
    type: str
    secret_arn: str
    statuses: frozenset[str] | None
    problem: str | None = None


@dataclass
class Delivery:
    destination: Destination
    delivered: bool
    attempts: int = 0
    status_code: int | None = None
    error: str | None = None
    milliseconds: int = 0


@dataclass(frozen=True)
class Answer:
    """What one POST came to: a status code, or an error text (no status), and whether to retry."""

    status_code: int | None
    error: str | None
    retry: bool
    retry_after: float | None = None


@lambda_entry
def handler(event: Any, context: Any) -> dict[str, list[str]]:
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        raise InvalidInput("the event must be an SNS event ({'Records': [{'Sns': {...}}]})")
    destinations = configured_destinations()
    deadline = clock() + min(MAX_DELIVERY_SECONDS, remaining_seconds(context) - TIME_MARGIN_SECONDS)
    outcome: dict[str, list[str]] = {"delivered": [], "failed": [], "skipped": []}
    for record in records:
        for name, keys in notify(record, destinations, deadline).items():
            outcome[name] += keys
    return outcome


def remaining_seconds(context: Any) -> float:
    try:
        return float(context.get_remaining_time_in_millis()) / 1000
    except (AttributeError, TypeError, ValueError):
        return 60.0


def configured_destinations() -> list[Destination]:
    """CHAT_DESTINATIONS, read. A destination that is not of the form is kept, with its problem: its
    deliveries fail, the others' go on."""
    try:
        configured = json.loads(env("CHAT_DESTINATIONS"))
    except json.JSONDecodeError:
        raise ConfigurationError("environment variable CHAT_DESTINATIONS is not JSON: it must be an object of destinations") from None
    if not isinstance(configured, Mapping):
        raise ConfigurationError("environment variable CHAT_DESTINATIONS must be a JSON object of destinations, keyed by name")
    return [destination(str(key), value) for key, value in configured.items()]


def destination(key: str, value: Any) -> Destination:
    form = f'{{"type": "slack" | "teams" | "webhook", "secret_arn": "arn:...", "statuses": [{", ".join(STATUSES)}] or null}}'
    if not isinstance(value, Mapping):
        return Destination(key, "unknown", "", None, f"destination {key} of CHAT_DESTINATIONS is not a JSON object {form}")
    kind, secret_arn, statuses = value.get("type"), value.get("secret_arn"), value.get("statuses")
    problems = []
    if kind not in TYPES:
        problems.append(f"its type {readable(repr(kind), 40)} is not one of {', '.join(TYPES)}")
    if not isinstance(secret_arn, str) or not secret_arn.startswith("arn:"):
        problems.append("its secret_arn is not a secret's ARN")
    if statuses is not None and (not isinstance(statuses, list) or not all(isinstance(each, str) and each in STATUSES for each in statuses)):
        problems.append(f"its statuses must be null or a list of {', '.join(STATUSES)}")
    problem = f"destination {key} of CHAT_DESTINATIONS is not of the form {form}: {'; '.join(problems)}" if problems else None
    return Destination(
        key,
        kind if isinstance(kind, str) and kind in TYPES else "unknown",
        secret_arn if isinstance(secret_arn, str) else "",
        frozenset(statuses) if isinstance(statuses, list) and not problems else None,
        problem,
    )


# --- one SNS record ---------------------------------------------------------------------------


def notify(record: Any, destinations: list[Destination], deadline: float) -> dict[str, list[str]]:
    sns = record.get("Sns") if isinstance(record, Mapping) else None
    sns = sns if isinstance(sns, Mapping) else {}
    message_id = str(sns.get("MessageId") or "")
    note = parsed(sns.get("Message"))
    if note is None:
        logger.info("not a notification: skipped", extra={"sns_message_id": message_id, "subject": readable(str(sns.get("Subject") or ""), 100)})
        return {}
    note = completed(note)
    status = str(note.get("status") or "")
    wanted = [each for each in destinations if each.problem or each.statuses is None or status in each.statuses]
    skipped = [each.key for each in destinations if each not in wanted]
    for key in skipped:
        logger.info("chat destination skipped: it does not take this status", extra={"destination": key, "sns_message_id": message_id, "status": status})
    deliveries = deliver_all(note, wanted, deadline)
    for delivery in deliveries:
        log_delivery(delivery, message_id, note)
    failures = [delivery for delivery in deliveries if not delivery.delivered]
    for delivery in failures:
        forget_url(delivery.destination.secret_arn)
    dead_letter(failures, message_id, note)
    return {"delivered": [each.destination.key for each in deliveries if each.delivered], "failed": [each.destination.key for each in failures], "skipped": skipped}


def parsed(message: Any) -> dict[str, Any] | None:
    """The notification a Message holds; None when it holds none."""
    if not isinstance(message, str):
        return None
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return dict(value) if is_notification(value) else None


def completed(note: Mapping[str, Any]) -> dict[str, Any]:
    """A deployment's notification with what its execution input and deployment record tell: its
    commit, pipeline run, service and environments' versions. Without the input."""
    note = dict(note)
    given = note.pop("input", None)
    if note.get("kind") != "deployment":
        return note
    given = given if isinstance(given, Mapping) else {}
    if not text_of(note.get("commit_id")) and text_of(given.get("commit_id")):
        note["commit_id"] = str(given["commit_id"])
    pipeline = given.get("pipeline")
    if not isinstance(note.get("pipeline"), Mapping) and isinstance(pipeline, Mapping) and text_of(pipeline.get("name")):
        note["pipeline"] = {"name": str(pipeline["name"]), "execution_id": text_of(pipeline.get("execution_id"))}
    service = given.get("service")
    if not text_of(note.get("service")) and isinstance(service, Mapping) and text_of(service.get("name")):
        note["service"] = str(service["name"])
    arn = text_of(note.get("execution_arn"))
    if not text_of(note.get("execution_name")) and arn and arn.count(":") >= 7:
        note["execution_name"] = arn.split(":")[7]
    commit_id, execution_name = text_of(note.get("commit_id")), text_of(note.get("execution_name"))
    if note.get("environments") is None and commit_id and execution_name:
        environments = recorded_environments(commit_id, execution_name)
        if environments:
            note["environments"] = environments
    return note


def recorded_environments(commit_id: str, execution_name: str) -> list[dict[str, Any]] | None:
    """Each environment's versions from the execution's deployment record, staging first; None when
    the record cannot be read (logged) or does not exist yet."""
    try:
        record = read_record(env("DEPLOYMENTS_TABLE"), commit_id, execution_name)
    except Exception as error:  # noqa: BLE001 - the notification goes without versions
        reported = named_error(error)
        logger.warning(
            "the deployment record could not be read: the notification goes without versions", extra={"execution_name": execution_name, "error": reported.name, "cause": str(reported)}
        )
        return None
    if record is None:
        return None
    environments: list[dict[str, Any]] = []
    for name in ENVIRONMENTS:
        entry = record.get(name)
        if isinstance(entry, Mapping):
            versions = {"before": entry.get("previous_version"), "after": entry.get("new_version"), "rolled_back_to": entry.get("rolled_back_to")}
            if any(value is not None for value in versions.values()):
                environments.append({"name": name} | {label: None if value is None else str(value) for label, value in versions.items()})
    return environments or None


# --- delivery ----------------------------------------------------------------------------------


def deliver_all(note: Mapping[str, Any], destinations: list[Destination], deadline: float) -> list[Delivery]:
    """Post to every destination at once; the deliveries in the destinations' order."""
    if not destinations:
        return []
    prepared = [(each, prepare(each, note)) for each in destinations]
    with ThreadPoolExecutor(max_workers=min(16, len(prepared)), thread_name_prefix="notify") as pool:
        futures = [pool.submit(deliver, each, request, deadline) for each, request in prepared]
        return [future.result() for future in futures]


def prepare(target: Destination, note: Mapping[str, Any]) -> tuple[str, bytes] | DeliveryFailed:
    """The URL and body to post (AWS calls stay on the handler's thread); or why there are none."""
    if target.problem:
        return DeliveryFailed(target.problem)
    try:
        url = webhook_url(target.secret_arn)
    except DeliveryFailed as error:
        return error
    except Exception as error:  # noqa: BLE001 - its text is not logged: it might hold the URL
        logger.error("the webhook URL could not be read", extra={"destination": target.key, "type": target.type, "error": type(error).__name__})
        return DeliveryFailed(f"secret {target.secret_arn} could not be read ({type(error).__name__}); the next notification tries again")
    try:
        return url, render.body(render.RENDERERS[target.type](note))
    except Exception as error:  # noqa: BLE001 - a bug rendering one destination's message does not stop the others
        logger.exception("the chat message could not be made", extra={"destination": target.key, "type": target.type})
        return DeliveryFailed(f"the {target.type} message could not be made ({type(error).__name__}): see the notifier's log")


def deliver(target: Destination, request: tuple[str, bytes] | DeliveryFailed, deadline: float) -> Delivery:
    started = clock()
    if isinstance(request, DeliveryFailed):
        return Delivery(target, False, 0, None, str(request), elapsed_ms(started))
    url, data = request
    attempts, answer = 0, Answer(None, "not attempted", False)
    while attempts < MAX_ATTEMPTS:
        attempts += 1
        answer = post(url, data)
        if answer.error is None:
            return Delivery(target, True, attempts, answer.status_code, None, elapsed_ms(started))
        if not answer.retry or attempts == MAX_ATTEMPTS:
            break
        delay = BACKOFF_SECONDS[attempts - 1]
        if answer.retry_after is not None:
            delay = min(max(answer.retry_after, 0.0), MAX_RETRY_AFTER_SECONDS)
        if clock() + delay + TIMEOUT_SECONDS > deadline:
            answer = Answer(answer.status_code, f"{answer.error}; not retried: the function's time was running out", False)
            break
        sleep(delay)
    return Delivery(target, False, attempts, answer.status_code, answer.error, elapsed_ms(started))


def elapsed_ms(started: float) -> int:
    return int((clock() - started) * 1000)


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as it is, not followed: the message goes to the URL of the secret only."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(NoRedirects)


def post(url: str, data: bytes) -> Answer:
    """POST the body once. The error texts are made here, never from an exception's text (which can
    hold the host or the URL)."""
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT})
    timed_out = f"timed out after {TIMEOUT_SECONDS:g} s"
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            status = int(response.status)
            response.read(65536)
    except urllib.error.HTTPError as error:
        status = int(error.code)
        retry_after = parse_retry_after(error.headers.get("Retry-After") if error.headers else None)
        reply = read_reply(error)
        return answered(status, retry_after, reply, url)
    except TimeoutError:
        return Answer(None, timed_out, True)
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            return Answer(None, timed_out, True)
        return Answer(None, f"connection failed ({type(error.reason).__name__})", True)
    except (http.client.HTTPException, OSError) as error:
        return Answer(None, f"connection failed ({type(error).__name__})", True)
    except Exception as error:  # noqa: BLE001 - whatever urllib raised, its text may hold the URL
        return Answer(None, f"the request failed ({type(error).__name__})", False)
    if 200 <= status < 300:
        return Answer(status, None, False)
    return answered(status, None, "", url)


def read_reply(error: urllib.error.HTTPError) -> str:
    try:
        return error.read(256).decode("utf-8", "replace").strip()
    except Exception:  # noqa: BLE001 - the reply is only a hint
        return ""
    finally:
        error.close()


def answered(status: int, retry_after: float | None, reply: str, url: str) -> Answer:
    """What a non-2xx answer means; Slack's error token (e.g. channel_is_archived) is kept as a hint
    when it is one, and cannot be a part of the URL."""
    hint = f": {reply}" if reply and len(reply) <= 64 and set(reply) <= SLACK_ERROR and reply not in url else ""
    if status == 429:
        return Answer(status, f"HTTP 429 (rate limited){hint}", True, retry_after)
    if status >= 500:
        return Answer(status, f"HTTP {status}{hint}", True)
    if 300 <= status < 400:
        return Answer(status, f"HTTP {status} (a redirect, not followed: put the webhook's current URL in its secret)", False)
    if status in (401, 403, 404, 410):
        return Answer(status, f"HTTP {status}{hint} (the webhook was removed or its URL is wrong: put its current URL in its secret)", False)
    return Answer(status, f"HTTP {status}{hint}", False)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


# --- the webhook URL ---------------------------------------------------------------------------


def webhook_url(secret_arn: str) -> str:
    """The webhook URL the secret holds (read at most every 5 minutes); DeliveryFailed saying what to
    do when there is none or it is not one."""
    with _urls_lock:
        cached = _urls.get(secret_arn)
    if cached is not None and clock() - cached[0] < URL_CACHE_SECONDS:
        return cached[1]
    url = checked_url(read_secret(secret_arn), secret_arn)
    with _urls_lock:
        _urls[secret_arn] = (clock(), url)
    return url


def forget_url(secret_arn: str) -> None:
    """Read the secret again next time (its delivery failed: the URL may have been replaced)."""
    with _urls_lock:
        _urls.pop(secret_arn, None)


def forget_urls() -> None:
    """Forget the cached URLs (the tests' new secrets)."""
    with _urls_lock:
        _urls.clear()


def put_value(secret_arn: str) -> str:
    return f"put the webhook URL with `aws secretsmanager put-secret-value --secret-id {secret_arn} --secret-string <url>`"


def read_secret(secret_arn: str) -> str:
    try:
        answer = aws.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Unknown")
        if code == "ResourceNotFoundException":
            raise DeliveryFailed(f"secret {secret_arn} has no value (or does not exist): {put_value(secret_arn)}") from None
        if code in ("AccessDeniedException", "DecryptionFailure") or code.startswith("KMS"):
            raise DeliveryFailed(f"secret {secret_arn} cannot be read ({code}): allow the notifier's role secretsmanager:GetSecretValue on it, and kms:Decrypt on its KMS key") from None
        if code == "InvalidRequestException":
            raise DeliveryFailed(
                f"secret {secret_arn} cannot be read ({code}; it may be scheduled for deletion): restore it with `aws secretsmanager restore-secret --secret-id {secret_arn}`"
            ) from None
        raise DeliveryFailed(f"secret {secret_arn} could not be read ({code}); the next notification tries again") from None
    except BotoCoreError as error:
        raise DeliveryFailed(f"secret {secret_arn} could not be read ({type(error).__name__}); the next notification tries again") from None
    value = answer.get("SecretString")
    if not isinstance(value, str) or not value.strip():
        raise DeliveryFailed(f"secret {secret_arn} has no text value: {put_value(secret_arn)}")
    return value.strip()


def checked_url(url: str, secret_arn: str) -> str:
    """The URL, if it is one to post to: https, or http to a loopback host (a local receiver)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - a port that is not a number raises ValueError
    except ValueError:
        host, parts = None, None
    usable = (
        parts is not None
        and bool(host)
        and not any(char.isspace() or ord(char) < 32 for char in url)
        and (parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK_HOSTS))
    )
    if not usable:
        raise DeliveryFailed(f"the value of secret {secret_arn} is not an https URL (http only to 127.0.0.1, ::1 or localhost): {put_value(secret_arn)}")
    return url


# --- what failed -------------------------------------------------------------------------------


def log_delivery(delivery: Delivery, message_id: str, note: Mapping[str, Any]) -> None:
    target = delivery.destination
    extra = {
        "destination": target.key,
        "type": target.type,
        "status_code": delivery.status_code,
        "attempts": delivery.attempts,
        "milliseconds": delivery.milliseconds,
        "sns_message_id": message_id,
        "kind": note.get("kind"),
        "status": note.get("status"),
    }
    if delivery.delivered:
        logger.info("chat notification delivered", extra=extra)
    else:
        logger.warning("chat notification failed", extra=extra | {"error": delivery.error})


def dead_letter(failures: list[Delivery], message_id: str, note: Mapping[str, Any]) -> None:
    """One message per failed destination on the dead-letter queue; raised when one cannot be sent,
    after trying them all."""
    if not failures:
        return
    queue_url = env("CHAT_FAILURES_QUEUE_URL")
    unsent: Exception | None = None
    for delivery in failures:
        letter: dict[str, Any] = {
            "destination": delivery.destination.key,
            "type": delivery.destination.type,
            "error": delivery.error,
            "attempts": delivery.attempts,
            "sns_message_id": message_id,
        }
        kept = fitted(note, functools.partial(letter_size, letter), MAX_DEAD_LETTER_BYTES)
        try:
            aws.client("sqs").send_message(QueueUrl=queue_url, MessageBody=compact(letter | {"notification": kept}))
        except Exception as error:  # noqa: BLE001 - raised below, once every failure was tried
            reported = named_error(error)
            logger.error(
                "a failed chat notification could not be sent to the dead-letter queue", extra={"destination": delivery.destination.key, "error": reported.name, "cause": str(reported)}
            )
            unsent = unsent or error
    if unsent is not None:
        raise unsent


def letter_size(letter: Mapping[str, Any], note: Mapping[str, Any]) -> int:
    return len(compact(dict(letter) | {"notification": note}).encode("utf-8"))
