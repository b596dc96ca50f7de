"""EventBridge rules of the local AWS deliver matching events to their Lambda targets as AWS does:
in the background, shaped by the target's Input, InputPath or InputTransformer, and only when the
function's resource-based policy lets EventBridge invoke it for that rule."""

import json
import re
from collections.abc import Iterator, Mapping

import boto3
import pytest

from local_aws.compat import LocalAws
from local_aws.events import Delivery
from local_aws.server import start_local_aws
from local_functions import ACCOUNT, REGION, allow_rule, create_function, create_role, function_zip

PATTERN = json.dumps({"source": ["test.app"]})
DETAIL = {"state": "STARTED", "execution-id": "e-1"}
# Returns the event it receives; waits (up to 10 s) for the object event["wait_for"] names, if any.
RECORDER = """
import time
import boto3

def handler(event, context):
    key = event.get("wait_for") if isinstance(event, dict) else None
    seen = False
    for _ in range(200):
        if not key or boto3.client("s3").list_objects_v2(Bucket="marks", Prefix=key).get("KeyCount"):
            seen = True
            break
        time.sleep(0.05)
    boto3.client("s3").put_object(Bucket="marks", Key=f"ran/{context.aws_request_id}", Body=b"")
    return {"received": event, "saw_the_object": seen}
"""
WHO_AM_I = """
import boto3

def handler(event, context):
    return boto3.client("sts").get_caller_identity()["Arn"]
"""


@pytest.fixture
def local(aws: None) -> Iterator[LocalAws]:
    patches = LocalAws()
    patches.install()
    boto3.client("s3").create_bucket(Bucket="marks")
    try:
        yield patches
    finally:
        patches.wait_for_deliveries()
        patches.uninstall()


def rule_with_targets(name: str, targets: list[dict[str, str]]) -> str:
    events = boto3.client("events")
    arn = str(events.put_rule(Name=name, EventPattern=PATTERN)["RuleArn"])
    events.put_targets(Rule=name, Targets=targets)
    return arn


def put_event(detail: Mapping[str, object]) -> str:
    answer = boto3.client("events").put_events(Entries=[{"Source": "test.app", "DetailType": "Thing Happened", "Detail": json.dumps(detail), "Resources": ["arn:aws:test:thing"]}])
    assert answer["FailedEntryCount"] == 0, answer
    return str(answer["Entries"][0]["EventId"])


def runs_of_recorder() -> int:
    return int(boto3.client("s3").list_objects_v2(Bucket="marks", Prefix="ran/")["KeyCount"])


