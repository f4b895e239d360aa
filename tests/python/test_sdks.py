"""The official `openai` and `anthropic` SDKs, used exactly as a customer would, against the
gateway. Expected values are computed here from the fake's documented rules (reply text
`Fake reply from {upstream}. You said: {last user text}`; one token per whitespace-separated
word), never read back from the gateway.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any

import anthropic
import httpx
import openai
import pytest

from conftest import (
    ACME_PROVIDER_KEY,
    Cli,
    MODELS,
    OPENLAB_PROVIDER_KEY,
    Fakes,
    Ledger,
    SessionGateway,
    new_gateway,
)

ANTHROPIC_VERSION = "2023-06-01"


def reply_for(model: str, user_text: str) -> str:
    upstream = MODELS[model][1]
    return f"Fake reply from {upstream}. You said: {' '.join(user_text.split())}"


def tokens(*texts: str) -> int:
    return sum(len(t.split()) for t in texts)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def assert_request_id(value: str | None) -> str:
    assert value, "no x-clearance-request-id header"
    uuid.UUID(value)  # raises if it is not a UUID
    return value


# =========================================================================== OpenAI SDK

def test_openai_chat_completion_returns_provider_text_under_client_model_name(oai: openai.OpenAI):
    prompt = "Please greet the gateway politely"
    completion = oai.chat.completions.create(
        model="gpt-5",
        messages=[{"role": "system", "content": "You are terse."}, *user(prompt)],
    )
    expected = reply_for("gpt-5", prompt)
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-5"
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == expected
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == tokens("You are terse.", prompt)
    assert completion.usage.completion_tokens == tokens(expected)
    assert completion.usage.total_tokens == tokens("You are terse.", prompt, expected)


def test_openai_raw_response_carries_clearance_headers(oai: openai.OpenAI):
    raw = oai.chat.completions.with_raw_response.create(model="open-model", messages=user("hello"))
    assert raw.status_code == 200
    assert_request_id(raw.headers.get("x-clearance-request-id"))
    assert raw.headers.get("x-clearance-served-model") == "open-model"
    overhead = float(raw.headers["x-clearance-overhead-ms"])
    assert 0 <= overhead < 1000
    completion = raw.parse()
    assert completion.model == "open-model"
    assert completion.choices[0].message.content == reply_for("open-model", "hello")


def test_each_response_gets_its_own_request_id(oai: openai.OpenAI):
    ids = {
        oai.chat.completions.with_raw_response.create(model="gpt-5", messages=user("x"))
        .headers["x-clearance-request-id"]
        for _ in range(3)
    }
    assert len(ids) == 3


def test_openai_stream_concatenates_to_the_non_streaming_text_without_a_usage_chunk(oai: openai.OpenAI):
    prompt = "stream this sentence back to me"
    whole = oai.chat.completions.create(model="gpt-5", messages=user(prompt))
    chunks = list(oai.chat.completions.create(model="gpt-5", messages=user(prompt), stream=True))

    assert len(chunks) >= 3, chunks
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content == reply_for("gpt-5", prompt)
    # One chunk per word: the stream really is relayed piece by piece.
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == tokens(text)
    assert all(c.model == "gpt-5" for c in chunks)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    # The gateway asks the provider for usage (for its audit log) but the client did not.
    assert [c for c in chunks if not c.choices] == []
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_openai_stream_with_include_usage_ends_with_a_usage_chunk(oai: openai.OpenAI):
    prompt = "count my words please"
    chunks = list(oai.chat.completions.create(
        model="gpt-5", messages=user(prompt), stream=True, stream_options={"include_usage": True},
    ))
    expected = reply_for("gpt-5", prompt)
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1
    last = chunks[-1]
    assert last is usage_chunks[0]
    assert last.choices == []
    assert last.usage.prompt_tokens == tokens(prompt)
    assert last.usage.completion_tokens == tokens(expected)
    assert last.usage.total_tokens == tokens(prompt, expected)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected


def test_openai_stream_response_carries_clearance_headers(oai: openai.OpenAI):
    raw = oai.chat.completions.with_raw_response.create(model="gpt-5", messages=user("hi"), stream=True)
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert_request_id(raw.headers.get("x-clearance-request-id"))
    assert raw.headers.get("x-clearance-served-model") == "gpt-5"
    with raw.parse() as stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == reply_for("gpt-5", "hi")


def test_openai_output_cap_is_passed_through_and_reported_as_length(oai: openai.OpenAI):
    completion = oai.chat.completions.create(
        model="gpt-5", messages=user("a long answer please"), max_completion_tokens=3,
    )
    assert completion.choices[0].message.content == "Fake reply from"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 3


def test_openai_models_list_shows_the_configured_models(oai: openai.OpenAI):
    models = oai.models.list()
    by_id = {m.id: m for m in models}
    assert set(by_id) == set(MODELS)
    for name, (provider, _) in MODELS.items():
        assert by_id[name].object == "model"
        assert by_id[name].owned_by == provider


def test_openai_bad_key_raises_authentication_error(openai_client_for, fakes: Fakes):
    fakes.openlab.clear_requests()
    client = openai_client_for(key="clr_0000000000000000_" + "0" * 64)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-5", messages=user("hi"))
    e = caught.value
    assert e.status_code == 401
    assert e.type == "authentication_error"
    assert e.code == "invalid_api_key"
    assert_request_id(e.response.headers.get("x-clearance-request-id"))
    assert fakes.openlab.requests() == [], "a request with a bad key reached the provider"


def test_openai_garbage_key_raises_authentication_error(openai_client_for):
    with pytest.raises(openai.AuthenticationError):
        openai_client_for(key="not-a-clearance-key").chat.completions.create(
            model="gpt-5", messages=user("hi"))


def test_openai_unknown_model_raises_not_found(oai: openai.OpenAI, fakes: Fakes):
    fakes.openlab.clear_requests()
    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(model="gpt-17-ultra", messages=user("hi"))
    e = caught.value
    assert e.status_code == 404
    assert e.code == "model_not_found"
    assert "gpt-17-ultra" in e.body["message"]
    assert fakes.openlab.requests() == []


def test_openai_rate_limit_from_provider_raises_rate_limit_error(oai: openai.OpenAI, fakes: Fakes):
    fakes.openlab.set_behavior("gpt-5-2026-06", status=429, error_message="openlab: slow down")
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model="gpt-5", messages=user("hi"))
    e = caught.value
    assert e.status_code == 429
    assert e.body["message"] == "openlab: slow down"  # the provider's own message
    assert e.code == "rate_limit_exceeded"
    assert_request_id(e.response.headers.get("x-clearance-request-id"))


def test_openai_rate_limit_relays_retry_after(oai: openai.OpenAI, fakes: Fakes):
    fakes.openlab.set_behavior("gpt-5-2026-06", status=429, retry_after_s=7)
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model="gpt-5", messages=user("hi"))
    assert caught.value.response.headers.get("retry-after") == "7"


def test_openai_provider_server_error_raises_internal_server_error(oai: openai.OpenAI, fakes: Fakes):
    fakes.openlab.set_behavior("llama-4-70b-instruct", status=500)
    with pytest.raises(openai.InternalServerError) as caught:
        oai.chat.completions.create(model="open-model", messages=user("hi"))
    assert caught.value.status_code == 500
    assert caught.value.type == "server_error"


def test_openai_stream_broken_by_provider_raises_api_error(oai: openai.OpenAI, fakes: Fakes):
    # role chunk + "Fake" + " reply", then the connection is cut.
    fakes.openlab.set_behavior("gpt-5-2026-06", drop_after_events=3)
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in oai.chat.completions.create(model="gpt-5", messages=user("hi"), stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Fake reply"
    assert "broke off" in str(caught.value)


def test_openai_provider_delay_is_not_counted_as_gateway_overhead(oai: openai.OpenAI, fakes: Fakes):
    fakes.openlab.set_behavior("gpt-5-2026-06", delay_ms=400)
    started = time.monotonic()
    raw = oai.chat.completions.with_raw_response.create(model="gpt-5", messages=user("hi"))
    elapsed_ms = (time.monotonic() - started) * 1000
    assert raw.status_code == 200
    assert elapsed_ms >= 400
    assert float(raw.headers["x-clearance-overhead-ms"]) < 200


# =========================================================================== Anthropic SDK

def test_anthropic_messages_create_returns_text_model_and_usage(ant: anthropic.Anthropic):
    prompt = "Tell me about export controls"
    message = ant.messages.create(
        model="mythos-5", max_tokens=200, system="Be brief.", messages=user(prompt),
    )
    expected = reply_for("mythos-5", prompt)
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == "mythos-5"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == expected
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == tokens("Be brief.", prompt)
    assert message.usage.output_tokens == tokens(expected)


def test_anthropic_raw_response_carries_clearance_headers(ant: anthropic.Anthropic):
    raw = ant.messages.with_raw_response.create(model="fable-5", max_tokens=50, messages=user("hey"))
    assert_request_id(raw.headers.get("x-clearance-request-id"))
    assert raw.headers.get("x-clearance-served-model") == "fable-5"
    assert float(raw.headers["x-clearance-overhead-ms"]) >= 0
    assert raw.parse().content[0].text == reply_for("fable-5", "hey")


def test_anthropic_stream_text_and_final_message(ant: anthropic.Anthropic):
    prompt = "stream me a reply"
    expected = reply_for("mythos-5", prompt)
    with ant.messages.stream(model="mythos-5", max_tokens=200, messages=user(prompt)) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
        headers = stream.response.headers
    assert "".join(pieces) == expected
    assert len(pieces) == tokens(expected)  # relayed event by event, not in one lump
    assert final.model == "mythos-5"
    assert final.content[0].text == expected
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == tokens(prompt)
    assert final.usage.output_tokens == tokens(expected)
    assert_request_id(headers.get("x-clearance-request-id"))
    assert headers.get("x-clearance-served-model") == "mythos-5"


def test_anthropic_stream_events_name_the_client_model(ant: anthropic.Anthropic):
    events = list(ant.messages.create(model="fable-5", max_tokens=200, messages=user("hi"), stream=True))
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert events[0].message.model == "fable-5"
    assert "content_block_delta" in types


def test_anthropic_max_tokens_cut_reports_max_tokens(ant: anthropic.Anthropic):
    message = ant.messages.create(model="mythos-5", max_tokens=2, messages=user("hi"))
    assert message.content[0].text == "Fake reply"
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 2


def test_anthropic_models_list_shows_the_configured_models(ant: anthropic.Anthropic):
    page = ant.models.list()
    ids = [m.id for m in page.data]
    assert set(ids) == set(MODELS)
    assert all(m.type == "model" for m in page.data)
    assert page.has_more is False


def test_anthropic_bad_key_raises_authentication_error(anthropic_client_for, fakes: Fakes):
    fakes.acme.clear_requests()
    client = anthropic_client_for(key="clr_0000000000000000_" + "0" * 64)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(model="mythos-5", max_tokens=50, messages=user("hi"))
    e = caught.value
    assert e.status_code == 401
    assert e.body["type"] == "error"
    assert e.body["error"]["type"] == "authentication_error"
    assert_request_id(e.response.headers.get("x-clearance-request-id"))
    assert fakes.acme.requests() == []


def test_anthropic_unknown_model_raises_not_found(ant: anthropic.Anthropic):
    with pytest.raises(anthropic.NotFoundError) as caught:
        ant.messages.create(model="claude-unknown", max_tokens=50, messages=user("hi"))
    assert caught.value.status_code == 404
    assert caught.value.body["error"]["type"] == "not_found_error"
    assert "claude-unknown" in caught.value.body["error"]["message"]


def test_anthropic_provider_503_raises_server_error_with_the_providers_message(
        ant: anthropic.Anthropic, fakes: Fakes):
    fakes.acme.set_behavior("claude-fable-5", status=503, error_message="acme is melting down")
    with pytest.raises(anthropic.InternalServerError) as caught:
        ant.messages.create(model="fable-5", max_tokens=50, messages=user("hi"))
    e = caught.value
    assert isinstance(e, anthropic.APIStatusError)
    assert e.status_code == 503
    assert e.body["error"]["message"] == "acme is melting down"
    assert_request_id(e.response.headers.get("x-clearance-request-id"))


def test_anthropic_stream_broken_by_provider_raises(ant: anthropic.Anthropic, fakes: Fakes):
    # message_start, content_block_start, ping, "Fake", " reply", then the cut.
    fakes.acme.set_behavior("claude-mythos-5", drop_after_events=5)
    received = []
    with pytest.raises(anthropic.APIError) as caught:
        with ant.messages.stream(model="mythos-5", max_tokens=50, messages=user("hi")) as stream:
            for text in stream.text_stream:
                received.append(text)
    assert "".join(received) == "Fake reply"
    assert "broke off" in str(caught.value)


# =========================================================================== requests no SDK sends

def test_malformed_json_gets_400_in_each_apis_error_shape(raw: httpx.Client, gateway: SessionGateway):
    r = raw.post("/v1/chat/completions", content=b'{"model": ',
                 headers={"authorization": f"Bearer {gateway.keys['alice'].key}",
                          "content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert_request_id(r.headers.get("x-clearance-request-id"))

    r = raw.post("/v1/messages", content=b"[1, 2]",
                 headers={"x-api-key": gateway.keys["bjorn"].key,
                          "anthropic-version": ANTHROPIC_VERSION,
                          "content-type": "application/json"})
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"


def test_missing_key_gets_401(raw: httpx.Client):
    r = raw.post("/v1/chat/completions", json={"model": "gpt-5", "messages": user("hi")})
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    r = raw.get("/v1/models")
    assert r.status_code == 401


# =========================================================================== credentials upstream

def test_provider_keys_reach_the_right_provider_and_client_keys_do_not(
        oai: openai.OpenAI, ant: anthropic.Anthropic, fakes: Fakes, gateway: SessionGateway):
    for fake in fakes.all():
        fake.clear_requests()
    oai.chat.completions.create(model="gpt-5", messages=user("check my headers"))
    # The SDK's own anthropic-version is newer; an explicit one shows it is forwarded as sent.
    ant.messages.create(model="mythos-5", max_tokens=50, messages=user("check my headers"),
                        extra_headers={"anthropic-version": ANTHROPIC_VERSION})

    [to_openlab] = fakes.openlab.requests()
    assert to_openlab["path"] == "/v1/chat/completions"
    assert to_openlab["headers"].get("authorization") == f"Bearer {OPENLAB_PROVIDER_KEY}"
    assert "x-api-key" not in to_openlab["headers"]
    assert to_openlab["body"]["model"] == "gpt-5-2026-06"

    [to_acme] = fakes.acme.requests()
    assert to_acme["path"] == "/v1/messages"
    assert to_acme["headers"].get("x-api-key") == ACME_PROVIDER_KEY
    assert "authorization" not in to_acme["headers"]
    assert to_acme["headers"].get("anthropic-version") == ANTHROPIC_VERSION
    assert to_acme["body"]["model"] == "claude-mythos-5"

    seen_upstream = json.dumps([to_openlab, to_acme])
    for key in gateway.keys.values():
        assert key.key not in seen_upstream
        assert key.id not in seen_upstream
    assert "clr_" not in seen_upstream


# =========================================================================== keys

def _wait_for(predicate, timeout_s: float, interval_s: float = 0.05) -> float | None:
    """Seconds until `predicate()` held, or None if it never did within `timeout_s`."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            return None
        time.sleep(interval_s)


