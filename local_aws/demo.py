"""`make demo`: the whole platform on a local AWS, no AWS account needed.

    python -m local_aws.demo                   # two services, three commits
    python -m local_aws.demo --app DIR [--keep]  # your application, one commit

1. start the local AWS (moto on 127.0.0.1 with local_aws.compat) and `terraform apply` this
   repository's configuration to it, from a copy in .local-aws/terraform/ with a generated
   endpoint override (the repository's own files are not touched);
2. push a first commit of each of the two services at the same time, each through its own
   pipeline Terraform defined: the sample app (service default) at version 1.1.0, promoted to
   staging, then to production with a 10% canary for 5 minutes; examples/clock (service clock),
   whose production shifts 50% a minute;
3. push commit 2 of the sample app (version 1.2.0 with a staging test it fails): rolled back, the
   clock untouched; or, with --app DIR, push DIR as the app/ folder of one commit of the sample
   app's service (see APP_LAYOUT);
   then (not with --app) two commits of payments, whose production waits for a decision: print
   the change summary each waits with, approve the first and reject the second with
   tools/approve.py as a session of the release-managers role;
4. apply examples/parent-pipeline and run it once (not with --app): its two waiter actions start
   a pipeline of this account and follow one in a second local account;
   then three releases (local_aws/release_demo.py): one in two waves, the same release id refused
   the second time, one where a pipeline fails and the others are stopped;
5. print for each push the pipeline's actions, the deployment config of each environment and what
   it means at the local clock, the execution's states (those on the failure path marked so), its
   error and cause, and the outcome in a sentence ("deployed: staging 2 → 3, production 2 → 3");
   draw each execution's path in build/demo/<execution>.svg;
6. check that a second `terraform plan` has nothing to change; with --keep, wait for Ctrl-C (the
   local AWS lives in this process); then destroy.
Time runs 60 times faster for traffic shifting and the state machine's waits. The handlers' logs
go to build/demo/handlers.log.
"""

import argparse
import contextlib
import hashlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from local_aws.codepipeline import PipelineRun
    from local_aws.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "demo"
ASL_PATH = ROOT / "asl" / "deployment.asl.json"
ENVIRONMENTS = ("staging", "production")
# What --app DIR must hold: DIR becomes the commit's app/ folder, where the configuration's
# defaults (buildspec_path, app_handler, test_cases_path) and app/buildspec.yml look.
APP_LAYOUT = {
    "buildspec.yml": "the buildspec the Build stage runs (buildspec_path is app/buildspec.yml)",
    "src/app.py": "the module of the handler app.handler (or src/app/__init__.py)",
    "test_cases.json": "the test cases the state machine runs",
    "tests/": "the unit tests app/buildspec.yml runs before packaging",
}
SUMMARY_HEAD, SUMMARY_TAIL = 200, 400


def version(number: str) -> dict[str, Any]:
    return {"src/app.py": lambda text: text.replace('VERSION = "1.0.0"', f'VERSION = "{number}"')}


def with_staging_case(text: str) -> str:
    cases = json.loads(text)
    cases["cases"].append(
        {
            "name": "greets in French",
            "event": {"queryStringParameters": {"name": "Ada", "lang": "fr"}},
            "expect": {"statusCode": 200, "body.message": "Bonjour, Ada!"},
            "phases": ["staging"],
        }
    )
    return json.dumps(cases, indent=2)


DEFAULT_SERVICE = "default"
# (title, service, commit, edits): the first commit of each service, pushed at the same time, then
# a second commit of the sample application that fails in staging.
FIRST_COMMITS = [
    ("service default, commit 1: the sample app at version 1.1.0", DEFAULT_SERVICE, "c0ffee1", version("1.1.0")),
    ("service clock, commit 1: the clock at version 1.1.0, at the same time", "clock", "cl0ck01", version("1.1.0")),
]
SECOND_COMMIT = ("service default, commit 2: version 1.2.0 with a staging test it fails", DEFAULT_SERVICE, "badf00d", version("1.2.0") | {"test_cases.json": with_staging_case})


# --- the application directory of --app ----------------------------------------------------------


