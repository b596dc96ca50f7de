"""The release button: POST a release manifest to the platform's release API (docs/releases.md).

    python -m tools.release MANIFEST.json [--url URL] [--region REGION]
    make release MANIFEST=releases/5.16.json [URL=...]

MANIFEST is a file, or - for standard input. URL is the full URL of the API's `POST /releases`
(`terraform output -raw release_api_url`), else the environment's RELEASE_API_URL. The request is
signed with SigV4 for API Gateway (service execute-api, the method's AWS_IAM authorization) with
the caller's default AWS credentials (environment, profile, SSO, instance role: boto3's chain), in
the Region given, else the one in the URL's host (<api id>.execute-api.<region>.amazonaws.com),
else the default session's.

Prints the API's answer: on 2xx every field of the JSON body (the release id, its Step Functions
execution ARN and console URL), otherwise the HTTP status and the message. Exit status 0 on 2xx,
1 on an error answer (or no answer at all), 2 on a usage error.
"""

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

EXECUTE_API_HOST = re.compile(r"^[A-Za-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
URL_HINT = 'pass --url "$(terraform output -raw release_api_url)" or set RELEASE_API_URL'
TIMEOUT_SECONDS = 60


class UsageError(Exception):
    """What the caller must change before the release can be sent."""


def read_manifest(source: str) -> bytes:
    """The manifest's bytes as given (a file, or - for stdin); it must at least be JSON."""
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read the manifest {source}: {error.strerror or error}") from None
    try:
        json.loads(data)
    except ValueError as error:
        raise UsageError(f"the manifest {source} is not JSON: {error}") from None
    return data


def region_of(url: str, given: str | None) -> str:
    """The Region to sign for: given, else the execute-api host's, else the default session's."""
    if given:
        return given
    from urllib.parse import urlsplit

    host = EXECUTE_API_HOST.match(urlsplit(url).hostname or "")
    if host:
        return host.group(1)
    import boto3

    region = boto3.session.Session().region_name
    if not region:
        raise UsageError("no AWS Region: pass --region, or set AWS_REGION (or a profile's region)")
    return str(region)


def signed_request(url: str, body: bytes, region: str, credentials: Any = None) -> urllib.request.Request:
    """POST `body` to `url`, signed with SigV4 for execute-api with `credentials` (botocore's),
    by default the default credential chain's."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = credentials or boto3.session.Session().get_credentials()
    if credentials is None:
        raise UsageError("no AWS credentials: configure them as for the AWS CLI (aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    return urllib.request.Request(url, data=body, headers=dict(request.headers.items()), method="POST")


def send(request: urllib.request.Request) -> tuple[int, bytes]:
    """The HTTP status and body of the answer, error answers included."""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


def report(status: int, body: bytes) -> str:
    """What to print of an answer: every field of a 2xx JSON body, else the status and message."""
    try:
        document: Any = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        text = body.decode("utf-8", "replace").strip()
        return f"HTTP {status}" + (f": {text}" if text else "")
    if 200 <= status < 300:
        width = max((len(str(name)) for name in document), default=0)
        lines = [f"release accepted (HTTP {status})" if status == 202 else f"HTTP {status}"]
        lines += [f"  {name:<{width}}  {value if isinstance(value, str) else json.dumps(value)}" for name, value in document.items()]
        return "\n".join(lines)
    message = document.get("message") or document.get("Message") or json.dumps(document)
    lines = [f"HTTP {status}: {message}"]
    lines += [f"  {name}: {value}" for name, value in document.items() if name not in ("message", "Message") and value is not None]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.release", description="Start a release: POST a manifest to the release API, signed with your AWS credentials.")
    parser.add_argument("manifest", help="the release manifest (JSON), or - for standard input")
    parser.add_argument("--url", default=os.environ.get("RELEASE_API_URL"), help="URL of POST /releases (default: $RELEASE_API_URL)")
    parser.add_argument("--region", help="Region to sign for (default: from the URL, else the default session's)")
    arguments = parser.parse_args(argv)
    try:
        if not arguments.url:
            raise UsageError(f"no release API URL: {URL_HINT}")
        body = read_manifest(arguments.manifest)
    except UsageError as error:
        print(f"release: {error}", file=sys.stderr)
        return 2
    return post("release", arguments.url, body, arguments.region)


def post(command: str, url: str, body: bytes, region: str | None) -> int:
    """Sign `body` for `url` (in `region`, else the URL's), POST it and print the answer as
    `command` does: the exit status, 0 on 2xx, 1 on an error answer or none, 2 on a usage error."""
    try:
        request = signed_request(url, body, region_of(url, region))
    except UsageError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 2
    try:
        status, answer = send(request)
    except (urllib.error.URLError, OSError) as error:
        print(f"{command}: no answer from {url}: {getattr(error, 'reason', error)}", file=sys.stderr)
        return 1
    ok = 200 <= status < 300
    print(report(status, answer), file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
