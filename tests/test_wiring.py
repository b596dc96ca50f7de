"""Every environment variable a handler reads is set for it in Terraform (lambda.tf for the
deployment's handlers, releases.tf for the releases'), and the local platform sets the same ones
for the deployment's steps, so a handler never meets a missing variable after `terraform apply`."""

import ast
import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import HANDLERS, LAMBDA_SRC
from local_aws.platform import STEPS, step_environment
from test_terraform import locals_of, resources

READERS = {"env", "env_int", "env_default", "handler_env"}
SET_FOR_EVERY_HANDLER = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL"}
SHARED = LAMBDA_SRC / "shared"
# A unit of code: a module's top-level function or class by name, its module-level code (None), or
# all of the module (ALL).
Unit = tuple[Path, str | None]
ALL = "*"
Function = ast.FunctionDef | ast.AsyncFunctionDef


def shared_imports(tree: ast.AST) -> set[str]:
    """The files of shared/ a module imports, whole (test_design.py follows them module by module)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "shared":
            names.update(f"shared/{alias.name}.py" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("shared."):
            names.add(node.module.replace(".", "/") + ".py")
    return names


def shown(path: Path) -> str:
    return str(path.relative_to(LAMBDA_SRC) if path.is_relative_to(LAMBDA_SRC) else path)


def bindings(tree: ast.AST) -> dict[str, Unit]:
    """What each name a module imports from shared/ (at the top or inside a function) stands for:
    a top-level name of a module, or a whole module (None)."""
    bound: dict[str, Unit] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "shared":
            bound.update({alias.asname or alias.name: (SHARED / f"{alias.name}.py", None) for alias in node.names})
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("shared."):
            path = LAMBDA_SRC / (node.module.replace(".", "/") + ".py")
            bound.update({alias.asname or alias.name: (path, alias.name) for alias in node.names})
        elif isinstance(node, ast.Import):
            assert not any(alias.name.startswith("shared") for alias in node.names), f"{ast.unparse(node)}: the reading below follows `from shared import ...` only"
    return bound


def calls(node: ast.AST, function: Function | None = None) -> Iterator[tuple[ast.Call, Function | None]]:
    """Every call under `node`, with the innermost function it is made in."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Call):
            yield child, function
        yield from calls(child, child if isinstance(child, Function) else function)


def called_name(call: ast.Call) -> str | None:
    return call.func.id if isinstance(call.func, ast.Name) and call.args else None


def passes_on(call: ast.Call, function: Function | None) -> bool:
    """The call's first argument is the first parameter of the function it is made in."""
    first = call.args[0]
    return function is not None and bool(function.args.args) and isinstance(first, ast.Name) and first.id == function.args.args[0].arg


class Module:
    """A file of lambda_src: the variables each of its units reads, and the units each one uses."""

    def __init__(self, path: Path) -> None:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        self.path, self.bound = path, bindings(tree)
        # The readers: READERS, the wrappers of other modules it imports, and its own functions that
        # pass their first parameter on to a reader (as release_intake's names(variable) passes it
        # to env). A call of a reader with a string reads that variable.
        readers = set(READERS) | {name for name, (source, imported) in self.bound.items() if imported and imported in wrappers_of(source)}
        while wrappers := {function.name for call, function in calls(tree) if function and called_name(call) in readers and passes_on(call, function)} - readers:
            readers |= wrappers
        self.wrappers = readers & {node.name for node in tree.body if isinstance(node, Function)}
        top: dict[str | None, list[ast.stmt]] = {None: []}
        for statement in tree.body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                top[statement.name] = [statement]
            else:
                top[None].append(statement)
        self.names = {name for name in top if name is not None}
        self.reads = {name: self.variables_read(nodes, readers) for name, nodes in top.items()}
        self.uses = {name: self.used(nodes) for name, nodes in top.items()}

    def variables_read(self, nodes: list[ast.stmt], readers: set[str]) -> set[str]:
        found = set()
        for call, function in (found_call for node in nodes for found_call in calls(ast.Module(body=[node], type_ignores=[]))):
            if called_name(call) in readers:
                first = call.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.add(first.value)
                else:  # a wrapper's own call, or one that would hide which variable it reads
                    assert passes_on(call, function), f"{shown(self.path)}: cannot tell which variable {ast.unparse(call)} reads"
        return found

    def used(self, nodes: list[ast.stmt]) -> set[Unit]:
        found: set[Unit] = set()
        walked = [inner for outer in nodes for inner in ast.walk(outer)]
        modules = {name: path for name, (path, imported) in self.bound.items() if imported is None}
        qualifiers = {id(node.value) for node in walked if isinstance(node, ast.Attribute)}
        for node in walked:
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
                found.add((modules[node.value.id], node.attr))  # module.name
            elif isinstance(node, ast.Name) and node.id in self.names:
                found.add((self.path, node.id))
            elif isinstance(node, ast.Name) and node.id in modules and id(node) not in qualifiers:
                found.add((modules[node.id], ALL))  # a module used as a whole, not as module.name
            elif isinstance(node, ast.Name) and node.id in self.bound and node.id not in modules:
                found.add(self.bound[node.id])
        return found


