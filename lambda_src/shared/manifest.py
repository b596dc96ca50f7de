"""The release manifest (docs/releases.md): read, checked and put in waves.

    read_manifest(document, allowed) -> Manifest

`document` is the manifest as JSON text (str or bytes, at most MAX_MANIFEST_BYTES) or already
parsed. It is checked in three steps, and the first step that fails raises BadManifest naming up
to MAX_LISTED errors, each with its field path (`pipelines[2].after[0]`), what the field must be
and an example:

1. Its shape: at most MAX_DEPTH levels of nesting and MAX_NODES values, walked without recursion,
   so an absurdly deep or large document is refused before anything recurses into it.
2. The JSON Schema schemas/release-manifest.schema.json (draft-04, the dialect of API Gateway's
   request validator, which uses the same file), with fastjsonschema: the one validator of the
   layer's pure-Python wheels that Powertools' validation utility also runs on. It reports one
   error per call, so the document is split along the schema (each property, each array item) to
   name several.
3. The rules a schema cannot express: each pipeline once; `after` names other pipelines of the
   manifest and forms no cycle; each source action once per pipeline; text AWS can take (no lone
   surrogate); a pipeline of this account is one the platform may start and a role_arn one it may
   assume (Allowed), and a pipeline the allow-list has in this account is not given a role_arn; at
   most MAX_MANIFEST_BYTES once serialized.

The schema file is read from beside this module, where release_intake's zip carries it
(tools/package.py HANDLER_FILES), else from the repository's schemas/ folder (the tests): schema_path()
says which, or raises ConfigurationError naming both places.
"""

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast

import fastjsonschema

from shared.errors import BadManifest, ConfigurationError

SCHEMA_FILE = "release-manifest.schema.json"
# Beside this module in a handler zip; lambda_src/shared/ -> the repository's schemas/ otherwise.
SCHEMA_PLACES = (Path(__file__).resolve().parent / SCHEMA_FILE, Path(__file__).resolve().parent.parent.parent / "schemas" / SCHEMA_FILE)

DEFAULT_ON_FAILURE: Literal["stop"] = "stop"
# A release runs a few pipelines in two or three waves, each pipeline typically under half an hour
# with its canary: two hours covers that, and the schema allows up to 1440 (a day).
DEFAULT_TIMEOUT_MINUTES = 120
DEFAULT_MAX_CONCURRENCY = 5
# Step Functions keeps at most 256 KiB of execution input and state: the manifest travels in both,
# with the release's own state beside it.
MAX_MANIFEST_BYTES = 128 * 1024
# A valid manifest is 6 levels deep (manifest > pipelines > pipeline > source_revisions > revision >
# text) and, at the schema's limits, about 16,000 values: anything far beyond is refused unread.
MAX_DEPTH = 10
MAX_NODES = 100_000
# How many errors a BadManifest names.
MAX_LISTED = 5

EXAMPLE = '{"release_id": "5.16", "pipelines": ["api-pipeline", {"name": "web-pipeline", "after": ["api-pipeline"]}]}'
EXAMPLES = {
    "release_id": '"release_id": "2026-12-01.1"',
    "pipelines": '"pipelines": ["api-pipeline", {"name": "web-pipeline", "after": ["api-pipeline"]}]',
    "name": '{"name": "web-pipeline"}',
    "source_revisions": '"source_revisions": [{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "9fceb02d"}]',
    "variables": '"variables": {"release": "5.16"}',
    "role_arn": '"role_arn": "arn:aws:iam::111111111111:role/pipeline-release-access"',
    "after": '"after": ["api-pipeline"]',
    "on_failure": '"on_failure": "continue"',
    "timeout_minutes": '"timeout_minutes": 120',
    "description": '"description": "API and front end of release 5.16"',
    "max_concurrency": '"max_concurrency": 5',
}

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Allowed:
    """What the platform may start (both lists come from Terraform): pipelines of its own account,
    by name, and roles it may assume to start a pipeline in another account, by ARN."""

    pipelines: frozenset[str]
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SourceRevision:
    action_name: str
    revision_type: str
    revision_value: str

    def override(self) -> dict[str, str]:
        """As StartPipelineExecution's sourceRevisions takes it."""
        return {"actionName": self.action_name, "revisionType": self.revision_type, "revisionValue": self.revision_value}


