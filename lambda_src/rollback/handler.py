"""Restores every environment this execution touched to the version the service's alias ran before it.

Payload: {"commit_id", "execution": {"arn", "name"}, "failure": {"error", "cause"}, "service"}. The
functions and the alias are the service's registered ones (shared/services.py). What was touched
comes from the deployment record, which the deploy handlers write before they create a CodeDeploy
deployment. Per environment (production first): stop a deployment still in progress (with
CodeDeploy's automatic rollback), point the alias at the previous version with no routing weights
left over, read the alias back to verify, and record it. Running it twice is safe.
"""

import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shared import aws
from shared.config import env
from shared.deployment_status import ACTIVE_STATUSES
from shared.errors import FunctionBusy, RollbackFailed, TargetNotAllowed
from shared.events import commit_id, ensure_object, execution
from shared.function_updates import change
from shared.observability import lambda_entry, logger, named_error
from shared.records import read_record, record_rollback
from shared.services import Service, acting_for, service_of

ENVIRONMENTS = ("production", "staging")
VERSION = re.compile(r"[1-9][0-9]{0,9}")  # a published version; never $LATEST


@dataclass(frozen=True)
class Target:
    environment: str
    function_name: str
    alias: str
    application: str
    deployment_group: str

    @classmethod
    def of(cls, service: Service, environment: str) -> "Target":
        registered = service.environment(environment)
        return cls(environment, registered.function_name, service.alias, service.codedeploy_application, registered.deployment_group)


@lambda_entry
def handler(event: Any, context: Any) -> dict[str, Any]:
    ensure_object(event)
    commit, run = commit_id(event), execution(event)
    service = service_of(event)
    table = env("DEPLOYMENTS_TABLE")
    targets = {environment: Target.of(service, environment) for environment in ENVIRONMENTS}
    record = read_record(table, commit, run.name) or {}
    recorded_service = record.get("service")
    if recorded_service is not None and recorded_service != service.name:
        raise TargetNotAllowed(
            f"service {service.name}: the deployment record of commit {commit}, execution {run.name} is of service {str(recorded_service)[:64]!r}; "
            "a rollback restores only what its own service's deployment changed"
        )

    with acting_for(service, "rollback"):
        return restore_all(service, commit, run.name, table, targets, record)


def restore_all(service: Service, commit: str, execution_name: str, table: str, targets: dict[str, "Target"], record: dict[str, Any]) -> dict[str, Any]:
    """Restore each environment the record says the execution touched, production first."""
    results: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for environment in ENVIRONMENTS:
        touched = record.get(environment)
        if not touched:
            results[environment] = {"action": "untouched"}
            continue
        target = targets[environment]
        try:
            results[environment] = restore(target, recorded_versions(target, touched, f"commit {commit}, execution {execution_name}"))
            record_rollback(table, commit, execution_name, environment, results[environment]["version"], service.name)
        except FunctionBusy:
            raise  # retried by the state machine: running the rollback again is safe
        except RollbackFailed as error:
            problems.append(str(error))
        except Exception as error:  # noqa: BLE001 - one environment's failure must not skip the other
            problems.append(f"{environment}: {named_error(error)} ({alias_state(target)})")

    if problems:
        # Every environment's state, so a person knows what production runs before acting.
        others = "; ".join(
            f"{environment} untouched ({alias_state(targets[environment])})" if result["action"] == "untouched" else describe(environment, result)
            for environment, result in results.items()
        )
        raise RollbackFailed(" ".join(problems) + (f" Other environments: {others}." if others else ""))
    summary = "; ".join(describe(environment, result) for environment, result in results.items())
    logger.info("rollback complete", extra={"environments": results})
    return {"environments": results, "summary": summary}


@dataclass(frozen=True)
class Recorded:
    """What the deploy handler recorded for one environment before it shifted anything."""

    previous_version: str
    new_version: str
    deployment_id: str | None


