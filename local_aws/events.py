"""EventBridge in the local AWS: events that AWS services put, and rules that deliver events to
Lambda functions.

`put_service_event` is how a service of the local AWS reports a change (local_aws/codepipeline.py
reports pipeline executions): an event on the account's default event bus, through moto's
EventBridge backend, so every matching rule's targets get it as they get events put by clients.

Gap: moto's PutEvents raises NotImplementedError for a matching rule with a Lambda target (a 500
over HTTP), and that error ends the delivery to every target and rule checked after it.
`EventDeliveries` (wired in by `LocalAws.install`) delivers to each target of a matching rule on its
own, and to Lambda targets as EventBridge does (EventBridge user guide:
"Amazon EventBridge targets", "Using resource-based policies for Amazon EventBridge", "Amazon
EventBridge input transformation", "Using dead-letter queues to process undelivered events"):
- asynchronously: the function is invoked with InvocationType Event, so PutEvents answers before it
  runs; here it runs in a thread of its own, in-process like every function of the local AWS
  (local_aws/compat.py), as its execution role when IAM checks are on;
- with what the target says: its Input (fixed JSON), the part of the event its InputPath selects,
  or its InputTransformer's InputTemplate filled from InputPathsMap; otherwise the whole event,
  with `time` as an ISO 8601 timestamp;
- only when the function's resource-based policy allows lambda:InvokeFunction to the principal
  events.amazonaws.com for this rule (aws:SourceArn the rule's ARN, as `aws_lambda_permission` with
  `source_arn` writes it). Otherwise, or when the function does not exist, the delivery fails and
  is not retried; AWS would send the event to the target's dead-letter queue, if it has one. Here
  the failure is recorded in `EventDeliveries.deliveries`, never raised to the caller of PutEvents.
A function that raises has still been delivered to (EventBridge's part ends when Lambda accepts the
event): its error is in the delivery's `result`. Other targets go to moto's own delivery (SQS,
CloudWatch Logs, event buses, ...); one moto cannot deliver to (SNS, Step Functions, CodePipeline)
is recorded as a failed delivery instead of failing PutEvents. `EventDeliveries.wait` blocks until
no delivery to a function is in flight. A scheduled rule matches no event; `run_schedule` runs it.
"""

import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local_aws import iam

EVENTS_PRINCIPAL = "events.amazonaws.com"
# A placeholder of an InputTemplate: <name>, a key of InputPathsMap or a predefined variable (aws.events.rule-arn, ...).
PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
# Condition operators of a function policy statement that EventBridge's request is checked against.
CONDITION_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "ArnLike": lambda actual, pattern: iam.matches(pattern, actual),
    "ArnEquals": lambda actual, pattern: iam.matches(pattern, actual),
    "StringEquals": lambda actual, expected: actual == expected,
    "StringLike": lambda actual, pattern: iam.matches(pattern, actual),
}


def put_service_event(account: str, region: str, source: str, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
    """Put an event on the default event bus of `account` in `region` as the AWS service `source`
    does (source e.g. aws.codepipeline): EventBridge gives it its id and delivers it to the
    targets of every matching rule."""
    from moto.events.models import events_backends

    entry = {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail), "Resources": resources, "Time": time.time()}
    events_backends[account][region].put_events([entry])


@dataclass
class Delivery:
    """One event that a rule handed, or failed to hand, to a Lambda function (or failed to hand to
    a target the local AWS does not deliver to)."""

    rule_arn: str
    target_id: str
    target_arn: str
    event: dict[str, Any]  # the event as the rule matched it
    payload: Any  # what the function is invoked with
    status: str = "InFlight"  # InFlight | Delivered | Failed
    error: str | None = None  # why EventBridge could not deliver it (Failed)
    result: Any = None  # what the function returned, or the error Lambda reports for it (Delivered)
    function_error: bool = False  # the function raised