def app_problem(app: Path) -> str | None:
    """Why `app` cannot be pushed as the app/ folder of a commit, or None."""
    if not app.is_dir():
        return f"--app {app}: not a directory"
    present = {
        "buildspec.yml": (app / "buildspec.yml").is_file(),
        "src/app.py": (app / "src" / "app.py").is_file() or (app / "src" / "app" / "__init__.py").is_file(),
        "test_cases.json": (app / "test_cases.json").is_file(),
        "tests/": (app / "tests").is_dir(),
    }
    missing = [f"  {name:<17}{APP_LAYOUT[name]}" for name, found in present.items() if not found]
    if missing:
        return "\n".join([f"--app {app}: the commit is this directory as its app/ folder, and it lacks", *missing])
    return None


def source_commit_id(source: Path) -> str:
    """A commit id for the files under `source`, as git abbreviates one: 7 hex digits."""
    digest = hashlib.sha1(usedforsecurity=False)
    for path in sorted(source.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(source).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:7]


# --- what the demo prints -------------------------------------------------------------------------


def shorten(text: str, head: int = SUMMARY_HEAD, tail: int = SUMMARY_TAIL) -> str:
    """`text` whole if short; otherwise its first line and its end, where a build's error is."""
    if len(text) <= head + tail:
        return text
    return f"{text.splitlines()[0][:head]} … {text[-tail:]}"


def indented(text: str, prefix: str) -> str:
    """`text` with every line after the first starting with `prefix`."""
    return text.replace("\n", "\n" + prefix)


def config_meaning(routing: dict[str, Any], speedup: float) -> str:
    """What a deployment config's trafficRoutingConfig does, in AWS minutes and in seconds at the
    local clock, which runs `speedup` times faster (local_aws/codedeploy.py shifts by it)."""
    from local_aws.codedeploy import shift_plan

    plan = shift_plan(routing)
    if len(plan) == 1:
        return "all traffic at once"
    first, last_minutes = f"{plan[0].weight:.0%}", plan[-1].after_seconds / 60
    local = f"{plan[-1].after_seconds / speedup:g} s at the local {speedup:g}x clock"
    if len(plan) == 2:
        return f"{first} then the rest after {last_minutes:g} min = {local}"
    step_minutes = plan[1].after_seconds / 60
    return f"{first} more every {step_minutes:g} min, all after {last_minutes:g} min = {local}"


def failure_path(definition: dict[str, Any]) -> set[str]:
    """The states from which the execution can no longer succeed: no Succeed state (nor End) is
    reachable from them through Next, Choices, Default or Catch."""
    states = definition["States"]

    def targets(state: dict[str, Any]) -> set[str]:
        found = {state.get("Next"), state.get("Default")}
        found |= {branch.get("Next") for branch in state.get("Choices", []) + state.get("Catch", [])}
        return {name for name in found if name}

    succeeding = {name for name, state in states.items() if state["Type"] == "Succeed" or state.get("End")}
    grown = True
    while grown:
        more = {name for name, state in states.items() if name not in succeeding and targets(state) & succeeding}
        succeeding |= more
        grown = bool(more)
    return set(states) - succeeding


FAILED_EVENTS = ("taskFailedEventDetails", "lambdaFunctionFailedEventDetails", "taskTimedOutEventDetails", "lambdaFunctionTimedOutEventDetails")
SUCCEEDED_EVENTS = ("taskSucceededEventDetails", "lambdaFunctionSucceededEventDetails")


def state_lines(history: list[dict[str, Any]], definition: dict[str, Any]) -> list[str]:
    """The execution's states in order, as the console's graph view lists them: how long each
    took and how it ended: "ok", "caught <Error>" (its task failed and a Catch took over),
    "ok (failure path)" after that, "→ <state>" for a Choice that routed to the failure path, "end"
    for the Fail state."""
    failing = failure_path(definition)
    entered: dict[str, datetime] = {}
    failures: dict[str, str] = {}
    rows: list[list[str]] = []
    choice: list[str] | None = None  # the row of the Choice that just exited
    current = last_exited = ""
    for event in history:
        details = event.get("stateEnteredEventDetails")
        if details:
            current = details["name"]
            entered[current] = event["timestamp"]
            if choice is not None and current in failing:
                choice[2] = f"→ {current}"
            choice = None
        for key in FAILED_EVENTS:
            if key in event:
                failures[current] = event[key].get("error", "")
        if any(key in event for key in SUCCEEDED_EVENTS):
            failures.pop(current, None)  # a retry succeeded
        exited = event.get("stateExitedEventDetails")
        if exited:
            name = last_exited = exited["name"]
            seconds = (event["timestamp"] - entered.get(name, event["timestamp"])).total_seconds()
            outcome = f"caught {failures[name]}" if name in failures else "ok (failure path)" if name in failing else "ok"
            rows.append([name, f"{seconds:7.2f} s", outcome])
            if event.get("type") == "ChoiceStateExited":
                choice = rows[-1]
    if current != last_exited:  # a Fail state is entered, never exited
        rows.append([current, " " * 9, "end"])
    return [f"{name:<34}{seconds}  {outcome}" for name, seconds, outcome in rows]


