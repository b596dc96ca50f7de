"""CodeDeploy for Lambda as AWS runs it, over moto's deployment records.

moto stores deployments but never runs them (they stay `Created`), has no StopDeployment, and does
not enforce one active deployment per group. Here a deployment moves on whenever it is read, by the
time elapsed on a clock that can run faster than the wall clock:

- Created -> InProgress: the AppSpec is read; `live` keeps CurrentVersion and routes the canary or
  linear share to TargetVersion (the alias's RoutingConfig), step by step, as the group's deployment
  config says, predefined or custom (local_aws/deployment_configs.py);
- InProgress -> Succeeded: `live` points at TargetVersion with no routing left, and after
  `completion_lag_seconds` more (CodeDeploy's own steps after the last shift) the deployment succeeds;
- a deployment to a group in `stuck_groups` stays InProgress with `live` untouched, as one whose
  BeforeAllowTraffic hook never reports back does;
- -> Failed: an alarm of the group is in ALARM, or the group was told to fail; with automatic
  rollback enabled, `live` goes back to CurrentVersion with no routing;
- -> Stopped: StopDeployment; with autoRollbackEnabled, `live` goes back to CurrentVersion.
An AppSpec whose TargetVersion equals CurrentVersion fails, as in AWS.
"""

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local_aws import deployment_configs

ACTIVE = frozenset({"Created", "Queued", "InProgress", "Baking", "Ready"})


@dataclass(frozen=True)
class Shift:
    """One step of a traffic shift: from `after_seconds`, `weight` of the traffic goes to the target."""

    after_seconds: float
    weight: float


def shift_plan(routing: Mapping[str, Any]) -> list[Shift]:
    """The steps of a deployment config's trafficRoutingConfig, predefined or custom."""
    if routing.get("type") == "TimeBasedCanary":
        canary = routing["timeBasedCanary"]
        return [Shift(0, int(canary["canaryPercentage"]) / 100), Shift(int(canary["canaryInterval"]) * 60, 1.0)]
    if routing.get("type") == "TimeBasedLinear":
        step, interval = int(routing["timeBasedLinear"]["linearPercentage"]), int(routing["timeBasedLinear"]["linearInterval"]) * 60
        count = math.ceil(100 / step)
        return [Shift(index * interval, min(1.0, (index + 1) * step / 100)) for index in range(count)]
    return [Shift(0, 1.0)]


@dataclass
class Progress:
    """What the emulator keeps beside moto's record of one deployment."""

    function_name: str
    alias: str
    current_version: str
    target_version: str
    started: float
    plan: list[Shift]
    stuck: bool = False
    error: dict[str, str] = field(default_factory=dict)


