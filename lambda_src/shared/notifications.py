"""The platform's notifications: one JSON document, schema "serverless-cd.notification/1", that every
publisher builds here and publishes to the notification topic.

A notification names its kind (deployment, release, pipeline_wait) and status (started, succeeded,
failed, stopped, waiting_for_approval), a one-line title and a plain-text summary, and whatever of
its service, commit, release, execution, pipeline run, environments' versions, error and extra rows
is known; a missing key means null. `notification` builds one, `publish` sends it with
MessageStructure "json", so each kind of subscriber gets its own form of it (`sns_message`):
- e-mail: the plain-text summary;
- HTTPS, i.e. Amazon Q Developer in chat applications (formerly AWS Chatbot), and "default": the
  notification in Amazon Q's custom notification format (`amazon_q`);
- Lambda (the chat notifier, lambda_src/notifier) and SQS: the notification itself.

`fitted` shortens a notification until its rendering fits a size (SNS's 256 KB, Teams' 28 KB, ...):
the cause, the text and the extra rows first, the identifiers and links only at the very end.
"""

import json
import os
import unicodedata
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from shared import aws
from shared.config import env_default
from shared.observability import readable

SCHEMA = "serverless-cd.notification/1"
KINDS = ("deployment", "release", "pipeline_wait")
STATUSES = ("started", "succeeded", "failed", "stopped", "waiting_for_approval")
# The keys a notification may have besides schema, kind, status, title and text.
FIELDS = ("service", "commit_id", "release_id", "execution_arn", "execution_name", "pipeline", "environments", "error", "cause", "details", "input")

MAX_SUBJECT = 99  # SNS: "less than 100 characters"
# SNS takes messages of up to 256 KB (262,144 bytes, the subject and attributes included).
MAX_SNS_MESSAGE_BYTES = 256 * 1024
SNS_MESSAGE_BUDGET = MAX_SNS_MESSAGE_BYTES - 6 * 1024
MAX_AMAZON_Q_DESCRIPTION = 8000
MAX_AMAZON_Q_TITLE = 250


def notification(kind: str, status: str, title: str, text: str, **fields: Any) -> dict[str, Any]:
    """A notification of `kind` and `status`; `fields` are the contract's other keys (FIELDS), those
    that are None left out. A kind, status or field the schema does not have is a bug of the
    publisher: ValueError."""
    if kind not in KINDS:
        raise ValueError(f"notification kind {kind!r} is not one of {', '.join(KINDS)}")
    if status not in STATUSES:
        raise ValueError(f"notification status {status!r} is not one of {', '.join(STATUSES)}")
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ValueError(f"a notification has no field {', '.join(unknown)}; its fields are {', '.join(FIELDS)}")
    note: dict[str, Any] = {"schema": SCHEMA, "kind": kind, "status": status, "title": " ".join(str(title).split()), "text": str(text)}
    note.update({name: value for name, value in fields.items() if value is not None})
    return note


def is_notification(value: Any) -> bool:
    """Whether `value` is a notification of this schema (a JSON object naming SCHEMA)."""
    return isinstance(value, Mapping) and value.get("schema") == SCHEMA


def subject(title: str) -> str:
    """An SNS Subject for `title`: at most 99 printable ASCII characters on one line, starting with
    a letter, digit or punctuation mark. Accented letters lose their accents, any other character
    outside ASCII becomes "?", and a longer title is cut with "..."."""
    decomposed = unicodedata.normalize("NFKD", " ".join(str(title).split()))
    ascii_text = "".join(char if " " <= char <= "~" else "?" for char in decomposed if not unicodedata.combining(char)).strip()
    if not ascii_text:
        return "serverless-cd notification"
    return ascii_text if len(ascii_text) <= MAX_SUBJECT else ascii_text[: MAX_SUBJECT - 3].rstrip() + "..."


def text_of(value: Any) -> str | None:
    """`value` as text, None when it is null or empty (a notification's fields are read leniently)."""
    if value is None or isinstance(value, (Mapping, list)):
        return None
    text = str(value)
    return text if text.strip() else None


def console_links(note: Mapping[str, Any]) -> dict[str, str | None]:
    """The notification's execution and pipeline run in the AWS console: {"execution", "pipeline"},
    each a URL or None. None both where CONSOLE_URL is empty (a partition whose console AWS does not
    document)."""
    console = env_default("CONSOLE_URL", "").rstrip("/")
    links: dict[str, str | None] = {"execution": None, "pipeline": None}
    if not console:
        return links
    arn = text_of(note.get("execution_arn"))
    parts = arn.split(":") if arn else []
    arn_region = parts[3] if len(parts) >= 8 and parts[0] == "arn" and parts[3] else None
    if arn and arn_region:
        links["execution"] = f"{console}/states/home?region={arn_region}#/v2/executions/details/{arn}"
    pipeline = note.get("pipeline")
    name = text_of(pipeline.get("name")) if isinstance(pipeline, Mapping) else None
    region = arn_region or os.environ.get("AWS_REGION", "").strip()
    if isinstance(pipeline, Mapping) and name and region:
        quoted = urllib.parse.quote(name, safe="")
        execution_id = text_of(pipeline.get("execution_id"))
        if execution_id:
            links["pipeline"] = f"{console}/codesuite/codepipeline/pipelines/{quoted}/executions/{urllib.parse.quote(execution_id, safe='')}/timeline?region={region}"
        else:
            links["pipeline"] = f"{console}/codesuite/codepipeline/pipelines/{quoted}/view?region={region}"
    return links


