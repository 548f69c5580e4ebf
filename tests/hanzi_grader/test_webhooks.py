"""Webhook signatures and the callback allow-list."""

from __future__ import annotations

import pytest

from hanzi_grader.webhooks import callback_refusal, sign, verify

SECRET = "whsec_test"
BODY = b'{"job_id": "j1"}'


def test_a_signature_verifies_only_for_its_body_secret_and_time():
    header = sign(SECRET, BODY, 1_000_000)

    assert header.startswith("t=1000000,v1=")
    assert verify(SECRET, BODY, header, now=1_000_010)
    assert not verify(SECRET, BODY + b" ", header, now=1_000_010)
    assert not verify("whsec_other", BODY, header, now=1_000_010)
    assert not verify(SECRET, BODY, header, now=1_000_000 + 301)  # too old: a replay
    assert not verify(SECRET, BODY, header.replace("t=1000000", "t=1000001"), now=1_000_010)
    assert not verify(SECRET, BODY, "garbage", now=1_000_010)


@pytest.mark.parametrize(("url", "says"), [
    ("https://hooks.example.org/x", None),
    ("http://HOOKS.example.org:8080/x?y=1", None),
    ("https://evil.example.org/x", "not allowed"),
    ("http://169.254.169.254/latest", "not allowed"),
    ("file:///etc/passwd", "http(s) URL"),
    ("https://user:pw@hooks.example.org/", "credentials"),
    ("https://hooks.example.org:99999/", "not a valid URL"),
    ("not a url", "http(s) URL"),
])
def test_callbacks_go_only_to_allowed_http_hosts(url, says):
    refusal = callback_refusal(url, ["hooks.example.org"])
    assert (refusal is None) if says is None else (says in refusal)
