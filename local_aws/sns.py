"""SNS in the local AWS: notifications that topics deliver to Lambda subscriptions.

Gap: moto's Publish runs a Lambda subscription's function inside the Publish call
(`Subscription.publish` → `LambdaBackend.send_sns_message`), through Docker, with a fixed example
event (MessageId 95df01b4-..., TopicArn arn:aws:sns:EXAMPLE, made-up message attributes, Subject
"TestInvoke"). `NotificationDeliveries` (wired in by `LocalAws.install`) delivers to Lambda
subscriptions as SNS and Lambda do (Lambda developer guide: "Using Lambda with Amazon SNS",
"Invoking a Lambda function asynchronously", "How Lambda handles errors and retries with
asynchronous invocation", "Capturing records of Lambda asynchronous invocations"; SNS developer
guide: "Amazon SNS message filtering", "Amazon SNS message delivery retries"):
- asynchronously: SNS invokes the function with InvocationType Event, so Publish answers with the
  MessageId at once; here the function runs in a thread of its own, in-process like every function
  of the local AWS (local_aws/compat.py), as its execution role when IAM checks are on;
- with the event SNS sends: {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
  "EventSubscriptionArn": <the subscription>, "Sns": {"Type": "Notification", "MessageId": <what
  Publish returned>, "TopicArn", "Subject" (null without one), "Message", "Timestamp" (ISO 8601 with
  milliseconds, Z), "SignatureVersion", "Signature", "SigningCertUrl", "UnsubscribeUrl",
  "MessageAttributes": {name: {"Type", "Value"}}}}]}. With MessageStructure json the message is the
  JSON object's "lambda" key, else its "default". The signature is a placeholder, not verifiable;
- after the subscription's filter policy, as moto applies it to every protocol;
- only when the function's resource-based policy allows lambda:InvokeFunction to the principal
  sns.amazonaws.com (aws:SourceArn the topic's ARN if the statement has that condition, as
  `aws_lambda_permission` with `source_arn` writes it). Otherwise, or when the function does not
  exist, the delivery fails: recorded, never raised to the caller of Publish. SNS would retry it
  and then send it to the subscription's dead-letter queue; here it is not retried;
- with Lambda's asynchronous error handling: a function that raises is run again, up to the
  MaximumRetryAttempts of its event invoke config (default 2, so three runs in all), at once rather
  than after AWS's one and two minutes (`retry_delay_seconds`). A throttled invocation
  (`LocalAws.throttle`) goes back to the queue without counting as an attempt; AWS keeps trying for up to
  MaximumEventAgeInSeconds (6 hours), here `throttle_retries` times, then discards the event
  (condition EventAgeExceeded). An event that is discarded goes, as an invocation record, to the
  config's DestinationConfig.OnFailure destination if that is an SQS queue: {"version": "1.0",
  "timestamp", "requestContext": {"requestId", "functionArn" (qualified, e.g. :$LATEST),
  "condition", "approximateInvokeCount"}, "requestPayload": <the event>, "responseContext":
  {"statusCode": 200, "executedVersion", "functionError": "Unhandled"}, "responsePayload": <the
  error the function raised>}. An on-failure destination of another kind (SNS, Lambda,
  EventBridge, S3) is not sent to: recorded as `destination_error`. The OnSuccess destination and
  the function's dead-letter queue (DeadLetterConfig) are ignored.
Other protocols (sqs, http/https, email, ...) keep moto's delivery. `NotificationDeliveries.wait`
blocks until no notification to a function is in flight; `wait_for_quiet` until neither those
nor EventBridge's deliveries (local_aws/events.py) are, since either may start the other.
"""

import base64
import copy
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field as dataclass_field
from datetime import UTC, datetime
from typing import Any

from local_aws import events, iam

SNS_PRINCIPAL = "sns.amazonaws.com"
DEFAULT_RETRY_ATTEMPTS = 2  # Lambda's default MaximumRetryAttempts for asynchronous invocation


