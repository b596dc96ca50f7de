"""`make demo APP=DIR` on an application of one's own: a copy of the sample app whose new test case
fails in staging, pushed by the demo's own function, read as a user reads the demo's output."""

import io
import json
import re
import shutil
from pathlib import Path

from local_aws import demo
from local_aws.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]


def app_failing_in_staging(folder: Path) -> Path:
    app = folder / "greeter"
    shutil.copytree(ROOT / "app", app, ignore=shutil.ignore_patterns("__pycache__"))
    source = app / "src" / "app.py"
    source.write_text(source.read_text(encoding="utf-8").replace('VERSION = "1.0.0"', 'VERSION = "1.9.0"'), encoding="utf-8")
    cases = json.loads((app / "test_cases.json").read_text(encoding="utf-8"))
    cases["cases"].append(
        {
            "name": "greets in Spanish",
            "event": {"queryStringParameters": {"name": "Ada", "lang": "es"}},
            "expect": {"statusCode": 200, "body.message": "¡Hola, Ada!"},
            "phases": ["staging"],
        }
    )
    (app / "test_cases.json").write_text(json.dumps(cases, indent=2), encoding="utf-8")
    return app


def test_an_app_failing_in_staging_is_rolled_back_and_production_is_untouched(stack: LocalStack, tmp_path: Path) -> None:
    app = app_failing_in_staging(tmp_path)
    assert demo.app_problem(app) is None
    aliases_before = {environment: stack.alias_routing(environment) for environment in ("staging", "production")}
    out = io.StringIO()

    pushed = demo.push_own_app(stack, app, out, pictures=tmp_path)

    printed = out.getvalue()
    assert pushed.execution is not None, printed
    commit = pushed.run.commit_id
    assert f"== your app: {app} as commit {commit}" in printed
    assert re.search(r"pipeline Build +Succeeded +built BuildOutput with app/buildspec.yml", printed), printed
    assert re.search(r"pipeline Deploy +Failed +StagingTestsFailed: 1 of \d+ test cases failed in staging: 'greets in Spanish'", printed), printed
    assert re.search(r"production: +CodeDeployDefault\.LambdaCanary10Percent5Minutes \(10% then the rest after 5 min = 5 s at the local 60x clock\)", printed), printed
    assert re.search(r"StagingTestsPassed +\d+\.\d\d s  → StagingTestsFailure\n", printed), printed
    for state in ("StagingTestsFailure", "Rollback", "NotifyFailure", "RecordFailure"):
        assert re.search(rf"\n +{state} +\d+\.\d\d s  ok \(failure path\)\n", printed), f"{state}:\n{printed}"
    assert re.search(r"\n +StagingTestsFailed +end\n", printed), printed
    assert "\n   error: StagingTestsFailed\n" in printed
    assert 'expected "¡Hola, Ada!", got "Hello, Ada!"' in printed  # the cause
    staging = pushed.record["staging"]
    production_version = pushed.live_before["production"]
    sentence = f"staging tests failed: rolled back staging {staging['new_version']} → {pushed.live_before['staging']}, production untouched on {production_version}"
    assert f"\n   outcome: {sentence}\n" in printed, printed
    assert "production" not in pushed.record
    # What the sentence says is what the aliases show: nothing moved, no canary weight left.
    assert stack.live_versions() == pushed.live_before
    assert {environment: stack.alias_routing(environment) for environment in ("staging", "production")} == aliases_before
    assert (tmp_path / f"{pushed.execution['name']}.svg").is_file()