def versions_text(live: dict[str, str]) -> str:
    return ", ".join(f"{environment} {live[environment]}" for environment in ENVIRONMENTS)


def failure_words(error: str | None, status: str) -> str:
    """The execution's error in words: StagingTestsFailed -> "staging tests failed"."""
    if not error:
        return {"ABORTED": "stopped", "TIMED_OUT": "timed out"}.get(status, status.lower())
    if error == "TestsFailed":
        return "package tests failed"
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", error).lower()


def outcome_sentence(execution: dict[str, Any], record: dict[str, Any], live: dict[str, str]) -> str:
    """What the execution did to each environment, from its deployment record and the versions
    `live` points at now."""
    changes = []
    for environment in ENVIRONMENTS:
        entry = record.get(environment)
        if entry is None:
            changes.append(f"{environment} untouched on {live[environment]}")
            continue
        previous, new = entry.get("previous_version"), entry.get("new_version")
        if entry.get("rolled_back_to"):
            changes.append(f"rolled back {environment} {new} → {entry['rolled_back_to']}")
        elif new == previous:
            changes.append(f"{environment} unchanged on {new} (it already ran this code)")
        elif live[environment] == new:
            changes.append(f"{environment} {previous} → {new}")
        else:
            changes.append(f"{environment} {previous} → {new} not completed, live on {live[environment]}")
    if execution["status"] == "SUCCEEDED":
        return "deployed: " + ", ".join(changes)
    words = failure_words(execution.get("error"), execution["status"])
    if not any(environment in record for environment in ENVIRONMENTS):
        return f"{words}: nothing deployed ({versions_text(live)})"
    return f"{words}: " + ", ".join(changes)


def no_execution_sentence(run: "PipelineRun", live: dict[str, str]) -> str:
    """The outcome of a pipeline run that started no state machine execution."""
    failed = next((action for action in run.actions if action.status != "Succeeded"), None)
    where = f"the pipeline {failed.status.lower()} at {failed.stage}" if failed else f"the pipeline ended {run.status}"
    return f"{where}: nothing deployed ({versions_text(live)})"


# --- pushing and printing -------------------------------------------------------------------------


@dataclass
class Pushed:
    """One push, as the demo printed it."""

    run: "PipelineRun"
    execution: dict[str, Any] | None  # DescribeExecution, None if the pipeline started none
    record: dict[str, Any]
    live_before: dict[str, str]
    live_after: dict[str, str]
    outcome: str


def push_and_print(stack: "LocalStack", out: TextIO, title: str, source: Path, commit_id: str, pictures: Path = OUT, service: str = DEFAULT_SERVICE) -> Pushed:
    """Push the files of `source` through the service's pipeline as `commit_id`, print what
    happened and draw the execution's path in `pictures`/<execution>.svg."""
    return push_together(stack, out, [(title, source, commit_id, service)], pictures)[0]


