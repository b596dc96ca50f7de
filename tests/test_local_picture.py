"""The SVG picture of the state machine: every state drawn, the execution's path highlighted, a legend,
a failed execution's error and cause, and edges that neither cross each other nor run through boxes."""

import copy
import itertools
import json
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest

from local_aws.picture import CAUSE_CHAR_WIDTH, CAUSE_LINES, CAUSE_WIDTH, FAILED_STROKE, MARGIN, VISITED_STROKE, edges, layout, render

DEFINITION = json.loads((Path(__file__).resolve().parent.parent / "asl" / "deployment.asl.json").read_text())
SVG = "{http://www.w3.org/2000/svg}"
STAGING_TESTS_FAILED = [
    "Initialize",
    "ServiceNamed",
    "ValidateCode",
    "CodeValid",
    "RunTests",
    "PackageTestsPassed",
    "DeployStaging",
    "WaitForStagingShift",
    "CheckStagingDeployment",
    "StagingDeployed",
    "RunTestsInStaging",
    "StagingTestsPassed",
    "StagingTestsFailure",
    "Rollback",
    "NotifyFailure",
    "RecordFailure",
    "FailWith",
    "StagingTestsFailed",
]

Point = tuple[float, float]


def with_refusals(definition: dict[str, Any], *, merged: bool) -> dict[str, Any]:
    """The definition with ValidateCode's catches of a refused input (all but States.ALL) merged into one
    catch, to one Pass state, TargetsRefused, that names the failure after the error caught; or split
    into one catch and one Pass state for each error: both shapes, from whichever the ASL has now."""
    changed = copy.deepcopy(definition)
    states = changed["States"]
    catches = states["ValidateCode"]["Catch"]
    refusals = [catch for catch in catches if "States.ALL" not in catch["ErrorEquals"]]
    assert refusals, catches
    after = states[refusals[0]["Next"]]["Next"]
    for catch in refusals:
        states.pop(catch["Next"], None)
    errors = [error for catch in refusals for error in catch["ErrorEquals"]]
    names = {error: "TargetsRefused" if merged else f"{error}Error" for error in errors}
    for error, name in names.items():
        named_error = {"error.$": "$.error.Error"} if merged else {"error": error}
        states[name] = {"Type": "Pass", "Parameters": {**named_error, "cause.$": "$.error.Cause"}, "ResultPath": "$.failure", "Next": after}
    split = [{"ErrorEquals": [error], "ResultPath": "$.error", "Next": name} for error, name in names.items()]
    refused = [{"ErrorEquals": errors, "ResultPath": "$.error", "Next": "TargetsRefused"}] if merged else split
    states["ValidateCode"]["Catch"] = [*refused, *(catch for catch in catches if catch not in refusals)]
    return changed


MERGED, SPLIT = with_refusals(DEFINITION, merged=True), with_refusals(DEFINITION, merged=False)


def group(svg: ElementTree.Element, name: str) -> ElementTree.Element:
    found = svg.find(f"{SVG}g[@class='{name}']")
    assert found is not None, name
    return found


def state_boxes(svg: ElementTree.Element) -> dict[str, ElementTree.Element]:
    return {rect.get("data-state", ""): rect for rect in group(svg, "states").iter(f"{SVG}rect")}


def drawn_edges(svg: ElementTree.Element) -> dict[tuple[str, str], ElementTree.Element]:
    return {(line.get("data-from", ""), line.get("data-to", "")): line for line in group(svg, "edges").iter(f"{SVG}polyline")}


def legend_entries(svg: ElementTree.Element) -> dict[str, ElementTree.Element]:
    """Each legend entry's text -> its swatch."""
    return {"".join(entry.itertext()): entry[0] for entry in group(svg, "legend").iter(f"{SVG}g") if entry.get("class") == "legend-entry"}


def entry(entries: dict[str, ElementTree.Element], start: str) -> ElementTree.Element:
    matching = [swatch for text, swatch in entries.items() if text.startswith(start)]
    assert len(matching) == 1, (start, list(entries))
    return matching[0]


def look(element: ElementTree.Element) -> tuple[str | None, ...]:
    return tuple(element.get(key) for key in ("fill", "stroke", "stroke-width", "stroke-dasharray"))


# Counting crossings, from the SVG alone (so that any version of the picture can be measured): the
# edges are the lines and polylines with an arrow outside the legend, the boxes the rects outside it.


