"""Every environment variable a handler reads is set for it in lambda.tf, and the local platform
sets the same ones, so a handler never meets a missing variable after `terraform apply`."""

import ast
import re
from pathlib import Path

import pytest

from conftest import HANDLERS, LAMBDA_SRC
from local_aws.platform import STEPS, step_environment
from test_terraform import locals_of

READERS = {"env", "env_int", "env_default", "handler_env"}
SET_FOR_EVERY_HANDLER = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL"}


def shared_imports(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "shared":
            names.update(f"shared/{alias.name}.py" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("shared."):
            names.add(node.module.replace(".", "/") + ".py")
    return names


def variables_read(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in READERS:
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(first.value)
    return found


def read_by(handler: str) -> set[str]:
    """Variables read by the handler's own files and every shared module they import, transitively."""
    todo = [path for path in (LAMBDA_SRC / handler).glob("*.py")]
    seen: set[Path] = set()
    variables: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        tree = ast.parse(path.read_text())
        variables |= variables_read(tree)
        todo.extend(LAMBDA_SRC / name for name in shared_imports(tree))
    return variables


def set_in_terraform(handler: str) -> set[str]:
    environments = locals_of("lambda.tf")
    value = environments["handler_environment"][handler]
    if isinstance(value, str):  # a reference to another local: a `for` expression of key = value pairs
        reference = re.fullmatch(r"\$\{local\.(\w+)\.\w+\}", value)
        assert reference, f"cannot read the environment of {handler}: {value}"
        body = environments[reference.group(1)]
        return set(re.findall(r"(\w+)\s*=(?!=|>)", body.split("=>", 1)[1])) | SET_FOR_EVERY_HANDLER
    return set(value) | SET_FOR_EVERY_HANDLER


@pytest.mark.parametrize("handler", HANDLERS)
def test_every_variable_a_handler_reads_is_set_in_lambda_tf(handler: str) -> None:
    read = read_by(handler)
    assert read, f"found no environment variable read by {handler}"
    assert read <= set_in_terraform(handler), f"{handler} reads {sorted(read - set_in_terraform(handler))}, not set in lambda.tf"


@pytest.mark.parametrize("handler", HANDLERS)
def test_lambda_tf_sets_nothing_a_handler_does_not_read(handler: str) -> None:
    assert set_in_terraform(handler) - SET_FOR_EVERY_HANDLER <= read_by(handler)


@pytest.mark.parametrize("step", STEPS)
def test_the_local_platform_sets_what_terraform_sets(step: str) -> None:
    assert set(step_environment(step)) | SET_FOR_EVERY_HANDLER == set_in_terraform(step)
