"""server/gateways/sms_protocol.py: the provider's request and what each kind of answer means."""

from __future__ import annotations

import json

import pytest

from server.gateways.sms_protocol import SENT, Verdict, build_send, parse_reply


@pytest.mark.parametrize("base", ["https://probe.example/v1/send", "https://probe.example/v1/send/"])
def test_the_message_id_goes_into_the_path(base):
    request = build_send(base, "jwt", 42, "79774053329", "hi")
    assert request.url == "https://probe.example/v1/send/42"


def test_the_request_carries_the_bearer_token_and_a_json_body_with_an_integer_phone():
    request = build_send("http://provider/send", "the.jwt.token", 42, "79774053329", "Привет \"you\"")
    assert request.headers["Authorization"] == "Bearer the.jwt.token"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body.decode("utf-8")) == {"id": 42, "phone": 79774053329, "text": "Привет \"you\""}


def test_success_is_200_with_code_0():
    assert parse_reply(200, b'{"code": 0, "message": "OK"}') == SENT
    assert parse_reply(200, b'{"code": 0}') == SENT


@pytest.mark.parametrize("body", [
    b"<html>oops</html>",          # not JSON
    b"",                           # empty
    b"\xff\xfe\x00",               # not UTF-8
    b"[0]",                        # JSON but not an object
    b'{"message": "OK"}',          # no code
    b'{"code": 1, "message": "queue full"}',  # a code other than 0
    b'{"code": "0"}',              # the code as a string is not the documented answer
])
def test_a_200_the_client_cannot_read_as_success_is_retried(body):
    outcome = parse_reply(200, body)
    assert outcome.verdict is Verdict.RETRY
    assert outcome.error


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_overload_and_server_errors_are_retried(status):
    outcome = parse_reply(status, b"busy")
    assert outcome.verdict is Verdict.RETRY
    assert str(status) in outcome.error


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_any_other_4xx_fails_the_message_at_once_and_says_why(status):
    outcome = parse_reply(status, b'{"code": 22, "message": "phone is not served"}')
    assert outcome.verdict is Verdict.FAIL
    assert str(status) in outcome.error
    assert "phone is not served" in outcome.error


@pytest.mark.parametrize("status", [201, 202, 204, 301, 302])
def test_an_unexpected_non_error_status_is_retried_not_taken_for_success(status):
    assert parse_reply(status, b'{"code": 0}').verdict is Verdict.RETRY


def test_a_long_answer_is_cut_in_the_error():
    outcome = parse_reply(400, b"x" * 10_000)
    assert len(outcome.error) < 300