def geometry(svg_text: str) -> tuple[list[list[Point]], list[tuple[float, float, float, float]]]:
    lines: list[list[Point]] = []
    boxes: list[tuple[float, float, float, float]] = []

    def walk(element: ElementTree.Element) -> None:
        if element.get("class") == "legend":
            return
        if element.tag == f"{SVG}line" and element.get("marker-end"):
            lines.append([(float(element.get("x1", 0)), float(element.get("y1", 0))), (float(element.get("x2", 0)), float(element.get("y2", 0)))])
        if element.tag == f"{SVG}polyline" and element.get("marker-end"):
            lines.append([(float(x), float(y)) for x, y in (point.split(",") for point in element.get("points", "").split())])
        if element.tag == f"{SVG}rect":
            x, y, width, height = (float(element.get(key, 0)) for key in ("x", "y", "width", "height"))
            boxes.append((x, y, x + width, y + height))
        for child in element:
            walk(child)

    walk(ElementTree.fromstring(svg_text))
    return lines, boxes


def turn(a: Point, b: Point, c: Point) -> int:
    value = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return (value > 1e-9) - (value < -1e-9)


def segments_cross(first: tuple[Point, Point], second: tuple[Point, Point]) -> bool:
    """Whether they cross properly: lines that merge, run along each other or end on each other do not."""
    (a, b), (c, d) = first, second
    return turn(a, b, c) * turn(a, b, d) < 0 and turn(c, d, a) * turn(c, d, b) < 0


def segment_enters(segment: tuple[Point, Point], box: tuple[float, float, float, float]) -> bool:
    """Whether the segment runs inside the box (touching its border, where edges start and end, is not)."""
    ((x1, y1), (x2, y2)), (left, top, right, bottom) = segment, box
    low, high = 0.0, 1.0
    for step, room in ((x1 - x2, x1 - left - 1), (x2 - x1, right - 1 - x1), (y1 - y2, y1 - top - 1), (y2 - y1, bottom - 1 - y1)):
        if step == 0:
            if room < 0:
                return False
        elif step < 0:
            low = max(low, room / step)
        else:
            high = min(high, room / step)
    return high - low > 1e-6


def crossings(svg_text: str) -> tuple[int, int]:
    """(points where two edges cross, edge and box pairs where the edge runs through the box)."""
    lines, boxes = geometry(svg_text)
    segments = [list(itertools.pairwise(line)) for line in lines]
    between_edges = sum(segments_cross(p, q) for first, second in itertools.combinations(segments, 2) for p in first for q in second)
    through_boxes = sum(any(segment_enters(segment, box) for segment in line) for line in segments for box in boxes)
    return between_edges, through_boxes


def test_every_state_has_its_own_place() -> None:
    for definition in (DEFINITION, MERGED, SPLIT):
        places = layout(definition)
        assert set(places) == set(definition["States"])
        assert len(set(places.values())) == len(places)


def test_the_path_taken_is_numbered_and_highlighted() -> None:
    path = ["Initialize", "ServiceNamed", "ValidateCode", "CodeValid", "ValidationFailure", "NotifyFailure", "RecordFailure", "FailWith", "ValidationFailed"]
    svg = render(DEFINITION, path, "leaky-run")

    labels = re.findall(r">(\d+)\. (\w+)</text>", svg)
    assert [name for _, name in labels] == path
    boxes = state_boxes(ElementTree.fromstring(svg))
    assert set(boxes) == set(DEFINITION["States"])
    assert [name for name, box in boxes.items() if (box.get("stroke"), box.get("stroke-width")) == (VISITED_STROKE, "3")] == [name for name in DEFINITION["States"] if name in path[:-1]]
    assert (boxes["ValidationFailed"].get("stroke"), boxes["ValidationFailed"].get("stroke-width")) == (FAILED_STROKE, "3")


def test_the_legend_explains_every_colour_and_line_the_picture_uses() -> None:
    svg = ElementTree.fromstring(render(DEFINITION, STAGING_TESTS_FAILED, "failed-run"))
    entries, boxes, lines = legend_entries(svg), state_boxes(svg), drawn_edges(svg)

    for name, box in boxes.items():
        assert entry(entries, DEFINITION["States"][name]["Type"] + ":").get("fill") == box.get("fill"), name
    assert look(entry(entries, "bold, numbered, green border"))[1:] == look(boxes["RunTests"])[1:]
    assert look(entry(entries, "red border"))[1:] == look(boxes["StagingTestsFailed"])[1:]
    assert look(entry(entries, "green:")) == look(lines["RunTests", "PackageTestsPassed"])
    assert look(entry(entries, "red:")) == look(lines["StagingTestsPassed", "StagingTestsFailure"])
    assert look(entry(entries, "grey:")) == look(lines["DeployProduction", "WaitForProductionShift"])
    assert look(entry(entries, "dashed:")) == look(lines["DeployProduction", "ProductionDeploymentError"])
    assert entry(entries, "dashed:").get("stroke-dasharray") == entry(entries, "red:").get("stroke-dasharray") is not None
    samples = {look(swatch) for swatch in entries.values() if swatch.tag == f"{SVG}line"}
    assert {look(line) for line in lines.values()} <= samples


