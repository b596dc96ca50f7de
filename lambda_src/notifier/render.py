"""A notification as each chat service takes it: Slack's Block Kit (incoming webhooks), Microsoft
Teams' Adaptive Card (a Workflows "When a Teams webhook request is received" webhook) and, for a
generic webhook, the notification itself with its console links.

Each renderer keeps to its service's limits, shortening (with "…") whatever is longer than the
service accepts rather than having the message refused: Slack's 150-character header, 10 fields of
2,000 characters a section, 3,000-character section texts and 50 blocks; Teams' 28 KB a message;
256 KB for a generic webhook.
"""

import re
from collections.abc import Callable, Mapping
from typing import Any

from shared.notifications import compact, console_links, fitted, text_of
from shared.observability import readable

SLACK_HEADER = 150
SLACK_FIELDS = 10
SLACK_FIELD = 2000
SLACK_SECTION = 3000
SLACK_BLOCKS = 50
SLACK_FALLBACK = 3000
TEAMS_MAX_BYTES = 28_000
WEBHOOK_MAX_BYTES = 256_000
COMMIT_PREFIX = 12

EMOJI = {"started": ":rocket:", "succeeded": ":white_check_mark:", "failed": ":x:", "stopped": ":octagonal_sign:", "waiting_for_approval": ":raised_hand:"}
TEAMS_COLORS = {"started": "Accent", "succeeded": "Good", "failed": "Attention", "stopped": "Warning", "waiting_for_approval": "Warning"}
PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")


def facts(note: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The notification's identifiers and versions as (label, value) rows: service, commit (its first
    12 characters), release, pipeline run, one row per environment ("3 → 4, rolled back to 3")."""
    rows: list[tuple[str, str]] = []
    for label, name in (("Service", "service"), ("Commit", "commit_id"), ("Release", "release_id")):
        value = text_of(note.get(name))
        if value:
            rows.append((label, value[:COMMIT_PREFIX] if name == "commit_id" else value))
    pipeline = note.get("pipeline")
    if isinstance(pipeline, Mapping) and text_of(pipeline.get("name")):
        execution_id = text_of(pipeline.get("execution_id"))
        rows.append(("Pipeline", f"{pipeline['name']} ({execution_id})" if execution_id else str(pipeline["name"])))
    for environment in note.get("environments") or []:
        if isinstance(environment, Mapping) and text_of(environment.get("name")):
            versions = versions_text(environment)
            if versions:
                rows.append((str(environment["name"]), versions))
    return rows


def versions_text(environment: Mapping[str, Any]) -> str:
    before, after, rolled_back_to = (text_of(environment.get(name)) for name in ("before", "after", "rolled_back_to"))
    if before and after:
        text = f"{before} → {after}"
    elif after:
        text = f"→ {after}"
    elif before:
        text = f"{before}"
    else:
        text = ""
    if rolled_back_to:
        text = f"{text}, rolled back to {rolled_back_to}" if text else f"rolled back to {rolled_back_to}"
    return text


def detail_rows(note: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(text_of(row.get("label")) or "", text_of(row.get("value")) or "") for row in note.get("details") or [] if isinstance(row, Mapping)]


def failure(note: Mapping[str, Any]) -> tuple[str | None, str | None]:
    return text_of(note.get("error")), text_of(note.get("cause"))


# --- Slack -------------------------------------------------------------------------------------


def mrkdwn(text: str) -> str:
    """Text for Slack's mrkdwn: &, < and > escaped, as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut_mrkdwn(text: str, limit: int) -> str:
    """Escaped text cut to `limit` characters without leaving half an entity."""
    if len(text) <= limit:
        return text
    return PARTIAL_ENTITY.sub("", text[: limit - 1]) + "…"


