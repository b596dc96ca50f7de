"""tools/approve.py, the production approval command, against a local HTTP server on 127.0.0.1 that
records each request and answers as the approval API does: the JSON body it sends, the SigV4
signature for execute-api, the checks that refuse a request before anything is sent, the URL from the
environment, and what it prints and exits with on 200 and 403."""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field as dataclass_field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tools import approve

NAME = "payments-7f3c2a1b9d0e-1a2b3c4d"
ARN = f"arn:aws:states:eu-west-1:123456789012:execution:sls-cd-deployment:{NAME}"
DECIDED = {
    "execution_arn": ARN,
    "decision": "approve",
    "decided_by": "arn:aws:sts::123456789012:assumed-role/releaser/alice",
    "decided_at": "2024-05-16T09:30:00Z",
    "message": "approved: the deployment goes on to production",
}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def document(self) -> Any:
        return json.loads(self.body)


@dataclass
class ApprovalApi:
    """POST /approvals on 127.0.0.1: records each request, answers `status` with `answer` (JSON)."""

    status: int = 200
    answer: Any = dataclass_field(default_factory=lambda: DECIDED)
    received: list[Received] = dataclass_field(default_factory=list)

    def __post_init__(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                api.received.append(Received(self.command, self.path, {name.lower(): value for name, value in self.headers.items()}, self.rfile.read(length)))
                body = json.dumps(api.answer).encode()
                self.send_response(api.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1/approvals"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApprovalApi]:
    monkeypatch.delenv("APPROVAL_API_URL", raising=False)
    for proxy in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    server = ApprovalApi()
    yield server
    server.close()


def test_an_approval_sends_the_execution_and_the_decision_signed_for_execute_api(api: ApprovalApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert approve.main([NAME, "approve", "--url", api.url, "--region", "eu-west-1"]) == 0

    (request,) = api.received
    assert (request.method, request.path) == ("POST", "/v1/approvals")
    assert request.document == {"execution": NAME, "decision": "approve"}
    assert request.headers["content-type"] == "application/json"
    authorization = request.headers["authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/eu-west-1/execute-api/aws4_request, SignedHeaders=" in authorization and "Signature=" in authorization
    assert "x-amz-date" in request.headers and request.headers["x-amz-security-token"] == "testing"


def test_a_rejection_sends_its_reason_for_an_execution_arn(api: ApprovalApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer = DECIDED | {"decision": "reject", "message": "rejected: the deployment fails before production"}

    assert approve.main([ARN, "reject", "--reason", "the canary's error rate doubled", "--url", api.url]) == 0

    (request,) = api.received
    assert request.document == {"execution": ARN, "decision": "reject", "reason": "the canary's error rate doubled"}
    # Without --region and with no execute-api host in the URL: the default session's Region.
    assert "/us-east-1/execute-api/aws4_request" in request.headers["authorization"]


def test_a_200_prints_every_field_and_exits_0(api: ApprovalApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert approve.main([ARN, "approve", "--url", api.url]) == 0

    printed = capsys.readouterr()
    assert printed.err == ""
    assert printed.out == (
        "HTTP 200\n"
        f"  execution_arn  {ARN}\n"
        "  decision       approve\n"
        "  decided_by     arn:aws:sts::123456789012:assumed-role/releaser/alice\n"
        "  decided_at     2024-05-16T09:30:00Z\n"
        "  message        approved: the deployment goes on to production\n"
    )


def test_a_403_prints_the_status_and_the_message_and_exits_1(api: ApprovalApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.status, api.answer = 403, {"message": "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: execute-api:Invoke"}

    assert approve.main([NAME, "approve", "--url", api.url]) == 1

    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err == "HTTP 403: User: arn:aws:iam::123456789012:user/bob is not authorized to perform: execute-api:Invoke\n"
    assert len(api.received) == 1


@pytest.mark.parametrize("status", [400, 404, 409])
def test_the_other_error_answers_exit_1(api: ApprovalApi, status: int, capsys: pytest.CaptureFixture[str]) -> None:
    api.status, api.answer = status, {"message": "the execution is not waiting for an approval"}

    assert approve.main([NAME, "approve", "--url", api.url]) == 1
    assert capsys.readouterr().err == f"HTTP {status}: the execution is not waiting for an approval\n"


def test_no_answer_exits_1(api: ApprovalApi, capsys: pytest.CaptureFixture[str]) -> None:
    url = api.url
    api.close()

    assert approve.main([NAME, "approve", "--url", url]) == 1
    assert capsys.readouterr().err.startswith(f"approve: no answer from {url}: ")


def test_the_url_comes_from_the_environment(api: ApprovalApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("APPROVAL_API_URL", api.url)

    assert approve.main([NAME, "approve"]) == 0
    assert [request.document for request in api.received] == [{"execution": NAME, "decision": "approve"}]


def test_without_a_url_it_exits_2_with_the_hint(api: ApprovalApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert approve.main([NAME, "approve"]) == 2
    assert capsys.readouterr().err == 'approve: no approval API URL: pass --url "$(terraform output -raw approval_api_url)" or set APPROVAL_API_URL\n'
    assert api.received == []


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_rejection_without_a_reason_is_refused_without_sending(api: ApprovalApi, reason: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    assert approve.main([NAME, "reject", "--url", api.url, *([] if reason is None else ["--reason", reason])]) == 2
    assert capsys.readouterr().err == "approve: a rejection needs --reason: the pipeline's failure shows who rejected and why\n"
    assert api.received == []


@pytest.mark.parametrize(
    "execution",
    [
        "",
        "payments 7f3c",
        "payments/7f3c",
        "x" * 81,
        "arn:aws:states:eu-west-1:123456789012:stateMachine:sls-cd-deployment",
        "arn:aws:states:eu-west-1:1234:execution:sls-cd-deployment:payments-7f3c",
        "arn:aws-eu:states:eu-west-1:123456789012:execution:sls-cd-deployment:payments-7f3c",
        "arn:aws:lambda:eu-west-1:123456789012:execution:sls-cd-deployment:payments-7f3c",
    ],
)
def test_a_bad_execution_is_refused_without_sending(api: ApprovalApi, execution: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert approve.main([execution, "approve", "--url", api.url]) == 2
    assert "is neither an execution name (1 to 80 of A-Za-z0-9_-) nor an execution ARN" in capsys.readouterr().err
    assert api.received == []


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_execution_arns_of_every_partition_and_80_character_names_are_accepted(api: ApprovalApi, partition: str, capsys: pytest.CaptureFixture[str]) -> None:
    arn = f"arn:{partition}:states:cn-north-1:123456789012:execution:sls-cd-deployment:{NAME}"
    assert approve.main([arn, "approve", "--url", api.url]) == 0
    assert approve.main(["a" * 80, "approve", "--url", api.url]) == 0
    assert [request.document["execution"] for request in api.received] == [arn, "a" * 80]


def test_a_bad_decision_and_a_long_reason_are_refused_without_sending(api: ApprovalApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert approve.main([NAME, "approved", "--url", api.url]) == 2
    assert capsys.readouterr().err == "approve: the decision is approve or reject, not 'approved'\n"
    assert approve.main([NAME, "reject", "--reason", "x" * 501, "--url", api.url]) == 2
    assert capsys.readouterr().err == "approve: the reason is 501 characters; at most 500\n"
    assert api.received == []
    assert approve.main([NAME, "reject", "--reason", "x" * 500, "--url", api.url]) == 0
    assert api.received[0].document["reason"] == "x" * 500
