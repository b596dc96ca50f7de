"""SNS topics of the local AWS deliver to Lambda subscriptions as AWS does: Publish answers at once
and the function runs in the background with the real SNS event, only when its resource-based
policy lets SNS invoke it for that topic, with Lambda's retries and on-failure destination."""

import json
import re
import threading
from collections.abc import Iterator

import boto3
import pytest

from local_aws.compat import LocalAws
from local_aws.server import start_local_aws
from local_functions import ACCOUNT, REGION, allow_rule, create_function, create_role, function_zip

# Set by a test once Publish has returned; the GATED function waits for it (up to 10 s).
GATE = threading.Event()
# Returns the event it receives and marks each run in the bucket "marks".
RECORDER = """
import boto3

def handler(event, context):
    boto3.client("s3").put_object(Bucket="marks", Key=f"ran/{context.aws_request_id}", Body=b"")
    return {"received": event}
"""
GATED = f"""
import sys

def handler(event, context):
    opened = sys.modules[{__name__!r}].GATE.wait(10)
    return {{"received": event, "gate_was_open": opened}}
"""
FAILING = """
import boto3

def handler(event, context):
    boto3.client("s3").put_object(Bucket="marks", Key=f"ran/{context.aws_request_id}", Body=b"")
    raise RuntimeError("the notifier is broken")
"""
# An EventBridge target that publishes what it receives to the topic named in the event.
REPUBLISHER = """
import json
import boto3

def handler(event, context):
    return boto3.client("sns").publish(TopicArn=event["detail"]["topic"], Message=json.dumps(event["detail"]))["MessageId"]
"""


@pytest.fixture
def local(aws: None) -> Iterator[LocalAws]:
    patches = LocalAws()
    patches.install()
    boto3.client("s3").create_bucket(Bucket="marks")
    GATE.clear()
    try:
        yield patches
    finally:
        GATE.set()
        patches.wait_for_deliveries()
        patches.uninstall()


def topic_with_function(name: str, source: str, allow: str | None = "topic") -> tuple[str, str, str]:
    """A topic, a function subscribed to it, and (unless `allow` is None) the permission
    `aws_lambda_permission` writes: SNS may invoke the function for `allow` ("topic": this topic,
    else the ARN given). Returns the topic, function and subscription ARNs."""
    topic = str(boto3.client("sns").create_topic(Name=name)["TopicArn"])
    function = create_function(name, source, create_role(name, "lambda.amazonaws.com"))
    subscription = str(boto3.client("sns").subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function)["SubscriptionArn"])
    if allow is not None:
        allow_topic(name, topic if allow == "topic" else allow)
    return topic, function, subscription


def allow_topic(function_name: str, topic_arn: str, statement_id: str = "sns") -> None:
    boto3.client("lambda").add_permission(FunctionName=function_name, StatementId=statement_id, Action="lambda:InvokeFunction", Principal="sns.amazonaws.com", SourceArn=topic_arn)


def queue() -> tuple[str, str]:
    url = boto3.client("sqs").create_queue(QueueName="failures")["QueueUrl"]
    return url, boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def runs() -> int:
    return int(boto3.client("s3").list_objects_v2(Bucket="marks", Prefix="ran/")["KeyCount"])


def test_publish_returns_before_the_function_finishes(local: LocalAws) -> None:
    topic, _, _ = topic_with_function("gated", GATED)

    message_id = boto3.client("sns").publish(TopicArn=topic, Message="hello")["MessageId"]
    [in_flight] = local.notification_deliveries.deliveries
    assert (in_flight.status, in_flight.invocations) == ("InFlight", 0)
    GATE.set()
    [delivery] = local.wait_for_notifications()

    assert delivery is in_flight and (delivery.status, delivery.condition, delivery.message_id) == ("Delivered", "Success", message_id)
    assert delivery.result["gate_was_open"] is True and delivery.invocations == 1