def push_together(stack: "LocalStack", out: TextIO, pushes: list[tuple[str, Path, str, str]], pictures: Path = OUT) -> list[Pushed]:
    """Each (title, source, commit, service) pushed at the same time, each through its service's
    pipeline; then what happened to each, printed in order."""
    import threading

    started, results = time.monotonic(), []
    before = [stack.live_versions(service) for _, _, _, service in pushes]
    runs: list[Any] = [None] * len(pushes)
    errors: list[BaseException] = []

    def push(index: int, source: Path, commit_id: str, service: str) -> None:
        try:
            runs[index] = (stack.push(source, commit_id, service), time.monotonic() - started)
        except BaseException as error:  # noqa: BLE001 - raised below, in the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=push, args=(index, source, commit, service)) for index, (_, source, commit, service) in enumerate(pushes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    for (title, _, commit_id, service), live_before, (run, seconds) in zip(pushes, before, runs, strict=True):
        results.append(print_push(stack, out, f"{title} ({seconds:.1f} s)", run, commit_id, service, live_before, pictures))
    return results


def print_push(stack: "LocalStack", out: TextIO, title: str, run: "PipelineRun", commit_id: str, service: str, live_before: dict[str, str], pictures: Path) -> Pushed:
    from local_aws.picture import render

    print(f"\n== {title}", file=out)
    for action in run.actions:
        print(f"   pipeline {action.stage:<7} {action.status:<10} {indented(shorten(action.summary), ' ' * 31)}", file=out)
    execution = stack.execution(run)
    live_after = stack.live_versions(service)
    record: dict[str, Any] = {}
    if execution is None:
        outcome = no_execution_sentence(run, live_after)
    else:
        for environment, config in stack.deployment_configs(service).items():
            meaning = config_meaning(config.get("trafficRoutingConfig") or {}, stack.speedup)
            print(f"   {environment + ':':<11} {config['deploymentConfigName']} ({meaning})", file=out)
        print(f"   execution {execution['name']}: {execution['status']}", file=out)
        definition = json.loads(ASL_PATH.read_text())
        for line in state_lines(stack.history(execution["executionArn"]), definition):
            print(f"     {line}", file=out)
        failed = execution["status"] != "SUCCEEDED"
        if failed:
            print(f"   error: {execution.get('error')}\n   cause: {indented(shorten(execution.get('cause', '')), '          ')}", file=out)
        record = stack.record(commit_id, execution["name"])
        outcome = outcome_sentence(execution, record, live_after)
        picture = pictures / f"{execution['name']}.svg"
        visited = stack.states_entered(execution["executionArn"])
        title_text = f"{execution['name']}: {execution['status']}"
        error, cause = (execution.get("error"), execution.get("cause")) if failed else (None, None)
        picture.write_text(render(definition, visited, title_text, error=error, cause=cause))
        print(f"   picture: {picture.relative_to(ROOT) if picture.is_relative_to(ROOT) else picture}", file=out)
        for line in chat_lines(stack, execution["name"]):
            print(f"   chat: {line}", file=out)
    print(f"   outcome: {outcome}", file=out, flush=True)
    return Pushed(run, execution, record, live_before, live_after, outcome)


def chat_lines(stack: "LocalStack", execution_name: str) -> list[str]:
    """The last message the local chat receiver got about the execution from each destination (Slack,
    Teams, the webhook; each also got the start's), a line each, once the notifier has posted them."""
    from local_aws.chat import summary

    stack.wait_for_deliveries()
    last = {request.destination: request for request in stack.chat.requests() if execution_name in request.body_text}
    return [summary(request, width=150) for request in last.values()]


def push_sample_commits(stack: "LocalStack", out: TextIO, pictures: Path = OUT) -> list[Pushed]:
    """The commits of FIRST_COMMITS at the same time, one per service, then SECOND_COMMIT."""
    from local_aws.stack import SERVICE_APPS, app_commit

    with tempfile.TemporaryDirectory() as folder:
        pushes = [(title, app_commit(Path(folder) / service, edits, app=SERVICE_APPS[service]), commit, service) for title, service, commit, edits in FIRST_COMMITS]
        pushed = push_together(stack, out, pushes, pictures)
        title, service, commit, edits = SECOND_COMMIT
        pushed += push_together(stack, out, [(title, app_commit(Path(folder) / commit, edits, app=SERVICE_APPS[service]), commit, service)], pictures)
    for service in SERVICE_APPS:
        print(f"\n{service}: live now {versions_text(stack.live_versions(service))}", file=out)
    return pushed


