"""The DeploymentStateMachine's shape: every path ends where the design says it must."""

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import errors

ASL_PATH = Path(__file__).resolve().parent.parent / "asl" / "deployment.asl.json"
DEFINITION: dict[str, Any] = json.loads(ASL_PATH.read_text())
STATES: dict[str, dict[str, Any]] = DEFINITION["States"]
FIRST_DEPLOYMENT = "DeployStaging"
TRANSIENT_LAMBDA_ERRORS = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"}


def successors(name: str) -> Iterator[str]:
    state = STATES[name]
    for key in ("Next", "Default"):
        if key in state:
            yield state[key]
    for rule in state.get("Choices", []) + state.get("Catch", []):
        yield rule["Next"]


def failure_successors(name: str) -> Iterator[str]:
    """Where a state goes when it fails: its Catch targets and a Choice's non-success branches."""
    state = STATES[name]
    yield from (rule["Next"] for rule in state.get("Catch", []))
    if state["Type"] == "Choice" and "Default" in state:
        yield state["Default"]


def reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(successors(name))
    return seen


def paths_to_fail(start: str) -> Iterator[list[str]]:
    """Every acyclic path from `start` to a Fail state."""

    def walk(path: list[str]) -> Iterator[list[str]]:
        name = path[-1]
        if STATES[name]["Type"] == "Fail":
            yield path
            return
        for successor in successors(name):
            if successor not in path:
                yield from walk([*path, successor])

    yield from walk([start])


def lambda_tasks() -> list[str]:
    return [name for name, state in STATES.items() if state["Type"] == "Task" and state["Resource"].startswith("${")]


def happy_path(approval: bool = False) -> list[str]:
    """States visited when every check passes and deployments succeed at the first check, for a
    service without production approval (or with it, approved)."""
    path, name = [], DEFINITION["StartAt"]
    while name:
        path.append(name)
        state = STATES[name]
        if name == "ApprovalRequired" and not approval:
            name = state["Default"]
        elif state["Type"] == "Choice":
            name = state["Choices"][0]["Next"]
        else:
            name = state.get("Next")
    return path


def test_an_approved_deployment_asks_for_the_decision_between_staging_tests_and_production() -> None:
    tasks = [name for name in happy_path(approval=True) if STATES[name]["Type"] == "Task"]
    assert tasks[tasks.index("RunTestsInStaging") :][:4] == ["RunTestsInStaging", "DescribeProduction", "RequestApproval", "DeployProduction"]
    request = STATES["RequestApproval"]
    assert request["Resource"] == "arn:${partition}:states:::lambda:invoke.waitForTaskToken"
    assert request["Parameters"]["Payload"]["token.$"] == "$$.Task.Token" and request["Parameters"]["Payload"]["service.$"] == "$.service"
    assert request["TimeoutSecondsPath"] == "$.service.approval.timeout_seconds"
    catches = {tuple(catch["ErrorEquals"]): catch["Next"] for catch in request["Catch"]}
    assert catches == {("States.Timeout",): "ApprovalTimeout", ("States.ALL",): "ApprovalError"}
    # Rejected, timed out or not asked for: staging is rolled back, and the execution fails so named.
    for state, error in (("ProductionRejection", "ProductionRejected"), ("ApprovalTimeout", "ApprovalTimedOut"), ("ApprovalError", "ApprovalFailed")):
        assert STATES[state]["Parameters"]["error"] == error and "Rollback" in reachable(state) and STATES[error]["Type"] == "Fail"
        assert {"Variable": "$.failure.error", "StringEquals": error, "Next": error} in STATES["FailWith"]["Choices"]


def test_every_transition_target_exists_and_every_state_is_reachable() -> None:
    targets = {target for name in STATES for target in successors(name)}
    assert targets <= set(STATES), f"missing states: {targets - set(STATES)}"
    assert reachable(DEFINITION["StartAt"]) == set(STATES)


