"""`make demo`: two commits of the sample application through the DeploymentStateMachine, locally.

The platform runs inside moto in this process (local_aws/platform.py, with the compatibility layer
of local_aws/compat.py): the real ASL, the handler zips from build/, the sample app from
build/app.zip as the code both environments start on. Commit 1 changes the app's version and is
promoted to production; commit 2 declares a staging test the code does not pass and is rolled back.
Each execution is also drawn, its path highlighted, in build/demo/<execution>.svg.
Both deployment groups shift all at once here: moto's Wait states sleep in real time.
"""

import io
import json
import logging
import sys
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"


def changed_app(app_code: bytes, changes: dict[str, Any]) -> bytes:
    """The app zip with its files edited by `changes` (name -> function of the old text)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(app_code)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            text = source.read(entry).decode()
            target.writestr(entry.filename, changes[entry.filename](text) if entry.filename in changes else text)
    return out.getvalue()


def with_staging_case(cases_text: str) -> str:
    cases = json.loads(cases_text)
    cases["cases"].append(
        {
            "name": "greets in French",
            "event": {"queryStringParameters": {"name": "Ada", "lang": "fr"}},
            "expect": {"statusCode": 200, "body.message": "Bonjour, Ada!"},
            "phases": ["staging"],
        }
    )
    return json.dumps(cases, indent=2)


def print_execution(title: str, platform: Any, execution: dict[str, Any]) -> None:
    print(f"\n== {title}: {execution['name']} {execution['status']}")
    events = platform.history(execution["executionArn"])
    entered: dict[str, datetime] = {}
    failures: dict[str, str] = {}
    current = ""
    for event in events:
        details = event.get("stateEnteredEventDetails")
        if details:
            current = details["name"]
            entered[current] = event["timestamp"]
        for key in ("taskFailedEventDetails", "lambdaFunctionFailedEventDetails"):
            if key in event:
                failures[current] = event[key].get("error", "")
        exited = event.get("stateExitedEventDetails")
        if exited:
            name = exited["name"]
            seconds = (event["timestamp"] - entered.get(name, event["timestamp"])).total_seconds()
            outcome = f"caught {failures[name]}" if name in failures else "ok"
            print(f"   {name:<34}{seconds:>7.2f} s  {outcome}")
    if current and event.get("type") in {"FailStateEntered", "SucceedStateEntered", "ExecutionFailed", "ExecutionSucceeded"}:
        print(f"   {current:<34}{'':>9}  end")
    if execution["status"] != "SUCCEEDED":
        print(f"   error: {execution.get('error')}\n   cause: {execution.get('cause', '')[:600]}")


def main() -> None:
    from moto import mock_aws

    # moto's interpreter logs every Fail state as an error; the execution's outcome is printed below.
    logging.getLogger("moto").setLevel(logging.CRITICAL)

    from local_aws.compat import LocalAws
    from local_aws.picture import render
    from local_aws.platform import ASL_PATH, STEPS, LocalPlatform

    missing = [name for name in (*STEPS, "app") if not (BUILD / f"{name}.zip").is_file()]
    if missing:
        sys.exit(f"missing {', '.join(missing)} in build/: run `make package`")
    app_code = (BUILD / "app.zip").read_bytes()
    commits = [
        ("commit 1: version 1.1.0", "c0ffee1", changed_app(app_code, {"app.py": lambda text: text.replace('VERSION = "1.0.0"', 'VERSION = "1.1.0"')})),
        ("commit 2: a staging test the code fails", "badf00d", changed_app(app_code, {"test_cases.json": with_staging_case})),
    ]
    patches = LocalAws()
    patches.install()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        platform = LocalPlatform(app_code=app_code, step_zips={step: (BUILD / f"{step}.zip").read_bytes() for step in STEPS}).create()
        print(f"live before: {platform.live_versions()}")
        for title, commit, code in commits:
            execution = platform.wait(platform.start(code, commit))
            print_execution(title, platform, execution)
            print(f"   live now: {platform.live_versions()}")
            picture = BUILD / "demo" / f"{execution['name']}.svg"
            picture.parent.mkdir(parents=True, exist_ok=True)
            entered = platform.states_entered(execution["executionArn"])
            picture.write_text(render(json.loads(ASL_PATH.read_text()), entered, f"{execution['name']}: {execution['status']}"))
            print(f"   picture: {picture.relative_to(ROOT)}")
            record = platform.record(commit, execution["name"])
            environments = {name: {k: record[name].get(k) for k in ("previous_version", "new_version", "rolled_back_to")} for name in ("staging", "production") if name in record}
            print(f"   record: status={record.get('status')} {json.dumps(environments)}")
    patches.uninstall()


if __name__ == "__main__":
    main()