# The payments commits: each waits for a decision before production, given with tools/approve.py.
PAYMENTS_COMMITS = [
    ("pay130", version("1.3.0"), "approve", "change summary reviewed"),
    ("pay140", version("1.4.0") | {"src/pricing.py": lambda _: "RATE = 0.2\n"}, "reject", "pricing.py needs its own tests first"),
]


def push_payments_commits(stack: "LocalStack", out: TextIO, pictures: Path = OUT) -> list[Pushed]:
    """The commits of payments, whose production waits for a decision: for each, the change summary
    the topic and the chat destinations got, then the decision, given with tools/approve.py as a
    session of the release-managers role (local_aws/approvals.py). The second's summary compares
    with the release copy the first left in production."""
    import threading

    from local_aws import approvals
    from local_aws.stack import SERVICE_APPS, app_commit

    service, manager, pushed = approvals.APPROVAL_SERVICE, approvals.approver(stack), []
    with tempfile.TemporaryDirectory() as folder:
        for commit, edits, decision, reason in PAYMENTS_COMMITS:
            before = stack.live_versions(service)
            runs: list[PipelineRun] = []
            source = app_commit(Path(folder) / commit, edits, app=SERVICE_APPS[service])
            pushing = threading.Thread(target=lambda source=source, commit=commit, runs=runs: runs.append(stack.push(source, commit, service)))
            pushing.start()
            record = approvals.waiting_record(stack, commit)
            name = record["execution_name"]
            print(f"\n== {service} {commit}: waits for a decision before production", file=out)
            print("   | " + indented(record["approval"]["summary"], "   | "), file=out)
            for line in chat_lines(stack, name):
                print(f"   chat: {line}", file=out)
            status, printed = approvals.run_command(stack, manager, [name, decision, "--reason", reason])
            print(f"   $ python -m tools.approve {name} {decision} --reason '{reason}'   (exit {status}, as {manager.arn})", file=out)
            print("     " + indented(printed.rstrip(), "     "), file=out, flush=True)
            pushing.join()
            pushed.append(print_push(stack, out, f"{service} {commit}: {decision}d", runs[0], commit, service, before, pictures))
    return pushed


def push_own_app(stack: "LocalStack", app: Path, out: TextIO, pictures: Path = OUT) -> Pushed:
    """`app` (a directory of APP_LAYOUT) pushed as the app/ folder of one commit."""
    from local_aws.stack import app_commit

    with tempfile.TemporaryDirectory() as folder:
        source = app_commit(Path(folder), app=app)
        commit = source_commit_id(source)
        return push_and_print(stack, out, f"your app: {app} as commit {commit}", source, commit, pictures)


def push_parent_pipeline(stack: "LocalStack", out: TextIO) -> "PipelineRun":
    """examples/parent-pipeline applied next to the platform, then one run of it: its waiter
    actions start the api pipeline (this account) and follow shared-services (the second account),
    whose run has just succeeded; what each action reported, printed."""
    from local_aws.codepipeline import get_execution, wait_for_execution
    from local_aws.parent_pipeline import API_PIPELINE, SHARED_PIPELINE, ParentPipeline
    from local_aws.target_pipelines import TARGET_ACCOUNT, start

    with tempfile.TemporaryDirectory() as folder:
        chain = ParentPipeline.apply(stack, Path(folder) / "terraform")
        try:
            account = stack.outputs["platform"]["account_id"]
            print(f"\n== a parent pipeline waiting on two others: examples/parent-pipeline applied in {chain.seconds:.1f} s", file=out)
            print(f"   {chain.name} and {API_PIPELINE} in account {account}; {SHARED_PIPELINE} and the role the waiter assumes in account {TARGET_ACCOUNT}", file=out)
            shared = start(chain.target_session, SHARED_PIPELINE)
            status = wait_for_execution(SHARED_PIPELINE, shared, session=chain.target_session)["status"]
            print(f"   {SHARED_PIPELINE} (account {TARGET_ACCOUNT}) ran first: execution {shared} {status}", file=out)
            source = Path(folder) / "source"
            source.mkdir()
            (source / "release.json").write_text(json.dumps({"release": "5.16"}))
            run = chain.push(source, "r5-16")
            for action in run.actions:
                print(f"   pipeline {action.stage:<10} {action.action:<14} {action.status:<10} {indented(shorten(action.summary), ' ' * 50)}", file=out)
            api = run.action_named("Api")
            if api is not None and api.output_variables.get("PipelineExecutionId"):
                started = get_execution(API_PIPELINE, api.output_variables["PipelineExecutionId"])
                variables = ", ".join(f"{item['name']}={item['resolvedValue']}" for item in started.get("variables", []))
                print(f"   {API_PIPELINE} execution started by the Api action: {started['status']} ({variables})", file=out)
            print(f"   outcome: {chain.name} {run.status}", file=out, flush=True)
            return run
        finally:
            chain.destroy()