def test_happy_path_runs_the_documented_flow_in_order() -> None:
    tasks = [name for name in happy_path() if STATES[name]["Type"] == "Task"]
    assert tasks == [
        "NotifyStarted",
        "ValidateCode",
        "RunTests",
        "DeployStaging",
        "CheckStagingDeployment",
        "RunTestsInStaging",
        "DeployProduction",
        "CheckProductionDeployment",
        "VerifyProduction",
        "RecordSuccess",
        "NotifySuccess",
    ]
    assert STATES[happy_path()[-1]]["Type"] == "Succeed"


def test_every_failure_after_the_first_deployment_rolls_back_before_failing() -> None:
    after_deployment = reachable(FIRST_DEPLOYMENT) & set(happy_path())
    for name in after_deployment:
        for start in failure_successors(name):
            for path in paths_to_fail(start):
                assert "Rollback" in path, f"{name} fails through {' -> '.join(path)} without rolling back"


def test_failures_before_any_deployment_notify_and_fail_without_rollback() -> None:
    for name in ("ServiceNamed", "ValidateCode", "CodeValid", "RunTests", "PackageTestsPassed"):
        for start in failure_successors(name):
            for path in paths_to_fail(start):
                assert "Rollback" not in path and "NotifyFailure" in path, " -> ".join(path)


def test_each_named_failure_ends_in_the_fail_state_of_that_name() -> None:
    fail_states = {name: state for name, state in STATES.items() if state["Type"] == "Fail"}
    for name, state in fail_states.items():
        assert state["Error"] == name and state["CausePath"] == "$.failure.cause"
    named = {state["Parameters"]["error"] for state in STATES.values() if state.get("ResultPath") == "$.failure" and "error" in state["Parameters"]}
    # A state that takes the name of the error it caught: the names its Catch rules match.
    named |= {
        error
        for state in STATES.values()
        for rule in state.get("Catch", [])
        if STATES[rule["Next"]].get("Parameters", {}).get("error.$") == "$.error.Error"
        for error in rule["ErrorEquals"]
    }
    assert named == set(fail_states)
    routes = {rule["StringEquals"]: rule["Next"] for rule in STATES["FailWith"]["Choices"]}
    assert routes == {name: name for name in fail_states}
    assert {
        "ValidationFailed",
        "TestsFailed",
        "StagingDeploymentFailed",
        "StagingTestsFailed",
        "ProductionDeploymentFailed",
        "ProductionVerificationFailed",
        "DeploymentTimedOut",
        "RollbackFailed",
    } <= set(fail_states)


def test_a_timed_out_deployment_is_rolled_back_and_named() -> None:
    for environment in ("Staging", "Production"):
        catches = STATES[f"Check{environment}Deployment"]["Catch"]
        assert catches[0]["ErrorEquals"] == ["DeploymentTimedOut"]
        timeout = STATES[catches[0]["Next"]]
        assert timeout["Parameters"]["error"] == "DeploymentTimedOut" and timeout["Next"] == "Rollback"


def test_every_lambda_task_retries_transient_errors_with_backoff_and_catches_the_rest() -> None:
    for name in lambda_tasks():
        state = STATES[name]
        transient = [rule for rule in state["Retry"] if TRANSIENT_LAMBDA_ERRORS <= set(rule["ErrorEquals"])]
        assert transient and transient[0]["BackoffRate"] > 1 and {"Throttled", "ServiceUnavailable"} <= set(transient[0]["ErrorEquals"]), name
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name


def test_a_busy_deployment_group_is_retried_not_failed() -> None:
    for name in ("DeployStaging", "DeployProduction"):
        assert any(rule["ErrorEquals"] == ["DeploymentInProgress"] for rule in STATES[name]["Retry"]), name


def test_a_function_lambda_is_still_updating_is_waited_for_not_failed() -> None:
    for name in ("DeployStaging", "DeployProduction", "Rollback"):
        busy = [rule for rule in STATES[name]["Retry"] if rule["ErrorEquals"] == ["FunctionBusy"]]
        assert busy and busy[0]["MaxAttempts"] >= 3 and busy[0]["BackoffRate"] > 1, name