@functools.cache
def module(path: Path) -> Module:
    LOADING.add(path)
    try:
        return Module(path)
    finally:
        LOADING.discard(path)


LOADING: set[Path] = set()


def wrappers_of(path: Path) -> set[str]:
    """The wrappers of readers a module defines (none for a module whose imports lead back to it)."""
    return set() if path in LOADING or not path.is_file() else module(path).wrappers


def read_by(handler: str) -> set[str]:
    """Variables read by the handler's own files and by the code of shared/ they use, transitively:
    each function and class of shared/ the handler reaches, and the module-level code of every
    module it reaches (importing a module runs it); what it never calls does not count."""
    todo: list[Unit] = [(path, ALL) for path in sorted((LAMBDA_SRC / handler).glob("*.py"))]
    seen: set[Unit] = set()
    variables: set[str] = set()
    while todo:
        unit = todo.pop()
        if unit in seen:
            continue
        seen.add(unit)
        path, name = unit
        assert path.is_file(), f"{handler} uses {shown(path)}, which is not there"
        code = module(path)
        if name == ALL:
            todo.extend((path, each) for each in [None, *sorted(code.names)])
        elif name is None or name in code.names:
            variables |= code.reads[name]
            todo.extend([*code.uses[name], (path, None)])
        elif name in code.bound:  # a name the module imports itself
            todo.extend([code.bound[name], (path, None)])
        else:  # a module-level name: a constant, or a name bound by module-level code
            todo.append((path, None))
    return variables


# Where each handler's environment is written: lambda.tf the deployment's handlers, approvals.tf
# the approval handler's, releases.tf the releases', notifications.tf the notifier's (lambda.tf's
# handler_environment merges the maps).
ENVIRONMENT_MAPS = {"lambda.tf": "deployment_handler_environment", "approvals.tf": "approval_handler_environment", "releases.tf": "release_handler_environment"}
# The notifier exists only with chat destinations: its map is {notifier = local.notifier_environment} or {}.
OPTIONAL_ENVIRONMENTS = {"notifier": ("notifications.tf", "notification_handler_environment", "notifier_environment")}


def environment_in_terraform(handler: str) -> tuple[str, dict[str, Any], Any]:
    """The file that writes the handler's environment, that file's locals, and the entry."""
    if handler in OPTIONAL_ENVIRONMENTS:
        name, conditional, local = OPTIONAL_ENVIRONMENTS[handler]
        environments = locals_of(name)
        assert environments[conditional] == f"${{local.chat_enabled ? {{{handler} = local.{local}}} : {{}}}}", environments[conditional]
        return name, environments, environments[local]
    found = [(name, environments) for name, local in ENVIRONMENT_MAPS.items() if handler in (environments := locals_of(name))[local]]
    assert len(found) == 1, f"{handler} has an environment in {[name for name, _ in found]}, not in exactly one of {sorted(ENVIRONMENT_MAPS)}"
    ((name, environments),) = found
    return name, environments, environments[ENVIRONMENT_MAPS[name]][handler]