def test_a_matching_event_runs_the_function_after_put_events_returns(local: LocalAws) -> None:
    function = create_function("recorder", RECORDER, create_role("recorder", "lambda.amazonaws.com"))
    rule = rule_with_targets("things", [{"Id": "recorder", "Arn": function}])
    allow_rule("recorder", rule)

    event_id = put_event(DETAIL | {"wait_for": "after-put-events"})
    # The function waits for this object: it can see it only if PutEvents returned before it ran.
    boto3.client("s3").put_object(Bucket="marks", Key="after-put-events", Body=b"")
    [delivery] = local.wait_for_deliveries()

    assert delivery.status == "Delivered" and delivery.result["saw_the_object"] is True
    received = delivery.result["received"]
    assert received == {
        "version": "0",
        "id": event_id,
        "detail-type": "Thing Happened",
        "source": "test.app",
        "account": ACCOUNT,
        "time": received["time"],
        "region": REGION,
        "resources": ["arn:aws:test:thing"],
        "detail": DETAIL | {"wait_for": "after-put-events"},
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", received["time"])


def test_input_input_path_and_input_transformer_shape_what_the_function_receives(local: LocalAws) -> None:
    function = create_function("recorder", RECORDER, create_role("recorder", "lambda.amazonaws.com"))
    transformer = {
        "InputPathsMap": {"state": "$.detail.state", "id": "$.detail.execution-id", "missing": "$.detail.absent"},
        "InputTemplate": '{"state": <state>, "text": "<id> is <state>", "missing": <missing>, "rule": "<aws.events.rule-name>"}',
    }
    rule = rule_with_targets(
        "things",
        [
            {"Id": "fixed", "Arn": function, "Input": json.dumps({"fixed": True})},
            {"Id": "detail", "Arn": function, "InputPath": "$.detail"},
            {"Id": "transformed", "Arn": function, "InputTransformer": transformer},  # type: ignore[dict-item]
        ],
    )
    allow_rule("recorder", rule)

    put_event(DETAIL)
    received = {delivery.target_id: delivery.result["received"] for delivery in local.wait_for_deliveries()}

    assert received == {
        "fixed": {"fixed": True},
        "detail": DETAIL,
        "transformed": {"state": "STARTED", "text": "e-1 is STARTED", "missing": None, "rule": "things"},
    }


def test_without_a_permission_for_the_rule_the_delivery_fails_and_the_function_does_not_run(local: LocalAws) -> None:
    role = create_role("recorder", "lambda.amazonaws.com")
    allowed_elsewhere = create_function("allowed-elsewhere", RECORDER, role)
    never_allowed = create_function("never-allowed", RECORDER, role)
    rule = rule_with_targets("things", [{"Id": "elsewhere", "Arn": allowed_elsewhere}, {"Id": "never", "Arn": never_allowed}])
    allow_rule("allowed-elsewhere", rule.replace("rule/things", "rule/other"))

    put_event(DETAIL)
    deliveries = local.wait_for_deliveries()

    assert [(delivery.target_id, delivery.status) for delivery in deliveries] == [("elsewhere", "Failed"), ("never", "Failed")]
    assert all("not authorized to perform lambda:InvokeFunction" in str(delivery.error) for delivery in deliveries)
    assert runs_of_recorder() == 0


def test_a_rule_checked_after_a_lambda_target_still_gets_the_event(local: LocalAws) -> None:
    function = create_function("recorder", RECORDER, create_role("recorder", "lambda.amazonaws.com"))
    allow_rule("recorder", rule_with_targets("first", [{"Id": "recorder", "Arn": function}]))
    queue = boto3.client("sqs").create_queue(QueueName="things")["QueueUrl"]
    queue_arn = boto3.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_with_targets("second", [{"Id": "queue", "Arn": queue_arn}])

    put_event(DETAIL)

    messages = boto3.client("sqs").receive_message(QueueUrl=queue)["Messages"]
    assert json.loads(messages[0]["Body"])["detail"] == DETAIL
    assert [delivery.status for delivery in local.wait_for_deliveries()] == ["Delivered"]


def test_a_target_the_local_aws_cannot_deliver_to_is_a_failed_delivery_not_a_failed_put(local: LocalAws) -> None:
    topic = boto3.client("sns").create_topic(Name="things")["TopicArn"]
    rule_with_targets("first", [{"Id": "topic", "Arn": topic}])
    queue = boto3.client("sqs").create_queue(QueueName="things")["QueueUrl"]
    queue_arn = boto3.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_with_targets("second", [{"Id": "queue", "Arn": queue_arn}])

    put_event(DETAIL)

    assert json.loads(boto3.client("sqs").receive_message(QueueUrl=queue)["Messages"][0]["Body"])["detail"] == DETAIL
    assert [(delivery.target_arn, delivery.status) for delivery in local.wait_for_deliveries()] == [(topic, "Failed")]


def test_the_function_runs_as_its_execution_role(aws: None) -> None:
    patches = LocalAws(check_iam=True)
    patches.install()
    try:
        function = create_function("who-am-i", WHO_AM_I, create_role("who-am-i-role", "lambda.amazonaws.com"))
        allow_rule("who-am-i", rule_with_targets("things", [{"Id": "who", "Arn": function}]))
        put_event(DETAIL)
        [delivery] = patches.wait_for_deliveries()
    finally:
        patches.uninstall()

    assert delivery.result == f"arn:aws:sts::{ACCOUNT}:assumed-role/who-am-i-role/who-am-i"


def test_events_put_over_http_are_delivered_too() -> None:
    patches = LocalAws()
    url, stop = start_local_aws(patches=patches)
    try:
        client = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION)
        events, functions = client.client("events", endpoint_url=url), client.client("lambda", endpoint_url=url)
        role = client.client("iam", endpoint_url=url).create_role(RoleName="who-am-i", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        function = functions.create_function(FunctionName="who-am-i", Runtime="python3.12", Role=role, Handler="handler.handler", Code={"ZipFile": function_zip(WHO_AM_I)})
        rule = events.put_rule(Name="things", EventPattern=PATTERN)["RuleArn"]
        events.put_targets(Rule="things", Targets=[{"Id": "who", "Arn": function["FunctionArn"]}])
        functions.add_permission(FunctionName="who-am-i", StatementId="events", Action="lambda:InvokeFunction", Principal="events.amazonaws.com", SourceArn=rule)

        answer = events.put_events(Entries=[{"Source": "test.app", "DetailType": "Thing Happened", "Detail": json.dumps(DETAIL)}])
        deliveries: list[Delivery] = patches.wait_for_deliveries()
    finally:
        stop()

    assert answer["FailedEntryCount"] == 0
    assert [(delivery.status, delivery.event["id"]) for delivery in deliveries] == [("Delivered", answer["Entries"][0]["EventId"])]


def scheduled_rule_with_targets(name: str, targets: list[dict[str, str]]) -> str:
    events = boto3.client("events")
    arn = str(events.put_rule(Name=name, ScheduleExpression="rate(1 day)")["RuleArn"])
    events.put_targets(Rule=name, Targets=targets)
    return arn


def test_a_scheduled_rule_matches_no_event(local: LocalAws) -> None:
    from local_aws.events import put_service_event

    role = create_role("recorder", "lambda.amazonaws.com")
    nightly, on_things = create_function("nightly", RECORDER, role), create_function("on-things", RECORDER, role)
    allow_rule("nightly", scheduled_rule_with_targets("nightly", [{"Id": "nightly", "Arn": nightly}]))
    allow_rule("on-things", rule_with_targets("things", [{"Id": "on-things", "Arn": on_things}]))

    event_id = put_event(DETAIL)
    # moto's empty pattern of a scheduled rule would match this one as well as the custom event.
    put_service_event(ACCOUNT, REGION, "aws.codepipeline", "CodePipeline Pipeline Execution State Change", {"pipeline": "app", "state": "STARTED"}, [])
    deliveries = local.wait_for_deliveries()

    assert [(delivery.target_id, delivery.status, delivery.event["id"]) for delivery in deliveries] == [("on-things", "Delivered", event_id)]
    assert runs_of_recorder() == 1


def test_running_a_schedule_delivers_a_scheduled_event_to_its_function(local: LocalAws) -> None:
    function = create_function("nightly", RECORDER, create_role("recorder", "lambda.amazonaws.com"))
    rule = scheduled_rule_with_targets("nightly", [{"Id": "nightly", "Arn": function}])
    allow_rule("nightly", rule)

    [started] = local.event_deliveries.run_schedule("nightly", ACCOUNT, REGION)
    [delivery] = local.wait_for_deliveries()

    assert delivery is started and (delivery.rule_arn, delivery.target_id, delivery.status) == (rule, "nightly", "Delivered")
    received = delivery.result["received"]
    assert received == {
        "version": "0",
        "id": received["id"],
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": received["time"],
        "region": REGION,
        "resources": [rule],
        "detail": {},
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", received["time"])


def test_a_schedule_without_a_permission_for_its_rule_fails_to_deliver(local: LocalAws) -> None:
    function = create_function("nightly", RECORDER, create_role("recorder", "lambda.amazonaws.com"))
    rule = scheduled_rule_with_targets("nightly", [{"Id": "nightly", "Arn": function}])
    allow_rule("nightly", rule.replace("rule/nightly", "rule/other"))

    local.event_deliveries.run_schedule("nightly", ACCOUNT, REGION)
    [delivery] = local.wait_for_deliveries()

    assert delivery.status == "Failed" and "not authorized to perform lambda:InvokeFunction" in str(delivery.error)
    assert runs_of_recorder() == 0


def test_only_a_rule_with_a_schedule_can_be_run(local: LocalAws) -> None:
    function = create_function("recorder", RECORDER, create_role("recorder", "lambda.amazonaws.com"))
    allow_rule("recorder", rule_with_targets("things", [{"Id": "recorder", "Arn": function}]))

    with pytest.raises(ValueError, match="no schedule expression"):
        local.event_deliveries.run_schedule("things", ACCOUNT, REGION)
    assert local.wait_for_deliveries() == []


def test_with_deliver_twice_each_event_reaches_the_function_twice(local: LocalAws) -> None:
    function = create_function("recorder", RECORDER, create_role("recorder", "lambda.amazonaws.com"))
    allow_rule("recorder", rule_with_targets("things", [{"Id": "recorder", "Arn": function}]))

    assert local.event_deliveries.deliver_twice is False
    put_event(DETAIL)
    assert [delivery.status for delivery in local.wait_for_deliveries()] == ["Delivered"]
    local.event_deliveries.clear()

    local.event_deliveries.deliver_twice = True
    event_id = put_event(DETAIL)
    first, second = local.wait_for_deliveries()

    assert [(delivery.target_id, delivery.status, delivery.event["id"]) for delivery in (first, second)] == [("recorder", "Delivered", event_id)] * 2
    assert first.payload == second.payload and first.result["received"] == second.result["received"] == first.payload
    assert runs_of_recorder() == 3


def test_clearing_the_faults_delivers_once_again(local: LocalAws) -> None:
    function = create_function("recorder", RECORDER, create_role("recorder", "lambda.amazonaws.com"))
    allow_rule("recorder", rule_with_targets("things", [{"Id": "recorder", "Arn": function}]))
    local.event_deliveries.deliver_twice = True

    local.clear_faults()
    put_event(DETAIL)

    assert local.event_deliveries.deliver_twice is False
    assert [delivery.status for delivery in local.wait_for_deliveries()] == ["Delivered"]