@dataclass(frozen=True)
class Pipeline:
    name: str
    source_revisions: tuple[SourceRevision, ...] = ()
    # (name, value) in the manifest's order.
    variables: tuple[tuple[str, str], ...] = ()
    role_arn: str | None = None
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    release_id: str
    pipelines: tuple[Pipeline, ...]
    on_failure: Literal["stop", "continue"] = DEFAULT_ON_FAILURE
    timeout_minutes: int = DEFAULT_TIMEOUT_MINUTES
    description: str | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    # The pipelines in the order they start: each wave after every pipeline its members name in
    # `after`, each wave in the manifest's order.
    waves: tuple[tuple[Pipeline, ...], ...] = ()


def read_manifest(document: Any, allowed: Allowed) -> Manifest:
    """The manifest `document` describes, or BadManifest saying what is wrong with it."""
    if isinstance(document, str | bytes | bytearray):
        document = parsed(document)
    refuse(shape_errors(document))
    refuse(schema_errors(document))
    refuse(rule_errors(document, allowed))
    manifest = built(document)
    size = len(json.dumps(document, separators=(",", ":")).encode("utf-8"))
    if size > MAX_MANIFEST_BYTES:
        refuse([f"the manifest is {size:,} bytes as JSON; a release manifest is at most {MAX_MANIFEST_BYTES:,} (it travels in the release's execution input)"])
    return manifest


# --- where the schema is ------------------------------------------------------------------------


def schema_path(places: Iterable[Path] | None = None) -> Path:
    """The schema file: the first of `places` (default SCHEMA_PLACES: beside this module in a zip,
    then the repository's schemas/) that exists."""
    places = tuple(SCHEMA_PLACES if places is None else places)
    for place in places:
        if place.is_file():
            return place
    raise ConfigurationError(
        f"the release manifest schema {SCHEMA_FILE} is in none of {', '.join(str(place) for place in places)}: the handler zip must carry it beside shared/manifest.py"
    )


@cache
def schema() -> Mapping[str, Any]:
    path = schema_path()
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"the release manifest schema {path} cannot be read: {error}") from None
    if not isinstance(loaded, dict) or loaded.get("$schema") != "http://json-schema.org/draft-04/schema#":
        raise ConfigurationError(f"the release manifest schema {path} is not a draft-04 JSON Schema object")
    return cast(Mapping[str, Any], loaded)


@cache
def _compiled(definition: str) -> Callable[[Any], Any]:
    return cast(Callable[[Any], Any], fastjsonschema.compile(json.loads(definition)))


def validator(definition: Mapping[str, Any]) -> Callable[[Any], Any]:
    return _compiled(json.dumps(definition, sort_keys=True))


# --- 1. parsing and shape -----------------------------------------------------------------------


def parsed(text: str | bytes | bytearray) -> Any:
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > MAX_MANIFEST_BYTES:
        refuse([f"the manifest is {size:,} bytes; a release manifest is at most {MAX_MANIFEST_BYTES:,}"])
    try:
        # Decoded here: json.loads would take bytes as UTF-16 or UTF-32 too.
        decoded = text if isinstance(text, str) else bytes(text).decode("utf-8")
        return json.loads(decoded, object_pairs_hook=unique_keys, parse_constant=no_constant)
    except RecursionError:
        raise bad([f"the manifest is nested too deeply to read; a release manifest is at most {MAX_DEPTH} levels deep"]) from None
    except UnicodeDecodeError as error:
        raise bad([f"the manifest is not UTF-8 text (byte {error.start + 1}); for example {EXAMPLE}"]) from None
    except json.JSONDecodeError as error:
        raise bad([f"the manifest is not JSON: {error.msg} at line {error.lineno} column {error.colno}; for example {EXAMPLE}"]) from None
    except BadManifest:
        raise
    except ValueError as error:
        raise bad([f"the manifest is not JSON: {error}; for example {EXAMPLE}"]) from None


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise BadManifest(f"an object of the manifest has the key {preview(key)} twice; each key appears once")
        document[key] = value
    return document


