"""What the README and docs/ tell a user is what the configuration does: the Variables table of
docs/configuration.md lists every variable with its default and its Outputs table every output
(with the fields of those that are objects), the names it gives the application functions are the
names Terraform creates, the README's picture of the ReleaseStateMachine is asl/release.asl.json,
and every link between the pages leads somewhere."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
RELEASE_ASL = ROOT / "asl" / "release.asl.json"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HCL_OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
NO_DEFAULT = {"—", "`null`"}  # the table's ways of saying null: required when selected, or optional


def load_hcl(name: str) -> dict[str, Any]:
    with open(ROOT / name, encoding="utf-8") as file:
        return hcl2.load(file, serialization_options=HCL_OPTIONS)


def variable_defaults() -> dict[str, str | None]:
    """Each variable of variables.tf with its default as the README writes it (None for null)."""
    defaults: dict[str, str | None] = {}
    for entry in load_hcl("variables.tf")["variable"]:
        for name, body in entry.items():
            value = body.get("default")
            if value is None:
                defaults[name] = None
            elif isinstance(value, bool):
                defaults[name] = "true" if value else "false"
            elif isinstance(value, (dict, list)):
                defaults[name] = json.dumps(value, separators=(",", ":"))
            else:
                defaults[name] = str(value)
    return defaults


def readme_variables() -> dict[str, str | None]:
    """The Variables table of docs/configuration.md: each variable it names with the default it gives."""
    section = CONFIGURATION[CONFIGURATION.index("## Variables") :]
    rows = [line for line in section.split("\n\n")[1].splitlines() if line.startswith("|")][2:]
    assert rows, "the Variables table has no rows"
    documented: dict[str, str | None] = {}
    for row in rows:
        names_cell, default_cell = (cell.strip() for cell in row.strip().strip("|").split("|")[:2])
        names = re.findall(r"`([a-z][a-z0-9_]*)`", names_cell)
        assert names, f"no variable named in the row {row!r}"
        default = None if default_cell in NO_DEFAULT else re.fullmatch(r"`(.*)`", default_cell)
        assert default is None or isinstance(default, re.Match), f"the default of {names} is not in backticks: {default_cell!r}"
        for name in names:
            documented[name] = None if default is None else default.group(1)
    return documented


def outputs_table() -> dict[str, str]:
    """The Outputs table of docs/configuration.md: each output it names, with its row."""
    section = CONFIGURATION[CONFIGURATION.index("## Outputs") :]
    rows = [line for line in section.split("\n\n")[1].splitlines() if line.startswith("|")][2:]
    assert rows, "the Outputs table has no rows"
    return {name: row for row in rows for name in re.findall(r"`([a-z][a-z0-9_]*)`", row.strip("|").split("|")[0])}


def test_the_outputs_table_lists_every_output_and_the_fields_of_each_object() -> None:
    outputs = {name: body["value"] for entry in load_hcl("outputs.tf")["output"] for name, body in entry.items()}
    documented = outputs_table()
    assert sorted(set(outputs) - set(documented)) == [], "outputs docs/configuration.md does not list"
    assert sorted(set(documented) - set(outputs)) == [], "outputs docs/configuration.md lists that outputs.tf does not have"
    for name, value in outputs.items():
        if isinstance(value, dict):
            missing = [field for field in value if f"`{field}`" not in documented[name]]
            assert missing == [], f"the row of {name} does not name its fields {missing}"


def app_function_names() -> list[str]:
    """The names modules/service gives the application functions of the service keyed default,
    whose resource prefix is the platform's name_prefix, written <prefix>."""
    locals_: dict[str, Any] = {}
    for entry in load_hcl("modules/service/main.tf")["locals"]:
        locals_.update(entry)
    expression = locals_["app_function_names"]
    match = re.fullmatch(r'\$\{\{for (\w+) in local\.environments : \1 => "(.*)"\}\}', expression)
    assert match, f"local.app_function_names is not a for expression over local.environments: {expression}"
    template = match.group(2).replace("${local.resource_prefix}", "<prefix>")
    return [template.replace("${" + match.group(1) + "}", environment) for environment in locals_["environments"]]


def test_the_variables_table_lists_every_variable_with_its_default() -> None:
    in_code, in_readme = variable_defaults(), readme_variables()
    assert sorted(in_readme) == sorted(in_code), f"only in variables.tf: {sorted(set(in_code) - set(in_readme))}; only in docs/configuration.md: {sorted(set(in_readme) - set(in_code))}"
    wrong = {name: {"docs/configuration.md": in_readme[name], "variables.tf": in_code[name]} for name in in_code if in_readme[name] != in_code[name]}
    assert not wrong, f"defaults that differ: {wrong}"


def test_the_docs_give_the_application_functions_their_real_names() -> None:
    sentence = re.search(r"The application functions \(([^)]*)\)", CONFIGURATION)
    assert sentence, "docs/configuration.md no longer names the application functions"
    assert re.findall(r"`(<prefix>-[^`]+)`", sentence.group(1)) == app_function_names()


def anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {anchor(heading) for heading in re.findall(r"^#+ (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_link_between_the_pages_leads_to_a_file_and_heading(page: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (fragment and linked.suffix == ".md" and fragment not in anchors(linked)):
            broken.append(target)
    assert not broken, f"{page.name} links to what is not there: {broken}"


# --- the README's picture of the ReleaseStateMachine ---------------------------------------------

NODE_SHAPE = re.compile(r"(\w+)(\(\[.*?\]\)|\{.*?\}|\[.*?\]|\(.*?\))")
# A flowchart edge: --> or -.->, either with a label (-- text --> or -. text .->).
EDGE = re.compile(r"\s+(?:--\s.*?\s-->|-\.\s.*?\s\.->|-->|-\.->)\s+")


def release_picture() -> tuple[dict[str, set[str | None]], set[tuple[str, str]], set[tuple[str, str]], dict[str, set[str]]]:
    """The README's mermaid flowchart under "The ReleaseStateMachine": for each node (a subgraph
    is a Map state) the subgraphs it is mentioned in (None: none), every edge, the dotted edges,
    and each node's shapes ("{}" a Choice, "([])" an end)."""
    section = README[README.index("### The ReleaseStateMachine") :]
    block = re.search(r"```mermaid\n(.*?)```", section, flags=re.S)
    assert block, "the README has no mermaid picture under The ReleaseStateMachine"
    mentions: dict[str, set[str | None]] = {}
    edges: set[tuple[str, str]] = set()
    dotted: set[tuple[str, str]] = set()
    shapes: dict[str, set[str]] = {}
    enclosing: list[str] = []
    for line in block.group(1).splitlines():
        line = line.strip()
        if not line or line.startswith(("flowchart", "%%")):
            continue
        if line == "end":
            enclosing.pop()
            continue
        subgraph = re.match(r"subgraph (\w+)", line)
        if subgraph:
            mentions.setdefault(subgraph.group(1), set()).add(enclosing[-1] if enclosing else None)
            enclosing.append(subgraph.group(1))
            continue
        for node, shape in NODE_SHAPE.findall(line):
            shapes.setdefault(node, set()).add("([])" if shape.startswith("([") else shape[0] + shape[-1])
        plain = NODE_SHAPE.sub(r"\1", line)
        links = [match.group(0).strip() for match in EDGE.finditer(f" {plain} ")]
        groups = [[node.strip() for node in part.split("&")] for part in EDGE.split(f" {plain} ") if part.strip()]
        for group in groups:
            for node in group:
                assert re.fullmatch(r"\w+", node), f"cannot read {node!r} in {line!r}"
                mentions.setdefault(node, set()).add(enclosing[-1] if enclosing else None)
        for link, sources, targets in zip(links, groups, groups[1:], strict=False):
            for source in sources:
                for target in targets:
                    edges.add((source, target))
                    if link.startswith("-."):
                        dotted.add((source, target))
    return mentions, edges, dotted, shapes


def asl_states(states: dict[str, Any], parent: str | None = None) -> Iterator[tuple[str, dict[str, Any], str | None]]:
    """Each state with the Map state it runs in (None: the top level)."""
    for name, state in states.items():
        yield name, state, parent
        inner = state.get("ItemProcessor") or state.get("Iterator")
        if inner:
            yield from asl_states(inner["States"], name)


def transitions(state: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Where a state goes next (Next, Choices, Default, Catch), and where its Catch rules go."""
    caught = {rule["Next"] for rule in state.get("Catch", [])}
    going = {choice["Next"] for choice in state.get("Choices", [])} | {state[key] for key in ("Next", "Default") if key in state}
    return going | caught, caught


def test_the_readme_draws_the_release_state_machine_as_the_asl_defines_it() -> None:
    mentions, edges, dotted, shapes = release_picture()
    states = list(asl_states(json.loads(RELEASE_ASL.read_text(encoding="utf-8"))["States"]))
    names = {name for name, _, _ in states}
    assert sorted(set(mentions) - names) == [], "nodes of the picture that are no state"
    assert sorted(names - set(mentions)) == [], "states the picture does not draw"
    # Each state is drawn inside the subgraph of the Map state it runs in, and nowhere else.
    assert {name: mentions[name] for name, _, parent in states if mentions[name] != {parent}} == {}
    expected = {(name, target) for name, state, _ in states for target in transitions(state)[0]}
    assert sorted(edges - expected) == [], "edges the ASL does not have"
    assert sorted(expected - edges) == [], "transitions the picture does not draw"
    caught = {(name, target) for name, state, _ in states for target in transitions(state)[1]}
    assert sorted(dotted - caught) == [], "dotted edges that are not a Catch"
    for name, state, _ in states:
        if state["Type"] == "Choice":
            assert "{}" in shapes.get(name, set()), f"the Choice {name} is not drawn as a decision"
        if state["Type"] in ("Succeed", "Fail"):
            assert "([])" in shapes.get(name, set()), f"{name} ends the execution but is not drawn as an end"
