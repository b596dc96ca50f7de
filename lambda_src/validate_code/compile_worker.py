"""Compiles Python files for validate_code in a process of its own, under a memory cap.

    python -I -S compile_worker.py MEMORY_BYTES

It caps its own address space at MEMORY_BYTES, writes {"ready": true}, then answers requests from
stdin: a JSON line {"path", "size", "function"} followed by `size` bytes of source. For each it
writes one JSON line to stdout: {"problem": why the source does not compile (with its line) or
null, "kinds": how `function` is bound at module level ("async", "bound"), when `function` is not
null}. When compiling needs more memory than the cap it writes {"memory": true} and exits, since
the interpreter may not recover.
"""

import ast
import json
import resource
import sys
from typing import IO, Any

BLOCKS = tuple(getattr(ast, kind) for kind in ("If", "Try", "TryStar", "With") if hasattr(ast, kind))


def compile_problem(source: bytes, path: str) -> str | None:
    """Why `source` does not compile, with its line, or None."""
    try:
        compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as error:
        line = f"line {error.lineno}: " if error.lineno else ""
        return f"{line}{error.msg}"
    except (ValueError, RecursionError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def definitions(body: list[ast.stmt], name: str) -> set[str]:
    """How `name` is bound at module level: 'async' for an async def, 'bound' for anything else.

    Looks into if/try/with blocks (conditional definitions) but not into functions or classes."""
    kinds: set[str] = set()
    for node in body:
        if isinstance(node, ast.AsyncFunctionDef) and node.name == name:
            kinds.add("async")
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            kinds.add("bound")
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(assigns(target, name) for target in targets):
                kinds.add("bound")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((alias.asname or alias.name.split(".")[0]) == name or alias.name == "*" for alias in node.names):
                kinds.add("bound")
        elif isinstance(node, BLOCKS):
            for block in ("body", "orelse", "finalbody"):
                kinds |= definitions(getattr(node, block, []), name)
            for except_handler in getattr(node, "handlers", []):
                kinds |= definitions(except_handler.body, name)
    return kinds


def assigns(target: ast.expr, name: str) -> bool:
    return any(isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name for node in ast.walk(target))


def check(source: bytes, path: str, function: str | None) -> dict[str, Any]:
    problem = compile_problem(source, path)
    kinds: set[str] = set()
    if problem is None and function is not None:
        kinds = definitions(ast.parse(source, path).body, function)
    return {"problem": problem, "kinds": sorted(kinds)}


def answer(stdout: IO[bytes], reply: dict[str, Any]) -> None:
    stdout.write(json.dumps(reply).encode() + b"\n")
    stdout.flush()


def main() -> None:
    cap = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    answer(stdout, {"ready": True})
    while header := stdin.readline():
        request = json.loads(header)
        source = stdin.read(request["size"])
        try:
            reply = check(source, request["path"], request["function"])
        except MemoryError:
            answer(stdout, {"memory": True})
            return
        answer(stdout, reply)


if __name__ == "__main__":
    main()
