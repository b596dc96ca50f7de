"""What the README and docs/ tell a user is what the configuration does: the Variables table of
docs/configuration.md lists every variable with its default, the names it gives the application
functions are the names Terraform creates, and every link between the pages leads somewhere."""

import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
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
