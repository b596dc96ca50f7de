"""Restores every environment this execution touched to the version `live` ran before it.

Payload: {"commit_id", "execution": {"arn", "name"}, "failure": {"error", "cause"}}. What was touched
comes from the deployment record, which the deploy handlers write before they create a CodeDeploy
deployment. Per environment (production first): stop a deployment still in progress (with
CodeDeploy's automatic rollback), point `live` at the previous version with no routing weights left
over, read the alias back to verify, and record it. Running it twice is safe.
"""

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shared import aws
from shared.config import env
from shared.deployment_status import ACTIVE_STATUSES
from shared.errors import RollbackFailed
from shared.events import commit_id, ensure_object, execution
from shared.observability import lambda_entry, logger, named_error
from shared.records import read_record, record_rollback

ENVIRONMENTS = ("production", "staging")


@dataclass(frozen=True)
class Target:
    environment: str
    function_name: str
    alias: str


@lambda_entry
def handler(event: Any, context: Any) -> dict[str, Any]:
    ensure_object(event)
    commit, run = commit_id(event), execution(event)
    table, alias = env("DEPLOYMENTS_TABLE"), env("ALIAS_NAME")
    functions = {"staging": env("STAGING_FUNCTION_NAME"), "production": env("PRODUCTION_FUNCTION_NAME")}
    record = read_record(table, commit, run.name) or {}

    results: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for environment in ENVIRONMENTS:
        touched = record.get(environment)
        if not touched:
            results[environment] = {"action": "untouched"}
            continue
        target = Target(environment, functions[environment], alias)
        try:
            results[environment] = restore(target, touched)
            record_rollback(table, commit, run.name, environment, results[environment]["version"])
        except RollbackFailed as error:
            problems.append(str(error))
        except Exception as error:  # noqa: BLE001 - one environment's failure must not skip the other
            problems.append(f"{environment}: {named_error(error)} ({alias_state(target)})")

    if problems:
        # Every environment's state, so a person knows what production runs before acting.
        others = "; ".join(
            f"{environment} untouched ({alias_state(Target(environment, functions[environment], alias))})" if result["action"] == "untouched" else describe(environment, result)
            for environment, result in results.items()
        )
        raise RollbackFailed(" ".join(problems) + (f" Other environments: {others}." if others else ""))
    summary = "; ".join(describe(environment, result) for environment, result in results.items())
    logger.info("rollback complete", extra={"environments": results})
    return {"environments": results, "summary": summary}


def restore(target: Target, touched: dict[str, Any]) -> dict[str, Any]:
    previous = str(touched["previous_version"])
    new = str(touched.get("new_version", previous))
    stopped = stop_if_active(touched.get("deployment_id"))
    version, weights = read_alias(target)
    if version == previous and not weights:
        return {"action": "already_on_previous" if previous != new else "unchanged", "version": previous, "stopped_deployment": stopped}

    aws.client("lambda").update_alias(
        FunctionName=target.function_name,
        Name=target.alias,
        FunctionVersion=previous,
        RoutingConfig={"AdditionalVersionWeights": {}},
    )
    version, weights = read_alias(target)
    if version != previous or weights:
        raise RollbackFailed(f"{target.environment}: {alias_state(target)} after the rollback, expected version {previous} with no weights.")
    logger.info("alias restored", extra={"environment": target.environment, "version": previous, "from": new})
    return {"action": "restored", "version": previous, "from_version": new, "stopped_deployment": stopped}


def stop_if_active(deployment_id: str | None) -> str | None:
    """Stop a deployment still shifting traffic, letting CodeDeploy roll it back too."""
    if not deployment_id:
        return None
    client = aws.client("codedeploy")
    status = client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"]
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