def recorded_versions(target: Target, touched: Any, record: str) -> Recorded:
    """The environment's map of the deployment record, checked: a rollback must know exactly
    which version to restore, and says what is wrong with the record when it cannot."""

    def unusable(problem: str) -> RollbackFailed:
        return RollbackFailed(f"{target.environment}: the deployment record ({record}) {problem}, so the version to restore is unknown; {alias_state(target)}.")

    if not isinstance(touched, dict):
        raise unusable(f"has '{target.environment}' as a {type(touched).__name__}, not a map")
    previous, new, deployment_id = touched.get("previous_version"), touched.get("new_version", touched.get("previous_version")), touched.get("deployment_id")
    if not isinstance(previous, str) or not VERSION.fullmatch(previous):
        raise unusable(f"has no published version in '{target.environment}.previous_version' (found {preview(previous)})")
    if not isinstance(new, str) or not VERSION.fullmatch(new):
        raise unusable(f"has no published version in '{target.environment}.new_version' (found {preview(new)})")
    if deployment_id is not None and not (isinstance(deployment_id, str) and 0 < len(deployment_id) <= 128):
        raise unusable(f"has '{target.environment}.deployment_id' {preview(deployment_id)}, not a CodeDeploy deployment id")
    return Recorded(previous, new, deployment_id)


def preview(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {str(value)[:40]!r}"


def restore(target: Target, touched: Recorded) -> dict[str, Any]:
    previous, new = touched.previous_version, touched.new_version
    stopped = stop_if_active(target, touched.deployment_id)
    version, weights = read_alias(target)
    if version == previous and not weights:
        return {"action": "already_on_previous" if previous != new else "unchanged", "version": previous, "stopped_deployment": stopped}

    functions = aws.client("lambda")
    change(
        functions,
        target.function_name,
        "UpdateAlias",
        lambda: functions.update_alias(FunctionName=target.function_name, Name=target.alias, FunctionVersion=previous, RoutingConfig={"AdditionalVersionWeights": {}}),
    )
    version, weights = read_alias(target)
    if version != previous or weights:
        raise RollbackFailed(f"{target.environment}: {alias_state(target)} after the rollback, expected version {previous} with no weights.")
    logger.info("alias restored", extra={"environment": target.environment, "version": previous, "from": new})
    return {"action": "restored", "version": previous, "from_version": new, "stopped_deployment": stopped}


def stop_if_active(target: Target, deployment_id: str | None) -> str | None:
    """Stop a deployment of the target's group still shifting traffic, letting CodeDeploy roll it
    back too."""
    if not deployment_id:
        return None
    client = aws.client("codedeploy")
    info = client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    of = (info.get("applicationName"), info.get("deploymentGroupName"))
    if of != (target.application, target.deployment_group):
        raise TargetNotAllowed(f"the recorded CodeDeploy deployment {deployment_id} is of {of[0]}/{of[1]}, not of {target.application}/{target.deployment_group}; it is left as it is")
    status = info["status"]
    if status not in ACTIVE_STATUSES:
        return None
    try:
        client.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    except ClientError as error:
        # It finished between the two calls: the alias check below decides what is left to do.
        if error.response.get("Error", {}).get("Code") != "DeploymentAlreadyCompletedException":
            raise
        return None
    logger.info("deployment stopped", extra={"deployment_id": deployment_id, "status": status})
    return deployment_id


def read_alias(target: Target) -> tuple[str, dict[str, float]]:
    alias = aws.client("lambda").get_alias(FunctionName=target.function_name, Name=target.alias)
    weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}) or {}
    return str(alias["FunctionVersion"]), weights


def alias_state(target: Target) -> str:
    """What a person must know to finish the rollback by hand."""
    try:
        version, weights = read_alias(target)
    except Exception as error:  # noqa: BLE001 - reporting, not deciding
        return f"alias {target.alias} of {target.function_name} could not be read: {named_error(error)}"
    shifted = f" with {weights} of traffic on other versions" if weights else ""
    return f"alias {target.alias} of {target.function_name} is on version {version}{shifted}"


def describe(environment: str, result: dict[str, Any]) -> str:
    action = result["action"]
    if action == "untouched":
        return f"{environment} untouched"
    stopped = f" (deployment {result['stopped_deployment']} stopped)" if result.get("stopped_deployment") else ""
    return f"{environment} on version {result['version']} ({action}){stopped}"