def test_a_failed_execution_shows_its_error_and_cause_under_the_title() -> None:
    cause = 'Test case "health" failed: <status> 500 & "body" \x1b[31mboom\x1b[0m\n' + " ".join(f"word{index}" for index in range(600)) + " " + "x" * 500
    assert len(cause) > 4000
    plain = render(DEFINITION, STAGING_TESTS_FAILED, "failed-run")
    text = render(DEFINITION, STAGING_TESTS_FAILED, "failed-run", error="StagingTestsFailed<&>", cause=cause)

    assert "StagingTestsFailed&lt;&amp;&gt;" in text and "&lt;status&gt; 500 &amp; &quot;body&quot;" in text
    svg = ElementTree.fromstring(text)
    title, error, *rest = (element for element in svg.findall(f"{SVG}text"))
    cause_lines = [element for element in rest if element.get("class") == "cause"]
    assert title.text == "failed-run" and error.get("class") == "error" and error.text == "error: StagingTestsFailed<&>"
    lines = [element.text or "" for element in cause_lines]
    assert len(lines) == CAUSE_LINES and lines[-1].endswith("…")
    assert lines[0] == 'Test case "health" failed: <status> 500 & "body" [31mboom[0m'
    assert all(len(line) <= CAUSE_WIDTH for line in lines) and all(len(line) > CAUSE_WIDTH - 10 for line in lines[1:])
    assert " ".join(lines[1:-1]).startswith("word0 word1 word2")

    top_box = min(float(box.get("y", 0)) for box in state_boxes(svg).values())
    ys = [float(element.get("y", 0)) for element in (title, error, *cause_lines)]
    assert ys == sorted(ys) and ys[-1] < top_box
    plain_svg = ElementTree.fromstring(plain)
    assert float(svg.get("height", 0)) - float(plain_svg.get("height", 0)) >= CAUSE_LINES * 15
    assert float(svg.get("width", 0)) >= 2 * MARGIN + max(map(len, lines)) * CAUSE_CHAR_WIDTH
    assert not [element for element in plain_svg.findall(f"{SVG}text") if element.get("class") in ("error", "cause")]


def test_the_crossing_count_sees_crossings() -> None:
    def picture(*elements: str) -> str:
        return '<svg xmlns="http://www.w3.org/2000/svg">' + "".join(elements) + "</svg>"

    box = '<rect x="100" y="100" width="50" height="30"/>'
    assert crossings(picture('<line x1="0" y1="0" x2="10" y2="10" marker-end="a"/>', '<line x1="0" y1="10" x2="10" y2="0" marker-end="a"/>')) == (1, 0)
    assert crossings(picture(box, '<polyline points="90,115 125,115 125,200" marker-end="a"/>')) == (0, 1)
    merging = ['<polyline points="150,115 170,115 170,300" marker-end="a"/>', '<polyline points="150,50 170,50 170,300 0,300" marker-end="a"/>']
    assert crossings(picture(box, *merging, '<g class="legend"><line x1="0" y1="0" x2="200" y2="200" marker-end="a"/></g>')) == (0, 0)


def test_edges_cross_neither_each_other_nor_the_boxes() -> None:
    text = render(DEFINITION, STAGING_TESTS_FAILED, "failed-run")
    # The straight lines drawn before: 12 crossings, and 101 times through a box.
    assert crossings(text) == (0, 0)
    assert len(geometry(text)[0]) == len(edges(DEFINITION))


@pytest.mark.parametrize("shape", ["merged", "split"])
def test_the_edges_stay_apart_however_many_states_name_the_refusals(shape: str) -> None:
    """ValidateCode's catches fan out to however many states name its failures: one for both refusals
    and ValidationError, or one for each refusal and ValidationError."""
    definition = MERGED if shape == "merged" else SPLIT
    named = [catch["Next"] for catch in definition["States"]["ValidateCode"]["Catch"]]
    assert len(set(named)) == len(named) == (2 if shape == "merged" else 3), named
    refused = ["Initialize", "ServiceNamed", "ValidateCode", named[0], "NotifyFailure", "RecordFailure", "FailWith", "TargetNotAllowed"]
    for path in (refused, STAGING_TESTS_FAILED, []):
        text = render(definition, path, f"{shape}-refusals")
        assert crossings(text) == (0, 0), path
        assert len(geometry(text)[0]) == len(edges(definition))
