"""A local AWS on 127.0.0.1: moto's server, in this process, with the compatibility layer installed.

    python -m local_aws.server [--port N]

Any AWS client (the AWS CLI, boto3, Terraform's AWS provider) pointed at the printed URL talks to
it. Because the server runs in this process, the patches of `local_aws.compat` apply: Lambda code
runs from the stored zips, CodeDeploy deployments apply their AppSpec, and Step Functions
executions really run (moto's `stepfunctions.execute_state_machine`).
"""

import argparse
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local_aws.compat import LocalAws

HOST = "127.0.0.1"
REGION = "us-east-1"


def start_local_aws(port: int = 0, log_requests: bool = False, patches: "LocalAws | None" = None) -> tuple[str, Callable[[], None]]:
    """Start the local AWS on 127.0.0.1 (`port` 0: any free port), with empty backends and
    `patches` (default: LocalAws()) installed. Returns its URL and a function that stops it and
    undoes every change made to this process."""
    from moto import mock_aws
    from moto.server import ThreadedMotoServer

    from local_aws.compat import LocalAws

    patches = patches or LocalAws()
    patches.install()
    # mock_aws does two things here. Its config is moto's user config, which the server reads on
    # every request (POST /moto-api/config sets the same dict). And it serves AWS calls made inside
    # this process (moto's Step Functions interpreter, the handlers running in-process) on the
    # calling thread: a handler that invokes another function re-enters the invocation lock of
    # local_aws.compat instead of waiting on it from a second server thread.
    in_process = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    in_process.start()
    # Lambda gives every function its Region in the environment; handlers here run in this process.
    saved_environment = dict(os.environ)
    os.environ.setdefault("AWS_REGION", REGION)
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ["AWS_REGION"])

    request_log = logging.getLogger("werkzeug")
    saved_level = request_log.level
    if not log_requests:
        request_log.setLevel(logging.WARNING)

    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    url = f"http://{HOST}:{server.get_host_and_port()[1]}"

    def stop() -> None:
        server.stop()
        request_log.setLevel(saved_level)
        in_process.stop()
        patches.uninstall()
        os.environ.clear()
        os.environ.update(saved_environment)

    return url, stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local AWS (moto) on 127.0.0.1 with the compatibility layer of local_aws.compat.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOCAL_AWS_PORT", "5000")), help="port to listen on; 0 picks a free one")
    arguments = parser.parse_args(argv)

    url, stop = start_local_aws(arguments.port, log_requests=True)
    print(f"local AWS listening on {url}", flush=True)
    print(f"  e.g. AWS_ENDPOINT_URL={url} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws --region {REGION} lambda list-functions", flush=True)
    print("Ctrl-C stops it.", flush=True)

    stopped = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stopped.wait()
    stop()


if __name__ == "__main__":
    main()
