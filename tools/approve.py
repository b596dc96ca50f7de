"""Production approvals: decide a deployment waiting for a person before production, by POSTing the
decision to the platform's approval API.

    python -m tools.approve EXECUTION approve|reject [--reason TEXT] [--url URL] [--region REGION]
    make approve EXECUTION=<name or ARN> DECISION=approve|reject [REASON="..."] [URL=...]

EXECUTION is the waiting deployment's Step Functions execution, by its ARN
(arn:aws:states:<region>:<account>:execution:<state machine>:<name>, partition aws, aws-cn or
aws-us-gov) or its name (1 to 80 of A-Za-z0-9_-). A rejection needs --reason: the pipeline's failure
shows who rejected and why; a reason is at most 500 characters. URL is the full URL of the API's
`POST /approvals` (`terraform output -raw approval_api_url`), else the environment's
APPROVAL_API_URL.

The body sent is {"execution": EXECUTION, "decision": "approve"|"reject", "reason": TEXT} (reason only
when given), as application/json, signed as tools/release.py signs a release: SigV4 for API Gateway
(service execute-api, the method's AWS_IAM authorization) with the caller's default AWS credentials
(boto3's chain), in the Region given, else the one in the URL's host, else the default session's.
The API records who decided (the signing identity) and when.

Prints the API's answer: on 2xx every field of the JSON body (the execution ARN, the decision,
decided_by, decided_at, a message), otherwise the HTTP status and the message. Exit status 0 on 2xx,
1 on an error answer (or no answer at all), 2 on a usage error; nothing is sent on a usage error.
"""

import argparse
import json
import os
import re
import sys

from tools.release import UsageError, post

EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
EXECUTION_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:states:[a-z0-9-]+:[0-9]{12}:execution:[A-Za-z0-9_-]{1,80}:[A-Za-z0-9_-]{1,80}$")
DECISIONS = ("approve", "reject")
MAX_REASON = 500
URL_HINT = 'pass --url "$(terraform output -raw approval_api_url)" or set APPROVAL_API_URL'


def approval(execution: str, decision: str, reason: str | None) -> bytes:
    """The request's body, once the execution's form, the decision and the reason are checked."""
    if not (EXECUTION_NAME.match(execution) or EXECUTION_ARN.match(execution)):
        raise UsageError(
            f"{execution!r} is neither an execution name (1 to 80 of A-Za-z0-9_-) nor an execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)"
        )
    if decision not in DECISIONS:
        raise UsageError(f"the decision is approve or reject, not {decision!r}")
    if reason is not None and not reason.strip():
        reason = None
    if decision == "reject" and reason is None:
        raise UsageError("a rejection needs --reason: the pipeline's failure shows who rejected and why")
    if reason is not None and len(reason) > MAX_REASON:
        raise UsageError(f"the reason is {len(reason)} characters; at most {MAX_REASON}")
    document = {"execution": execution, "decision": decision} | ({"reason": reason} if reason is not None else {})
    return json.dumps(document).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.approve", description="Approve or reject a deployment waiting before production, signed with your AWS credentials.")
    parser.add_argument("execution", help="the waiting deployment's Step Functions execution ARN or name")
    parser.add_argument("decision", metavar="approve|reject", help="the decision")
    parser.add_argument("--reason", help=f"why (needed to reject; at most {MAX_REASON} characters)")
    parser.add_argument("--url", default=os.environ.get("APPROVAL_API_URL"), help="URL of POST /approvals (default: $APPROVAL_API_URL)")
    parser.add_argument("--region", help="Region to sign for (default: from the URL, else the default session's)")
    arguments = parser.parse_args(argv)
    try:
        body = approval(arguments.execution, arguments.decision, arguments.reason)
        if not arguments.url:
            raise UsageError(f"no approval API URL: {URL_HINT}")
    except UsageError as error:
        print(f"approve: {error}", file=sys.stderr)
        return 2
    return post("approve", arguments.url, body, arguments.region)


if __name__ == "__main__":
    sys.exit(main())