def iso_timestamp(moment: float) -> str:
    """2026-01-31T12:00:00.123Z, as SNS and Lambda write their timestamps."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def service_may_invoke(function: Any, function_arn: str, principal: str, source_arn: str) -> bool:
    """Whether the function's resource-based policy lets the AWS service `principal` (e.g.
    sns.amazonaws.com) invoke `function_arn` (with its qualifier if it has one) on behalf of the
    resource `source_arn` (aws:SourceArn; aws:SourceAccount is its account). The same rules as
    `events.events_may_invoke`, for any service principal."""
    context = {"aws:sourcearn": source_arn, "aws:sourceaccount": source_arn.split(":")[4]}
    for statement in function.policy.statements:
        statement_principal = statement.get("Principal")
        services = iam.as_list(statement_principal.get("Service", [])) if isinstance(statement_principal, dict) else iam.as_list(statement_principal)
        if statement.get("Effect", "Allow") != "Allow" or not ({principal, "*"} & set(services)):
            continue
        if not any(iam.matches(pattern, "lambda:InvokeFunction", case_sensitive=False) for pattern in iam.as_list(statement.get("Action", []))):
            continue
        if not any(iam.matches(pattern, function_arn) for pattern in iam.as_list(statement.get("Resource", []))):
            continue
        if events._conditions_hold(statement.get("Condition", {}), context):
            return True
    return False


def notification_event(subscription: Any, message: str, message_id: str, subject: str | None, message_attributes: dict[str, Any] | None, published_at: float) -> dict[str, Any]:
    """The event SNS invokes a subscribed function with (Lambda developer guide, "Using Lambda with
    Amazon SNS", example Amazon SNS message event)."""
    topic_arn = subscription.topic.arn
    region = topic_arn.split(":")[3]
    timestamp = iso_timestamp(published_at)
    signed = f"Message\n{message}\nMessageId\n{message_id}\nTimestamp\n{timestamp}\nTopicArn\n{topic_arn}\nType\nNotification\n"
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription.arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": topic_arn,
                    "Subject": subject or None,
                    "Message": message,
                    "Timestamp": timestamp,
                    "SignatureVersion": "1",
                    # A placeholder of a signature's size and alphabet: nothing here holds SNS's key.
                    "Signature": base64.b64encode(hashlib.sha256(signed.encode()).digest() * 8).decode(),
                    "SigningCertUrl": f"https://sns.{region}.amazonaws.com/SimpleNotificationService-{uuid.uuid5(uuid.NAMESPACE_URL, topic_arn).hex}.pem",
                    "UnsubscribeUrl": f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription.arn}",
                    "MessageAttributes": copy.deepcopy(message_attributes or {}),
                },
            }
        ]
    }


def qualified_arn(endpoint: str) -> str:
    """The function's ARN with the qualifier it runs under, as an invocation record names it
    (…:function:name:$LATEST for an unqualified endpoint)."""
    return endpoint if len(endpoint.split(":")) == 8 else f"{endpoint}:$LATEST"


def event_invoke_config(function: Any) -> dict[str, Any]:
    """The asynchronous invocation settings of the function: MaximumRetryAttempts,
    DestinationConfig, ... ({} when none are set). moto appends every Put (and Update) to a list,
    and keeps them on $LATEST whatever the Qualifier; AWS's Put replaces the configuration, so the
    last one is in force. A version or alias without one of its own gets $LATEST's here."""
    from moto.awslambda.models import lambda_backends

    configs = list(getattr(function, "event_invoke_config", None) or [])
    if not configs:
        try:
            latest = lambda_backends[function.account_id][function.region].get_function(function.function_name)
            configs = list(latest.event_invoke_config or [])
        except Exception:  # noqa: BLE001 - no $LATEST to fall back on: no configuration
            configs = []
    return dict(configs[-1].config) if configs else {}


@dataclass
class Attempt:
    """One time Lambda tried to run the function for a notification."""

    result: Any = None  # what the function returned, or the error payload it raised
    function_error: bool = False  # the function raised
    error: str | None = None  # Lambda did not run it (throttled)


@dataclass
class NotificationDelivery:
    """One notification that a topic handed, or failed to hand, to a Lambda subscription."""

    subscription_arn: str
    topic_arn: str
    function_arn: str  # the subscription's endpoint
    message_id: str  # what Publish returned
    event: dict[str, Any]  # what the function is invoked with
    status: str = "InFlight"  # InFlight | Delivered (Lambda took it; see condition) | Failed (SNS could not invoke)
    error: str | None = None  # why SNS could not invoke the function (Failed)
    condition: str | None = None  # Success | RetriesExhausted | EventAgeExceeded, once Lambda is done with it
    attempts: list[Attempt] = dataclass_field(default_factory=list)
    destination: str | None = None  # the on-failure destination the invocation record went to
    invocation_record: dict[str, Any] | None = None  # what was (or would have been) sent there
    destination_error: str | None = None  # why the record was not sent

    @property
    def invocations(self) -> int:
        """How many times the function ran (throttled attempts not counted)."""
        return sum(1 for attempt in self.attempts if attempt.error is None)

    @property
    def result(self) -> Any:
        """What the last run of the function returned (or the error it raised)."""
        ran = [attempt for attempt in self.attempts if attempt.error is None]
        return ran[-1].result if ran else None

    @property
    def function_error(self) -> bool:
        ran = [attempt for attempt in self.attempts if attempt.error is None]
        return bool(ran) and ran[-1].function_error