def no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def shape_errors(document: Any) -> list[str]:
    """Whether `document` is small and shallow enough to check, walked with a stack of its own."""
    stack: list[tuple[Any, Path_]] = [(document, ())]
    count = 0
    while stack:
        value, path = stack.pop()
        count += 1
        if count > MAX_NODES:
            return [f"the manifest has more than {MAX_NODES:,} values; a release manifest is far smaller (at most 50 pipelines)"]
        if len(path) > MAX_DEPTH:
            return [f"{where(path[:MAX_DEPTH])} is nested more than {MAX_DEPTH} levels deep; a release manifest is at most 6 levels deep; for example {EXAMPLE}"]
        if isinstance(value, dict | list) and len(value) > MAX_NODES:
            return [f"{where(path)} has {len(value):,} entries; a release manifest is far smaller (at most 50 pipelines)"]
        if isinstance(value, dict):
            stack.extend((item, (*path, str(key))) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
    return []


# --- 2. the schema ------------------------------------------------------------------------------


def schema_errors(document: Any) -> list[str]:
    root = schema()
    try:
        validator(root)(document)
    except fastjsonschema.JsonSchemaValueException:
        errors: list[str] = []
        explain(root, root, document, (), errors)
        return errors or [f"the manifest does not match {SCHEMA_FILE}; for example {EXAMPLE}"]
    return []


def resolved(root: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        reference = str(node["$ref"])
        if not reference.startswith("#/definitions/"):
            raise ConfigurationError(f"{SCHEMA_FILE} has the reference {reference}; only #/definitions/<name> is supported")
        node = root["definitions"][reference.removeprefix("#/definitions/")]
    return node


def explain(root: Mapping[str, Any], node: Mapping[str, Any], value: Any, path: Path_, errors: list[str]) -> None:
    """Adds to `errors` what is wrong with `value` at `path` against `node`: the node's own keywords
    are checked by fastjsonschema with its children left out, then each child on its own."""
    if len(errors) > MAX_LISTED:
        return
    node = resolved(root, node)
    if "oneOf" in node:
        branches = [resolved(root, branch) for branch in node["oneOf"]]
        matching = [branch for branch in branches if json_type(value) in types_of(branch)]
        if len(matching) != 1:
            expected = "either " + ", or ".join(str(branch.get("description", "")) for branch in branches)
            errors.append(message(path, expected, value))
            return
        node = matching[0]
    # The node's own keywords, its children's schemas left out: they are checked one by one below.
    shallow = {key: keyword for key, keyword in node.items() if key not in ("properties", "patternProperties", "items")}
    properties: Mapping[str, Any] = node.get("properties", {})
    patterns: Mapping[str, Any] = node.get("patternProperties", {})
    if properties:
        shallow["properties"] = {key: {} for key in properties}
    if patterns:
        shallow["patternProperties"] = {pattern: {} for pattern in patterns}
    children: list[tuple[Mapping[str, Any], Any, Path_]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in properties:
                children.append((properties[key], item, (*path, key)))
            for pattern, definition in patterns.items():
                if matches(pattern, key):
                    children.append((definition, item, (*path, key)))
    elif isinstance(value, list) and "items" in node:
        limit = node.get("maxItems", len(value))
        children = [(node["items"], item, (*path, index)) for index, item in enumerate(value[:limit])]
    try:
        validator(shallow)(value)
    except fastjsonschema.JsonSchemaValueException as error:
        errors.append(described(error, node, value, path))
        if error.rule == "type":
            return
    for child, item, child_path in children:
        explain(root, child, item, child_path, errors)


def matches(pattern: str, key: str) -> bool:
    try:
        validator({"type": "string", "pattern": pattern})(key)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def described(error: fastjsonschema.JsonSchemaValueException, node: Mapping[str, Any], value: Any, path: Path_) -> str:
    expected = str(node.get("description", "as the schema says"))
    if error.rule == "required" and isinstance(value, dict):
        missing = next(key for key in node["required"] if key not in value)
        child = resolved(schema(), node.get("properties", {}).get(missing, {}))
        return f"{where((*path, missing))} is missing: it must be {child.get('description', 'given')}; for example {example((*path, missing))}"
    if error.rule == "additionalProperties" and isinstance(value, dict):
        properties, patterns = node.get("properties", {}), node.get("patternProperties", {})
        unknown = [str(key) for key in value if key not in properties and not any(matches(pattern, str(key)) for pattern in patterns)]
        if patterns and not properties:
            names = ", ".join(preview(key, 40) for key in unknown[:3])
            return f"{where(path)} has the name {names}, which is not a pipeline variable name (1-128 letters, digits or @ - _); for example {example(path)}"
        keys = ", ".join(preview(key, 40) for key in unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
        plural = "s" if len(unknown) > 1 else ""
        return f"{where(path)} has the unknown key{plural} {keys}; {what(path)} takes {', '.join(properties)}; for example {example(path)}"
    if error.rule == "uniqueItems" and isinstance(value, list):
        seen: set[str] = set()
        repeated = None
        for item in value:
            if isinstance(item, str) and item in seen:
                repeated = item
                break
            seen.add(str(item))
        if repeated is not None:
            return f"{where(path)} names {preview(repeated)} twice: it must be {expected}; for example {example(path)}"
    return message(path, expected, value)


def message(path: Path_, expected: str, value: Any) -> str:
    return f"{where(path)} must be {expected}, got {describe(value)}; for example {example(path)}"


# --- 3. the rules the schema cannot express -----------------------------------------------------


def rule_errors(document: Mapping[str, Any], allowed: Allowed) -> list[str]:
    errors: list[str] = []
    entries = [entry if isinstance(entry, dict) else {"name": entry} for entry in document["pipelines"]]
    names = [str(entry["name"]) for entry in entries]
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in first:
            errors.append(f"{where(('pipelines', index, 'name'))} {preview(name)} is also pipelines[{first[name]}]: each pipeline appears once in a release")
        first.setdefault(name, index)
    listed = ", ".join(dict.fromkeys(names))
    references_ok = True
    for index, entry in enumerate(entries):
        for position, other in enumerate(entry.get("after", [])):
            path = ("pipelines", index, "after", position)
            if other == entry["name"]:
                errors.append(f"{where(path)} names the pipeline itself ({preview(other)}): 'after' lists the other pipelines that must succeed first")
                references_ok = False
            elif other not in first:
                errors.append(f"{where(path)} {preview(other)} is not a pipeline of this release (they are {listed}); for example {example(path)}")
                references_ok = False
        actions: set[str] = set()
        for position, revision in enumerate(entry.get("source_revisions", [])):
            if revision["actionName"] in actions:
                errors.append(
                    f"{where(('pipelines', index, 'source_revisions', position, 'actionName'))} {preview(revision['actionName'])} is given twice: one revision per source action"
                )
            actions.add(revision["actionName"])
        errors.extend(text_errors(entry, index))
        errors.extend(permission_errors(entry, index, allowed))
    if references_ok and not any("is also pipelines[" in error for error in errors):
        cycle = find_cycle(entries)
        if cycle:
            at = where(("pipelines", names.index(cycle[0]), "after"))
            errors.append(f"{at}: the pipelines' 'after' lists form a cycle, {' -> '.join(cycle)}, so none of them could start; remove one of these 'after' entries")
    description = document.get("description")
    if isinstance(description, str) and not encodable(description):
        errors.append(f"{where(('description',))} is not valid Unicode text (it has a lone surrogate); for example {EXAMPLES['description']}")
    return errors


def text_errors(entry: Mapping[str, Any], index: int) -> list[str]:
    errors = []
    for name, value in entry.get("variables", {}).items():
        if not encodable(value):
            errors.append(f"{where(('pipelines', index, 'variables', name))} is not valid Unicode text (it has a lone surrogate); for example {EXAMPLES['variables']}")
    for position, revision in enumerate(entry.get("source_revisions", [])):
        if not encodable(revision["revisionValue"]):
            errors.append(f"{where(('pipelines', index, 'source_revisions', position, 'revisionValue'))} is not valid Unicode text (it has a lone surrogate)")
    return errors


def permission_errors(entry: Mapping[str, Any], index: int, allowed: Allowed) -> list[str]:
    name, role_arn = str(entry["name"]), entry.get("role_arn")
    if role_arn is None:
        if name in allowed.pipelines:
            return []
        may = ", ".join(sorted(allowed.pipelines)) or "none"
        return [
            (
                f"{where(('pipelines', index, 'name'))} {preview(name)} is not a pipeline this platform may start (it may start: {preview(may, 300)}): add it to the platform's "
                "release pipelines in Terraform and apply, or, for a pipeline in another account, give the role_arn of a role the platform may assume there"
            )
        ]
    path = where(("pipelines", index, "role_arn"))
    if name in allowed.pipelines:
        return [f"{path} is given, but {preview(name)} is a pipeline of the platform's own account, which it starts without a role: leave role_arn out"]
    if role_arn not in allowed.roles:
        may = ", ".join(sorted(allowed.roles)) or "none"
        return [
            f"{path} {preview(role_arn, 200)} is not a role this platform may assume (it may assume: {preview(may, 600)}): add it to the platform's release roles in Terraform and apply"
        ]
    return []


def find_cycle(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """A cycle of `after` as [a, b, ..., a], or [] (iterative depth-first search)."""
    after = {str(entry["name"]): [str(other) for other in entry.get("after", [])] for entry in entries}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in after:
        if start in state:
            continue
        path, stack = [start], [iter(after[start])]
        state[start] = 1
        while stack:
            other = next(stack[-1], None)
            if other is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(other) == 1:
                return [*path[path.index(other) :], other]
            elif other not in state:
                state[other] = 1
                path.append(other)
                stack.append(iter(after[other]))
    return []


# --- the result ---------------------------------------------------------------------------------


def built(document: Mapping[str, Any]) -> Manifest:
    pipelines = tuple(pipeline(entry) for entry in document["pipelines"])
    return Manifest(
        release_id=document["release_id"],
        pipelines=pipelines,
        on_failure=document.get("on_failure", DEFAULT_ON_FAILURE),
        timeout_minutes=document.get("timeout_minutes", DEFAULT_TIMEOUT_MINUTES),
        description=document.get("description"),
        max_concurrency=document.get("max_concurrency", DEFAULT_MAX_CONCURRENCY),
        waves=waves(pipelines),
    )


def pipeline(entry: str | Mapping[str, Any]) -> Pipeline:
    if isinstance(entry, str):
        return Pipeline(name=entry)
    return Pipeline(
        name=entry["name"],
        source_revisions=tuple(SourceRevision(revision["actionName"], revision["revisionType"], revision["revisionValue"]) for revision in entry.get("source_revisions", [])),
        variables=tuple((str(name), str(value)) for name, value in entry.get("variables", {}).items()),
        role_arn=entry.get("role_arn"),
        after=tuple(entry.get("after", [])),
    )


def waves(pipelines: tuple[Pipeline, ...]) -> tuple[tuple[Pipeline, ...], ...]:
    """Topological layers: a pipeline is in the wave after the last of those it names in `after`."""
    placed: set[str] = set()
    remaining = list(pipelines)
    result: list[tuple[Pipeline, ...]] = []
    while remaining:
        wave = tuple(candidate for candidate in remaining if placed.issuperset(candidate.after))
        if not wave:  # a cycle: rule_errors refuses it first
            raise BadManifest(f"the pipelines {', '.join(candidate.name for candidate in remaining)} wait for each other")
        result.append(wave)
        placed.update(candidate.name for candidate in wave)
        remaining = [candidate for candidate in remaining if candidate.name not in placed]
    return tuple(result)


# --- words --------------------------------------------------------------------------------------


def refuse(errors: list[str]) -> None:
    if errors:
        raise bad(errors)


def bad(errors: list[str]) -> BadManifest:
    """One BadManifest naming the first MAX_LISTED of `errors`."""
    if len(errors) == 1:
        return BadManifest(errors[0])
    listed = " | ".join(f"{number}. {text}" for number, text in enumerate(errors[:MAX_LISTED], 1))
    if len(errors) > MAX_LISTED:
        return BadManifest(f"the manifest has more than {MAX_LISTED} errors; the first {MAX_LISTED}: {listed}")
    return BadManifest(f"the manifest has {len(errors)} errors: {listed}")


def where(path: Path_) -> str:
    """`path` as a field path: pipelines[2].after[0]; a key that is not a plain name is quoted."""
    if not path:
        return "the manifest"
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif is_plain(part):
            text += f".{part}" if text else part
        else:
            text += f"[{preview(part, 40)}]"
    return text


def is_plain(key: str) -> bool:
    return bool(key) and len(key) <= 128 and all(character.isascii() and (character.isalnum() or character in "_-@.") for character in key)


def what(path: Path_) -> str:
    if not path:
        return "a release manifest"
    if len(path) == 2 and path[0] == "pipelines":
        return "a pipeline"
    if "source_revisions" in path:
        return "a source revision"
    return str(path[-1])


def example(path: Path_) -> str:
    if len(path) == 2 and path[0] == "pipelines":
        return '{"name": "web-pipeline", "after": ["api-pipeline"]}'
    for part in reversed(path):
        if isinstance(part, str) and part in EXAMPLES:
            return EXAMPLES[part]
    if len(path) >= 2 and path[0] == "pipelines":
        return '{"name": "web-pipeline", "after": ["api-pipeline"]}'
    return EXAMPLE


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def types_of(node: Mapping[str, Any]) -> set[str]:
    declared = node.get("type", [])
    return set([declared] if isinstance(declared, str) else declared)


def describe(value: Any) -> str:
    """`value` as a message shows it, never more than a few dozen characters, whatever its size."""
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, str):
        return f"the string {preview(value)}" if value else "an empty string"
    if isinstance(value, int):
        return f"the number {value}" if abs(value) < 10**15 else "a number of more than 15 digits"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return f"an array of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return f"an object with {len(value)} key{'s' if len(value) != 1 else ''}"
    return "null" if value is None else type(value).__name__


def preview(value: str, limit: int = 80) -> str:
    text = value[:limit].encode("utf-8", "backslashreplace").decode("utf-8")
    return json.dumps(text, ensure_ascii=False) + (f"… ({len(value):,} characters)" if len(value) > limit else "")


def encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
