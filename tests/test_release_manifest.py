"""The release manifest (issue 12): schemas/release-manifest.schema.json and shared/manifest.py.
Every rule with the message it gives, the waves of good manifests, the schema file itself and
which file is read, and documents too deep or too large to check."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import ROOT
from shared import manifest as release
from shared.errors import BadManifest, ConfigurationError
from shared.manifest import Allowed, Manifest, Pipeline, SourceRevision, read_manifest

SCHEMA = ROOT / "schemas" / "release-manifest.schema.json"
ROLE = "arn:aws:iam::111111111111:role/pipeline-release-access"
OTHER_ROLE = "arn:aws:iam::222222222222:role/pipeline-release-access"
ALLOWED = Allowed(pipelines=frozenset({"api", "web", "docs", "billing", "search"}), roles=frozenset({ROLE}))


def names(manifest: Manifest) -> list[list[str]]:
    return [[pipeline.name for pipeline in wave] for wave in manifest.waves]


def refused(document: Any, allowed: Allowed = ALLOWED) -> str:
    with pytest.raises(BadManifest) as caught:
        read_manifest(document, allowed)
    assert caught.value.name == "BadManifest"
    return str(caught.value)


def manifest(**fields: Any) -> dict[str, Any]:
    return {"release_id": "5.16", "pipelines": ["api"], **fields}


@pytest.fixture
def schema_places(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The schema is looked up afresh in the test (and again after it)."""
    release.schema.cache_clear()
    yield
    monkeypatch.undo()
    release.schema.cache_clear()


# --- the schema file ----------------------------------------------------------------------------


def test_the_schema_is_valid_draft_04_as_api_gateway_models_are() -> None:
    document = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert document["$schema"] == "http://json-schema.org/draft-04/schema#"
    jsonschema.Draft4Validator.check_schema(document)


def walk_schema(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk_schema(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_schema(value)


def test_every_object_of_the_schema_refuses_unknown_keys_and_says_what_it_takes() -> None:
    document = json.loads(SCHEMA.read_text(encoding="utf-8"))
    objects = [node for node in walk_schema(document) if node.get("type") == "object"]
    assert len(objects) == 4  # the manifest, a pipeline, its variables, a source revision
    assert all(node.get("additionalProperties") is False for node in objects)
    typed = [node for node in walk_schema(document) if "type" in node]
    assert all(node.get("description") for node in typed), "each typed node's description is the 'must be ...' of its messages"


def test_the_schema_read_is_the_repository_file_outside_a_zip(schema_places: None) -> None:
    assert release.schema_path() == SCHEMA
    assert release.schema() == json.loads(SCHEMA.read_text(encoding="utf-8"))


def test_the_schema_beside_the_module_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schema_places: None) -> None:
    beside = tmp_path / "shared" / release.SCHEMA_FILE
    beside.parent.mkdir()
    changed = json.loads(SCHEMA.read_text(encoding="utf-8"))
    changed["properties"]["pipelines"]["maxItems"] = 1
    beside.write_text(json.dumps(changed), encoding="utf-8")
    monkeypatch.setattr(release, "SCHEMA_PLACES", (beside, SCHEMA))
    assert release.schema_path() == beside
    assert "pipelines must be" in refused(manifest(pipelines=["api", "web"]))


def test_the_default_places_are_beside_the_module_then_the_repository() -> None:
    module = Path(release.__file__).resolve()
    assert release.SCHEMA_PLACES == (module.parent / release.SCHEMA_FILE, SCHEMA)


def test_a_missing_schema_is_a_configuration_error_naming_where_it_was_looked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schema_places: None) -> None:
    monkeypatch.setattr(release, "SCHEMA_PLACES", (tmp_path / "a" / release.SCHEMA_FILE, tmp_path / "b" / release.SCHEMA_FILE))
    with pytest.raises(ConfigurationError, match=r"in none of .*/a/release-manifest.schema.json, .*/b/release-manifest.schema.json"):
        read_manifest(manifest(), ALLOWED)


