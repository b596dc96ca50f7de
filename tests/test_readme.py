"""What the README tells a user about the configuration is what the configuration does: its
Variables table lists every variable with its default, and the names it gives the application
functions are the names Terraform creates."""

import json
import re
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
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
    """The README's Variables table: each variable it names with the default it gives."""
    section = README[README.index("### Variables") :]
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
    """The names main.tf gives the application functions, with <prefix> for var.name_prefix."""
    locals_: dict[str, Any] = {}
    for entry in load_hcl("main.tf")["locals"]:
        locals_.update(entry)
    expression = locals_["app_function_names"]
    match = re.fullmatch(r'\$\{\{for (\w+) in local\.environments : \1 => "(.*)"\}\}', expression)
    assert match, f"local.app_function_names is not a for expression over local.environments: {expression}"
    template = match.group(2).replace("${var.name_prefix}", "<prefix>")
    return [template.replace("${" + match.group(1) + "}", environment) for environment in locals_["environments"]]


def test_the_readme_variables_table_lists_every_variable_with_its_default() -> None:
    in_code, in_readme = variable_defaults(), readme_variables()
    assert sorted(in_readme) == sorted(in_code), f"only in variables.tf: {sorted(set(in_code) - set(in_readme))}; only in the README: {sorted(set(in_readme) - set(in_code))}"
    wrong = {name: {"README": in_readme[name], "variables.tf": in_code[name]} for name in in_code if in_readme[name] != in_code[name]}
    assert not wrong, f"defaults that differ: {wrong}"


def test_the_readme_gives_the_application_functions_their_real_names() -> None:
    sentence = re.search(r"The application functions \(([^)]*)\)", README)
    assert sentence, "the README no longer names the application functions"
    assert re.findall(r"`(<prefix>-[^`]+)`", sentence.group(1)) == app_function_names()
