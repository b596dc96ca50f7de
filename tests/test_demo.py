"""What `make demo` prints, from small made-up executions, records and pipeline runs
(local_aws/demo.py), and the check of the directory `make demo APP=...` pushes."""

import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from local_aws import demo
from local_aws.codepipeline import ActionRun, PipelineRun

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = json.loads((ROOT / "asl" / "deployment.asl.json").read_text(encoding="utf-8"))
START = datetime(2026, 1, 1, tzinfo=UTC)


# --- the application directory ---------------------------------------------------------------------


def sample_app(tmp_path: Path) -> Path:
    app = tmp_path / "my-app"
    shutil.copytree(ROOT / "app", app, ignore=shutil.ignore_patterns("__pycache__"))
    return app


def test_a_copy_of_the_sample_app_can_be_pushed(tmp_path: Path) -> None:
    assert demo.app_problem(sample_app(tmp_path)) is None


def test_a_handler_package_instead_of_a_module_will_do(tmp_path: Path) -> None:
    app = sample_app(tmp_path)
    (app / "src" / "app").mkdir()
    (app / "src" / "app.py").rename(app / "src" / "app" / "__init__.py")
    assert demo.app_problem(app) is None


def test_a_path_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    assert demo.app_problem(tmp_path / "nowhere") == f"--app {tmp_path / 'nowhere'}: not a directory"
    (tmp_path / "file").write_text("")
    assert demo.app_problem(tmp_path / "file") == f"--app {tmp_path / 'file'}: not a directory"


def test_every_missing_file_is_named_with_what_it_is_for(tmp_path: Path) -> None:
    app = sample_app(tmp_path)
    (app / "buildspec.yml").unlink()
    shutil.rmtree(app / "tests")
    problem = demo.app_problem(app)
    assert problem is not None
    assert problem.splitlines() == [
        f"--app {app}: the commit is this directory as its app/ folder, and it lacks",
        "  buildspec.yml    the buildspec the Build stage runs (buildspec_path is app/buildspec.yml)",
        "  tests/           the unit tests app/buildspec.yml runs before packaging",
    ]


def test_an_empty_directory_lacks_all_four(tmp_path: Path) -> None:
    problem = demo.app_problem(tmp_path)
    assert problem is not None
    assert [line.split()[0] for line in problem.splitlines()[1:]] == list(demo.APP_LAYOUT)


def test_main_refuses_a_bad_app_before_anything_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("local_aws.stack.LocalStack.up", lambda *args, **kwargs: pytest.fail("the stack was applied"))
    with pytest.raises(SystemExit) as exited:
        demo.main(["--app", str(tmp_path)])
    assert str(exited.value).startswith(f"--app {tmp_path}: the commit is this directory as its app/ folder, and it lacks\n  buildspec.yml")


def test_the_commit_id_follows_the_files(tmp_path: Path) -> None:
    app = sample_app(tmp_path)
    first = demo.source_commit_id(app)
    assert len(first) == 7 and int(first, 16) >= 0
    assert demo.source_commit_id(app) == first
    (app / "test_cases.json").write_text("{}")
    assert demo.source_commit_id(app) != first


# --- pipeline summaries and deployment configs ------------------------------------------------------


def test_a_short_summary_is_printed_whole() -> None:
    assert demo.shorten("commit c0ffee1") == "commit c0ffee1"


def test_a_long_build_failure_keeps_its_first_line_and_its_end() -> None:
    output = "\n".join(f"test_{index} (test_app.Greeting) ... ok" for index in range(60))
    summary = f"phase pre_build failed: command 'python -m unittest' exited 1: {output}\nAssertionError: 'Hello, Ada!' != 'Bonjour, Ada!'\n\nFAILED (failures=1)"
    short = demo.shorten(summary)
    assert short.startswith("phase pre_build failed: command 'python -m unittest' exited 1: test_0 (test_app.Greeting) ... ok … ")
    assert short.endswith("AssertionError: 'Hello, Ada!' != 'Bonjour, Ada!'\n\nFAILED (failures=1)")
    assert len(short) <= demo.SUMMARY_HEAD + demo.SUMMARY_TAIL + 3


