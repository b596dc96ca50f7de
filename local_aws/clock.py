"""Local time that runs faster than the wall clock, for waits that AWS measures in minutes.

Gap: moto's Step Functions interpreter sleeps for real in Wait states and between Retry attempts.
With `speedup` 60, a Wait of 300 seconds (a 5-minute canary) passes in 5 real seconds, and the local
CodeDeploy (local_aws/codedeploy.py) shifts traffic on the same clock, so the state machine's timing
relative to CodeDeploy stays what it would be in AWS.
"""

import time
from typing import Any


class ScaledTime:
    """Stands in for the `time` module where moto sleeps: the same functions, shorter sleeps."""

    def __init__(self, speedup: float) -> None:
        self.speedup = speedup

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds / self.speedup)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def patch_moto(speedup: float) -> list[tuple[Any, str, Any]]:
    """Scale the interpreter's Wait states and Retry intervals; returns (owner, name, original)."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    original_wait = WaitFunction._wait_interval

    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds / speedup)

    restore = [(WaitFunction, "_wait_interval", original_wait), (retrier_decl, "time", retrier_decl.time)]
    WaitFunction._wait_interval = wait_interval  # type: ignore[method-assign]
    retrier_decl.time = ScaledTime(speedup)  # type: ignore[assignment]
    return restore
