"""An SVG picture of the DeploymentStateMachine, drawn from the ASL, with the path of one execution
highlighted: the happy path runs down the left column; failure handling sits to its right; the
shared failure tail and the Fail states run along the bottom. A legend explains the colours; a failed
execution's error and cause stand under the title."""

import html
import itertools
import re
import textwrap
from collections.abc import Iterable
from typing import Any

BOX_WIDTH, BOX_HEIGHT = 235, 30
COLUMN_GAP, ROW_GAP = 50, 16
MARGIN = 20
COLORS = {"Task": "#dbeafe", "Choice": "#fef3c7", "Wait": "#e0e7ff", "Pass": "#f3f4f6", "Succeed": "#dcfce7", "Fail": "#fee2e2"}
VISITED_STROKE, FAILED_STROKE, PLAIN_STROKE = "#15803d", "#b91c1c", "#9ca3af"
ARROW_FILLS = {VISITED_STROKE: VISITED_STROKE, FAILED_STROKE: FAILED_STROKE, PLAIN_STROKE: "#6b7280"}
# The cause is shown in 11px monospace, about 6.6px a character.
CAUSE_WIDTH, CAUSE_LINES, CAUSE_CHAR_WIDTH = 120, 12, 6.6
LINE_HEIGHT = 15
TYPE_MEANINGS = {
    "Task": "Task: calls a Lambda handler",
    "Choice": "Choice: branches on a result",
    "Wait": "Wait: pauses, then checks again",
    "Pass": "Pass: shapes the data (names the failure)",
    "Succeed": "Succeed: the deployment is done",
    "Fail": "Fail: the execution ends with this error",
}
NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Point = tuple[float, float]


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


def edges(definition: dict[str, Any]) -> dict[tuple[str, str], bool]:
    """(source, target) -> is_error_path, once a pair: a Catch to where Next goes anyway is that Next."""
    found: dict[tuple[str, str], bool] = {}
    for name, state in definition["States"].items():
        for target, error_path in successors(state):
            found[name, target] = found.get((name, target), True) and error_path
    return found


def predecessors(definition: dict[str, Any]) -> dict[str, set[str]]:
    """The states each state is entered from."""
    found: dict[str, set[str]] = {name: set() for name in definition["States"]}
    for source, target in edges(definition):
        found[target].add(source)
    return found


