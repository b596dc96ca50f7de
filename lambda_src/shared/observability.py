"""Logging and tracing for every handler, behind one small module.

Structured JSON logs come from Powertools' Logger. Traces go to X-Ray through Powertools' Tracer,
which wraps aws-xray-sdk and patches boto3 so every AWS call is a subsegment. The X-Ray SDK is in
maintenance mode; moving to OpenTelemetry means changing this file only.

`lambda_entry` also turns every failure into a named error (see errors.py): AWS throttling becomes
Throttled and a 5xx or unreachable endpoint ServiceUnavailable (both retried by the state machine),
any other AWS error AwsRequestFailed, and a bug UnexpectedError, so no handler ever ends in an
unnamed exception.
"""

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Tracer
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from shared.errors import AwsRequestFailed, DeploymentError, ServiceUnavailable, Throttled, UnexpectedError

logger = Logger()
tracer = Tracer(patch_modules=["boto3"])

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "ProvisionedThroughputExceededException",
        "SlowDown",
    }
)

Handler = TypeVar("Handler", bound=Callable[..., Any])
# Step Functions keeps a Cause of up to 32,768 characters and CodePipeline a message of 5,000: a
# cause a person reads fits in a few kilobytes, whatever the input or AWS echoed back.
MAX_CAUSE = 4000


def readable(message: str, limit: int = MAX_CAUSE) -> str:
    """`message` cut to `limit` characters, with anything UTF-8 cannot carry (a lone surrogate
    from the input) escaped, so it can be logged and returned as the error's cause."""
    text = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def named_error(error: Exception) -> DeploymentError:
    """The named error a handler reports for `error`, with a readable cause."""
    reported = _named(error)
    cause = readable(str(reported))
    return reported if cause == str(reported) else type(reported)(cause)


def _named(error: Exception) -> DeploymentError:
    if isinstance(error, DeploymentError):
        return error
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "Unknown")
        message = error.response.get("Error", {}).get("Message", "")
        operation = getattr(error, "operation_name", "an AWS call")
        if code in THROTTLING_CODES:
            return Throttled(f"{operation} was throttled ({code}); retry with backoff")
        if is_transient(error):
            return ServiceUnavailable(f"{operation} failed: {code}: {message}; retry with backoff")
        return AwsRequestFailed(f"{operation} failed: {code}: {message}")
    if is_transient(error):
        return ServiceUnavailable(f"AWS could not be reached: {error}; retry with backoff")
    if isinstance(error, BotoCoreError):
        return AwsRequestFailed(f"AWS call failed: {error}")
    return UnexpectedError(f"{type(error).__name__}: {error}")


def is_transient(error: Exception) -> bool:
    """Whether the same call may well succeed later: throttling, a 5xx answer, a connection that
    failed or timed out (botocore has already retried it)."""
    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return error.response.get("Error", {}).get("Code") in THROTTLING_CODES or status >= 500
    return isinstance(error, (ConnectionError, HTTPClientError))


def lambda_entry(handler: Handler) -> Handler:
    """Wrap a Lambda handler with context logging, tracing and named errors."""

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        except Exception as error:  # every failure leaves as a named error
            reported = named_error(error)
            if isinstance(error, DeploymentError):
                logger.error("handler failed", extra={"error": reported.name, "cause": str(reported)})
            else:
                logger.exception("handler failed", extra={"error": reported.name, "cause": str(reported)})
            # Raised from here without the original traceback so the Cause stays readable.
            raise reported.with_traceback(None) from None

    traced = tracer.capture_lambda_handler(wrapper, capture_response=False)
    return cast(Handler, logger.inject_lambda_context(traced, log_event=False))