def test_a_schema_that_is_not_draft_04_is_a_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schema_places: None) -> None:
    other = tmp_path / release.SCHEMA_FILE
    other.write_text(json.dumps({"$schema": "http://json-schema.org/draft-07/schema#"}), encoding="utf-8")
    monkeypatch.setattr(release, "SCHEMA_PLACES", (other,))
    with pytest.raises(ConfigurationError, match="not a draft-04 JSON Schema"):
        read_manifest(manifest(), ALLOWED)


# --- good manifests -----------------------------------------------------------------------------


def test_the_api_first_then_the_front_end_and_the_docs_together() -> None:
    read = read_manifest({"release_id": "5.16", "pipelines": ["api", {"name": "web", "after": ["api"]}, {"name": "docs", "after": ["api"]}]}, ALLOWED)
    assert names(read) == [["api"], ["web", "docs"]]
    assert read.pipelines == (Pipeline("api"), Pipeline("web", after=("api",)), Pipeline("docs", after=("api",)))


def test_the_defaults() -> None:
    read = read_manifest(manifest(), ALLOWED)
    assert (read.release_id, read.on_failure, read.timeout_minutes, read.max_concurrency, read.description) == ("5.16", "stop", 120, 5, None)
    assert names(read) == [["api"]]


def test_waves_keep_the_manifest_order_and_follow_the_longest_chain() -> None:
    read = read_manifest(
        {
            "release_id": "2026-12-01.1",
            "pipelines": [
                {"name": "search", "after": ["web", "billing"]},
                "docs",
                {"name": "web", "after": ["api"]},
                "api",
                {"name": "billing", "after": ["api"]},
            ],
        },
        ALLOWED,
    )
    assert names(read) == [["docs", "api"], ["web", "billing"], ["search"]]


def test_every_field_is_read() -> None:
    document = {
        "release_id": "release_5.16-rc1",
        "description": "API and front end of 5.16",
        "on_failure": "continue",
        "timeout_minutes": 1440,
        "max_concurrency": 20,
        "pipelines": [
            {
                "name": "api",
                "source_revisions": [{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "9fceb02d"}],
                "variables": {"release": "5.16", "channel@eu-1": "stable"},
            },
            {"name": "shared-services", "role_arn": ROLE, "after": ["api"]},
        ],
    }
    read = read_manifest(document, ALLOWED)
    assert read == Manifest(
        release_id="release_5.16-rc1",
        pipelines=read.pipelines,
        on_failure="continue",
        timeout_minutes=1440,
        description="API and front end of 5.16",
        max_concurrency=20,
        waves=read.waves,
    )
    api, shared = read.pipelines
    assert api.source_revisions == (SourceRevision("Source", "COMMIT_ID", "9fceb02d"),)
    assert api.source_revisions[0].override() == {"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "9fceb02d"}
    assert api.variables == (("release", "5.16"), ("channel@eu-1", "stable"))
    assert shared == Pipeline("shared-services", role_arn=ROLE, after=("api",))
    assert names(read) == [["api"], ["shared-services"]]
    assert jsonschema.Draft4Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).is_valid(document)


def test_json_text_and_bytes_are_read_too() -> None:
    text = json.dumps({"release_id": "5.16", "pipelines": ["api", {"name": "web", "after": ["api"]}]})
    assert names(read_manifest(text, ALLOWED)) == names(read_manifest(text.encode(), ALLOWED)) == [["api"], ["web"]]


def test_fifty_pipelines_are_the_most_and_each_may_wait_for_all_others_before_it() -> None:
    allowed = Allowed(pipelines=frozenset(f"p{index}" for index in range(50)))
    pipelines = [{"name": f"p{index}", "after": [f"p{other}" for other in range(index)]} for index in range(50)]
    read = read_manifest({"release_id": "big", "pipelines": pipelines}, allowed)
    assert names(read) == [[f"p{index}"] for index in range(50)]


@pytest.mark.parametrize("release_id", ["5.16", "2026-12-01.1", "a", "R_1-x.y", "9" * 80])
def test_good_release_ids(release_id: str) -> None:
    assert read_manifest(manifest(release_id=release_id), ALLOWED).release_id == release_id


