"""An SVG picture of the DeploymentStateMachine, drawn from the ASL, with the path of one execution
highlighted: the happy path runs down the left column; failure handling sits to its right; the
shared failure tail and the Fail states run along the bottom."""

import html
import itertools
from collections.abc import Iterable
from typing import Any

BOX_WIDTH, BOX_HEIGHT = 235, 30
COLUMN_GAP, ROW_GAP = 50, 16
MARGIN = 20
COLORS = {"Task": "#dbeafe", "Choice": "#fef3c7", "Wait": "#e0e7ff", "Pass": "#f3f4f6", "Succeed": "#dcfce7", "Fail": "#fee2e2"}
VISITED_STROKE, FAILED_STROKE, PLAIN_STROKE = "#15803d", "#b91c1c", "#9ca3af"


def main_path(definition: dict[str, Any]) -> list[str]:
    """States entered when every check passes (first Choice branch, Next otherwise)."""
    states, path, name = definition["States"], [], definition["StartAt"]
    while name and name not in path:
        path.append(name)
        state = states[name]
        name = state["Choices"][0]["Next"] if state["Type"] == "Choice" else state.get("Next")
    return path


def successors(state: dict[str, Any]) -> Iterable[tuple[str, bool]]:
    """(target, is_error_path) for every transition of a state."""
    for key in ("Next", "Default"):
        if key in state:
            yield state[key], key == "Default" and state["Type"] == "Choice"
    for rule in state.get("Choices", []):
        yield rule["Next"], False
    for rule in state.get("Catch", []):
        yield rule["Next"], True


def layout(definition: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(column, row) of every state."""
    states = definition["States"]
    happy = main_path(definition)
    place = {name: (0, row) for row, name in enumerate(happy)}
    # Loops (wait and check again) go in column 1 beside the state they return to.
    for row, name in enumerate(happy):
        for target, _ in successors(states[name]):
            if target not in place and states[target]["Type"] == "Wait":
                place[target] = (1, row)
    # The state that names each failure, beside the first state that leads to it.
    column_of_row: dict[int, int] = {}
    for row, name in enumerate(happy):
        for target, _ in successors(states[name]):
            if target not in place and states[target]["Type"] == "Pass":
                column = column_of_row.get(row, 1 if (1, row) not in place.values() else 2)
                place[target] = (column, row)
                column_of_row[row] = column + 1
    # The shared tail (rollback, notify, record, route) below the happy path, then the Fail states.
    row = len(happy) + 1
    tail = [name for name in states if name not in place and states[name]["Type"] != "Fail"]
    chain = tail[:1]
    while chain and states[chain[-1]].get("Next") in tail and states[chain[-1]]["Next"] not in chain:
        chain.append(states[chain[-1]]["Next"])
    rest = [name for name in tail if name not in chain]
    for column, name in enumerate(chain):
        place[name] = (column, row)
    for column, name in enumerate(rest):
        place[name] = (column + 1, row + 1)
    row += 3
    fails = [name for name in states if states[name]["Type"] == "Fail"]
    for index, name in enumerate(fails):
        place[name] = (index % 4, row + index // 4)
    return place


def render(definition: dict[str, Any], visited: list[str] | None = None, title: str = "") -> str:
    """The SVG; `visited` is the execution's states in the order it entered them."""
    states = definition["States"]
    place = layout(definition)
    visited = visited or []
    walked = set(itertools.pairwise(visited))
    failed_end = bool(visited) and states.get(visited[-1], {}).get("Type") == "Fail"
    columns = 1 + max(column for column, _ in place.values())
    rows = 1 + max(row for _, row in place.values())
    width = 2 * MARGIN + columns * BOX_WIDTH + (columns - 1) * COLUMN_GAP
    height = 2 * MARGIN + 30 + rows * (BOX_HEIGHT + ROW_GAP)

    def box(name: str) -> tuple[float, float]:
        column, row = place[name]
        return MARGIN + column * (BOX_WIDTH + COLUMN_GAP), MARGIN + 30 + row * (BOX_HEIGHT + ROW_GAP)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        (
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
            '<path d="M 0 0 L 10 5 L 0 10 z" fill="#6b7280"/></marker></defs>'
        ),
        f'<text x="{MARGIN}" y="{MARGIN + 12}" font-size="14" font-weight="bold">{html.escape(title or "DeploymentStateMachine")}</text>',
    ]
    for name, state in states.items():
        x1, y1 = box(name)
        for target, error_path in successors(state):
            x2, y2 = box(target)
            taken = (name, target) in walked
            stroke = (FAILED_STROKE if failed_end and error_path else VISITED_STROKE) if taken else PLAIN_STROKE
            start = (x1 + BOX_WIDTH / 2, y1 + BOX_HEIGHT) if y2 > y1 else (x1 + (BOX_WIDTH if x2 > x1 else 0), y1 + BOX_HEIGHT / 2)
            end = (x2 + BOX_WIDTH / 2, y2) if y2 > y1 else (x2 + (0 if x2 > x1 else BOX_WIDTH), y2 + BOX_HEIGHT / 2)
            dash = ' stroke-dasharray="4 3"' if error_path else ""
            parts.append(
                f'<line x1="{start[0]:.0f}" y1="{start[1]:.0f}" x2="{end[0]:.0f}" y2="{end[1]:.0f}" stroke="{stroke}" '
                f'stroke-width="{2.5 if taken else 1}"{dash} marker-end="url(#arrow)" opacity="{1 if taken else 0.5}"/>'
            )
    for name, state in states.items():
        x, y = box(name)
        entered = name in visited
        stroke = (FAILED_STROKE if state["Type"] == "Fail" else VISITED_STROKE) if entered else PLAIN_STROKE
        parts.append(
            f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="6" fill="{COLORS.get(state["Type"], "#fff")}" stroke="{stroke}" stroke-width="{3 if entered else 1}"/>'
        )
        label = f"{visited.index(name) + 1}. {name}" if entered else name
        parts.append(f'<text x="{x + 8}" y="{y + 19}" font-weight="{"bold" if entered else "normal"}">{html.escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