def test_error_names_in_the_asl_are_raised_by_the_handlers() -> None:
    handler_errors = {name for name, value in vars(errors).items() if inspect.isclass(value) and issubclass(value, errors.DeploymentError)}
    used = {error for state in STATES.values() for rule in state.get("Retry", []) + state.get("Catch", []) for error in rule["ErrorEquals"]}
    custom = {error for error in used if not error.startswith(("States.", "Lambda."))}
    assert custom and custom <= handler_errors


def test_no_step_overwrites_the_input_a_later_state_reads() -> None:
    for name, state in STATES.items():
        if state["Type"] in {"Task", "Pass"}:
            assert "ResultPath" in state and state["ResultPath"] != "$", f"{name} would replace the whole state"
            assert "OutputPath" not in state, name
        for rule in state.get("Catch", []):
            assert rule["ResultPath"] not in {None, "$"}, name


def variables(rule: dict[str, Any]) -> Iterator[str]:
    """The paths a Choice rule reads, its nested And, Or and Not rules' included."""
    if "Variable" in rule:
        yield rule["Variable"]
    for nested in rule.get("And", []) + rule.get("Or", []) + ([rule["Not"]] if "Not" in rule else []):
        yield from variables(nested)


# What the execution input holds: the waiter's document (docs/design.md, "State machine input").
INPUT_PATHS = {"$.commit_id", "$.artifact", "$.pipeline", "$.service"}


def test_every_choice_reads_a_path_an_earlier_state_writes() -> None:
    written = {state["ResultPath"] for state in STATES.values() if state.get("ResultPath")} | INPUT_PATHS
    for name, state in STATES.items():
        for rule in state.get("Choices", []):
            for variable in variables(rule):
                assert any(variable.startswith(path + ".") for path in written), f"{name} reads {variable}"


HANDLER_TASKS_WITH_PARAMETERS = (
    "RunTests",
    "DeployStaging",
    "CheckStagingDeployment",
    "RunTestsInStaging",
    "DescribeProduction",
    "DeployProduction",
    "CheckProductionDeployment",
    "VerifyProduction",
    "Rollback",
)


def test_every_handler_task_is_given_the_service_it_works_for() -> None:
    for name in lambda_tasks():
        state = STATES[name]
        if "Parameters" in state:
            assert state["Parameters"].get("service.$") == "$.service", name
        else:
            assert "InputPath" not in state, f"{name} gets the whole state, the service with it"
    assert {name for name in lambda_tasks() if "Parameters" in STATES[name]} == set(HANDLER_TASKS_WITH_PARAMETERS)


@pytest.mark.parametrize("error", ["TargetNotAllowed", "UnknownService"])
def test_a_refused_service_fails_validation_with_its_own_name_and_deploys_nothing(error: str) -> None:
    routes = {name: rule["Next"] for rule in STATES["ValidateCode"]["Catch"] for name in rule["ErrorEquals"]}
    assert STATES["ValidateCode"]["Catch"][-1]["ErrorEquals"] == ["States.ALL"]
    # Caught before States.ALL, into a state that keeps the error's name.
    assert routes[error] != routes["States.ALL"]
    named = STATES[routes[error]]
    assert named["Parameters"] == {"error.$": "$.error.Error", "cause.$": "$.error.Cause"}
    # $.failure.error is `error` from here on: FailWith ends in the Fail state of that name.
    assert {rule["StringEquals"]: rule["Next"] for rule in STATES["FailWith"]["Choices"]}[error] == error and STATES[error]["Type"] == "Fail"
    for path in paths_to_fail(routes[error]):
        assert path[-2:-1] == ["FailWith"] and "NotifyFailure" in path and "RecordFailure" in path, " -> ".join(path)
        assert not any(STATES[name]["Type"] == "Task" and STATES[name]["Resource"].startswith("${") for name in path), " -> ".join(path)