def arrangement(definition: dict[str, Any]) -> tuple[dict[str, tuple[int, int]], int]:
    """(column, row) of every state, and the row of the shared failure tail.

    The happy path runs down column 0. The states it branches to (a Wait to check again, the Pass that
    names a failure) stand in column 1, one to a row: the first beside the state that leads to it, any
    further ones (a Task catching several errors) in rows of their own below it, before the next state
    of the happy path, so that they fan out from one trunk. A state entered only from one of them (a Pass
    that goes on naming the failure) stands under it. Nothing else stands left of the tail, so every state
    of column 1 reaches the tail's lanes, right of it, in a straight line."""
    states = definition["States"]
    happy = main_path(definition)
    entered_from = predecessors(definition)
    place: dict[str, tuple[int, int]] = {}
    row = 0
    for name in happy:
        place[name] = (0, row)
        side_row = row
        # Loops first, so that the check a Wait returns to stays right above it.
        targets = [target for target, _ in successors(states[name]) if target not in happy and states[target]["Type"] in ("Wait", "Pass")]
        for target in sorted(dict.fromkeys(targets), key=lambda target: states[target]["Type"] != "Wait"):
            chain = [] if target in place else [target]
            while chain and (following := states[chain[-1]].get("Next")) in states and following not in place and following not in happy and following not in chain:
                if states[following]["Type"] == "Fail" or entered_from[following] != {chain[-1]}:
                    break
                chain.append(following)
            for state in chain:
                place[state] = (1, side_row)
                side_row += 1
        row = max(row + 1, side_row)
    # One empty row, where the lanes turn into the tail; the shared tail (rollback, notify, record, route)
    # below it, then the Fail states.
    tail_row = row + 1
    tail = [name for name in states if name not in place and states[name]["Type"] != "Fail"]
    # The tail starts where the failure handling enters it, not from another state of the tail.
    chain = [next((name for name in tail if not entered_from[name] & set(tail)), tail[0])] if tail else []
    while chain and states[chain[-1]].get("Next") in tail and states[chain[-1]]["Next"] not in chain:
        chain.append(states[chain[-1]]["Next"])
    rest = [name for name in tail if name not in chain]
    for column, name in enumerate(chain):
        place[name] = (column, tail_row)
    for column, name in enumerate(rest):
        place[name] = (column + 1, tail_row + 1)
    fails = [name for name in states if states[name]["Type"] == "Fail"]
    for index, name in enumerate(fails):
        place[name] = (index % 4, tail_row + 3 + index // 4)
    return place, tail_row


def layout(definition: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(column, row) of every state."""
    return arrangement(definition)[0]


def position(cell: tuple[int, int], top: float) -> Point:
    """The top left corner of a state's box."""
    column, row = cell
    return MARGIN + column * (BOX_WIDTH + COLUMN_GAP), top + row * (BOX_HEIGHT + ROW_GAP)


def routes(definition: dict[str, Any], top: float = MARGIN + 30) -> dict[tuple[str, str], list[Point]]:
    """The polyline of every edge, drawn with horizontal and vertical lines only. A state's branches to
    the states beside it fan out from one trunk in the gap between the columns; a branch (or a loop)
    back up to a state beside an earlier one leaves through the gap above its source and rises past
    the empty places under its target; a branch that skips states of the happy path runs down the left
    margin. The failure states beside the happy path reach the shared tail
    through one vertical lane per target, right of them; the Fail states hang off one horizontal bus
    above them."""
    states = definition["States"]
    place, tail_row = arrangement(definition)
    fail_row = min((row for name, (_, row) in place.items() if states[name]["Type"] == "Fail"), default=0)
    into_tail = [(source, target) for source, target in edges(definition) if place[source][1] < tail_row <= place[target][1]]
    feeders = {target: min(place[source][1] for source, end in into_tail if end == target) for _, target in into_tail}
    # The lane fed from lower down lies nearer the boxes, so the stubs into the other lanes pass above it;
    # the lane to the leftmost target turns first, so the turns do not cross.
    lanes = sorted(feeders, key=lambda target: -feeders[target])
    side_right = position((max(column for column, row in place.values() if row < tail_row), 0), top)[0] + BOX_WIDTH
    lane_x = {target: side_right + (index + 1) * COLUMN_GAP / (len(lanes) + 1) for index, target in enumerate(lanes)}
    band = position((0, tail_row - 1), top)[1]
    turn_y = {target: band + (index + 1) * (BOX_HEIGHT + ROW_GAP) / (len(lanes) + 1) for index, target in enumerate(sorted(lanes, key=lambda name: place[name][0]))}
    bus_y = position((0, fail_row - 1), top)[1] + BOX_HEIGHT / 2
    occupied = set(place.values())

    result = {}
    for source, target in edges(definition):
        (source_column, source_row), (target_column, target_row) = place[source], place[target]
        sx, sy = position(place[source], top)
        tx, ty = position(place[target], top)
        source_middle, target_middle = sy + BOX_HEIGHT / 2, ty + BOX_HEIGHT / 2
        source_center, target_center = sx + BOX_WIDTH / 2, tx + BOX_WIDTH / 2
        rightwards = target_column > source_column
        source_side, target_side = (sx + BOX_WIDTH, tx) if rightwards else (sx, tx + BOX_WIDTH)
        if (source, target) in into_tail:
            x, y = lane_x[target], turn_y[target]
            points = [(sx + BOX_WIDTH, source_middle), (x, source_middle), (x, y), (target_center, y), (target_center, ty)]
        elif source_row < fail_row <= target_row:
            down = [(source_center, sy + BOX_HEIGHT), (source_center, bus_y)]
            if target_row == fail_row:
                points = [*down, (target_center, bus_y), (target_center, ty)]
            else:  # below the first row of Fail states: down beside the boxes above, in from the left
                points = [*down, (tx - 10, bus_y), (tx - 10, target_middle), (tx, target_middle)]
        elif source_row == target_row:
            points = [(source_side, source_middle), (target_side, target_middle)]
        elif source_column == target_column == 0 and target_row > source_row + 1 and any((0, row) in occupied for row in range(source_row + 1, target_row)):
            # a branch that skips states of the happy path (no approval asked): down the left margin
            x = sx - MARGIN / 2
            points = [(sx, source_middle), (x, source_middle), (x, target_middle), (tx, target_middle)]
        elif source_column == target_column:
            points = [(source_center, sy + BOX_HEIGHT), (target_center, ty)] if target_row > source_row else [(source_center, sy), (target_center, ty + BOX_HEIGHT)]
        elif rightwards and target_row > source_row:  # a fan: along the gap between the columns
            x = source_side + COLUMN_GAP / 2
            points = [(source_side, source_middle), (x, source_middle), (x, target_middle), (target_side, target_middle)]
        elif target_row == source_row + 1:
            points = [(source_center, sy + BOX_HEIGHT), (source_center, target_middle), (target_side, target_middle)]
        elif target_row < source_row and all((target_column, row) not in occupied for row in range(target_row + 1, source_row)):
            # a loop back up: through the gap above the source, then up past the target's fan, if it has one
            inset = 30 if rightwards else -30
            gap = sy - ROW_GAP / 2
            points = [(source_side - inset, sy), (source_side - inset, gap), (target_side + inset, gap), (target_side + inset, ty + BOX_HEIGHT)]
        else:  # rows apart: along the gap between the columns
            x = source_side + (COLUMN_GAP / 2 if rightwards else -COLUMN_GAP / 2)
            points = [(source_side, source_middle), (x, source_middle), (x, target_middle), (target_side, target_middle)]
        result[source, target] = points
    return result


def edge_style(taken: bool, error_path: bool, failed_end: bool) -> str:
    """The stroke of an edge; the legend draws its samples with it too."""
    stroke = (FAILED_STROKE if failed_end and error_path else VISITED_STROKE) if taken else PLAIN_STROKE
    dash = ' stroke-dasharray="4 3"' if error_path else ""
    return f'fill="none" stroke="{stroke}" stroke-width="{2.5 if taken else 1}"{dash} opacity="{1 if taken else 0.5}" marker-end="url(#arrow-{stroke[1:]})"'


def box_style(state_type: str, entered: bool) -> str:
    """The fill and border of a state's box; the legend draws its swatches with it too."""
    stroke = (FAILED_STROKE if state_type == "Fail" else VISITED_STROKE) if entered else PLAIN_STROKE
    return f'fill="{COLORS.get(state_type, "#fff")}" stroke="{stroke}" stroke-width="{3 if entered else 1}"'


def xml_text(value: str) -> str:
    return html.escape(NOT_IN_XML.sub("", value))


def wrap(cause: str, width: int = CAUSE_WIDTH, lines: int = CAUSE_LINES) -> list[str]:
    """The cause in lines of at most `width` characters, at most `lines` of them, the last ending in … if cut."""
    wrapped = [line for paragraph in NOT_IN_XML.sub("", cause).splitlines() for line in textwrap.wrap(paragraph, width)]
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] = wrapped[-1][: width - 1] + "…"
    return wrapped


def legend(x: float, y: float) -> tuple[list[str], float, float]:
    """The legend's SVG with its top left corner at (x, y), and its right and bottom edges."""
    boxes = [(box_style(state_type, False), meaning) for state_type, meaning in TYPE_MEANINGS.items()]
    boxes += [
        (box_style("Task", True), "bold, numbered, green border: entered by this execution, in order"),
        (box_style("Fail", True), "red border: the Fail state the execution ended in"),
    ]
    arrows = [
        (edge_style(True, False, False), "green: a transition this execution took"),
        (edge_style(True, True, True), "red: a Catch or a Choice's Default taken by an execution that failed"),
        (edge_style(False, False, False), "grey: a transition not taken"),
        (edge_style(False, True, False), "dashed: a Catch or a Choice's Default (the failure or wait-again branch)"),
    ]
    parts = ['<g class="legend">', f'<text x="{x}" y="{y + 12}" font-weight="bold">Legend</text>']
    for index, (style, meaning) in enumerate(boxes + arrows):
        row = y + 22 + index * 20
        swatch = f'<rect x="{x}" y="{row}" width="24" height="14" rx="3" {style}/>' if index < len(boxes) else f'<line x1="{x}" y1="{row + 7}" x2="{x + 24}" y2="{row + 7}" {style}/>'
        parts.append(f'<g class="legend-entry">{swatch}<text x="{x + 32}" y="{row + 11}">{xml_text(meaning)}</text></g>')
    parts.append("</g>")
    right = x + 32 + max(len(meaning) for _, meaning in boxes + arrows) * 6.5
    return parts, right, y + 22 + len(boxes + arrows) * 20


def render(definition: dict[str, Any], visited: list[str] | None = None, title: str = "", *, error: str | None = None, cause: str | None = None) -> str:
    """The SVG; `visited` is the execution's states in the order it entered them; `error` and `cause`
    (a failed execution's) are written under the title."""
    states = definition["States"]
    place, tail_row = arrangement(definition)
    visited = visited or []
    walked = set(itertools.pairwise(visited))
    failed_end = bool(visited) and states.get(visited[-1], {}).get("Type") == "Fail"
    title = title or "DeploymentStateMachine"
    header = [f'<text x="{MARGIN}" y="{MARGIN + 12}" font-size="14" font-weight="bold">{xml_text(title)}</text>']
    text_right = MARGIN + len(title) * 8.5
    baseline = MARGIN + 12
    if error:
        baseline += 18
        header.append(f'<text class="error" x="{MARGIN}" y="{baseline}" font-weight="bold" fill="{FAILED_STROKE}">error: {xml_text(error)}</text>')
        text_right = max(text_right, MARGIN + (7 + len(error)) * 7.5)
    cause_lines = wrap(cause) if cause else []
    for line in cause_lines:
        baseline += LINE_HEIGHT
        header.append(f'<text class="cause" x="{MARGIN}" y="{baseline}" font-family="monospace" font-size="11">{xml_text(line)}</text>')
        text_right = max(text_right, MARGIN + len(line) * CAUSE_CHAR_WIDTH)
    top = baseline + 18

    lines = routes(definition, top)
    columns = 1 + max(column for column, _ in place.values())
    rows = 1 + max(row for _, row in place.values())
    graph_right = MARGIN + columns * BOX_WIDTH + (columns - 1) * COLUMN_GAP
    # The legend sits right of the lanes into the tail: nothing else is drawn there above the tail.
    side = max(column for column, row in place.values() if row < tail_row)
    legend_parts, legend_right, legend_bottom = legend(position((side + 1, 0), top)[0] + 10, top)
    width = max(graph_right, legend_right, text_right) + MARGIN
    height = max(top + rows * (BOX_HEIGHT + ROW_GAP), legend_bottom) + MARGIN

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" font-family="sans-serif" font-size="12">',
        "<defs>",
        *(
            f'<marker id="arrow-{stroke[1:]}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
            f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{fill}"/></marker>'
            for stroke, fill in ARROW_FILLS.items()
        ),
        "</defs>",
        *header,
        '<g class="edges">',
    ]
    # Taken edges last, so that no edge sharing a lane with them hides them.
    for (source, target), error_path in sorted(edges(definition).items(), key=lambda item: item[0] in walked):
        points = " ".join(f"{x:.0f},{y:.0f}" for x, y in lines[source, target])
        style = edge_style((source, target) in walked, error_path, failed_end)
        parts.append(f'<polyline data-from="{xml_text(source)}" data-to="{xml_text(target)}" points="{points}" {style}/>')
    parts += ["</g>", '<g class="states">']
    for name, state in states.items():
        x, y = position(place[name], top)
        entered = name in visited
        parts.append(f'<rect data-state="{xml_text(name)}" x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="6" {box_style(state["Type"], entered)}/>')
        label = f"{visited.index(name) + 1}. {name}" if entered else name
        parts.append(f'<text x="{x + 8}" y="{y + 19}" font-weight="{"bold" if entered else "normal"}">{xml_text(label)}</text>')
    parts += ["</g>", *legend_parts, "</svg>"]
    return "\n".join(parts)
