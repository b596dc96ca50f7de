"""docs/design.md's table of handler payloads names the errors each handler raises: every name there
is one the handler's code can raise, every error either state machine's ASL retries or catches for
a task is one its handler is documented to raise, and every error a handler raises in its own files
is documented. Its table of environment variables names every variable the handlers' code reads,
with each handler whose own files read it."""

import ast
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import HANDLERS, LAMBDA_SRC, ROOT
from shared import errors
from test_wiring import shared_imports

DESIGN = ROOT / "docs" / "design.md"
ASLS = [ROOT / "asl" / "deployment.asl.json", ROOT / "asl" / "release.asl.json"]
ERROR_NAMES = {name for name, value in vars(errors).items() if inspect.isclass(value) and issubclass(value, errors.DeploymentError) and value is not errors.DeploymentError}
# What lambda_entry makes of any AWS error or bug, in every handler (shared/observability.py).
EVERY_HANDLER = {"Throttled", "ServiceUnavailable", "AwsRequestFailed", "UnexpectedError"}


def documented() -> dict[str, set[str]]:
    """handler -> the error names its row of the "Handler payloads" table gives."""
    text = DESIGN.read_text(encoding="utf-8")
    table = text[text.index("## Handler payloads") :].split("\n\n")[1]
    found: dict[str, set[str]] = {}
    for row in table.splitlines()[2:]:
        handlers_cell, _, raises_cell = row.strip("|").split(" | ")[:3]
        names = set(re.findall(r"`(\w+)`", raises_cell)) & ERROR_NAMES
        for handler in re.split(r"\s*/\s*", handlers_cell.strip()):
            found[handler] = names
    return found


def raised_in(paths: list[Path]) -> set[str]:
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(target, ast.Name) and target.id in ERROR_NAMES:
                    names.add(target.id)
    return names


def code_of(handler: str) -> list[Path]:
    """The handler's own files and every shared module they import, transitively."""
    todo, seen = list((LAMBDA_SRC / handler).glob("*.py")), []
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.append(path)
        todo += [LAMBDA_SRC / name for name in shared_imports(ast.parse(path.read_text(encoding="utf-8")))]
    return seen


def test_every_handler_has_a_row() -> None:
    assert set(documented()) == set(HANDLERS)


@pytest.mark.parametrize("handler", HANDLERS)
def test_each_documented_error_can_be_raised_by_the_handler(handler: str) -> None:
    assert documented()[handler] <= raised_in(code_of(handler)) | EVERY_HANDLER


@pytest.mark.parametrize("handler", HANDLERS)
def test_each_error_a_handler_raises_itself_is_documented(handler: str) -> None:
    assert raised_in(list((LAMBDA_SRC / handler).glob("*.py"))) <= documented()[handler]


def every_state(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each state of a States object, with those inside Map and Parallel states."""
    for name, state in states.items():
        yield name, state
        for inner in [state.get("ItemProcessor") or state.get("Iterator"), *state.get("Branches", [])]:
            if inner:
                yield from every_state(inner["States"])


def task_handler(state: dict[str, Any]) -> str | None:
    """The handler a task invokes: its Resource, or the FunctionName of a lambda:invoke integration."""
    for resource in (state.get("Resource", ""), str((state.get("Parameters") or {}).get("FunctionName", ""))):
        placeholder = re.fullmatch(r"\$\{(\w+)_function_arn\}", resource)
        if placeholder:
            return placeholder.group(1)
    return None


@pytest.mark.parametrize("asl", ASLS, ids=lambda path: path.name)
def test_the_asl_retries_and_catches_only_errors_its_handlers_raise(asl: Path) -> None:
    tasks = 0
    for name, state in every_state(json.loads(asl.read_text(encoding="utf-8"))["States"]):
        handler = task_handler(state)
        if handler is None:
            continue
        tasks += 1
        named = {error for rule in state.get("Retry", []) + state.get("Catch", []) for error in rule["ErrorEquals"] if not error.startswith(("States.", "Lambda."))}
        assert named <= documented()[handler] | EVERY_HANDLER, f"{name} names {sorted(named - documented()[handler] - EVERY_HANDLER)}"
    assert tasks, f"no task of {asl.name} invokes a handler: the placeholders are not found"


def environment_table() -> dict[str, set[str]]:
    """variable -> the handlers its row of the "Environment variables" table names ("all": every handler)."""
    text = DESIGN.read_text(encoding="utf-8")
    table = text[text.index("## Environment variables") :].split("\n\n")[2]
    found: dict[str, set[str]] = {}
    for row in table.splitlines()[2:]:
        variables_cell, handlers_cell = row.strip("|").split(" | ")[:2]
        words = set(re.findall(r"\w+", handlers_cell))
        handlers = set(HANDLERS) if handlers_cell.strip().startswith("all ") else words & set(HANDLERS)
        assert handlers, f"the row {row!r} names no handler"
        for variable in re.findall(r"`([A-Z][A-Z0-9_]+)`", variables_cell):
            found[variable] = handlers
    return found


def variables_read_in(paths: list[Path]) -> set[str]:
    """The names of the environment variables read with shared.config's env() or env_default()."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("env", "env_default") and node.args:
                if isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    names.add(node.args[0].value)
    return names


def test_the_environment_table_names_every_variable_the_code_reads() -> None:
    read = variables_read_in(sorted(LAMBDA_SRC.glob("*/*.py")))
    assert read, "no env() call found: the parser is broken"
    assert sorted(read - set(environment_table())) == []


@pytest.mark.parametrize("handler", HANDLERS)
def test_each_variable_a_handler_reads_itself_is_documented_for_it(handler: str) -> None:
    table = environment_table()
    missing = {name for name in variables_read_in(list((LAMBDA_SRC / handler).glob("*.py"))) if handler not in table.get(name, set())}
    assert sorted(missing) == []