def test_key_created_while_running_works_and_revoked_key_stops_within_a_second(
        openai_client_for, gateway: SessionGateway):
    key = gateway.cli.create_key("carla")
    client = openai_client_for(key=key.key)

    def accepted() -> bool:
        try:
            client.chat.completions.create(model="gpt-5", messages=user("am I in?"))
            return True
        except openai.AuthenticationError:
            return False

    took = _wait_for(accepted, timeout_s=2.0)
    assert took is not None, "a key created with the CLI was not accepted within 2 s"

    gateway.cli.revoke_key(key.id)
    revoked_at = time.monotonic()
    took = _wait_for(lambda: not accepted(), timeout_s=2.0)
    assert took is not None, "a revoked key still worked 2 s after `clearance keys revoke`"
    assert time.monotonic() - revoked_at < 2.0
    # And it stays revoked.
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-5", messages=user("still there?"))


# =========================================================================== shutdown

def test_sigterm_finishes_the_in_flight_stream_and_drains_its_audit_record(
        tmp_path, fakes: Fakes, openai_client_for):
    """A separate gateway (own store), stopped mid-stream."""
    gw = new_gateway(tmp_path, fakes, extra_models={"slow": ("openlab", "slow-upstream")})
    key = gw.cli.create_key("dev")
    gw.start()
    try:
        fakes.openlab.set_behavior("slow-upstream", chunk_delay_ms=60)
        seen: list[str] = []
        client = openai_client_for(key=key.key, url=gw.url,
                                   hook=lambda r: seen.append(r.headers.get("x-clearance-request-id")))
        prompt = "one two three four five six"
        stream = client.chat.completions.create(model="slow", messages=user(prompt), stream=True)
        text = ""
        with stream:
            for i, chunk in enumerate(stream):
                if i == 1:
                    gw.service.terminate()
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
        assert text == f"Fake reply from slow-upstream. You said: {prompt}"
        code = gw.service.wait()
        assert code == 0, gw.service.logs()
    finally:
        gw.service.stop(check=False)

    records = gw.cli.audit_requests()
    assert [r["id"] for r in records] == seen
    record = records[0]["record"]
    assert record["status"] == 200
    assert record["stream"] is True
    assert record["error_class"] is None
    assert record["output_tokens"] == tokens(text)
    assert gw.cli.audit_verify()[0] == 0


