"""The gateway's Gemini and OpenAI Responses surfaces, driven by the official SDKs exactly as a
customer would: `google-genai` (`generate_content`, `generate_content_stream`, function calling)
pointed at the gateway with `http_options.base_url`, and `openai`'s `client.responses`
(plain, streamed, a function tool and its output). Every model kind answers; expected text is
computed from the fake's documented rule (`Fake reply from {upstream}. You said: {text}`,
one token per word), never read back from the gateway.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest
from google.genai import errors as genai_errors
from google.genai import types

from conftest import MODELS, Fakes, SessionGateway

TARGETS = ["gpt-5", "mythos-5", "gemini-flash"]
TOOL_NAME = "get_weather"
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
}
TOOL_ARGS: dict[str, Any] = {"city": "Zürich", "days": 3}
TOOL_RESULT = "18 degrees and sunny in Zürich"


def upstream_of(model: str) -> str:
    return MODELS[model][1]


def reply_for(model: str, user_text: str) -> str:
    return f"Fake reply from {upstream_of(model)}. You said: {' '.join(user_text.split())}"


def tokens(*texts: str) -> int:
    return sum(len(t.split()) for t in texts)


def call_tool_on(fakes: Fakes, model: str) -> None:
    fakes.serving(model).set_behavior(
        upstream_of(model), tool_call={"name": TOOL_NAME, "arguments": TOOL_ARGS})


def sent_to(fakes: Fakes, model: str) -> list[dict[str, Any]]:
    """What the fake serving `model` received (no other fake received anything)."""
    fake = fakes.serving(model)
    for other in fakes.all():
        if other is not fake:
            assert other.requests() == [], f"{other.name} was called for {model}"
    return fake.requests()


def forget_requests(fakes: Fakes) -> None:
    for fake in fakes.all():
        fake.clear_requests()


def records_for(gateway: SessionGateway, ids: set[str], timeout_s: float = 5.0) -> dict[str, dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        records = {r["id"]: r["record"] for r in gateway.cli.audit_requests()}
        if ids <= set(records):
            return {i: records[i] for i in ids}
        assert time.monotonic() < deadline, f"never audited: {ids - set(records)}"
        time.sleep(0.1)


# =========================================================================== google-genai SDK

@pytest.mark.parametrize("model", TARGETS)
def test_genai_generate_content_from_every_provider_kind(
        model: str, genai_client_for, fakes: Fakes, gateway: SessionGateway):
    forget_requests(fakes)
    client = genai_client_for()
    prompt = f"Tell me about {model} please"
    response = client.models.generate_content(
        model=model,
        contents=prompt,
        config=types.GenerateContentConfig(system_instruction="You are terse.", max_output_tokens=200),
    )
    expected = reply_for(model, prompt)
    assert response.text == expected
    assert response.model_version == model
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata.prompt_token_count == tokens("You are terse.", prompt)
    assert response.usage_metadata.candidates_token_count == tokens(expected)
    rid = response.sdk_http_response.headers["x-clearance-request-id"]

    [sent] = sent_to(fakes, model)
    if model == "gemini-flash":
        # Same format: passed through, the provider's key in the provider's header.
        assert sent["path"] == "/v1beta/models/gemini-3-flash:generateContent"
        assert sent["body"]["contents"][0]["parts"][0]["text"] == prompt
        assert sent["headers"]["x-goog-api-key"] != gateway.keys["alice"].key
    elif model == "gpt-5":
        assert sent["body"]["messages"][-1]["content"] == prompt
        assert sent["body"]["max_tokens"] == 200
    else:
        assert sent["body"]["max_tokens"] == 200
        assert sent["body"]["system"] == "You are terse."

    record = records_for(gateway, {rid})[rid]
    assert record["api"] == "gemini"
    assert record["requested_model"] == model
    assert record["served_model"] == model
    assert record["input_tokens"] == response.usage_metadata.prompt_token_count
    assert record["output_tokens"] == response.usage_metadata.candidates_token_count


@pytest.mark.parametrize("model", TARGETS)
def test_genai_generate_content_stream_from_every_provider_kind(
        model: str, genai_client_for, fakes: Fakes):
    client = genai_client_for()
    prompt = f"Stream about {model} in several pieces please"
    chunks = list(client.models.generate_content_stream(model=model, contents=prompt))
    assert len(chunks) > 1
    assert "".join(c.text or "" for c in chunks) == reply_for(model, prompt)
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count == tokens(reply_for(model, prompt))
    for chunk in chunks:
        if chunk.model_version:
            assert chunk.model_version == model


@pytest.mark.parametrize("model", TARGETS)
def test_genai_function_call_and_response_with_every_provider_kind(
        model: str, genai_client_for, fakes: Fakes):
    call_tool_on(fakes, model)
    client = genai_client_for()
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(
        name=TOOL_NAME, description="Weather by city", parameters_json_schema=WEATHER_SCHEMA)])
    config = types.GenerateContentConfig(
        tools=[tool],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    question = types.Content(role="user", parts=[types.Part.from_text(text="Weather in Zürich?")])
    response = client.models.generate_content(model=model, contents=[question], config=config)
    [call] = response.function_calls
    assert call.name == TOOL_NAME
    assert call.args == TOOL_ARGS

    streamed = [
        c for chunk in client.models.generate_content_stream(model=model, contents=[question], config=config)
        for c in (chunk.function_calls or [])
    ]
    assert [(c.name, c.args) for c in streamed] == [(TOOL_NAME, TOOL_ARGS)]

    result = types.Part.from_function_response(name=TOOL_NAME, response={"output": TOOL_RESULT})
    result.function_response.id = call.id
    answer = client.models.generate_content(
        model=model,
        contents=[question, response.candidates[0].content, types.Content(role="user", parts=[result])],
        config=config,
    )
    assert TOOL_RESULT in answer.text


def test_genai_errors_are_raised_as_the_sdks_own(genai_client_for, fakes: Fakes):
    with pytest.raises(genai_errors.ClientError) as caught:
        genai_client_for().models.generate_content(model="no-such-model", contents="hi")
    assert caught.value.code == 404
    assert caught.value.status == "NOT_FOUND"
    assert "no-such-model" in caught.value.message

    with pytest.raises(genai_errors.ClientError) as caught:
        genai_client_for(key="clr_0000000000000000_" + "0" * 64).models.generate_content(
            model="gemini-flash", contents="hi")
    assert caught.value.code == 401
    assert caught.value.status == "UNAUTHENTICATED"

    fakes.google.set_behavior("gemini-3-flash", status=503)
    with pytest.raises(genai_errors.ServerError) as caught:
        genai_client_for().models.generate_content(model="gemini-flash", contents="hi")
    assert caught.value.code == 503
    assert caught.value.status == "UNAVAILABLE"


def test_a_gemini_key_in_the_query_string_is_neither_logged_nor_audited(
        raw: httpx.Client, gateway: SessionGateway):
    key = gateway.keys["alice"].key
    secret = key.rsplit("_", 1)[-1]
    body = {"contents": [{"role": "user", "parts": [{"text": "hello by query key"}]}]}
    ids = set()
    for path in ("/v1beta/models/gemini-flash:generateContent",
                 "/v1beta/models/gpt-5:streamGenerateContent?alt=sse",
                 "/v1beta/models/mythos-5:streamGenerateContent"):
        sep = "&" if "?" in path else "?"
        r = raw.post(f"{path}{sep}key={key}", json=body)
        assert r.status_code == 200, r.text
        assert secret not in r.text
        ids.add(r.headers["x-clearance-request-id"])
    array = r.json()
    assert isinstance(array, list) and array[-1]["candidates"][0]["finishReason"] == "STOP"
    records = records_for(gateway, ids)
    assert all(rec["api"] == "gemini" and rec["key_id"] == gateway.keys["alice"].id
               for rec in records.values())
    exported = json.dumps(gateway.cli.audit_export())
    assert secret not in exported
    service = gateway.gateway.service
    for path in (service.stdout_path, service.stderr_path):
        assert secret not in path.read_text(errors="replace")


# =========================================================================== OpenAI Responses

@pytest.mark.parametrize("model", TARGETS)
def test_openai_responses_create_from_every_provider_kind(
        model: str, oai: openai.OpenAI, fakes: Fakes, gateway: SessionGateway):
    forget_requests(fakes)
    prompt = f"Respond about {model} please"
    raw = oai.responses.with_raw_response.create(
        model=model, instructions="You are terse.", input=prompt, max_output_tokens=200)
    response = raw.parse()
    expected = reply_for(model, prompt)
    assert response.object == "response"
    assert response.status == "completed"
    assert response.model == model
    assert response.output_text == expected
    assert response.usage.input_tokens == tokens("You are terse.", prompt)
    assert response.usage.output_tokens == tokens(expected)
    [sent] = sent_to(fakes, model)
    assert "previous_response_id" not in sent["body"]
    rid = raw.headers["x-clearance-request-id"]
    record = records_for(gateway, {rid})[rid]
    assert record["api"] == "openai_responses"
    assert record["served_model"] == model
    assert record["output_tokens"] == response.usage.output_tokens


@pytest.mark.parametrize("model", TARGETS)
def test_openai_responses_stream_from_every_provider_kind(model: str, oai: openai.OpenAI):
    prompt = f"Stream a response about {model} please"
    events = list(oai.responses.create(model=model, input=prompt, stream=True))
    types_seen = [e.type for e in events]
    assert types_seen[0] == "response.created"
    assert types_seen[-1] == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == reply_for(model, prompt)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert final.output_text == deltas
    assert final.usage.output_tokens == tokens(deltas)

    # The SDK's stream helper reads the same events into the final response.
    with oai.responses.stream(model=model, input=prompt) as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        assert stream.get_final_response().output_text == text == deltas


@pytest.mark.parametrize("model", TARGETS)
def test_openai_responses_function_tool_with_every_provider_kind(
        model: str, oai: openai.OpenAI, fakes: Fakes):
    call_tool_on(fakes, model)
    tools = [{"type": "function", "name": TOOL_NAME, "description": "Weather by city",
              "parameters": WEATHER_SCHEMA}]
    response = oai.responses.create(model=model, input="Weather in Zürich?", tools=tools)
    [call] = [item for item in response.output if item.type == "function_call"]
    assert call.name == TOOL_NAME
    assert json.loads(call.arguments) == TOOL_ARGS

    events = list(oai.responses.create(model=model, input="Weather in Zürich?", tools=tools, stream=True))
    [done] = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert json.loads(done.arguments) == TOOL_ARGS

    answer = oai.responses.create(
        model=model,
        tools=tools,
        input=[
            {"role": "user", "content": "Weather in Zürich?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": TOOL_RESULT},
        ],
    )
    assert TOOL_RESULT in answer.output_text


def text_of(content: Any) -> str:
    """An Anthropic message's text, whether a string or a list of blocks."""
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content)


