"""docs/design.md's table of handler payloads names the errors each handler raises: every name there
is one the handler's code can raise, every error the ASL retries or catches for a task is one its
handler is documented to raise, and every error a handler raises in its own files is documented."""

import ast
import inspect
import json
import re
from pathlib import Path

import pytest

from conftest import HANDLERS, LAMBDA_SRC, ROOT
from shared import errors
from test_wiring import shared_imports

DESIGN = ROOT / "docs" / "design.md"
ASL = ROOT / "asl" / "deployment.asl.json"
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


def test_the_asl_retries_and_catches_only_errors_its_handlers_raise() -> None:
    states = json.loads(ASL.read_text(encoding="utf-8"))["States"]
    for name, state in states.items():
        placeholder = re.fullmatch(r"\$\{(\w+)_function_arn\}", state.get("Resource", ""))
        if not placeholder:
            continue
        named = {error for rule in state.get("Retry", []) + state.get("Catch", []) for error in rule["ErrorEquals"] if not error.startswith(("States.", "Lambda."))}
        assert named <= documented()[placeholder.group(1)] | EVERY_HANDLER, f"{name} names {sorted(named - documented()[placeholder.group(1)] - EVERY_HANDLER)}"