class LambdaDeployments:
    """Runs moto's CodeDeploy deployments of Lambda aliases; see the module docstring."""

    def __init__(self, speedup: float = 1.0, completion_lag_seconds: float = 0.0) -> None:
        self.speedup = speedup
        self.completion_lag_seconds = completion_lag_seconds
        self.failing_groups: set[str] = set()
        self.stuck_groups: set[str] = set()
        self._progress: dict[str, Progress] = {}

    def succeeded_at(self, deployment_id: str) -> float | None:
        """When (time.monotonic) the deployment succeeded, whenever it was read afterwards."""
        progress = self._progress.get(deployment_id)
        if progress is None or progress.error or progress.stuck:
            return None
        return progress.started + (progress.plan[-1].after_seconds + self.completion_lag_seconds) / self.speedup

    # --- moto hooks ------------------------------------------------------------------------------

    def before_create(self, backend: Any, application_name: str, group_name: str) -> None:
        """Gap: AWS allows one active deployment per deployment group."""
        for deployment in backend.deployments.values():
            self.advance(backend, deployment)
            if deployment.application_name == application_name and deployment.deployment_group_name == group_name and deployment.status in ACTIVE:
                raise deployment_limit_exceeded(deployment.deployment_id)

    def advance(self, backend: Any, deployment: Any) -> None:
        """Move the deployment on to where the elapsed time (and the alarms) put it."""
        if deployment.status not in ACTIVE:
            return
        progress = self._progress.get(deployment.deployment_id) or self._start(backend, deployment)
        if progress is None or deployment.status not in ACTIVE:
            return
        failure = self._failure(backend, deployment)
        if failure:
            self._finish(backend, deployment, progress, "Failed", failure, rollback=self._rolls_back_on(deployment, failure["code"]))
            return
        if progress.stuck:
            deployment.status = "InProgress"
            return
        elapsed = (time.monotonic() - progress.started) * self.speedup
        weight = max(step.weight for step in progress.plan if step.after_seconds <= elapsed)
        if weight >= 1.0:
            self._point_alias(backend, progress, progress.target_version)
            if elapsed >= progress.plan[-1].after_seconds + self.completion_lag_seconds:
                deployment.status = "Succeeded"
                deployment.complete_time = datetime.now(UTC)
            else:
                deployment.status = "InProgress"
        else:
            self._point_alias(backend, progress, progress.current_version, {progress.target_version: weight})
            deployment.status = "InProgress"

    def stop(self, backend: Any, deployment: Any, auto_rollback: bool) -> None:
        """Gap: moto has no StopDeployment. AWS stops the shift and, with autoRollbackEnabled,
        restores the alias to CurrentVersion."""
        self.advance(backend, deployment)
        if deployment.status not in ACTIVE:
            raise deployment_already_completed(deployment.deployment_id)
        progress = self._progress.get(deployment.deployment_id)
        error = {"code": "MANUAL_STOP", "message": "The deployment was stopped by StopDeployment."}
        if progress:
            self._finish(backend, deployment, progress, "Stopped", error, rollback=auto_rollback)
        else:
            deployment.status = "Stopped"

    def error_information(self, deployment_id: str) -> dict[str, str]:
        progress = self._progress.get(deployment_id)
        return dict(progress.error) if progress else {}

    # --- steps -----------------------------------------------------------------------------------

    def _start(self, backend: Any, deployment: Any) -> Progress | None:
        content = (deployment.revision or {}).get("appSpecContent", {}).get("content")
        if not content:
            return None
        properties = next(iter(json.loads(content)["Resources"][0].values()))["Properties"]
        progress = Progress(
            function_name=properties["Name"],
            alias=properties["Alias"],
            current_version=str(properties["CurrentVersion"]),
            target_version=str(properties["TargetVersion"]),
            started=time.monotonic(),
            plan=shift_plan(deployment_configs.traffic_routing(backend, str(deployment.deployment_config_name))),
            stuck=deployment.deployment_group_name in self.stuck_groups,
        )
        self._progress[deployment.deployment_id] = progress
        deployment.start_time = datetime.now(UTC)
        if progress.current_version == progress.target_version:
            error = {"code": "INVALID_REVISION", "message": "The target version is the version the alias already points to."}
            self._finish(backend, deployment, progress, "Failed", error, rollback=False)
        return progress

    def _failure(self, backend: Any, deployment: Any) -> dict[str, str] | None:
        if deployment.deployment_group_name in self.failing_groups:
            return {"code": "SCRIPT_FAILED", "message": "The deployment failed (injected by the local AWS)."}
        alarms = alarm_names(deployment.deployment_group)
        in_alarm = [name for name in alarms if alarm_state(backend, name) == "ALARM"]
        if in_alarm:
            return {"code": "ALARM_ACTIVE", "message": f"One or more alarms have been activated: {', '.join(in_alarm)}"}
        return None

    @staticmethod
    def _rolls_back_on(deployment: Any, code: str) -> bool:
        configuration = deployment.deployment_group.auto_rollback_configuration or {}
        events = set(configuration.get("events", [])) if configuration.get("enabled") else set()
        return ("DEPLOYMENT_STOP_ON_ALARM" if code == "ALARM_ACTIVE" else "DEPLOYMENT_FAILURE") in events

    def _finish(self, backend: Any, deployment: Any, progress: Progress, status: str, error: dict[str, str], rollback: bool) -> None:
        if rollback:
            self._point_alias(backend, progress, progress.current_version)
        progress.error = error
        deployment.status = status
        deployment.complete_time = datetime.now(UTC)

    @staticmethod
    def _point_alias(backend: Any, progress: Progress, version: str, weights: dict[str, float] | None = None) -> None:
        from moto.awslambda.models import lambda_backends

        lambdas = lambda_backends[backend.account_id][backend.region_name]
        routing = {"AdditionalVersionWeights": weights or {}}
        # moto annotates description and routing_config as str; None keeps the description, the dict is what moto stores.
        lambdas.update_alias(progress.alias, progress.function_name, version, None, routing)  # type: ignore[arg-type]


