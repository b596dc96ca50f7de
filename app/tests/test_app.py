"""Unit tests of the greeting API. Standard library only: `python -m unittest discover -s tests`
(or pytest) from the app directory."""

import json
import sys
import unittest
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import app


def call(event: Any) -> tuple[int, dict[str, Any]]:
    response = app.handler(event, None)
    assert response["headers"] == {"Content-Type": "application/json"}
    return response["statusCode"], json.loads(response["body"])


def at(value: Any, path: str) -> Any:
    """The value at a dotted path, walking into JSON strings such as the body."""
    for step in path.split("."):
        value = json.loads(value) if isinstance(value, str) else value
        value = value[step]
    return value


class Greeting(unittest.TestCase):
    def test_greets_the_name_from_the_query_string(self) -> None:
        self.assertEqual(call({"queryStringParameters": {"name": "Ada"}}), (200, {"message": "Hello, Ada!", "version": app.VERSION}))

    def test_greets_the_name_from_a_json_body(self) -> None:
        status, body = call({"body": json.dumps({"name": "Grace"})})
        self.assertEqual((status, body["message"]), (200, "Hello, Grace!"))

    def test_greets_the_name_of_a_direct_invocation(self) -> None:
        status, body = call({"name": "Linus"})
        self.assertEqual((status, body["message"]), (200, "Hello, Linus!"))

    def test_the_query_string_wins_over_the_body(self) -> None:
        _, body = call({"queryStringParameters": {"name": "Ada"}, "body": json.dumps({"name": "Grace"})})
        self.assertEqual(body["message"], "Hello, Ada!")

    def test_greets_the_world_without_a_name(self) -> None:
        for event in ({}, {"queryStringParameters": None, "body": None}, {"body": ""}):
            with self.subTest(event=event):
                self.assertEqual(call(event)[1]["message"], "Hello, world!")

    def test_trims_the_name(self) -> None:
        self.assertEqual(call({"name": "  Ada  "})[1]["message"], "Hello, Ada!")

    def test_shows_the_version(self) -> None:
        self.assertRegex(app.VERSION, r"^\d+\.\d+\.\d+$")
        self.assertEqual(call({})[1]["version"], app.VERSION)


class BadRequests(unittest.TestCase):
    def assert_rejected(self, event: Any, error: str) -> None:
        status, body = call(event)
        self.assertEqual((status, body["error"]), (400, error))

    def test_an_empty_name(self) -> None:
        self.assert_rejected({"queryStringParameters": {"name": "   "}}, "name must not be empty")

    def test_a_name_that_is_not_a_string(self) -> None:
        self.assert_rejected({"name": 42}, "name must be a string")

    def test_a_name_that_is_too_long(self) -> None:
        self.assert_rejected({"name": "x" * (app.MAX_NAME_LENGTH + 1)}, f"name must be at most {app.MAX_NAME_LENGTH} characters")

    def test_a_name_with_control_characters(self) -> None:
        self.assert_rejected({"name": "Ada\n<script>"}, "name must be printable text")

    def test_a_body_that_is_not_json(self) -> None:
        self.assert_rejected({"body": "name=Ada"}, "the body must be JSON")

    def test_a_body_that_is_not_an_object(self) -> None:
        self.assert_rejected({"body": "[1, 2]"}, "the body must be a JSON object")

    def test_an_event_that_is_not_an_object(self) -> None:
        self.assert_rejected(["name"], "the request must be a JSON object")

    def test_query_parameters_that_are_not_an_object(self) -> None:
        self.assert_rejected({"queryStringParameters": "name=Ada"}, "queryStringParameters must be an object")


class DeclaredTestCases(unittest.TestCase):
    """test_cases.json is what the pipeline runs against every deployment; its package cases must
    hold here too."""

    def test_every_declared_case_holds_for_this_code(self) -> None:
        declared = json.loads((Path(__file__).resolve().parent.parent / "test_cases.json").read_text())["cases"]
        self.assertGreaterEqual(len(declared), 3)
        for case in declared:
            if "package" not in case.get("phases", ["package"]):
                continue  # a staging- or production-only case needs the deployed environment
            with self.subTest(case=case["name"]):
                response = app.handler(case["event"], None)
                for path, expected in case["expect"].items():
                    self.assertEqual(at(response, path), expected, path)


if __name__ == "__main__":
    unittest.main()
