"""The upgrade from the single-application release to the shared platform, on the local AWS.

A user who applied the previous release upgrades by checking out this one and applying it with the
same variables: migrations.tf moves the application's resources into modules/service as the
service keyed default. `upgrade` does that to a local AWS, the way a user would:

1. apply the previous release's configuration, with the handler zips its own tools/package.py
   builds from its own lambda_src/, and deploy a commit through its pipeline;
2. plan this release's configuration on the same state with the same variables (what a user sees
   first), then apply it with the services map of the local platform (the sample application and
   examples/clock), which adds the second service;
3. deploy a commit through the upgraded pipeline.

It needs the repository's history (`git archive` of PREVIOUS_RELEASE).
"""

import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_aws.codepipeline import PipelineRun
from local_aws.stack import DEFAULT_VARIABLES, LocalServer, LocalStack, app_commit
from local_aws.terraform import ROOT, LocalTerraform

# The last commit of the single-application configuration.
PREVIOUS_RELEASE = "34ed23e4e6524740d38f3f23291907a42a2e2f1a"
PREVIOUS_VARIABLES = {"deployment_timeout_seconds": "60"}


class UpgradeError(RuntimeError):
    """The previous release could not be prepared."""


@dataclass(frozen=True)
class Upgrade:
    """What the upgrade showed."""

    before: PipelineRun  # the deployment through the previous release
    versions_before: dict[str, str]  # the live versions after it
    unchanged_variables_plan: list[dict[str, Any]]  # resource changes planned with the same variables
    applied: dict[str, int]  # what the apply with the services map did: added, changed, destroyed
    after: PipelineRun  # the deployment through the upgraded platform
    versions_after: dict[str, str]  # the live versions after it
    seconds: dict[str, float]


def previous_release(folder: Path) -> Path:
    """PREVIOUS_RELEASE's tree in `folder`, with build/ holding the zips it deploys: its handlers and
    application packaged by its own tools/package.py, and this build's layer.zip when it holds every
    package the previous release's layer does, at the same version (`layer_requirements`)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS_RELEASE], capture_output=True, check=False)
    if archive.returncode != 0:
        message = archive.stderr.decode(errors="replace").strip()
        raise UpgradeError(f"git archive {PREVIOUS_RELEASE} failed ({message}): the upgrade check needs the repository's history; in a shallow clone run `git fetch --unshallow`")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    build = folder / "build"
    build.mkdir()
    for handler in sorted(path.parent.name for path in (folder / "lambda_src").glob("*/handler.py")):
        package(folder, "handler", handler, build / f"{handler}.zip")
    package(folder, "app", build / "app.zip")
    missing = missing_from_layer(folder)
    if missing:
        raise UpgradeError(f"this release's layer lacks {', '.join(sorted(missing))} of the previous release's: build its layer.zip (make package in its tree)")
    shutil.copy2(ROOT / "build" / "layer.zip", build / "layer.zip")
    return folder


def missing_from_layer(previous: Path, current: Path = ROOT) -> set[str]:
    """The pinned packages of `previous`'s layer that `current`'s lacks (requirements-layer.txt,
    without comments). None missing: `current`'s layer serves `previous`, whose handlers import the
    same versions and never the packages added since."""
    return layer_requirements(previous) - layer_requirements(current)


def layer_requirements(tree: Path) -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in (tree / "requirements-layer.txt").read_text(encoding="utf-8").splitlines())
    return {line for line in lines if line}


def package(tree: Path, *args: str | Path) -> None:
    subprocess.run([sys.executable, "tools/package.py", *map(str, args)], cwd=tree, check=True, capture_output=True)


def upgrade(server: LocalServer, workdir: Path, tree: Path) -> tuple[LocalStack, Upgrade]:
    """Apply the previous release (`tree`, from previous_release) to `server`, deploy, upgrade
    `workdir`'s state to this configuration with the local platform's services, deploy again."""
    seconds: dict[str, float] = {}

    def timed(step: str, command: Any) -> Any:
        started = time.monotonic()
        try:
            return command()
        finally:
            seconds[step] = time.monotonic() - started

    previous = LocalTerraform.prepare(server.url, workdir=workdir, variables=PREVIOUS_VARIABLES, configuration=tree)
    timed("previous init", previous.init)
    timed("previous apply", previous.apply)
    old = LocalStack(server, previous, previous.outputs())
    with tempfile.TemporaryDirectory() as folder:
        before = timed("deploy before", lambda: old.push(app_commit(Path(folder), app_version("1.0.1")), "before-upgrade"))
    versions_before = old.live_versions()

    same = LocalTerraform.prepare(server.url, workdir=workdir, variables=PREVIOUS_VARIABLES)
    timed("init", same.init)
    unchanged_variables_plan = timed("plan, same variables", same.planned_changes)
    current = LocalTerraform.prepare(server.url, workdir=workdir, variables=DEFAULT_VARIABLES)
    applied = apply_summary(timed("apply", current.apply).stdout)
    stack = LocalStack(server, current, current.outputs(), seconds)
    stack.connect_chat()
    with tempfile.TemporaryDirectory() as folder:
        after = timed("deploy after", lambda: stack.push(app_commit(Path(folder), app_version("1.0.2")), "after-upgrade"))
    return stack, Upgrade(before, versions_before, unchanged_variables_plan, applied, after, stack.live_versions(), seconds)


def apply_summary(output: str) -> dict[str, int]:
    """`Apply complete! Resources: 50 added, 18 changed, 0 destroyed.` as numbers."""
    found = re.search(r"Resources: (\d+) added, (\d+) changed, (\d+) destroyed", output)
    if found is None:
        raise UpgradeError(f"terraform apply printed no summary: {output[-500:]}")
    return dict(zip(("added", "changed", "destroyed"), map(int, found.groups()), strict=True))


def app_version(version: str) -> dict[str, Any]:
    """The sample app's edit to report `version`: new code, so the deployment publishes a version."""
    return {"src/app.py": lambda text: text.replace('VERSION = "1.0.0"', f'VERSION = "{version}"')}


def destroyed_or_replaced(changes: list[dict[str, Any]]) -> list[str]:
    """The addresses a plan would delete (a replacement deletes too), with its actions."""
    return [f"{change['address']} {'/'.join(change['change']['actions'])}" for change in changes if "delete" in change["change"]["actions"]]


def moved(changes: list[dict[str, Any]]) -> dict[str, str]:
    """previous address -> new address of every resource the plan moves."""
    return {change["previous_address"]: change["address"] for change in changes if change.get("previous_address")}
