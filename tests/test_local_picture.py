"""The SVG picture of the state machine: every state drawn, the execution's path highlighted."""

import json
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from local_aws.picture import VISITED_STROKE, layout, render

DEFINITION = json.loads((Path(__file__).resolve().parent.parent / "asl" / "deployment.asl.json").read_text())


def test_every_state_has_its_own_place() -> None:
    places = layout(DEFINITION)
    assert set(places) == set(DEFINITION["States"])
    assert len(set(places.values())) == len(places)


def test_the_path_taken_is_numbered_and_highlighted() -> None:
    path = ["Initialize", "ValidateCode", "CodeValid", "ValidationFailure", "NotifyFailure", "RecordFailure", "FailWith", "ValidationFailed"]
    svg = render(DEFINITION, path, "leaky-run")

    ElementTree.fromstring(svg)
    labels = re.findall(r">(\d+)\. (\w+)</text>", svg)
    assert [name for _, name in labels] == path
    assert svg.count(f'stroke="{VISITED_STROKE}" stroke-width="3"') == len(path) - 1
