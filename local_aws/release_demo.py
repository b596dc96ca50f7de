"""The releases part of `make demo` (docs/releases.md), on the stack the demo applied:

1. release 2026.12.1, uploaded to the release bucket: the two services' pipelines and web in two
   waves (the sample app's pipeline and web, then the clock's after the sample app's);
2. the same release id POSTed to the release API by a releaser: refused, 409;
3. release 2026.12.2, POSTed: web fails, search (still running) is stopped, worker (after web) is
   never started.
For each release: its outcome, and each pipeline's statuses with the time CodePipeline changed them.
"""

import json
import tempfile
from pathlib import Path
from typing import Any, TextIO

import boto3

from local_aws import releases
from local_aws.codepipeline import zip_folder
from local_aws.stack import SERVICE_APPS, LocalStack, app_commit

FIRST = {
    "release_id": "2026.12.1",
    "description": "the sample app and web, then the clock",
    "pipelines": ["sls-cd-pipeline", {"name": "sls-cd-clock-pipeline", "after": ["sls-cd-pipeline"]}, {"name": "web", "variables": {"sleep_seconds": "2"}}],
}
SECOND = {
    "release_id": "2026.12.2",
    "pipelines": [{"name": "web", "variables": {"outcome": "fail"}}, {"name": "search", "variables": {"sleep_seconds": "5"}}, {"name": "worker", "after": ["web"]}],
}


def put_service_sources(stack: LocalStack) -> None:
    """The source object of each service a release may start, in the source bucket, which its
    pipeline's Source action reads when a release starts it (the demo's pushes hand their commits
    to the pipeline directly)."""
    with tempfile.TemporaryDirectory() as folder:
        for service, described in stack.outputs["services"].items():
            if described["pipeline_name"] not in stack.outputs["releases"]["pipelines"]:
                continue
            source = app_commit(Path(folder) / service, app=SERVICE_APPS[service])
            boto3.client("s3").put_object(Bucket=described["source"]["bucket"], Key=described["source"]["object_key"], Body=zip_folder(source))


def print_release(stack: LocalStack, out: TextIO, release_id: str) -> dict[str, Any]:
    execution = releases.wait_for_release(stack, release_id, timeout_seconds=300)
    found = releases.records(stack, release_id)
    release = found["release"]
    print(f"   release {release_id}: {execution['status']} ({release['status']})" + (f": {execution.get('error')}" if execution.get("error") else ""), file=out)
    runs = [run for record, run in found.items() if record.startswith("pipeline#")]
    for run in sorted(runs, key=lambda run: (run.get("wave") or 0, run["pipeline"])):
        changes = ", ".join(f"{change['status']} {change['at'][11:19]} ({change['seen']})" for change in run.get("changes", []))
        print(f"     wave {run.get('wave')}  {run['pipeline']:<22} {run['status']:<11} {changes}", file=out)
        if run.get("summary"):
            print(f"       {str(run['summary'])[:200]}", file=out)
    if execution.get("cause"):
        print(f"   cause: {str(execution['cause'])[:600]}", file=out)
    return execution


def run_releases(stack: LocalStack, out: TextIO) -> None:
    releases.create_pipelines()
    put_service_sources(stack)
    releaser = releases.create_releaser(stack, "release-manager")
    print(f"\n== releases: manifests uploaded to {stack.outputs['releases']['upload_location']} or POSTed to the release API", file=out)
    print(f"   release {FIRST['release_id']}, uploaded: {json.dumps(FIRST['pipelines'])}", file=out, flush=True)
    releases.upload(stack, FIRST)
    print_release(stack, out, str(FIRST["release_id"]))

    status, answer = releases.post(stack, FIRST, releaser.credentials)
    print(f"   the same release id POSTed again by {releaser.arn}: HTTP {status}: {answer.get('message')}", file=out)

    status, answer = releases.post(stack, SECOND, releaser.credentials)
    print(f"   release {SECOND['release_id']}, POSTed: HTTP {status}, execution {answer.get('execution_arn')}", file=out, flush=True)
    print_release(stack, out, str(SECOND["release_id"]))