def amazon_q(note: Mapping[str, Any]) -> dict[str, Any]:
    """The notification as an Amazon Q Developer in chat applications custom notification: its title,
    and its text with the extra rows and the console links as the description (at most 8,000
    characters; the text is shortened to keep the links)."""
    links = console_links(note)
    tail = [f"{label}: {url}" for label, url in (("Execution", links["execution"]), ("Pipeline", links["pipeline"])) if url]
    arn = text_of(note.get("execution_arn"))
    if not links["execution"] and arn:
        tail.append(f"Execution: {readable(arn, 300)}")
    rows = [f"{text_of(row.get('label')) or ''}: {text_of(row.get('value')) or ''}" for row in note.get("details") or [] if isinstance(row, Mapping)]
    ending = ("\n\n" + readable("\n".join(rows), MAX_AMAZON_Q_DESCRIPTION // 2) if rows else "") + ("\n\n" + "\n".join(tail) if tail else "")
    text = str(note.get("text") or note.get("title") or "")
    description = readable(text, MAX_AMAZON_Q_DESCRIPTION - len(ending)) + ending
    return {
        "version": "1.0",
        "source": "custom",
        "content": {"textType": "client-markdown", "title": readable(str(note.get("title") or ""), MAX_AMAZON_Q_TITLE), "description": description},
    }


def compact(value: Any) -> str:
    """JSON as sent: UTF-8 text (not \\u escapes, which take six bytes a character), no spaces."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _sns_message(note: Mapping[str, Any]) -> str:
    chat = compact(amazon_q(note))
    whole = compact(note)
    return compact({"default": chat, "https": chat, "email": str(note.get("text") or ""), "lambda": whole, "sqs": whole})


def sns_message(note: Mapping[str, Any]) -> str:
    """The Message of an SNS Publish with MessageStructure "json": a JSON object of strings, one per
    kind of subscriber (see the module's docstring), the whole under SNS's 256 KB (the cause, text
    and extra rows shortened when needed)."""
    return _sns_message(fitted(note, lambda candidate: len(_sns_message(candidate).encode("utf-8")), SNS_MESSAGE_BUDGET))


def publish(topic_arn: str, note: Mapping[str, Any]) -> None:
    """Publish the notification to the topic, each kind of subscriber getting its own form of it."""
    aws.client("sns").publish(TopicArn=topic_arn, Subject=subject(str(note.get("title") or "")), MessageStructure="json", Message=sns_message(note))


def shortened(note: Mapping[str, Any], budget: int | None, rows_budget: int | None = None) -> dict[str, Any]:
    """A copy of the notification whose cause and text keep at most `budget` characters, its error
    and title at most 512 and its other texts at most 1,024 (fewer for a smaller budget). The extra
    rows' values keep at most `budget` characters each; with a `rows_budget`, only the first rows
    whose labels and values together take at most that many characters are kept, and a last row says
    how many were left out. None and None: the notification unchanged."""
    copy = dict(note)
    if budget is None:
        return copy
    small = max(32, min(budget, 1024))

    def cut(value: Any, limit: int) -> Any:
        return readable(value, limit) if isinstance(value, str) else value

    limits = {"cause": budget, "text": budget, "error": min(budget, 512), "title": min(budget, 512)} | dict.fromkeys(("service", "commit_id", "release_id", "execution_name"), small)
    for name, limit in limits.items():
        if name in copy:
            copy[name] = cut(copy[name], limit)
    pipeline = note.get("pipeline")
    if isinstance(pipeline, Mapping):
        copy["pipeline"] = {name: cut(value, small) for name, value in pipeline.items()}
    environments = note.get("environments")
    if isinstance(environments, list):
        copy["environments"] = [{name: cut(value, small) for name, value in entry.items()} if isinstance(entry, Mapping) else entry for entry in environments[:10]]
    details = note.get("details")
    if isinstance(details, list):
        copy["details"] = shortened_rows([row for row in details if isinstance(row, Mapping)], budget, rows_budget)
    if isinstance(copy.get("input"), Mapping) and rows_budget is not None:
        copy.pop("input")
    return copy


def shortened_rows(details: list[Mapping[str, Any]], budget: int, rows_budget: int | None) -> list[dict[str, str]]:
    label_limit = max(16, min(budget, 200))
    value_limit = max(16, budget if rows_budget is None else min(budget, max(64, rows_budget // 4)))
    rows: list[dict[str, str]] = []
    used = 0
    for row in details:
        shortened_row = {"label": readable(text_of(row.get("label")) or "", label_limit), "value": readable(text_of(row.get("value")) or "", value_limit)}
        used += len(shortened_row["label"]) + len(shortened_row["value"])
        if rows_budget is not None and used > rows_budget:
            break
        rows.append(shortened_row)
    if len(rows) < len(details):
        rows.append({"label": "…", "value": f"{len(details) - len(rows)} more not shown"})
    return rows


# (budget, rows_budget) from the longest to the shortest: the cause and the text first, then the
# extra rows, then everything.
LADDER: tuple[tuple[int | None, int | None], ...] = (
    (None, None),
    (32768, None),
    (16384, None),
    (8192, None),
    (4096, None),
    (4096, 131072),
    (4096, 65536),
    (4096, 32768),
    (2048, 16384),
    (2048, 8192),
    (1024, 4096),
    (512, 2048),
    (256, 1024),
    (128, 512),
    (64, 0),
)


def fitted(note: Mapping[str, Any], size: Callable[[Mapping[str, Any]], int], limit: int) -> dict[str, Any]:
    """The notification, shortened (`shortened`, down LADDER) until `size` of it is at most `limit`;
    the most shortened copy when nothing fits."""
    candidate = dict(note)
    for budget, rows_budget in LADDER:
        candidate = shortened(note, budget, rows_budget)
        if size(candidate) <= limit:
            return candidate
    return candidate