# =========================================================================== audit (keep last)

def _export_when_complete(gateway: SessionGateway, ids: set[str], timeout_s: float = 5.0):
    deadline = time.monotonic() + timeout_s
    while True:
        records = gateway.cli.audit_requests()
        missing = ids - {r["id"] for r in records}
        if not missing:
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(missing)} request ids never reached the audit log: {sorted(missing)[:5]}")
        time.sleep(0.1)


def test_client_hanging_up_mid_stream_is_audited_as_a_disconnect(
        oai: openai.OpenAI, fakes: Fakes, gateway: SessionGateway):
    fakes.openlab.set_behavior("llama-4-70b-instruct", chunk_delay_ms=50)
    raw = oai.chat.completions.with_raw_response.create(
        model="open-model", messages=user("a b c d e f g h"), stream=True)
    rid = raw.headers["x-clearance-request-id"]
    stream = raw.parse()
    next(iter(stream))
    stream.close()
    [record] = [r["record"] for r in _export_when_complete(gateway, {rid}) if r["id"] == rid]
    assert record["stream"] is True
    assert record["status"] == 200
    assert record["error_class"] == "client_disconnected"


def test_audit_log_matches_what_the_clients_did(
        oai: openai.OpenAI, ant: anthropic.Anthropic, openai_client_for, fakes: Fakes,
        gateway: SessionGateway, ledger: Ledger):
    alice, bjorn = gateway.keys["alice"], gateway.keys["bjorn"]
    marker = f"audit-marker-{uuid.uuid4().hex}"
    expect: dict[str, dict[str, Any]] = {}

    raw = oai.chat.completions.with_raw_response.create(model="gpt-5", messages=user(f"hello {marker}"))
    c = raw.parse()
    expect[raw.headers["x-clearance-request-id"]] = dict(
        api="openai_chat", key_id=alice.id, principal_id="alice", requested_model="gpt-5",
        served_model="gpt-5", decision="allow", stream=False, status=200, upstream_status=200,
        input_tokens=c.usage.prompt_tokens, output_tokens=c.usage.completion_tokens, error_class=None)

    raw = oai.chat.completions.with_raw_response.create(
        model="open-model", messages=user(f"stream {marker} please"), stream=True)
    with raw.parse() as stream:
        text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    # The client saw no usage, but the gateway still accounts for the tokens.
    expect[raw.headers["x-clearance-request-id"]] = dict(
        api="openai_chat", key_id=alice.id, principal_id="alice", requested_model="open-model",
        served_model="open-model", decision="allow", stream=True, status=200, upstream_status=200,
        input_tokens=tokens(f"stream {marker} please"), output_tokens=tokens(text), error_class=None)

    raw = ant.messages.with_raw_response.create(model="mythos-5", max_tokens=100, messages=user(marker))
    m = raw.parse()
    expect[raw.headers["x-clearance-request-id"]] = dict(
        api="anthropic_messages", key_id=bjorn.id, principal_id="bjorn", requested_model="mythos-5",
        served_model="mythos-5", decision="allow", stream=False, status=200, upstream_status=200,
        input_tokens=m.usage.input_tokens, output_tokens=m.usage.output_tokens, error_class=None)

    with ant.messages.stream(model="fable-5", max_tokens=100, messages=user(f"{marker} streamed")) as s:
        "".join(s.text_stream)
        final = s.get_final_message()
        rid = s.response.headers["x-clearance-request-id"]
    expect[rid] = dict(
        api="anthropic_messages", key_id=bjorn.id, principal_id="bjorn", requested_model="fable-5",
        served_model="fable-5", decision="allow", stream=True, status=200, upstream_status=200,
        input_tokens=final.usage.input_tokens, output_tokens=final.usage.output_tokens, error_class=None)

    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(model="no-such-model", messages=user(marker))
    expect[caught.value.response.headers["x-clearance-request-id"]] = dict(
        api="openai_chat", key_id=alice.id, principal_id="alice", requested_model="no-such-model",
        served_model=None, decision="rejected", stream=False, status=404, upstream_status=None,
        input_tokens=None, output_tokens=None, error_class="unknown_model")

    with pytest.raises(openai.AuthenticationError) as caught:
        openai_client_for(key="clr_0000000000000000_" + "0" * 64).chat.completions.create(
            model="gpt-5", messages=user(marker))
    expect[caught.value.response.headers["x-clearance-request-id"]] = dict(
        api="openai_chat", key_id=None, principal_id=None, requested_model=None, served_model=None,
        decision="rejected", stream=False,
        status=401, upstream_status=None, input_tokens=None, output_tokens=None, error_class="invalid_key")

    fakes.acme.set_behavior("claude-mythos-5", status=503)
    with pytest.raises(anthropic.InternalServerError) as caught:
        ant.messages.create(model="mythos-5", max_tokens=100, messages=user(marker))
    expect[caught.value.response.headers["x-clearance-request-id"]] = dict(
        api="anthropic_messages", key_id=bjorn.id, principal_id="bjorn", requested_model="mythos-5",
        served_model=None, decision="allow", stream=False, status=503, upstream_status=503,
        input_tokens=None, output_tokens=None, error_class="upstream_status")

    # Everything any test sent through the session gateway, this test's calls included.
    seen = ledger.snapshot()
    seen_ids = [s.request_id for s in seen]
    assert all(seen_ids), "a model response came without x-clearance-request-id"
    assert len(set(seen_ids)) == len(seen_ids), "request ids repeat"
    assert set(expect) <= set(seen_ids)

    records = _export_when_complete(gateway, set(seen_ids))
    by_id = {r["id"]: r for r in records}

    # One request on record per request answered, nothing else; each log one unbroken chain.
    assert len(records) == len(by_id) == len(seen), (len(records), len(seen))
    lines = gateway.cli.audit_export()
    by_log: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_log.setdefault(line["log_id"], []).append(line)
    for chain in by_log.values():
        chain.sort(key=lambda line: line["seq"])
        assert [line["seq"] for line in chain] == list(range(1, len(chain) + 1))
        for before, after in zip(chain, chain[1:]):
            assert after["prev_hash"] == before["hash"]
        assert chain[0]["record"]["admin"]["action"] == "log_open"
    for s in seen:
        record = by_id[s.request_id]["record"]
        assert record["id"] == s.request_id
        assert record["status"] == s.status
        assert record["served_model"] == s.served_model

    for rid, fields in expect.items():
        record = by_id[rid]["record"]
        for name, value in fields.items():
            assert record[name] == value, (rid, name, record)
        assert record["duration_us"] >= record["overhead_us"] >= 0

    # Prompts, completions and secrets never reach the log.
    exported = json.dumps(lines)
    assert marker not in exported
    assert "Fake reply" not in exported
    for secret in (alice.key, bjorn.key, OPENLAB_PROVIDER_KEY, ACME_PROVIDER_KEY):
        assert secret not in exported

    code, report = gateway.cli.audit_verify()
    assert code == 0, report
    assert report["ok"] is True
    assert report["verified_records"] >= len(lines)  # requests may have been answered since