class NotificationDeliveries:
    """The deliveries of SNS notifications to Lambda subscriptions, in the order they were published."""

    def __init__(self) -> None:
        self.deliveries: list[NotificationDelivery] = []
        self._changed = threading.Condition()
        self.retry_delay_seconds = 0.0  # between runs of a function that raised (AWS: 1 min, then 2 min)
        self.throttle_retries = 20  # throttled invocations retried before the event is discarded

    def patch_moto(self) -> list[tuple[Any, str, Any]]:
        """Route moto's delivery to lambda-protocol subscriptions through `publish`; returns (owner, name, original)."""
        from moto.sns.models import Subscription

        original = Subscription.publish
        deliveries = self

        def publish(
            subscription: Any,
            message: str,
            message_id: str,
            subject: str | None = None,
            message_attributes: dict[str, Any] | None = None,
            group_id: str | None = None,
            deduplication_id: str | None = None,
            message_structure: str | None = None,
        ) -> None:
            if subscription.protocol != "lambda":
                original(subscription, message, message_id, subject, message_attributes, group_id, deduplication_id, message_structure)
                return
            deliveries.publish(subscription, message, message_id, subject, message_attributes, message_structure)

        Subscription.publish = publish  # type: ignore[method-assign,assignment]
        return [(Subscription, "publish", original)]

    def publish(
        self, subscription: Any, message: str, message_id: str, subject: str | None, message_attributes: dict[str, Any] | None, message_structure: str | None
    ) -> NotificationDelivery | None:
        """Gap: moto runs the function inside Publish with a made-up event. SNS applies the
        subscription's filter policy, picks the message for the lambda protocol, and hands the
        notification to Lambda as `deliver` does. None when the filter policy drops it."""
        matcher = subscription._filter_policy_matcher
        if matcher is not None and not matcher.matches(message_attributes, message):
            return None
        if message_structure == "json":
            message = subscription._parse_message_structure(message, "lambda")  # the "lambda" key, else "default"
        return self.deliver(subscription, notification_event(subscription, message, message_id, subject, message_attributes, time.time()))

    def deliver(self, subscription: Any, event: dict[str, Any]) -> NotificationDelivery:
        """Invoke the subscription's function with `event` in the background, as SNS does."""
        from moto.awslambda.exceptions import UnknownFunctionException
        from moto.awslambda.models import lambda_backends

        endpoint, topic_arn = subscription.endpoint, subscription.topic.arn
        delivery = self._record(NotificationDelivery(subscription.arn, topic_arn, endpoint, event["Records"][0]["Sns"]["MessageId"], event))
        try:
            _, _, _, region, account, _ = endpoint.split(":", 5)
            function = lambda_backends[account][region].get_function(endpoint)
        except (UnknownFunctionException, ValueError):
            self._finish(delivery, "Failed", error=f"Function not found: {endpoint}")
            return delivery
        if not service_may_invoke(function, endpoint, SNS_PRINCIPAL, topic_arn):
            error = f"SNS is not authorized to perform lambda:InvokeFunction on {endpoint} for {topic_arn}: no resource-based policy statement allows it"
            self._finish(delivery, "Failed", error=error)
            return delivery
        threading.Thread(target=self._invoke, args=(delivery, function), name=f"sns-{subscription.arn.rsplit(':', 1)[-1]}", daemon=True).start()
        return delivery

    def _invoke(self, delivery: NotificationDelivery, function: Any) -> None:
        """Lambda's part: run the function until it succeeds or its retries are used up, then send
        the invocation record of a discarded event to the on-failure destination."""
        config = event_invoke_config(function)
        retries = int(config.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS))
        request_id = str(uuid.uuid4())
        throttled = 0
        condition = "Success"
        try:
            while True:
                try:
                    answer, errored, _ = function._invoke_lambda(event=copy.deepcopy(delivery.event))
                except Exception as error:  # noqa: BLE001 - Lambda did not run the function (throttled): the event goes back to the queue
                    self._attempted(delivery, Attempt(result={"errorMessage": str(error), "errorType": type(error).__name__}, error=str(error)))
                    throttled += 1
                    if throttled > self.throttle_retries:
                        condition = "EventAgeExceeded"
                        break
                    time.sleep(self.retry_delay_seconds)
                    continue
                try:
                    result = json.loads(answer)
                except ValueError:
                    result = answer
                self._attempted(delivery, Attempt(result=result, function_error=errored))
                if not errored:
                    break
                if delivery.invocations > retries:
                    condition = "RetriesExhausted"
                    break
                time.sleep(self.retry_delay_seconds)
            if condition != "Success":
                self._send_on_failure(delivery, function, config, condition, request_id)
        finally:
            self._finish(delivery, "Delivered", condition=condition)

    def _send_on_failure(self, delivery: NotificationDelivery, function: Any, config: dict[str, Any], condition: str, request_id: str) -> None:
        from moto.sqs.models import sqs_backends

        last = delivery.attempts[-1]
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": str(function.version)}
        if last.error is None:
            response_context["functionError"] = "Unhandled"  # an uncaught exception of the Python runtime
        else:
            response_context["statusCode"] = 429  # never ran: no documented record; the throttle's status
        record = {
            "version": "1.0",
            "timestamp": iso_timestamp(time.time()),
            "requestContext": {
                "requestId": request_id,
                "functionArn": qualified_arn(delivery.function_arn),
                "condition": condition,
                "approximateInvokeCount": len(delivery.attempts),
            },
            "requestPayload": delivery.event,
            "responseContext": response_context,
            "responsePayload": last.result,
        }
        destination = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        with self._changed:
            delivery.invocation_record, delivery.destination = record, destination
        if not destination:
            return
        service = destination.split(":")[2]
        if service != "sqs":
            with self._changed:
                delivery.destination_error = f"the local AWS sends invocation records only to SQS queues, not to {destination}"
            return
        _, _, _, region, account, queue_name = destination.split(":", 5)
        try:
            sqs_backends[account][region].send_message(queue_name, json.dumps(record))
        except Exception as error:  # noqa: BLE001 - Lambda reports a failed destination delivery as a metric, not to anyone
            with self._changed:
                delivery.destination_error = f"{type(error).__name__}: {error}"

    def _record(self, delivery: NotificationDelivery) -> NotificationDelivery:
        with self._changed:
            self.deliveries.append(delivery)
        return delivery

    def _attempted(self, delivery: NotificationDelivery, attempt: Attempt) -> None:
        with self._changed:
            delivery.attempts.append(attempt)

    def _finish(self, delivery: NotificationDelivery, status: str, error: str | None = None, condition: str | None = None) -> None:
        with self._changed:
            delivery.status, delivery.error, delivery.condition = status, error, condition
            self._changed.notify_all()

    def in_flight(self) -> list[NotificationDelivery]:
        with self._changed:
            return [delivery for delivery in self.deliveries if delivery.status == "InFlight"]

    def wait(self, timeout_seconds: float = 60.0) -> list[NotificationDelivery]:
        """Block until no notification is in flight, retries and on-failure records included
        (raises TimeoutError after `timeout_seconds`); all deliveries so far, oldest first."""
        with self._changed:
            if not self._changed.wait_for(lambda: all(delivery.status != "InFlight" for delivery in self.deliveries), timeout_seconds):
                in_flight = [delivery.function_arn for delivery in self.deliveries if delivery.status == "InFlight"]
                raise TimeoutError(f"SNS notifications still in flight after {timeout_seconds} s: {in_flight}")
            return list(self.deliveries)

    def clear(self) -> None:
        """Forget the deliveries that are done."""
        with self._changed:
            self.deliveries = [delivery for delivery in self.deliveries if delivery.status == "InFlight"]


def wait_for_quiet(
    event_deliveries: events.EventDeliveries, notifications: NotificationDeliveries, timeout_seconds: float = 60.0
) -> tuple[list[events.Delivery], list[NotificationDelivery]]:
    """Block until neither an EventBridge delivery nor an SNS notification is on its way to a
    function: a function run by one may put an event or publish a notification that starts the
    other. Returns every delivery of each so far, oldest first; TimeoutError after `timeout_seconds`."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        notified = notifications.wait(max(0.0, deadline - time.monotonic()))
        delivered = event_deliveries.wait(max(0.0, deadline - time.monotonic()))
        # Quiet only if no notification started (or ended) while the events were waited for.
        if not notifications.in_flight() and len(notifications.deliveries) == len(notified):
            return delivered, notified
        if time.monotonic() >= deadline:
            raise TimeoutError(f"deliveries still in flight after {timeout_seconds} s")
