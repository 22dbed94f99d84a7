"""Standard Webhooks signing and verification, Retry-After parsing and response classification."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from missionctl.notifications.channels import Outcome
from missionctl.notifications.webhook import (
    WebhookVerificationError,
    classify,
    decode_secret,
    encode_payload,
    generate_secret,
    parse_retry_after,
    sign,
    signed_headers,
    url_problem,
    verify,
)

# The published Standard Webhooks test vector.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
PUBLISHED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
AT = datetime.fromtimestamp(TIMESTAMP, UTC)


def independent_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, f"{msg_id}.{timestamp}.{body.decode()}".encode(), hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def headers_for(body: bytes, *, at: datetime = AT, msg_id: str = MSG_ID) -> dict[str, str]:
    return signed_headers(SECRET, msg_id, body, now=at)


def test_sign_matches_the_published_vector_and_an_independent_hmac() -> None:
    assert sign(SECRET, MSG_ID, TIMESTAMP, BODY) == PUBLISHED
    assert independent_signature(SECRET, MSG_ID, TIMESTAMP, BODY) == PUBLISHED
    body = encode_payload({"type": "page", "incident": 42, "text": "héllo"})
    assert sign(SECRET, "k1", 1_700_000_000, body) == independent_signature(SECRET, "k1", 1_700_000_000, body)


def test_signed_headers() -> None:
    headers = headers_for(BODY, at=AT + timedelta(milliseconds=999))
    assert headers == {
        "content-type": "application/json",
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),  # integer seconds, truncated
        "webhook-signature": PUBLISHED,
    }


def test_compact_ascii_json_body() -> None:
    assert encode_payload({"a": 1, "b": [1, 2], "c": "é"}) == b'{"a":1,"b":[1,2],"c":"\\u00e9"}'
    with pytest.raises(ValueError):
        encode_payload({"x": float("nan")})


def test_verify_accepts_a_good_request_with_any_header_case() -> None:
    headers = {name.upper(): value for name, value in headers_for(BODY).items()}
    verify(SECRET, headers, BODY, now=AT + timedelta(seconds=299))


def test_verify_accepts_one_matching_signature_among_several() -> None:
    headers = headers_for(BODY)
    headers["webhook-signature"] = "v1,bm90IHRoaXMgb25l " + headers["webhook-signature"]
    verify(SECRET, headers, BODY, now=AT)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h, b: (h, b + b" "), "no v1 signature"),
        (lambda h, b: ({**h, "webhook-id": "msg_other"}, b), "no v1 signature"),
        (lambda h, b: ({**h, "webhook-timestamp": str(TIMESTAMP + 1)}, b), "no v1 signature"),
        (lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b), "no v1 signature"),
        (lambda h, b: ({**h, "webhook-signature": "v2," + h["webhook-signature"][3:]}, b), "no v1"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), "missing header"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "integer seconds"),
        (lambda h, b: ({**h, "webhook-signature": "v1,ünïcode"}, b), "no v1 signature"),
    ],
)
def test_verify_rejects_tampering(change: object, reason: str) -> None:
    headers, body = change(headers_for(BODY), BODY)  # type: ignore[operator]
    with pytest.raises(WebhookVerificationError, match=reason):
        verify(SECRET, headers, body, now=AT)


def test_verify_rejects_old_and_future_timestamps() -> None:
    headers = headers_for(BODY)
    with pytest.raises(WebhookVerificationError, match="old"):
        verify(SECRET, headers, BODY, now=AT + timedelta(seconds=301))
    with pytest.raises(WebhookVerificationError, match="future"):
        verify(SECRET, headers, BODY, now=AT - timedelta(seconds=301))
    verify(SECRET, headers, BODY, now=AT + timedelta(hours=1), tolerance_seconds=3600)


def test_verify_rejects_another_secret() -> None:
    with pytest.raises(WebhookVerificationError):
        verify(generate_secret(), headers_for(BODY), BODY, now=AT)


@given(st.binary(max_size=512), st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126)))
def test_sign_then_verify_round_trips(body: bytes, msg_id: str) -> None:
    verify(SECRET, headers_for(body, msg_id=msg_id or "x"), body, now=AT)


def test_secrets() -> None:
    fresh = generate_secret()
    assert fresh.startswith("whsec_") and len(decode_secret(fresh)) == 32
    assert decode_secret(SECRET) == decode_secret(SECRET.removeprefix("whsec_"))
    for bad in ("whsec_", "whsec_not base64!", ""):
        with pytest.raises(ValueError):
            decode_secret(bad)


NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("86400", 3600.0),  # capped at an hour
        ("Mon, 02 Mar 2026 09:00:30 GMT", 30.0),
        ("Mon, 02 Mar 2026 08:00:00 GMT", 0.0),  # in the past: retry now
        ("Tue, 03 Mar 2026 09:00:00 GMT", 3600.0),
        ("Mon, 02 Mar 2026 09:01:00 -0000", 60.0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("٣", None),  # a digit, but not an ASCII one
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("POST", "https://h.example/hook"))


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.SENT),
        (202, Outcome.SENT),
        (204, Outcome.SENT),
        (301, Outcome.FAILED_PERM),
        (307, Outcome.FAILED_PERM),
        (400, Outcome.FAILED_PERM),
        (401, Outcome.FAILED_PERM),
        (404, Outcome.FAILED_PERM),
        (408, Outcome.FAILED_TEMP),
        (410, Outcome.FAILED_PERM),
        (413, Outcome.FAILED_PERM),
        (425, Outcome.FAILED_TEMP),
        (429, Outcome.FAILED_TEMP),
        (500, Outcome.FAILED_TEMP),
        (502, Outcome.FAILED_TEMP),
        (503, Outcome.FAILED_TEMP),
        (599, Outcome.FAILED_TEMP),
    ],
)
def test_classify(status: int, outcome: Outcome) -> None:
    result = classify(response(status), "https://h.example/hook", now=NOW)
    assert result.outcome is outcome
    assert result.status_code == status
    assert result.retry_after is None


def test_retry_after_only_on_temporary_failures() -> None:
    assert classify(response(429, **{"retry-after": "7"}), "x", now=NOW).retry_after == 7.0
    assert classify(response(503, **{"retry-after": "99999"}), "x", now=NOW).retry_after == 3600.0
    assert classify(response(400, **{"retry-after": "7"}), "x", now=NOW).retry_after is None


def test_redirects_are_refused_with_a_masked_target() -> None:
    location = "https://user:pw123456@elsewhere.example/new?token=tok3nvalue"
    result = classify(response(302, location=location), "https://h.example/hook", now=NOW)
    assert result.outcome is Outcome.FAILED_PERM
    assert "redirect to https://elsewhere.example/new not followed" in result.detail
    assert "pw123456" not in result.detail and "tok3nvalue" not in result.detail
    relative = classify(response(308, location="/moved"), "https://h.example/hook", now=NOW)
    assert "https://h.example/moved" in relative.detail


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://h.example/hook", None),
        ("http://127.0.0.1:8080/x?y=1", None),
        ("ftp://h.example/hook", "unsupported URL scheme"),
        ("h.example/hook", "unsupported URL scheme"),
        ("https:///nohost", "no host"),
        ("http://h.example:99999/", "invalid URL port"),
        ("http://[::1/", "invalid URL"),
    ],
)
def test_url_problem(url: str, problem: str | None) -> None:
    found = url_problem(url)
    assert found is None if problem is None else (found is not None and problem in found)