def set_in_terraform(handler: str) -> set[str]:
    name, environments, value = environment_in_terraform(handler)
    if isinstance(value, str):  # a reference to another local: a `for` expression of key = value pairs
        reference = re.fullmatch(r"\$\{local\.(\w+)\.\w+\}", value)
        assert reference, f"cannot read the environment of {handler} in {name}: {value}"
        body = environments[reference.group(1)]
        return set(re.findall(r"(\w+)\s*=(?!=|>)", body.split("=>", 1)[1])) | SET_FOR_EVERY_HANDLER
    return set(value) | SET_FOR_EVERY_HANDLER


def test_the_reading_follows_wrappers_and_refuses_what_it_cannot_name(tmp_path: Path) -> None:
    path = tmp_path / "handler.py"
    path.write_text(
        "from shared.config import env\n\n"
        "def allowed():\n"
        "    def names(variable):\n"
        "        return env(variable).split()\n"
        "    return names('ALLOWED_NAMES')\n\n"
        "def table():\n"
        "    return env('TABLE')\n",
        encoding="utf-8",
    )
    code = Module(path)
    assert code.reads == {None: set(), "allowed": {"ALLOWED_NAMES"}, "table": {"TABLE"}}
    assert code.uses["allowed"] == {(SHARED / "config.py", "env")}
    path.write_text("from shared.config import env\n\nNAME = 'TABLE'\n\ndef table():\n    return env(NAME)\n", encoding="utf-8")
    with pytest.raises(AssertionError, match=r"cannot tell which variable env\(NAME\) reads"):
        Module(path)


def test_every_function_gets_the_environment_of_its_map() -> None:
    """The maps read above are the ones the functions get: lambda.tf merges them into
    handler_environment, and every function's environment is the variables every handler gets
    with its entry of it."""
    assert (
        locals_of("lambda.tf")["handler_environment"]
        == "${merge(local.deployment_handler_environment, local.approval_handler_environment, local.release_handler_environment, local.notification_handler_environment)}"
    )
    (environment,) = resources("lambda.tf", "aws_lambda_function")["handler"]["environment"]
    variables = environment["variables"]
    assert variables.endswith(", local.handler_environment[each.key])}"), variables
    assert set(re.findall(r"(\w+)\s*=(?!=|>)", variables)) == SET_FOR_EVERY_HANDLER, variables


@pytest.mark.parametrize("handler", HANDLERS)
def test_every_variable_a_handler_reads_is_set_in_lambda_tf(handler: str) -> None:
    read = read_by(handler)
    assert read, f"found no environment variable read by {handler}"
    name = environment_in_terraform(handler)[0]
    assert read <= set_in_terraform(handler), f"{handler} reads {sorted(read - set_in_terraform(handler))}, not set in {name}"


@pytest.mark.parametrize("handler", HANDLERS)
def test_lambda_tf_sets_nothing_a_handler_does_not_read(handler: str) -> None:
    unread = set_in_terraform(handler) - SET_FOR_EVERY_HANDLER - read_by(handler)
    assert not unread, f"{environment_in_terraform(handler)[0]} sets {sorted(unread)} for {handler}, which does not read them"


@pytest.mark.parametrize("step", STEPS)
def test_the_local_platform_sets_what_terraform_sets(step: str) -> None:
    # The local platform builds the deployment's steps, whose environment lambda.tf writes (the
    # approval handler's, approvals.tf).
    assert environment_in_terraform(step)[0] == ("approvals.tf" if step == "approval" else "lambda.tf")
    assert set(step_environment(step)) | SET_FOR_EVERY_HANDLER == set_in_terraform(step)