def delivered_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge hands it to a target: moto keeps `time` in epoch seconds and adds an
    ingestion-time of its own; AWS sends an ISO 8601 timestamp and no ingestion-time."""
    delivered = {name: copy.deepcopy(value) for name, value in event.items() if name != "ingestion-time"}
    if isinstance(delivered.get("time"), (int, float)):
        delivered["time"] = datetime.fromtimestamp(delivered["time"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return delivered


def first_match(path: str, document: Any) -> Any:
    """The value the JSONPath `path` selects in `document`; None when it selects nothing."""
    from jsonpath_ng.ext import parse

    matches = parse(path).find(document)
    return matches[0].value if matches else None


def fill_template(template: str, values: dict[str, Any]) -> str:
    """An InputTemplate with its placeholders replaced: inside a JSON string by the value's text,
    elsewhere by the value as JSON (a string with its quotes, null for a path that selects
    nothing). A template that is not JSON is text: every placeholder gets the value's text."""
    is_json = template.lstrip().startswith(("{", "[", '"'))
    filled: list[str] = []
    quoted = not is_json
    position = 0
    while position < len(template):
        char = template[position]
        placeholder = PLACEHOLDER.match(template, position) if char == "<" else None
        if placeholder is not None and placeholder.group(1) in values:
            value = values[placeholder.group(1)]
            as_json = json.dumps(value)
            if not quoted:
                filled.append(as_json)
            elif isinstance(value, str):
                filled.append(as_json[1:-1] if is_json else value)
            else:
                filled.append(json.dumps(as_json)[1:-1] if is_json else as_json)
            position = placeholder.end()
            continue
        if is_json and quoted and char == "\\":
            filled.append(template[position : position + 2])
            position += 2
            continue
        if is_json and char == '"':
            quoted = not quoted
        filled.append(char)
        position += 1
    return "".join(filled)