def test_openai_responses_continue_a_kept_response_on_another_provider_kind(
        oai: openai.OpenAI, fakes: Fakes):
    first = oai.responses.create(model="gpt-5", instructions="You are terse.", input="Name a fjord")
    assert first.id.startswith("resp_")
    forget_requests(fakes)
    second = oai.responses.create(
        model="mythos-5", input="And a glacier", previous_response_id=first.id)
    assert second.output_text == reply_for("mythos-5", "And a glacier")
    [sent] = sent_to(fakes, "mythos-5")
    conversation = [(m["role"], text_of(m["content"])) for m in sent["body"]["messages"]]
    assert conversation == [
        ("user", "Name a fjord"),
        ("assistant", reply_for("gpt-5", "Name a fjord")),
        ("user", "And a glacier"),
    ]
    # As at OpenAI, the earlier request's instructions are not carried over.
    assert "system" not in sent["body"]

    assert oai.responses.retrieve(second.id).output_text == second.output_text
    oai.responses.delete(second.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(second.id)
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model="gpt-5", input="again", previous_response_id=second.id)
    assert caught.value.param == "previous_response_id"
    assert caught.value.code == "previous_response_not_found"


def test_openai_responses_state_the_gateway_does_not_keep_is_refused(oai: openai.OpenAI, fakes: Fakes):
    forget_requests(fakes)
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model="gpt-5", input="again", conversation="conv_123")
    assert caught.value.param == "conversation"
    assert "keeps no conversations" in caught.value.message
    for fake in fakes.all():
        assert fake.requests() == [], "a refused request reached a provider"
    with pytest.raises(openai.NotFoundError) as caught:
        oai.responses.retrieve("resp_123")
    assert "No response found with id 'resp_123'" in caught.value.message