# --- bad manifests: the schema --------------------------------------------------------------------

SCHEMA_CASES = {
    "not an object": (["api"], ["the manifest must be", "got an array of 1 item", '"release_id": "5.16"']),
    "no release_id": ({"pipelines": ["api"]}, ["release_id is missing: it must be 1-80 letters", 'for example "release_id": "2026-12-01.1"']),
    "no pipelines": ({"release_id": "5.16"}, ["pipelines is missing: it must be 1-50 pipelines", 'for example "pipelines": ["api-pipeline"']),
    "an empty list": (manifest(pipelines=[]), ["pipelines must be 1-50 pipelines", "got an array of 0 items"]),
    "51 pipelines": (manifest(pipelines=[f"p{index}" for index in range(51)]), ["pipelines must be 1-50 pipelines", "got an array of 51 items"]),
    "pipelines not a list": (manifest(pipelines="api"), ["pipelines must be 1-50 pipelines", 'got the string "api"']),
    "unknown top-level key": (manifest(release="5.16"), ['the manifest has the unknown key "release"; a release manifest takes release_id, pipelines, on_failure']),
    "unknown pipeline key": (
        manifest(pipelines=[{"name": "api", "depends_on": ["web"]}]),
        ['pipelines[0] has the unknown key "depends_on"; a pipeline takes name, source_revisions, variables, role_arn, after', 'for example {"name": "web-pipeline"'],
    ),
    "unknown revision key": (
        manifest(pipelines=[{"name": "api", "source_revisions": [{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "a", "branch": "main"}]}]),
        ['pipelines[0].source_revisions[0] has the unknown key "branch"; a source revision takes actionName, revisionType, revisionValue'],
    ),
    "a pipeline object without name": (manifest(pipelines=[{"after": ["web"]}]), ["pipelines[0].name is missing: it must be a CodePipeline pipeline name"]),
    "a number for a pipeline": (manifest(pipelines=["api", 7]), ["pipelines[1] must be either a CodePipeline pipeline name", ", or an object with 'name'", "got the number 7"]),
    "a bad pipeline name": (
        manifest(pipelines=["api pipeline"]),
        ["pipelines[0] must be a CodePipeline pipeline name: 1-100 letters, digits or . @ - _", 'got the string "api pipeline"'],
    ),
    "a pipeline name too long": (manifest(pipelines=["a" * 101]), ["pipelines[0] must be a CodePipeline pipeline name", "(101 characters)"]),
    "a wrong type of name": (manifest(pipelines=[{"name": ["api"]}]), ["pipelines[0].name must be a CodePipeline pipeline name", "got an array of 1 item"]),
    "after not a list": (manifest(pipelines=["api", {"name": "web", "after": "api"}]), ["pipelines[1].after must be up to 49 different names", 'for example "after": ["api-pipeline"]']),
    "after with a bad name": (
        manifest(pipelines=["api", {"name": "web", "after": ["api", "a/b"]}]),
        ["pipelines[1].after[1] must be a CodePipeline pipeline name", 'got the string "a/b"'],
    ),
    "after twice the same": (manifest(pipelines=["api", {"name": "web", "after": ["api", "api"]}]), ['pipelines[1].after names "api" twice']),
    "revision type": (
        manifest(pipelines=[{"name": "api", "source_revisions": [{"actionName": "Source", "revisionType": "BRANCH", "revisionValue": "main"}]}]),
        ["pipelines[0].source_revisions[0].revisionType must be COMMIT_ID | IMAGE_DIGEST | S3_OBJECT_VERSION_ID | S3_OBJECT_KEY", 'got the string "BRANCH"'],
    ),
    "revision without value": (
        manifest(pipelines=[{"name": "api", "source_revisions": [{"actionName": "Source", "revisionType": "COMMIT_ID"}]}]),
        ["pipelines[0].source_revisions[0].revisionValue is missing: it must be text of 1-1500 characters"],
    ),
    "51 revisions": (
        manifest(pipelines=[{"name": "api", "source_revisions": [{"actionName": f"S{index}", "revisionType": "COMMIT_ID", "revisionValue": "a"} for index in range(51)]}]),
        ["pipelines[0].source_revisions must be up to 50 objects", "got an array of 51 items"],
    ),
    "a variable name": (manifest(pipelines=[{"name": "api", "variables": {"my var": "x"}}]), ['pipelines[0].variables has the name "my var", which is not a pipeline variable name']),
    "a variable value": (manifest(pipelines=[{"name": "api", "variables": {"release": 5}}]), ["pipelines[0].variables.release must be text of 1-1000 characters, got the number 5"]),
    "an empty variable": (
        manifest(pipelines=[{"name": "api", "variables": {"release": ""}}]),
        ["pipelines[0].variables.release must be text of 1-1000 characters, got an empty string"],
    ),
    "a long variable": (
        manifest(pipelines=[{"name": "api", "variables": {"release": "x" * 1001}}]),
        ["pipelines[0].variables.release must be text of 1-1000 characters", "(1,001 characters)"],
    ),
    "51 variables": (manifest(pipelines=[{"name": "api", "variables": {f"v{index}": "x" for index in range(51)}}]), ["pipelines[0].variables must be up to 50 pipeline variables"]),
    "variables a list": (
        manifest(pipelines=[{"name": "api", "variables": [{"name": "release", "value": "5.16"}]}]),
        ["pipelines[0].variables must be up to 50", 'for example "variables": {"release": "5.16"}'],
    ),
    "a wildcard role": (manifest(pipelines=[{"name": "other", "role_arn": "arn:aws:iam::111111111111:role/*"}]), ["pipelines[0].role_arn must be an IAM role ARN without wildcards"]),
    "a user, not a role": (manifest(pipelines=[{"name": "other", "role_arn": "arn:aws:iam::111111111111:user/ada"}]), ["pipelines[0].role_arn must be an IAM role ARN"]),
    "on_failure": (manifest(on_failure="abort"), ['on_failure must be "stop" (stop the pipelines still running and start no more) or "continue"', 'got the string "abort"']),
    "timeout 0": (manifest(timeout_minutes=0), ["timeout_minutes must be a whole number of minutes from 1 to 1440, got the number 0", '"timeout_minutes": 120']),
    "timeout 1441": (manifest(timeout_minutes=1441), ["timeout_minutes must be a whole number of minutes from 1 to 1440, got the number 1441"]),
    "timeout a string": (manifest(timeout_minutes="60"), ['timeout_minutes must be a whole number of minutes from 1 to 1440, got the string "60"']),
    "timeout a boolean": (manifest(timeout_minutes=True), ["timeout_minutes must be a whole number of minutes from 1 to 1440, got the boolean true"]),
    "timeout a fraction": (manifest(timeout_minutes=1.5), ["timeout_minutes must be a whole number", "got the number 1.5"]),
    "timeout enormous": (manifest(timeout_minutes=10**400), ["timeout_minutes must be a whole number", "got a number of more than 15 digits"]),
    "concurrency 0": (manifest(max_concurrency=0), ["max_concurrency must be a whole number from 1 to 20", "got the number 0"]),
    "concurrency 21": (manifest(max_concurrency=21), ["max_concurrency must be a whole number from 1 to 20", "got the number 21"]),
    "description too long": (manifest(description="d" * 1025), ["description must be text of at most 1024 characters", "(1,025 characters)"]),
    "description null": (manifest(description=None), ["description must be text of at most 1024 characters, got null"]),
}

