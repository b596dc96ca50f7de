"""One local AWS (moto's server with local_aws.compat) for the tests in this folder, and one
platform on it, shared by every test here: the previous release's configuration applied and
deployed through, then upgraded to this one with the local platform's two services
(local_aws.upgrade; test_upgrade.py checks what the upgrade did). Applying takes about a minute, a
deployment a few seconds.

The destroy test runs after every other test of this folder (see pytest_collection_modifyitems),
whatever order they are selected in. Terraform tests are skipped, with the reason shown, without
terraform or the zips of `make package`; the AWS provider comes from a filesystem mirror, or else
from the registry (local_aws/terraform.py).
"""

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from e2e.deployments import AwsClient
from local_aws.server import REGION
from local_aws.stack import LocalServer, LocalStack
from local_aws.terraform import missing_prerequisites
from local_aws.upgrade import Upgrade, previous_release, upgrade

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the tests marked `late`, then those marked `destroys_stack`, after the last other test
    of this folder."""
    mine = [item for item in items if HERE in Path(str(item.path)).parents]
    late = [item for item in mine if item.get_closest_marker("late") and not item.get_closest_marker("destroys_stack")]
    last = [item for item in mine if item.get_closest_marker("destroys_stack")]
    if not late and not last:
        return
    for item in late + last:
        items.remove(item)
    others = [item for item in mine if item not in late + last]
    position = items.index(others[-1]) + 1 if others else len(items)
    items[position:position] = late + last


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "destroys_stack: runs after every other test of tests/e2e (it destroys the applied stack)")
    config.addinivalue_line("markers", "late: runs after the other tests of tests/e2e but before those that destroy the stack (it checks on something that started earlier)")


@pytest.fixture(scope="package")
def server() -> Iterator[LocalServer]:
    # moto's interpreter logs each Fail state as an error; the tests assert the outcome instead.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    local = LocalServer.start()
    yield local
    local.stop()


@pytest.fixture(scope="package")
def upgraded(server: LocalServer, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[tuple[LocalStack, Upgrade]]:
    reason = missing_prerequisites()
    if reason:
        pytest.skip(f"Terraform not applied locally: {reason}")
    tree = previous_release(tmp_path_factory.mktemp("previous-release"))
    applied, record = upgrade(server, tmp_path_factory.mktemp("local-terraform"), tree)
    yield applied, record
    applied.terraform.close()
    timings = ", ".join(f"{step} {value:.1f} s" for step, value in applied.seconds.items())
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        print(f"\nlocal terraform wall times: {timings}")


@pytest.fixture(scope="package")
def stack(upgraded: tuple[LocalStack, Upgrade]) -> LocalStack:
    return upgraded[0]


@pytest.fixture(autouse=True)
def no_faults_left(server: LocalServer) -> Iterator[None]:
    """Each test starts and ends with no injected failure, and with every event delivered (a failed
    pipeline run's event invokes stop_deployment in the background)."""
    server.patches.clear_faults()
    yield
    server.patches.wait_for_deliveries()
    server.patches.clear_faults()


@pytest.fixture(scope="package")
def aws(server: LocalServer) -> AwsClient:
    """Clients of the local AWS over HTTP, as any AWS client outside this process would use it."""
    config = Config(retries={"max_attempts": 1})

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=server.url, region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local", config=config)

    return client
