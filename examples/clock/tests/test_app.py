"""Unit tests of the clock API. Standard library only: `python -m unittest discover -s tests`
(or pytest) from the service directory."""

import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import app


class Clock(unittest.TestCase):
    def test_formats_a_timestamp(self) -> None:
        response = app.handler({"queryStringParameters": {"at": "0"}}, None)
        self.assertEqual((response["statusCode"], json.loads(response["body"])["utc"]), (200, "1970-01-01T00:00:00Z"))

    def test_answers_the_current_time_without_a_timestamp(self) -> None:
        response = app.handler({}, None)
        self.assertEqual(response["statusCode"], 200)
        self.assertRegex(json.loads(response["body"])["utc"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_rejects_a_timestamp_that_is_not_a_number(self) -> None:
        response = app.handler({"queryStringParameters": {"at": "noon"}}, None)
        self.assertEqual(response["statusCode"], 400)


if __name__ == "__main__":
    unittest.main()