RELEASE_IDS = {
    "empty": "",
    "a space": "5 16",
    "a slash": "release/5.16",
    "a colon": "5:16",
    "brackets": "[5.16]",
    "a wildcard": "5.*",
    "a trailing newline": "5.16\n",
    "a leading dot": ".5.16",
    "a leading dash": "-5.16",
    "not ASCII": "5.16é",
    "81 characters": "9" * 81,
}


@pytest.mark.parametrize("case", sorted(SCHEMA_CASES))
def test_a_manifest_that_breaks_the_schema_is_refused_naming_the_field(case: str) -> None:
    document, expected = SCHEMA_CASES[case]
    message = refused(document)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert "for example" in message
    assert not jsonschema.Draft4Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).is_valid(document), "jsonschema takes what fastjsonschema refused"


@pytest.mark.parametrize("case", sorted(RELEASE_IDS))
def test_bad_release_ids(case: str) -> None:
    message = refused(manifest(release_id=RELEASE_IDS[case]))
    assert message.startswith("release_id must be 1-80 letters, digits, '.', '-' or '_', starting with a letter or digit")
    assert message.endswith('for example "release_id": "2026-12-01.1"')


def test_several_errors_are_listed_the_first_five_of_them() -> None:
    message = refused({"release_id": "5 16", "pipelines": [1, 2, 3, 4, 5, 6], "on_failure": "x"})
    assert message.startswith("the manifest has more than 5 errors; the first 5: 1. release_id must be")
    assert "2. pipelines[0] must be either" in message and "5. pipelines[3] must be" in message
    message = refused({"release_id": "5 16", "pipelines": ["api"], "max_concurrency": 99})
    assert message.startswith("the manifest has 2 errors: 1. release_id must be") and "| 2. max_concurrency must be" in message