def print_how_to_reach(stack: "LocalStack", out: TextIO) -> None:
    from local_aws.server import REGION

    cli = f"AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws --endpoint-url {stack.endpoint} --region {REGION}"
    function, alias = stack.outputs["staging_function_name"], stack.outputs["alias_name"]
    payload = json.dumps({"name": "Ada"})
    print(f"\nthe stack stays up at {stack.endpoint} until Ctrl-C, which destroys it", file=out)
    print("(the local AWS runs inside this process, so it cannot outlive it). From another shell:", file=out)
    print(f"  {cli} lambda invoke --function-name {function}:{alias} --cli-binary-format raw-in-base64-out --payload '{payload}' /dev/stdout", file=out)
    print(f"  {cli} stepfunctions list-executions --state-machine-arn {stack.outputs['state_machine_arn']}", file=out)
    print(f"  {cli} dynamodb scan --table-name {stack.outputs['deployments_table_name']}", file=out, flush=True)


def wait_for_ctrl_c() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m local_aws.demo", description="The platform's Terraform applied to a local AWS, commits pushed through its pipeline, then destroyed."
    )
    parser.add_argument("--app", type=Path, help="push this application directory (buildspec.yml, src/app.py, test_cases.json, tests/) as one commit instead of the sample's two")
    parser.add_argument("--keep", action="store_true", help="keep the stack up until Ctrl-C, then destroy it")
    arguments = parser.parse_args(argv)
    if arguments.app is not None:
        problem = app_problem(arguments.app)
        if problem:
            sys.exit(problem)

    from local_aws.release_demo import run_releases
    from local_aws.stack import LocalStack
    from local_aws.terraform import ProviderUnavailable, missing_prerequisites

    reason = missing_prerequisites()
    if reason:
        sys.exit(f"make demo needs Terraform on this machine: {reason} (see the README's prerequisites)")
    # CodeBuild's image has `python` on its PATH; here the buildspec gets this virtual environment's.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    out = sys.stdout
    OUT.mkdir(parents=True, exist_ok=True)
    # moto's interpreter logs every Fail state as an error; the outcome is printed below instead.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    with open(OUT / "handlers.log", "w", encoding="utf-8") as handler_log, contextlib.redirect_stdout(handler_log):
        print("starting the local AWS and applying the Terraform (about a minute)...", file=out, flush=True)
        try:
            stack = LocalStack.up()
        except ProviderUnavailable as error:
            sys.exit(str(error))
        try:
            print(f"terraform apply: {stack.seconds['apply']:.1f} s (init {stack.seconds['init']:.1f} s)", file=out)
            for service in stack.outputs["services"]:
                print(f"{service}: live before {versions_text(stack.live_versions(service))}", file=out, flush=True)
            if arguments.app:
                push_own_app(stack, arguments.app, out)
            else:
                push_sample_commits(stack, out)
                push_payments_commits(stack, out)
                push_parent_pipeline(stack, out)
                run_releases(stack, out)
            plan = stack.terraform.plan()
            verdict = {0: "no changes", 2: "CHANGES (see below)"}.get(plan.returncode, "error")
            print(f"\nterraform plan after the deployments: {verdict}", file=out)
            if plan.returncode != 0:
                print(plan.stdout[-3000:] + plan.stderr[-2000:], file=out)
            if arguments.keep:
                print_how_to_reach(stack, out)
                wait_for_ctrl_c()
        finally:
            print("destroying...", file=out, flush=True)
            stack.down()
    print(f"terraform destroy: {stack.seconds['destroy']:.1f} s; handler logs in {(OUT / 'handlers.log').relative_to(ROOT)}", file=out)


if __name__ == "__main__":
    main()