def slack_field(label: str, value: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": cut_mrkdwn(f"*{mrkdwn(readable(label, 200))}*\n{mrkdwn(value)}", SLACK_FIELD)}


def slack_sections(rows: list[tuple[str, str]], room: int) -> tuple[list[dict[str, Any]], int]:
    """Sections of at most 10 fields, at most `room` of them; and how many rows were left out."""
    chunks = [rows[start : start + SLACK_FIELDS] for start in range(0, len(rows), SLACK_FIELDS)]
    kept = chunks[: max(0, room)]
    left_out = sum(len(chunk) for chunk in chunks[len(kept) :])
    return [{"type": "section", "fields": [slack_field(label, value) for label, value in chunk]} for chunk in kept], left_out


def slack(note: Mapping[str, Any]) -> dict[str, Any]:
    """The notification as a Slack incoming webhook message (Block Kit), its title as the fallback text."""
    status = str(note.get("status") or "")
    title = " ".join(str(note.get("title") or "serverless-cd notification").split())
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": readable(f"{EMOJI.get(status, ':bell:')} {title}", SLACK_HEADER), "emoji": True}}]
    identifiers, _ = slack_sections(facts(note), SLACK_BLOCKS)
    blocks += identifiers
    error, cause = failure(note)
    if error or cause:
        heading = f"*{mrkdwn(readable(error, 500))}*" if error else ""
        if cause:
            code = mrkdwn(cause.replace("```", "` ` `"))
            room = SLACK_SECTION - len(heading) - len("\n``````")
            text = f"{heading}\n```{cut_mrkdwn(code, room)}```" if heading else f"```{cut_mrkdwn(code, room)}```"
        else:
            text = heading
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    links = console_links(note)
    link_texts = [f"<{url}|{label}>" for label, url in (("Execution", links["execution"]), ("Pipeline", links["pipeline"])) if url]
    # Room for the details, a context saying how many rows were left out and the links' context.
    details, left_out = slack_sections(detail_rows(note), SLACK_BLOCKS - len(blocks) - 2)
    blocks += details
    if left_out:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"… {left_out} more rows not shown"}]})
    if link_texts:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text} for text in link_texts]})
    return {"text": readable(title, SLACK_FALLBACK), "blocks": blocks}


# --- Microsoft Teams ---------------------------------------------------------------------------


def _teams(note: Mapping[str, Any]) -> dict[str, Any]:
    status = str(note.get("status") or "")
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": str(note.get("title") or "serverless-cd notification"),
            "size": "Medium",
            "weight": "Bolder",
            "color": TEAMS_COLORS.get(status, "Default"),
            "wrap": True,
        }
    ]
    rows = facts(note)
    if rows:
        body.append({"type": "FactSet", "facts": [{"title": label, "value": value} for label, value in rows]})
    error, cause = failure(note)
    if error or cause:
        body.append({"type": "TextBlock", "text": "\n\n".join(part for part in (error and f"**{error}**", cause) if part), "wrap": True, "color": "Attention"})
    details = detail_rows(note)
    if details:
        body.append({"type": "FactSet", "facts": [{"title": label, "value": value} for label, value in details]})
    links = console_links(note)
    card: dict[str, Any] = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": body}
    actions = [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in (("Execution", links["execution"]), ("Pipeline", links["pipeline"])) if url]
    if actions:
        card["actions"] = actions
    return {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


def teams(note: Mapping[str, Any]) -> dict[str, Any]:
    """The notification as a Teams Workflows webhook message: one Adaptive Card (1.4), at most 28 KB."""
    return _teams(fitted(note, size_of(_teams), TEAMS_MAX_BYTES))


# --- a generic webhook -------------------------------------------------------------------------


def _webhook(note: Mapping[str, Any]) -> dict[str, Any]:
    return dict(note) | {"links": console_links(note)}


def webhook(note: Mapping[str, Any]) -> dict[str, Any]:
    """The notification itself, with its console links, at most 256 KB."""
    return _webhook(fitted(note, size_of(_webhook), WEBHOOK_MAX_BYTES))


def size_of(render: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Callable[[Mapping[str, Any]], int]:
    """How many bytes the body `render` makes of a notification takes."""
    return lambda note: len(body(render(note)))


def body(payload: Mapping[str, Any]) -> bytes:
    """The request body: compact UTF-8 JSON."""
    return compact(payload).encode("utf-8")


RENDERERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {"slack": slack, "teams": teams, "webhook": webhook}