def test_edited_audit_record_fails_verification(gateway: SessionGateway, oai: openai.OpenAI, tmp_path):
    oai.chat.completions.create(model="gpt-5", messages=user("make sure there is a record"))
    source_db = gateway.gateway.directory / "clearance.db"
    # A consistent copy of the live store (WAL included), edited offline.
    copy_db = tmp_path / "clearance.db"
    src = sqlite3.connect(source_db)
    dst = sqlite3.connect(copy_db)
    try:
        src.backup(dst)
    finally:
        src.close()
    (log_id, seq, record_json), = dst.execute(
        "SELECT log_id, seq, record FROM audit WHERE phase = 'decision' ORDER BY pos LIMIT 1")
    record = json.loads(record_json)
    record["status"] = 299 if record["status"] != 299 else 298
    dst.execute("UPDATE audit SET record = ? WHERE log_id = ? AND seq = ?",
                (json.dumps(record), log_id, seq))
    dst.commit()
    dst.close()
    copy_config = tmp_path / "clearance.toml"
    copy_config.write_text(gateway.gateway.config.read_text())

    code, report = Cli(copy_config).audit_verify()
    assert code == 1, report
    assert report["ok"] is False
    [broken] = [log for log in report["logs"] if log["problem"]]
    assert broken["log_id"] == log_id
    assert broken["verified_records"] == seq - 1
    assert f"record #{seq}" in broken["problem"]

    # The live log itself is untouched and still verifies.
    assert gateway.cli.audit_verify()[0] == 0
