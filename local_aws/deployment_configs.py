"""Gap: moto 5.2.5 has no CodeDeploy deployment configurations (CreateDeploymentConfig,
GetDeploymentConfig, DeleteDeploymentConfig). Here they answer in the shape of the CodeDeploy API
Reference, enough for Terraform's aws_codedeploy_deployment_config to create, read and destroy one,
and for the deploy handlers and the local CodeDeploy (local_aws/codedeploy.py) to read a group's
traffic shifting:

- the predefined configurations of the Lambda compute platform always exist; they cannot be
  deleted (InvalidOperationException); those of the Server and ECS platforms are not modelled;
- CreateDeploymentConfig checks the name (1 to 100 of [A-Za-z0-9+=,.@_-]), that it is new, the
  quota of 50 custom configurations per account and Region, and that a trafficRoutingConfig has
  only the block its type names, with a percentage from 1 to 100 and an interval of at least one
  minute (the API Reference gives no range); it answers the new deploymentConfigId;
- GetDeploymentConfig answers deploymentConfigInfo, or DeploymentConfigDoesNotExistException;
- DeleteDeploymentConfig refuses a configuration a deployment group uses
  (DeploymentConfigInUseException); deleting one that is gone is not an error (the API documents
  no such error).
The custom configurations live beside moto's CodeDeploy backend of their account and Region.
"""

import re
import uuid
from datetime import UTC, datetime
from typing import Any

NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,100}$")
CUSTOM_CONFIGS_PER_REGION = 50
PREDEFINED_CREATED = datetime(2020, 1, 1, tzinfo=UTC)  # the createTime reported for every predefined configuration