def test_an_input_without_a_service_name_fails_before_any_task_and_is_still_notified() -> None:
    assert STATES[DEFINITION["StartAt"]]["Next"] == "ServiceNamed"
    guard = STATES["ServiceNamed"]
    assert guard["Choices"][0]["Next"] == "DescribeStart" and set(variables(guard["Choices"][0])) == {"$.service.name"}
    assert STATES[guard["Default"]]["Parameters"]["error"] == "ValidationFailed"
    for path in paths_to_fail(guard["Default"]):
        assert path[-2:-1] == ["FailWith"] and "NotifyFailure" in path, " -> ".join(path)
        assert not any(STATES[name]["Type"] == "Task" and STATES[name]["Resource"].startswith("${") for name in path), " -> ".join(path)
    # NotifyFailure and RecordFailure read $.service.name: the path there gives it one.
    assert any(STATES[name].get("ResultPath") == "$.service" for name in reachable(guard["Default"]))


NOTIFICATIONS = {
    "started": ("DescribeStart", "EncodeStart", "NotifyStarted"),
    "succeeded": ("DescribeSuccess", "EncodeSuccess", "NotifySuccess"),
    "failed": ("DescribeFailure", "EncodeFailure", "NotifyFailure"),
}


def test_notifications_and_records_name_the_service() -> None:
    for describe, _, _ in NOTIFICATIONS.values():
        event = STATES[describe]["Parameters"]["event"]
        assert event["service.$"] == "$.service.name" and event["text.$"].startswith("States.Format('Service {}: ") and ", $.service.name, " in event["text.$"], describe
        assert STATES[describe]["Parameters"]["subject.$"] == event["title.$"] == STATES[describe]["Parameters"]["amazon_q"]["content"]["title.$"]
    for name in ("RecordSuccess", "RecordFailure"):
        parameters = STATES[name]["Parameters"]
        assert "#service = :service" in parameters["UpdateExpression"] and parameters["ExpressionAttributeNames"]["#service"] == "service", name
        assert parameters["ExpressionAttributeValues"][":service"] == {"S.$": "$.service.name"}, name


def test_each_notification_is_described_encoded_and_published_in_a_row() -> None:
    for status, (describe, encode, notify) in NOTIFICATIONS.items():
        assert STATES[describe]["Next"] == encode and STATES[encode]["Next"] == notify, status
        assert STATES[describe]["Parameters"]["event"] | {"status": status} == STATES[describe]["Parameters"]["event"], status
        assert STATES[describe]["Parameters"]["event"]["schema"] == "serverless-cd.notification/1" and STATES[describe]["Parameters"]["event"]["kind"] == "deployment"
        # Every subscriber protocol gets its form; the notifier (lambda) and queues the notification itself.
        assert STATES[encode]["Parameters"] == STATES["EncodeStart"]["Parameters"]
        assert STATES[encode]["Parameters"]["lambda.$"] == "States.JsonToString($.notification.event)"
        parameters = STATES[notify]["Parameters"]
        assert parameters["MessageStructure"] == "json" and parameters["Message.$"] == "States.JsonToString($.notification.message)"
        # A notification that cannot be sent goes on to the same state as one that was.
        assert [rule["Next"] for rule in STATES[notify]["Catch"]] == [STATES[notify]["Next"]] and STATES[notify]["Catch"][0]["ResultPath"] == "$.notify_error"
    assert STATES["NotifyStarted"]["Next"] == "ValidateCode" and STATES["NotifySuccess"]["Next"] == "DeploymentSucceeded" and STATES["NotifyFailure"]["Next"] == "RecordFailure"
    assert {"error.$": "$.failure.error", "cause.$": "$.failure.cause"}.items() <= STATES["DescribeFailure"]["Parameters"]["event"].items()


def test_happy_path_state_transitions_fit_the_budget() -> None:
    # Each state entered is one transition; polling adds three (wait, check, choice) per extra check.
    # Two notifications of three states each (started, succeeded) are six of them.
    assert len(happy_path()) <= 30


@pytest.mark.parametrize("name", sorted(STATES))
def test_placeholders_stand_inside_strings(name: str) -> None:
    for match in re.finditer(r"\$\{(\w+)\}", json.dumps(STATES[name])):
        assert match.group(1) == "partition" or match.group(1).endswith(("_function_arn", "_table_name", "_topic_arn")), match.group(0)