def target_input(target: dict[str, Any], event: dict[str, Any], rule: Any) -> Any:
    """What EventBridge sends the target for `event`: Input, InputPath or InputTransformer, or the
    whole event."""
    if target.get("Input"):
        return json.loads(target["Input"])
    if target.get("InputPath"):
        return first_match(target["InputPath"], event)
    transformer = target.get("InputTransformer")
    if not transformer:
        return event
    values = {name: first_match(path, event) for name, path in (transformer.get("InputPathsMap") or {}).items()}
    values |= {
        "aws.events.rule-arn": rule.arn,
        "aws.events.rule-name": rule.name,
        "aws.events.event.ingestion-time": event.get("time"),
        "aws.events.event": {name: value for name, value in event.items() if name != "detail"},
        "aws.events.event.json": event,
    }
    text = fill_template(transformer["InputTemplate"], values)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _conditions_hold(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        compare = CONDITION_OPERATORS.get(operator)
        if compare is None:
            return False
        for key, expected in tests.items():
            actual = context.get(key.lower())
            if actual is None or not any(compare(actual, str(value)) for value in iam.as_list(expected)):
                return False
    return True


def events_may_invoke(function: Any, function_arn: str, rule_arn: str) -> bool:
    """Whether the function's resource-based policy lets EventBridge invoke `function_arn` (the
    target's ARN, with its qualifier if it has one) on behalf of the rule `rule_arn`."""
    context = {"aws:sourcearn": rule_arn, "aws:sourceaccount": rule_arn.split(":")[4]}
    for statement in function.policy.statements:
        principal = statement.get("Principal")
        services = iam.as_list(principal.get("Service", [])) if isinstance(principal, dict) else iam.as_list(principal)
        if statement.get("Effect", "Allow") != "Allow" or not ({EVENTS_PRINCIPAL, "*"} & set(services)):
            continue
        if not any(iam.matches(pattern, "lambda:InvokeFunction", case_sensitive=False) for pattern in iam.as_list(statement.get("Action", []))):
            continue
        if not any(iam.matches(pattern, function_arn) for pattern in iam.as_list(statement.get("Resource", []))):
            continue
        if _conditions_hold(statement.get("Condition", {}), context):
            return True
    return False


def is_scheduled(rule: Any) -> bool:
    """A rule with a ScheduleExpression and no EventPattern: EventBridge runs it on its schedule and
    matches no event with it (moto's empty pattern matches every event)."""
    return bool(rule.scheduled_expression) and not rule.event_pattern.get_pattern()


def is_lambda_target(target: dict[str, Any]) -> bool:
    return str(target.get("Arn", "")).split(":")[2:3] == ["lambda"]


class EventDeliveries:
    """The deliveries of events to Lambda targets, in the order the rules matched them."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._changed = threading.Condition()
        # EventBridge delivers each event at least once: with this set, every event reaches each
        # Lambda target twice, the second delivery right behind the first.
        self.deliver_twice = False

    def patch_moto(self) -> list[tuple[Any, str, Any]]:
        """Route moto's delivery of a matched event through `send_to_targets`; returns (owner, name, original)."""
        from moto.events.models import Rule

        original = Rule.send_to_targets
        targets = self

        def send_to_targets(rule: Any, event: Any, transform_input: bool = True) -> None:
            targets.send_to_targets(rule, event, transform_input, original)

        Rule.send_to_targets = send_to_targets  # type: ignore[method-assign,assignment]
        return [(Rule, "send_to_targets", original)]

    def send_to_targets(self, rule: Any, event: dict[str, Any], transform_input: bool, original: Any) -> None:
        """Gap: moto raises NotImplementedError for a Lambda target (and for SNS, Step Functions and
        CodePipeline targets), which also keeps the event from the targets and rules after it.
        EventBridge delivers to each target of a matching rule on its own: a Lambda target as
        `deliver` does, the others through moto's `original`; a target moto cannot deliver to is
        recorded as a failed delivery."""
        if is_scheduled(rule) or not rule.event_pattern.matches_event(event):
            return
        for target in rule.targets:
            if is_lambda_target(target):
                self.deliver(rule, target, event)
                continue
            alone = copy.copy(rule)
            alone.targets = [target]
            try:
                original(alone, event, transform_input)
            except NotImplementedError:
                error = "the local AWS does not deliver events to this kind of target"
                self._record(Delivery(rule.arn, target["Id"], target["Arn"], delivered_event(event), None, status="Failed", error=error))

    def run_schedule(self, rule_name: str, account: str, region: str) -> list[Delivery]:
        """Gap: moto never runs a scheduled rule (ScheduleExpression). EventBridge sends each of its
        targets a "Scheduled Event" (source aws.events, resources [the rule's ARN], empty detail)
        when the schedule comes round; here, when a test or the demo calls this. Returns the
        deliveries to Lambda targets, in flight."""
        from moto.events.models import events_backends

        rule = events_backends[account][region].describe_rule(rule_name, None)
        if not is_scheduled(rule):
            raise ValueError(f"rule {rule_name} has no schedule expression")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": account,
            "time": time.time(),
            "region": region,
            "resources": [rule.arn],
            "detail": {},
        }
        deliveries = []
        for target in rule.targets:
            if is_lambda_target(target):
                deliveries.append(self.deliver(rule, target, event))
        return deliveries

    def deliver(self, rule: Any, target: dict[str, Any], event: dict[str, Any]) -> Delivery:
        """Hand `event` to the Lambda function of `target` in the background, as EventBridge does."""
        from moto.awslambda.exceptions import UnknownFunctionException
        from moto.awslambda.models import lambda_backends

        event = delivered_event(event)
        delivery = self._record(Delivery(rule.arn, target["Id"], target["Arn"], event, target_input(target, event, rule)))
        _, _, _, region, account, _ = target["Arn"].split(":", 5)
        try:
            function = lambda_backends[account][region].get_function(target["Arn"])
        except UnknownFunctionException:
            self._finish(delivery, "Failed", error=f"Function not found: {target['Arn']}")
            return delivery
        if not events_may_invoke(function, target["Arn"], rule.arn):
            error = f"EventBridge is not authorized to perform lambda:InvokeFunction on {target['Arn']} for {rule.arn}: no resource-based policy statement allows it"
            self._finish(delivery, "Failed", error=error)
            return delivery
        threading.Thread(target=self._invoke, args=(delivery, function), name=f"eventbridge-{target['Id']}", daemon=True).start()
        if self.deliver_twice:
            again = self._record(Delivery(rule.arn, target["Id"], target["Arn"], event, copy.deepcopy(delivery.payload)))
            threading.Thread(target=self._invoke, args=(again, function), name=f"eventbridge-{target['Id']}-again", daemon=True).start()
        return delivery

    def _invoke(self, delivery: Delivery, function: Any) -> None:
        try:
            answer, errored, _ = function._invoke_lambda(event=copy.deepcopy(delivery.payload))
        except Exception as error:  # noqa: BLE001 - Lambda refused the invocation (e.g. throttled): recorded, as AWS reports it
            self._finish(delivery, "Failed", error=str(error))
            return
        try:
            result = json.loads(answer)
        except ValueError:
            result = answer
        self._finish(delivery, "Delivered", result=result, function_error=errored)

    def _record(self, delivery: Delivery) -> Delivery:
        with self._changed:
            self.deliveries.append(delivery)
        return delivery

    def _finish(self, delivery: Delivery, status: str, error: str | None = None, result: Any = None, function_error: bool = False) -> None:
        with self._changed:
            delivery.status, delivery.error, delivery.result, delivery.function_error = status, error, result, function_error
            self._changed.notify_all()

    def wait(self, timeout_seconds: float = 60.0) -> list[Delivery]:
        """Block until no delivery is in flight (raises TimeoutError after `timeout_seconds`); all
        deliveries so far, oldest first."""
        with self._changed:
            if not self._changed.wait_for(lambda: all(delivery.status != "InFlight" for delivery in self.deliveries), timeout_seconds):
                in_flight = [delivery.target_arn for delivery in self.deliveries if delivery.status == "InFlight"]
                raise TimeoutError(f"deliveries still in flight after {timeout_seconds} s: {in_flight}")
            return list(self.deliveries)

    def clear(self) -> None:
        """Forget the deliveries that are done."""
        with self._changed:
            self.deliveries = [delivery for delivery in self.deliveries if delivery.status == "InFlight"]