def alarm_names(group: Any) -> list[str]:
    """The alarms of the group's alarm configuration (moto keeps the request's dict)."""
    configuration = group.alarm_configuration or {}
    if not isinstance(configuration, dict):
        configuration = {"enabled": configuration.enabled, "alarms": configuration.alarms}
    if not configuration.get("enabled"):
        return []
    return [alarm["name"] for alarm in configuration.get("alarms", [])]


def alarm_state(backend: Any, name: str) -> str | None:
    from moto.cloudwatch.models import cloudwatch_backends

    alarms = cloudwatch_backends[backend.account_id][backend.region_name].alarms
    return alarms[name].state_value if name in alarms else None


def deployment_limit_exceeded(active_id: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError("DeploymentLimitExceededException", f"The deployment group has an active deployment: {active_id}")


def deployment_already_completed(deployment_id: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError("DeploymentAlreadyCompletedException", f"The deployment {deployment_id} has already completed.")


def patch_moto(emulator: LambdaDeployments) -> list[tuple[Any, str, Any]]:
    """Route moto's CodeDeploy through `emulator`; returns (owner, name, original) to restore."""
    from moto.codedeploy import responses
    from moto.codedeploy.models import CodeDeployBackend
    from moto.codedeploy.responses import CodeDeployResponse
    from moto.core.responses import ActionResult

    originals: dict[str, Callable[..., Any]] = {
        "create_deployment": CodeDeployBackend.create_deployment,
        "get_deployment": CodeDeployBackend.get_deployment,
        "batch_get_deployments": CodeDeployBackend.batch_get_deployments,
        "deployment_info": responses._deployment_info,
    }

    # Bound as methods of CodeDeployBackend, so the backend is `self`.
    def create_deployment(self: Any, application_name: str, deployment_group_name: str, *args: Any, **kwargs: Any) -> str:
        emulator.before_create(self, application_name, deployment_group_name)
        deployment_id: str = originals["create_deployment"](self, application_name, deployment_group_name, *args, **kwargs)
        emulator.advance(self, self.deployments[deployment_id])
        return deployment_id

    def get_deployment(self: Any, deployment_id: str) -> Any:
        deployment = originals["get_deployment"](self, deployment_id)
        emulator.advance(self, deployment)
        return deployment

    def batch_get_deployments(self: Any, deployment_ids: list[str]) -> list[Any]:
        deployments: list[Any] = originals["batch_get_deployments"](self, deployment_ids)
        for deployment in deployments:
            emulator.advance(self, deployment)
        return deployments

    def deployment_info(deployment: Any) -> dict[str, Any]:
        info: dict[str, Any] = originals["deployment_info"](deployment)
        info["errorInformation"] = emulator.error_information(deployment.deployment_id)
        return info

    def stop_deployment(response: Any) -> Any:
        backend = response.codedeploy_backend
        deployment = backend.get_deployment(response._get_param("deploymentId"))
        emulator.stop(backend, deployment, bool(response._get_param("autoRollbackEnabled")))
        return ActionResult({"status": "Succeeded", "statusMessage": f"Deployment {deployment.deployment_id} stopped"})

    restore = [
        (CodeDeployBackend, "create_deployment", originals["create_deployment"]),
        (CodeDeployBackend, "get_deployment", originals["get_deployment"]),
        (CodeDeployBackend, "batch_get_deployments", originals["batch_get_deployments"]),
        (responses, "_deployment_info", originals["deployment_info"]),
        (CodeDeployResponse, "stop_deployment", getattr(CodeDeployResponse, "stop_deployment", None)),
    ]
    CodeDeployBackend.create_deployment = create_deployment  # type: ignore[method-assign]
    CodeDeployBackend.get_deployment = get_deployment  # type: ignore[method-assign]
    CodeDeployBackend.batch_get_deployments = batch_get_deployments  # type: ignore[method-assign]
    responses._deployment_info = deployment_info
    CodeDeployResponse.stop_deployment = stop_deployment  # type: ignore[attr-defined]
    return restore


def restore(patches: list[tuple[Any, str, Any]]) -> None:
    for owner, name, original in patches:
        if original is None:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