def test_a_schema_error_is_never_the_validator_s_own_words() -> None:
    message = refused(manifest(pipelines=[{"name": "api", "after": [1]}]))
    assert message.startswith("pipelines[0].after[0] must be a CodePipeline pipeline name")
    assert "data." not in message and "must be valid exactly by one definition" not in message


# --- bad manifests: the rules beyond the schema ---------------------------------------------------


def test_a_cycle_is_named() -> None:
    message = refused(manifest(pipelines=[{"name": "api", "after": ["web"]}, {"name": "web", "after": ["api"]}]))
    assert message == "pipelines[0].after: the pipelines' 'after' lists form a cycle, api -> web -> api, so none of them could start; remove one of these 'after' entries"


def test_a_longer_cycle_is_named_from_where_it_closes() -> None:
    pipelines = ["docs", {"name": "api", "after": ["search"]}, {"name": "web", "after": ["api", "docs"]}, {"name": "search", "after": ["web"]}]
    assert "form a cycle, api -> search -> web -> api," in refused(manifest(pipelines=pipelines))


def test_a_pipeline_after_itself() -> None:
    message = refused(manifest(pipelines=["api", {"name": "web", "after": ["api", "web"]}]))
    assert message == "pipelines[1].after[1] names the pipeline itself (\"web\"): 'after' lists the other pipelines that must succeed first"


def test_an_unknown_name_in_after() -> None:
    message = refused(manifest(pipelines=["api", {"name": "web", "after": ["apii"]}]))
    assert message == 'pipelines[1].after[0] "apii" is not a pipeline of this release (they are api, web); for example "after": ["api-pipeline"]'


def test_a_duplicate_name() -> None:
    message = refused(manifest(pipelines=["api", "web", {"name": "api", "after": ["web"]}]))
    assert message == 'pipelines[2].name "api" is also pipelines[0]: each pipeline appears once in a release'