def test_the_function_gets_the_sns_event_with_the_published_message(local: LocalAws) -> None:
    topic, function, subscription = topic_with_function("recorder", RECORDER)
    attributes = {"kind": {"DataType": "String", "StringValue": "deployment"}, "attempt": {"DataType": "Number", "StringValue": "3"}}

    message_id = boto3.client("sns").publish(TopicArn=topic, Message="deployed", Subject="clock", MessageAttributes=attributes)["MessageId"]
    [delivery] = local.wait_for_notifications()

    received = delivery.result["received"]
    sns = received["Records"][0]["Sns"]
    assert received == {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": topic,
                    "Subject": "clock",
                    "Message": "deployed",
                    "Timestamp": sns["Timestamp"],
                    "SignatureVersion": "1",
                    "Signature": sns["Signature"],
                    "SigningCertUrl": sns["SigningCertUrl"],
                    "UnsubscribeUrl": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription}",
                    "MessageAttributes": {"kind": {"Type": "String", "Value": "deployment"}, "attempt": {"Type": "Number", "Value": "3"}},
                },
            }
        ]
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", sns["Timestamp"])
    assert sns["SigningCertUrl"].startswith(f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-") and sns["Signature"]
    assert (delivery.topic_arn, delivery.function_arn, delivery.subscription_arn) == (topic, function, subscription)
    assert runs() == 1


def test_without_a_subject_the_subject_is_null_and_attributes_empty(local: LocalAws) -> None:
    topic, _, _ = topic_with_function("recorder", RECORDER)

    boto3.client("sns").publish(TopicArn=topic, Message="plain")
    [delivery] = local.wait_for_notifications()

    sns = delivery.result["received"]["Records"][0]["Sns"]
    assert (sns["Subject"], sns["MessageAttributes"], sns["Message"]) == (None, {}, "plain")


def test_with_message_structure_json_the_function_gets_the_lambda_key_else_the_default(local: LocalAws) -> None:
    topic, _, _ = topic_with_function("recorder", RECORDER)
    url, queue_arn = queue()
    boto3.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    boto3.client("sns").publish(TopicArn=topic, MessageStructure="json", Message=json.dumps({"default": "for all", "lambda": "for functions", "sqs": "for queues"}))
    boto3.client("sns").publish(TopicArn=topic, MessageStructure="json", Message=json.dumps({"default": "for all", "sqs": "for queues"}))
    deliveries = local.wait_for_notifications()

    assert [delivery.result["received"]["Records"][0]["Sns"]["Message"] for delivery in deliveries] == ["for functions", "for all"]
    # Other protocols keep moto's delivery: the queue gets its own key, in SNS's JSON envelope.
    bodies = [json.loads(message["Body"]) for message in boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert [body["Message"] for body in bodies] == ["for queues", "for queues"]


def test_without_a_permission_for_sns_the_function_does_not_run(local: LocalAws) -> None:
    topic, _, _ = topic_with_function("recorder", RECORDER, allow=None)
    allow_rule("recorder", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/things")  # EventBridge's permission is not SNS's

    boto3.client("sns").publish(TopicArn=topic, Message="hello")
    [delivery] = local.wait_for_notifications()

    assert delivery.status == "Failed" and "SNS is not authorized to perform lambda:InvokeFunction" in str(delivery.error)
    assert delivery.invocations == 0 and runs() == 0


def test_a_permission_for_another_topic_does_not_let_this_one_invoke(local: LocalAws) -> None:
    topic, _, _ = topic_with_function("recorder", RECORDER, allow=f"arn:aws:sns:{REGION}:{ACCOUNT}:other")

    boto3.client("sns").publish(TopicArn=topic, Message="hello")
    [delivery] = local.wait_for_notifications()

    assert delivery.status == "Failed" and runs() == 0


def test_a_permission_without_source_arn_lets_any_topic_invoke(local: LocalAws) -> None:
    topic, _, _ = topic_with_function("recorder", RECORDER, allow=None)
    boto3.client("lambda").add_permission(FunctionName="recorder", StatementId="sns", Action="lambda:InvokeFunction", Principal="sns.amazonaws.com")

    boto3.client("sns").publish(TopicArn=topic, Message="hello")

    assert [delivery.condition for delivery in local.wait_for_notifications()] == ["Success"]


def test_a_deleted_function_is_a_failed_delivery(local: LocalAws) -> None:
    topic, _, _ = topic_with_function("recorder", RECORDER)
    boto3.client("lambda").delete_function(FunctionName="recorder")

    boto3.client("sns").publish(TopicArn=topic, Message="hello")
    [delivery] = local.wait_for_notifications()

    assert delivery.status == "Failed" and "Function not found" in str(delivery.error)


def test_a_filter_policy_keeps_unmatched_messages_from_the_function(local: LocalAws) -> None:
    topic, _, subscription = topic_with_function("recorder", RECORDER)
    boto3.client("sns").set_subscription_attributes(SubscriptionArn=subscription, AttributeName="FilterPolicy", AttributeValue=json.dumps({"kind": ["deployment"]}))

    boto3.client("sns").publish(TopicArn=topic, Message="other", MessageAttributes={"kind": {"DataType": "String", "StringValue": "release"}})
    boto3.client("sns").publish(TopicArn=topic, Message="wanted", MessageAttributes={"kind": {"DataType": "String", "StringValue": "deployment"}})

    assert [delivery.result["received"]["Records"][0]["Sns"]["Message"] for delivery in local.wait_for_notifications()] == ["wanted"]


def test_a_failing_function_without_retries_sends_one_record_to_its_on_failure_queue(local: LocalAws) -> None:
    topic, function, _ = topic_with_function("notifier", FAILING)
    url, queue_arn = queue()
    boto3.client("lambda").put_function_event_invoke_config(FunctionName="notifier", MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": queue_arn}})

    message_id = boto3.client("sns").publish(TopicArn=topic, Message="hello")["MessageId"]
    [delivery] = local.wait_for_notifications()

    assert (delivery.status, delivery.condition, delivery.invocations, runs()) == ("Delivered", "RetriesExhausted", 1, 1)
    [message] = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    record = json.loads(message["Body"])
    assert record == {
        "version": "1.0",
        "timestamp": record["timestamp"],
        "requestContext": {"requestId": record["requestContext"]["requestId"], "functionArn": f"{function}:$LATEST", "condition": "RetriesExhausted", "approximateInvokeCount": 1},
        "requestPayload": delivery.event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "the notifier is broken", "errorType": "RuntimeError", "stackTrace": record["responsePayload"]["stackTrace"]},
    }
    assert record["requestPayload"]["Records"][0]["Sns"]["MessageId"] == message_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["timestamp"])
    assert (delivery.destination, delivery.destination_error, delivery.invocation_record) == (queue_arn, None, record)


def test_a_failing_function_is_retried_twice_by_default(local: LocalAws) -> None:
    topic, _, _ = topic_with_function("notifier", FAILING)

    boto3.client("sns").publish(TopicArn=topic, Message="hello")
    [delivery] = local.wait_for_notifications()

    assert (delivery.condition, delivery.invocations, runs(), delivery.function_error) == ("RetriesExhausted", 3, 3, True)
    assert delivery.destination is None and delivery.invocation_record is not None
    assert delivery.invocation_record["requestContext"]["approximateInvokeCount"] == 3


def test_one_retry_runs_the_function_twice(local: LocalAws) -> None:
    topic, _, _ = topic_with_function("notifier", FAILING)
    boto3.client("lambda").put_function_event_invoke_config(FunctionName="notifier", MaximumRetryAttempts=1)

    boto3.client("sns").publish(TopicArn=topic, Message="hello")

    assert [delivery.invocations for delivery in local.wait_for_notifications()] == [2]
    assert runs() == 2


def test_a_function_that_succeeds_sends_nothing_to_its_on_failure_queue(local: LocalAws) -> None:
    topic, _, _ = topic_with_function("recorder", RECORDER)
    url, queue_arn = queue()
    boto3.client("lambda").put_function_event_invoke_config(FunctionName="recorder", MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": queue_arn}})

    boto3.client("sns").publish(TopicArn=topic, Message="hello")

    assert [(delivery.condition, delivery.invocation_record) for delivery in local.wait_for_notifications()] == [("Success", None)]
    assert "Messages" not in boto3.client("sqs").receive_message(QueueUrl=url)


def test_a_throttled_invocation_is_retried_without_counting_as_an_attempt(local: LocalAws) -> None:
    topic, _, _ = topic_with_function("recorder", RECORDER)
    boto3.client("lambda").put_function_event_invoke_config(FunctionName="recorder", MaximumRetryAttempts=0)
    local.throttle("recorder", 2)

    boto3.client("sns").publish(TopicArn=topic, Message="hello")
    [delivery] = local.wait_for_notifications()

    assert (delivery.condition, len(delivery.attempts), delivery.invocations, runs()) == ("Success", 3, 1, 1)
    assert all("TooManyRequestsException" in str(attempt.error) for attempt in delivery.attempts[:2])


def test_wait_for_deliveries_also_waits_for_notifications(local: LocalAws) -> None:
    topic, _, _ = topic_with_function("gated", GATED)

    boto3.client("sns").publish(TopicArn=topic, Message="hello")
    with pytest.raises(TimeoutError, match="in flight"):
        local.wait_for_deliveries(0.3)
    GATE.set()

    assert local.wait_for_deliveries() == []
    assert [delivery.status for delivery in local.notification_deliveries.deliveries] == ["Delivered"]


def test_an_event_whose_function_publishes_is_waited_for_to_the_end(local: LocalAws) -> None:
    topic, _, _ = topic_with_function("recorder", RECORDER)
    events = boto3.client("events")
    rule = events.put_rule(Name="things", EventPattern=json.dumps({"source": ["test.app"]}))["RuleArn"]
    republisher = create_function("republisher", REPUBLISHER, create_role("republisher", "lambda.amazonaws.com"))
    events.put_targets(Rule="things", Targets=[{"Id": "republisher", "Arn": republisher}])
    allow_rule("republisher", rule)

    events.put_events(Entries=[{"Source": "test.app", "DetailType": "Thing Happened", "Detail": json.dumps({"topic": topic})}])
    [delivery] = local.wait_for_deliveries()

    [notification] = local.notification_deliveries.deliveries  # already done: no waiting here
    assert notification.status == "Delivered" and notification.message_id == delivery.result
    assert json.loads(notification.result["received"]["Records"][0]["Sns"]["Message"]) == {"topic": topic}


def test_notifications_published_over_http_are_delivered_too() -> None:
    patches = LocalAws()
    url, stop = start_local_aws(patches=patches)
    try:
        client = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION)
        sns, functions = client.client("sns", endpoint_url=url), client.client("lambda", endpoint_url=url)
        role = client.client("iam", endpoint_url=url).create_role(RoleName="echo", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        source = "def handler(event, context):\n    return event['Records'][0]['Sns']['MessageId']\n"
        function = functions.create_function(FunctionName="echo", Runtime="python3.12", Role=role, Handler="handler.handler", Code={"ZipFile": function_zip(source)})
        topic = sns.create_topic(Name="things")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function["FunctionArn"])
        functions.add_permission(FunctionName="echo", StatementId="sns", Action="lambda:InvokeFunction", Principal="sns.amazonaws.com", SourceArn=topic)

        message_id = sns.publish(TopicArn=topic, Message="hello")["MessageId"]
        deliveries = patches.wait_for_notifications()
    finally:
        stop()

    assert [(delivery.condition, delivery.result) for delivery in deliveries] == [("Success", message_id)]
