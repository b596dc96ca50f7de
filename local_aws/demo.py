"""`make demo`: the whole platform on a local AWS, no AWS account needed.

1. start the local AWS (moto on 127.0.0.1 with local_aws.compat) and `terraform apply` this
   repository's configuration to it, from a copy in .local-aws/terraform/ with a generated
   endpoint override (the repository's own files are not touched);
2. push commit 1 (the sample app at version 1.1.0) through the pipeline Terraform defined:
   promoted to staging, then to production with a 10% canary for 5 minutes;
3. push commit 2 (version 1.2.0 with a staging test it fails): rolled back;
4. print each execution's states, the `live` versions and the deployment records, and draw each
   execution's path in build/demo/<execution>.svg;
5. check that a second `terraform plan` has nothing to change, then destroy.
Time runs 60 times faster for traffic shifting and the state machine's waits. The handlers' logs
go to build/demo/handlers.log.
"""

import contextlib
import json
import logging
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "demo"
ASL_PATH = ROOT / "asl" / "deployment.asl.json"


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


COMMITS = [
    ("commit 1: version 1.1.0", "c0ffee1", version("1.1.0")),
    ("commit 2: version 1.2.0 with a staging test it fails", "badf00d", version("1.2.0") | {"test_cases.json": with_staging_case}),
]


def print_execution(out: TextIO, history: list[dict[str, Any]], execution: dict[str, Any]) -> None:
    """The execution's states in order, as the console's graph view lists them."""
    print(f"   execution {execution['name']}: {execution['status']}", file=out)
    entered: dict[str, datetime] = {}
    failures: dict[str, str] = {}
    current = last_exited = ""
    for event in history:
        details = event.get("stateEnteredEventDetails")
        if details:
            current = details["name"]
            entered[current] = event["timestamp"]
        for key in ("taskFailedEventDetails", "lambdaFunctionFailedEventDetails"):
            if key in event:
                failures[current] = event[key].get("error", "")
        exited = event.get("stateExitedEventDetails")
        if exited:
            name = last_exited = exited["name"]
            seconds = (event["timestamp"] - entered.get(name, event["timestamp"])).total_seconds()
            outcome = f"caught {failures[name]}" if name in failures else "ok"
            print(f"     {name:<34}{seconds:>7.2f} s  {outcome}", file=out)
    if current != last_exited:  # a Fail state is entered, never exited
        print(f"     {current:<34}{'':>9}  end", file=out)
    if execution["status"] != "SUCCEEDED":
        print(f"   error: {execution.get('error')}\n   cause: {execution.get('cause', '')[:600]}", file=out)


def main() -> None:
    from local_aws.picture import render
    from local_aws.stack import LocalStack, app_commit
    from local_aws.terraform import missing_prerequisites

    reason = missing_prerequisites()
    if reason:
        sys.exit(f"make demo needs Terraform and the AWS provider on this machine: {reason} (see the README's prerequisites)")
    out = sys.stdout
    OUT.mkdir(parents=True, exist_ok=True)
    # moto's interpreter logs every Fail state as an error; the outcome is printed below instead.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    with open(OUT / "handlers.log", "w", encoding="utf-8") as handler_log, contextlib.redirect_stdout(handler_log):
        print("starting the local AWS and applying the Terraform (about a minute)...", file=out, flush=True)
        stack = LocalStack.up()
        try:
            print(f"terraform apply: {stack.seconds['apply']:.1f} s (init {stack.seconds['init']:.1f} s)", file=out)
            print(f"live before: {stack.live_versions()}", file=out, flush=True)
            definition = json.loads(ASL_PATH.read_text())
            for title, commit, edits in COMMITS:
                with tempfile.TemporaryDirectory() as folder:
                    started = time.monotonic()
                    run = stack.push(app_commit(Path(folder), edits), commit)
                print(f"\n== {title} ({time.monotonic() - started:.1f} s)", file=out)
                for action in run.actions:
                    print(f"   pipeline {action.stage:<7} {action.status:<10} {action.summary[:300]}", file=out)
                execution = stack.execution(run)
                if execution is None:
                    continue
                history = stack.history(execution["executionArn"])
                print_execution(out, history, execution)
                print(f"   live now: {stack.live_versions()}", file=out)
                record = stack.record(commit, execution["name"])
                environments = {
                    name: {key: record[name].get(key) for key in ("previous_version", "new_version", "rolled_back_to")} for name in ("staging", "production") if name in record
                }
                print(f"   record: status={record.get('status')} {json.dumps(environments)}", file=out)
                picture = OUT / f"{execution['name']}.svg"
                picture.write_text(render(definition, stack.states_entered(execution["executionArn"]), f"{execution['name']}: {execution['status']}"))
                print(f"   picture: {picture.relative_to(ROOT)}", file=out, flush=True)
            plan = stack.terraform.plan()
            verdict = {0: "no changes", 2: "CHANGES (see below)"}.get(plan.returncode, "error")
            print(f"\nterraform plan after both deployments: {verdict}", file=out)
            if plan.returncode != 0:
                print(plan.stdout[-3000:] + plan.stderr[-2000:], file=out)
        finally:
            print("destroying...", file=out, flush=True)
            stack.down()
    print(f"terraform destroy: {stack.seconds['destroy']:.1f} s; handler logs in {(OUT / 'handlers.log').relative_to(ROOT)}", file=out)


if __name__ == "__main__":
    main()