def test_a_source_action_given_twice() -> None:
    revisions = [{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": value} for value in ("a", "b")]
    assert refused(manifest(pipelines=[{"name": "api", "source_revisions": revisions}])).startswith('pipelines[0].source_revisions[1].actionName "Source" is given twice')


def test_a_pipeline_the_platform_may_not_start() -> None:
    message = refused(manifest(pipelines=["api", "payroll"]))
    assert message.startswith('pipelines[1].name "payroll" is not a pipeline this platform may start (it may start: "api, billing, docs, search, web")')
    assert "give the role_arn of a role the platform may assume" in message
    assert 'it may start: "none"' in refused(manifest(), Allowed(pipelines=frozenset()))


def test_a_role_the_platform_may_not_assume() -> None:
    message = refused(manifest(pipelines=[{"name": "ledger", "role_arn": OTHER_ROLE}]))
    assert message.startswith(f'pipelines[0].role_arn "{OTHER_ROLE}" is not a role this platform may assume (it may assume: "{ROLE}")')


def test_a_role_for_a_pipeline_of_the_platform_s_own_account() -> None:
    message = refused(manifest(pipelines=[{"name": "api", "role_arn": ROLE}]))
    assert message == 'pipelines[0].role_arn is given, but "api" is a pipeline of the platform\'s own account, which it starts without a role: leave role_arn out'


def test_a_lone_surrogate_is_not_text_aws_can_take() -> None:
    assert refused(manifest(description="broken \ud800")).startswith("description is not valid Unicode text")
    assert refused(manifest(pipelines=[{"name": "api", "variables": {"v": "\udfff"}}])).startswith("pipelines[0].variables.v is not valid Unicode text")


def test_rule_errors_are_listed_together() -> None:
    message = refused(manifest(pipelines=["payroll", "payroll", {"name": "web", "after": ["nope"]}]))
    assert message.startswith('the manifest has 4 errors: 1. pipelines[1].name "payroll" is also pipelines[0]')
    assert '2. pipelines[0].name "payroll" is not a pipeline this platform may start' in message and '4. pipelines[2].after[0] "nope"' in message


# --- what cannot be read --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the manifest is not JSON: Expecting value at line 1 column 1"),
        ('{"release_id": "5.16",', "the manifest is not JSON: Expecting property name enclosed in double quotes at line 1 column 23"),
        ('{"release_id": "5.16", "release_id": "5.17", "pipelines": ["api"]}', 'an object of the manifest has the key "release_id" twice'),
        ('{"release_id": "5.16", "pipelines": ["api"], "timeout_minutes": NaN}', "the manifest is not JSON: NaN is not a JSON number"),
        (b"\xff\xfe", "the manifest is not UTF-8 text"),
    ],
)
def test_text_that_is_not_a_json_manifest(text: str | bytes, expected: str) -> None:
    assert refused(text).startswith(expected)


def test_absurdly_deep_documents_are_refused_without_recursing() -> None:
    deep: Any = "api"
    for _ in range(200_000):
        deep = [deep]
    assert refused(manifest(pipelines=deep)).startswith("pipelines[0][0][0][0][0][0][0][0][0] is nested more than 10 levels deep")
    deep_object: Any = {}
    for _ in range(200_000):
        deep_object = {"after": deep_object}
    assert "is nested more than 10 levels deep" in refused(manifest(pipelines=[deep_object]))
    assert refused("[" * 60_000 + "]" * 60_000) == "the manifest is nested too deeply to read; a release manifest is at most 10 levels deep"
    # Within the depth limit, a nested value still gets the schema's words (and uniqueItems, which recurses, gets no deeper).
    message = refused(manifest(pipelines=[{"name": "api", "after": [[[["x"]]], [[["x"]]]]}]))
    assert message.startswith("the manifest has 3 errors: 1. pipelines[0].after must be up to 49 different names")
    assert "2. pipelines[0].after[0] must be a CodePipeline pipeline name: 1-100 letters, digits or . @ - _, got an array of 1 item" in message


def test_huge_documents_are_refused_quickly() -> None:
    assert refused(manifest(pipelines=["api"] * 2_000_000)) == "pipelines has 2,000,000 entries; a release manifest is far smaller (at most 50 pipelines)"
    assert refused(manifest(pipelines=[{"name": "api", "after": ["web"] * 30_000}] * 4)).startswith("the manifest has more than 100,000 values")
    assert refused(manifest(release_id="x" * 50_000_000)).startswith("release_id must be 1-80 letters")
    assert refused(json.dumps(manifest(description="d" * 200_000))).startswith("the manifest is 200,")
    message = refused(manifest(**{f"key{index}": index for index in range(50_000)}))
    assert message.startswith('the manifest has the unknown keys "key0", "key1", "key2" and 49997 more')


def test_a_manifest_the_schema_takes_can_still_be_too_large_for_an_execution() -> None:
    variables = {f"v{index}": "x" * 1000 for index in range(50)}
    document = manifest(pipelines=[{"name": name, "variables": variables} for name in ("api", "web", "docs")])
    assert jsonschema.Draft4Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).is_valid(document)
    assert refused(document).startswith("the manifest is 151,443 bytes as JSON; a release manifest is at most 131,072")