@pytest.mark.parametrize(
    ("routing", "meaning"),
    [
        ({"type": "AllAtOnce"}, "all traffic at once"),
        ({}, "all traffic at once"),
        ({"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 5}}, "10% then the rest after 5 min = 5 s at the local 60x clock"),
        ({"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 10, "linearInterval": 1}}, "10% more every 1 min, all after 9 min = 9 s at the local 60x clock"),
        ({"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 25, "linearInterval": 2}}, "25% more every 2 min, all after 6 min = 6 s at the local 60x clock"),
    ],
)
def test_a_deployment_config_is_told_in_aws_minutes_and_local_seconds(routing: dict[str, Any], meaning: str) -> None:
    assert demo.config_meaning(routing, 60.0) == meaning


def test_the_local_seconds_follow_the_clock() -> None:
    canary = {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 30}}
    assert demo.config_meaning(canary, 600.0) == "10% then the rest after 30 min = 3 s at the local 600x clock"


# --- the states of an execution ---------------------------------------------------------------------


def test_the_failure_path_is_every_state_that_cannot_lead_to_success() -> None:
    failing = demo.failure_path(DEFINITION)
    assert {"StagingTestsFailure", "ValidationError", "Rollback", "RollbackError", "NotifyFailure", "RecordFailure", "FailWith", "StagingTestsFailed"} <= failing
    assert not {"Initialize", "ValidateCode", "CodeValid", "StagingTestsPassed", "WaitBeforeStagingCheck", "RecordSuccess", "NotifySuccess", "DeploymentSucceeded"} & failing


def history(*steps: tuple[str, str, str]) -> list[dict[str, Any]]:
    """Events of (state type, name, how it ends: "ok", "fail:<Error>", "retry:<Error>", "end")."""
    events: list[dict[str, Any]] = []
    clock = iter(START + timedelta(milliseconds=10 * tick) for tick in range(1000))

    def add(kind: str, **details: Any) -> None:
        events.append({"timestamp": next(clock), "type": kind, "id": len(events) + 1} | details)

    for state_type, name, ending in steps:
        add(f"{state_type}StateEntered", stateEnteredEventDetails={"name": name})
        if ending == "end":
            continue
        if state_type == "Task":
            for attempt in [ending, "ok"] if ending.startswith("retry:") else [ending]:
                add("LambdaFunctionScheduled")
                if attempt.startswith(("fail:", "retry:")):
                    add("LambdaFunctionFailed", lambdaFunctionFailedEventDetails={"error": ending.split(":", 1)[1]})
                else:
                    add("LambdaFunctionSucceeded", lambdaFunctionSucceededEventDetails={"output": "{}"})
        add(f"{state_type}StateExited", stateExitedEventDetails={"name": name})
    return events


def outcomes(lines: list[str]) -> dict[str, str]:
    """State name -> what its line says after the duration."""
    found = {}
    for line in lines:
        name, rest = line[:34].strip(), line[34:]
        found[name] = rest.split(" s  ", 1)[1] if " s  " in rest else rest.strip()
    return found


def test_a_staging_test_failure_reads_as_a_failure_after_the_choice() -> None:
    lines = demo.state_lines(
        history(
            ("Task", "RunTestsInStaging", "ok"),
            ("Choice", "StagingTestsPassed", "ok"),
            ("Pass", "StagingTestsFailure", "ok"),
            ("Task", "Rollback", "ok"),
            ("Task", "NotifyFailure", "ok"),
            ("Choice", "FailWith", "ok"),
            ("Fail", "StagingTestsFailed", "end"),
        ),
        DEFINITION,
    )
    assert outcomes(lines) == {
        "RunTestsInStaging": "ok",
        "StagingTestsPassed": "→ StagingTestsFailure",
        "StagingTestsFailure": "ok (failure path)",
        "Rollback": "ok (failure path)",
        "NotifyFailure": "ok (failure path)",
        "FailWith": "→ StagingTestsFailed",
        "StagingTestsFailed": "end",
    }
    assert lines[0] == f"{'RunTestsInStaging':<34}{0.03:7.2f} s  ok"  # entered, scheduled, succeeded, exited: 10 ms apart


def test_a_caught_task_failure_shows_its_error_and_a_choice_on_the_happy_path_says_ok() -> None:
    lines = demo.state_lines(
        history(
            ("Task", "ValidateCode", "ok"),
            ("Choice", "CodeValid", "ok"),
            ("Task", "RunTests", "fail:States.TaskFailed"),
            ("Pass", "PackageTestsError", "ok"),
        ),
        DEFINITION,
    )
    assert outcomes(lines) == {"ValidateCode": "ok", "CodeValid": "ok", "RunTests": "caught States.TaskFailed", "PackageTestsError": "ok (failure path)"}


def test_a_task_that_succeeded_on_a_retry_is_ok() -> None:
    lines = demo.state_lines(history(("Task", "DeployStaging", "retry:Lambda.TooManyRequestsException"), ("Wait", "WaitForStagingShift", "ok")), DEFINITION)
    assert outcomes(lines) == {"DeployStaging": "ok", "WaitForStagingShift": "ok"}


# --- the outcome ------------------------------------------------------------------------------------


def test_a_deployment_to_both_environments() -> None:
    record = {"status": "SUCCEEDED", "staging": {"previous_version": "2", "new_version": "3"}, "production": {"previous_version": "2", "new_version": "3"}}
    assert demo.outcome_sentence({"status": "SUCCEEDED"}, record, {"staging": "3", "production": "3"}) == "deployed: staging 2 → 3, production 2 → 3"


def test_a_staging_rollback_leaves_production_untouched() -> None:
    record = {"status": "FAILED", "staging": {"previous_version": "2", "new_version": "3", "rolled_back_to": "2"}}
    execution = {"status": "FAILED", "error": "StagingTestsFailed"}
    assert demo.outcome_sentence(execution, record, {"staging": "2", "production": "2"}) == "staging tests failed: rolled back staging 3 → 2, production untouched on 2"


def test_a_production_rollback() -> None:
    record = {
        "status": "FAILED",
        "staging": {"previous_version": "2", "new_version": "3", "rolled_back_to": "2"},
        "production": {"previous_version": "2", "new_version": "3", "rolled_back_to": "2"},
    }
    execution = {"status": "FAILED", "error": "ProductionVerificationFailed"}
    sentence = demo.outcome_sentence(execution, record, {"staging": "2", "production": "2"})
    assert sentence == "production verification failed: rolled back staging 3 → 2, rolled back production 3 → 2"


def test_a_validation_failure_deployed_nothing() -> None:
    execution = {"status": "FAILED", "error": "ValidationFailed"}
    assert demo.outcome_sentence(execution, {"status": "FAILED"}, {"staging": "2", "production": "2"}) == "validation failed: nothing deployed (staging 2, production 2)"


def test_package_tests_and_a_stopped_execution_in_words() -> None:
    assert demo.failure_words("TestsFailed", "FAILED") == "package tests failed"
    assert demo.failure_words("DeploymentTimedOut", "FAILED") == "deployment timed out"
    assert demo.failure_words(None, "ABORTED") == "stopped"


def test_code_that_staging_already_runs_is_no_change() -> None:
    record = {"status": "SUCCEEDED", "staging": {"previous_version": "3", "new_version": "3"}, "production": {"previous_version": "2", "new_version": "3"}}
    sentence = demo.outcome_sentence({"status": "SUCCEEDED"}, record, {"staging": "3", "production": "3"})
    assert sentence == "deployed: staging unchanged on 3 (it already ran this code), production 2 → 3"


def test_a_pipeline_that_stopped_before_deploy() -> None:
    run = PipelineRun(
        "sls-cd", "e-1", "abc1234", [ActionRun("Source", "Source", "Succeeded", "commit abc1234", 0.1), ActionRun("Build", "Build", "Failed", "phase pre_build failed", 1.0)]
    )
    assert demo.no_execution_sentence(run, {"staging": "1", "production": "1"}) == "the pipeline failed at Build: nothing deployed (staging 1, production 1)"


def test_keep_says_how_to_reach_the_stack_and_that_ctrl_c_destroys_it() -> None:
    outputs = {
        "staging_function_name": "sls-cd-app-staging",
        "alias_name": "live",
        "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:sls-cd",
        "deployments_table_name": "sls-cd-deployments",
    }
    out = io.StringIO()
    demo.print_how_to_reach(SimpleNamespace(endpoint="http://127.0.0.1:4566", outputs=outputs), out)  # type: ignore[arg-type]
    printed = out.getvalue()
    assert "until Ctrl-C, which destroys it" in printed
    cli = "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws --endpoint-url http://127.0.0.1:4566 --region us-east-1"
    assert f'  {cli} lambda invoke --function-name sls-cd-app-staging:live --cli-binary-format raw-in-base64-out --payload \'{{"name": "Ada"}}\' /dev/stdout\n' in printed
    assert f"  {cli} stepfunctions list-executions --state-machine-arn {outputs['state_machine_arn']}\n" in printed