def _canary(percentage: int, minutes: int) -> dict[str, Any]:
    return {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": percentage, "canaryInterval": minutes}}


def _linear(percentage: int, minutes: int) -> dict[str, Any]:
    return {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": percentage, "linearInterval": minutes}}


# The trafficRoutingConfig of each predefined Lambda configuration, as its name describes it.
PREDEFINED: dict[str, dict[str, Any]] = {
    "CodeDeployDefault.LambdaAllAtOnce": {"type": "AllAtOnce"},
    "CodeDeployDefault.LambdaCanary10Percent5Minutes": _canary(10, 5),
    "CodeDeployDefault.LambdaCanary10Percent10Minutes": _canary(10, 10),
    "CodeDeployDefault.LambdaCanary10Percent15Minutes": _canary(10, 15),
    "CodeDeployDefault.LambdaCanary10Percent30Minutes": _canary(10, 30),
    "CodeDeployDefault.LambdaLinear10PercentEvery1Minute": _linear(10, 1),
    "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes": _linear(10, 2),
    "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes": _linear(10, 3),
    "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes": _linear(10, 10),
}
# The block each trafficRoutingConfig type needs, with its percentage and interval fields.
ROUTING_BLOCKS = {
    "TimeBasedCanary": ("timeBasedCanary", ("canaryPercentage", "canaryInterval")),
    "TimeBasedLinear": ("timeBasedLinear", ("linearPercentage", "linearInterval")),
}


def _error(code: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def custom_configs(backend: Any) -> dict[str, dict[str, Any]]:
    """The custom configurations of a moto CodeDeploy backend, as deploymentConfigInfo by name."""
    configs: dict[str, dict[str, Any]] = vars(backend).setdefault("custom_deployment_configs", {})
    return configs


def config_info(backend: Any, name: str) -> dict[str, Any]:
    """deploymentConfigInfo of a predefined Lambda or a custom configuration."""
    if name in PREDEFINED:
        return {
            "deploymentConfigId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            "deploymentConfigName": name,
            "createTime": PREDEFINED_CREATED,
            "computePlatform": "Lambda",
            "trafficRoutingConfig": PREDEFINED[name],
        }
    if name in custom_configs(backend):
        return custom_configs(backend)[name]
    raise _error("DeploymentConfigDoesNotExistException", f"The deployment configuration {name} does not exist with the user or AWS account.")


def traffic_routing(backend: Any, name: str) -> dict[str, Any]:
    """How a configuration shifts a Lambda alias: its trafficRoutingConfig (AllAtOnce without one)."""
    routing: dict[str, Any] = config_info(backend, name).get("trafficRoutingConfig") or {"type": "AllAtOnce"}
    return routing


def _check_name(name: Any) -> str:
    if not name:
        raise _error("DeploymentConfigNameRequiredException", "The deployment configuration name was not specified.")
    if not isinstance(name, str) or not NAME.match(name):
        raise _error("InvalidDeploymentConfigNameException", f"The deployment configuration name {name!r} is not 1 to 100 of A-Z a-z 0-9 + = , . @ _ -.")
    return name


def _check_routing(routing: dict[str, Any]) -> None:
    kind = routing.get("type")
    blocks = {block for block, _ in ROUTING_BLOCKS.values()} & routing.keys()
    if kind == "AllAtOnce" and not blocks:
        return
    if kind in ROUTING_BLOCKS:
        block, (percentage, interval) = ROUTING_BLOCKS[kind]
        values = routing.get(block) or {}
        whole = all(isinstance(values.get(field), int) for field in (percentage, interval))
        if blocks == {block} and whole and 1 <= values[percentage] <= 100 and values[interval] >= 1:
            return
    raise _error(
        "InvalidTrafficRoutingConfigurationException",
        f"The traffic routing configuration {routing} is not AllAtOnce, nor TimeBasedCanary or TimeBasedLinear with only its own block of a percentage from 1 to 100 and an interval of at least 1 minute.",
    )


def create_deployment_config(response: Any) -> Any:
    from moto.core.responses import ActionResult

    backend = response.codedeploy_backend
    name = _check_name(response._get_param("deploymentConfigName"))
    if name in PREDEFINED or name in custom_configs(backend):
        raise _error("DeploymentConfigAlreadyExistsException", f"A deployment configuration named {name} already exists.")
    if len(custom_configs(backend)) >= CUSTOM_CONFIGS_PER_REGION:
        raise _error("DeploymentConfigLimitExceededException", f"The account already has {CUSTOM_CONFIGS_PER_REGION} custom deployment configurations in this Region.")
    info: dict[str, Any] = {
        "deploymentConfigId": str(uuid.uuid4()),
        "deploymentConfigName": name,
        "createTime": datetime.now(UTC),
        "computePlatform": response._get_param("computePlatform") or "Server",
    }
    for optional in ("trafficRoutingConfig", "minimumHealthyHosts", "zonalConfig"):
        if response._get_param(optional):
            info[optional] = response._get_param(optional)
    if "trafficRoutingConfig" in info:
        _check_routing(info["trafficRoutingConfig"])
    custom_configs(backend)[name] = info
    return ActionResult({"deploymentConfigId": info["deploymentConfigId"]})


def get_deployment_config(response: Any) -> Any:
    from moto.core.responses import ActionResult

    name = _check_name(response._get_param("deploymentConfigName"))
    return ActionResult({"deploymentConfigInfo": config_info(response.codedeploy_backend, name)})


def delete_deployment_config(response: Any) -> Any:
    from moto.core.responses import EmptyResult

    backend = response.codedeploy_backend
    name = _check_name(response._get_param("deploymentConfigName"))
    if name in PREDEFINED:
        raise _error("InvalidOperationException", f"The predefined deployment configuration {name} cannot be deleted.")
    users = [group.deployment_group_name for groups in backend.deployment_groups.values() for group in groups.values() if group.deployment_config_name == name]
    if users:
        raise _error("DeploymentConfigInUseException", f"The deployment configuration {name} is still in use by the deployment groups {', '.join(users)}.")
    custom_configs(backend).pop(name, None)
    return EmptyResult()


def patch_moto() -> list[tuple[Any, str, Any]]:
    """Add the three operations to moto's CodeDeploy; returns (owner, name, original) to restore."""
    from moto.codedeploy.responses import CodeDeployResponse

    operations = {"create_deployment_config": create_deployment_config, "get_deployment_config": get_deployment_config, "delete_deployment_config": delete_deployment_config}
    restore = [(CodeDeployResponse, name, vars(CodeDeployResponse).get(name)) for name in operations]
    for name, operation in operations.items():
        setattr(CodeDeployResponse, name, operation)
    return restore
