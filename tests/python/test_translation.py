"""Cross-format translation as the official SDKs see it: the `openai` SDK and the `anthropic`
SDK each talk to one model of every provider kind through the gateway,

    mythos-5      → fake "acme"    (kind anthropic, `POST /v1/messages`)
    gpt-5         → fake "openlab" (kind openai,    `POST /v1/chat/completions`)
    gemini-flash  → fake "google"  (kind gemini,    `POST /v1beta/models/…:generateContent`)

with text, streams, tools, a whole tool loop, refusals and provider errors. Every test checks two
sides: what the SDK object holds, and what the provider received (its own path, its own key, its
own body format). Expected values come from the fake's documented rules (reply `Fake reply from
{upstream}. You said: {last user text}`, one token per whitespace-separated word, a tool result
answered `tool result: {text}`), never from the gateway.

The same-format target (`gpt-5` for the OpenAI SDK, `mythos-5` for the Anthropic SDK) is kept in
every matrix on purpose: it is the control that shows what the SDK expects when nothing is
translated.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
import openai
import pytest

from conftest import (
    ACME_PROVIDER_KEY,
    GOOGLE_PROVIDER_KEY,
    MODELS,
    OPENLAB_PROVIDER_KEY,
    Fakes,
    SessionGateway,
)

# One client-facing model per provider kind.
TARGETS = [
    pytest.param("mythos-5", id="anthropic-model"),
    pytest.param("gpt-5", id="openai-model"),
    pytest.param("gemini-flash", id="gemini-model"),
]
KIND_OF_PROVIDER = {"acme": "anthropic", "openlab": "openai", "google": "gemini"}

TOOL_NAME = "get_weather"
TOOL_DESCRIPTION = "Weather forecast for a city"
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "units": {"type": "object", "properties": {"temp": {"type": "string", "enum": ["C", "F"]}}},
        "hourly": {"type": "array", "items": {"type": "integer"}},
    },
    "required": ["city"],
}
OPENAI_TOOL = {
    "type": "function",
    "function": {"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "parameters": WEATHER_SCHEMA},
}
ANTHROPIC_TOOL = {"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "input_schema": WEATHER_SCHEMA}
# Nested, non-ASCII and long enough that streams cut it into several fragments.
TOOL_ARGS: dict[str, Any] = {"city": "Zürich", "days": 3, "units": {"temp": "C"}, "hourly": [6, 12, 18]}
TOOL_RESULT = "18 degrees and sunny in Zürich"

# 1×1 transparent PNG.
PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


# --------------------------------------------------------------------------- helpers

def kind_of(model: str) -> str:
    return KIND_OF_PROVIDER[MODELS[model][0]]


def upstream_of(model: str) -> str:
    return MODELS[model][1]


def reply_for(model: str, user_text: str) -> str:
    return f"Fake reply from {upstream_of(model)}. You said: {' '.join(user_text.split())}"


def tokens(*texts: str) -> int:
    return sum(len(t.split()) for t in texts)


def first_words(text: str, n: int) -> str:
    return " ".join(text.split()[:n])


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def forget_requests(fakes: Fakes) -> None:
    for fake in fakes.all():
        fake.clear_requests()


def assert_nothing_sent(fakes: Fakes) -> None:
    for fake in fakes.all():
        assert fake.requests() == [], f"provider {fake.name} was called for a refused request"


def call_tool_on(fakes: Fakes, model: str) -> None:
    """The fake serving `model` answers with a call of get_weather(TOOL_ARGS)."""
    fakes.serving(model).set_behavior(
        upstream_of(model), tool_call={"name": TOOL_NAME, "arguments": TOOL_ARGS})


def sent_upstream(fakes: Fakes, model: str, stream: bool, count: int = 1) -> list[dict[str, Any]]:
    """The `count` requests the fake serving `model` received (no other fake received any),
    each checked to be a call of that provider's own API, with its own key, for its own model id,
    carrying no Clearance key."""
    fake = fakes.serving(model)
    for other in fakes.all():
        if other is not fake:
            assert other.requests() == [], f"{other.name} was called for {model}"
    received = fake.requests()
    assert len(received) == count, received
    for r in received:
        assert_provider_call(r, model, stream)
    return received


def assert_provider_call(r: dict[str, Any], model: str, stream: bool) -> None:
    kind, upstream, headers, body = kind_of(model), upstream_of(model), r["headers"], r["body"]
    assert isinstance(body, dict), f"the provider got no JSON object: {body!r}"
    assert headers.get("content-type", "").startswith("application/json"), headers
    if kind == "openai":
        assert r["path"] == "/v1/chat/completions"
        assert headers.get("authorization") == f"Bearer {OPENLAB_PROVIDER_KEY}"
        assert "x-api-key" not in headers and "x-goog-api-key" not in headers
        assert body["model"] == upstream
        assert bool(body.get("stream")) is stream
    elif kind == "anthropic":
        assert r["path"] == "/v1/messages"
        assert headers.get("x-api-key") == ACME_PROVIDER_KEY
        assert "authorization" not in headers and "x-goog-api-key" not in headers
        assert headers.get("anthropic-version"), "Anthropic requires an anthropic-version header"
        assert body["model"] == upstream
        assert bool(body.get("stream")) is stream
    else:
        action = "streamGenerateContent" if stream else "generateContent"
        assert r["path"] == f"/v1beta/models/{upstream}:{action}"
        assert (r.get("query") or "") == ("alt=sse" if stream else ""), r.get("query")
        assert headers.get("x-goog-api-key") == GOOGLE_PROVIDER_KEY
        assert "authorization" not in headers and "x-api-key" not in headers
        # Gemini names the model and the streaming choice in the URL, never in the body.
        assert "model" not in body and "stream" not in body, sorted(body)
    assert "clr_" not in json.dumps(r), "a Clearance key reached the provider"


def text_of(content: Any) -> str:
    """Text of an OpenAI or Anthropic message content (string or list of text parts); every
    part must be text."""
    if isinstance(content, str):
        return content
    assert isinstance(content, list), content
    assert all(p.get("type") == "text" for p in content), content
    return "".join(p["text"] for p in content)


def gemini_text(content: dict[str, Any]) -> str:
    parts = content["parts"]
    assert all(set(p) <= {"text", "thought", "thoughtSignature"} for p in parts), parts
    return "".join(p["text"] for p in parts)


def upstream_tools(body: dict[str, Any], kind: str) -> list[tuple[str, str | None, Any]]:
    """The tools a provider body declares, as (name, description, JSON schema)."""
    if kind == "openai":
        assert all(t.get("type") == "function" for t in body["tools"]), body["tools"]
        return [(t["function"]["name"], t["function"].get("description"), t["function"].get("parameters"))
                for t in body["tools"]]
    if kind == "anthropic":
        return [(t["name"], t.get("description"), t.get("input_schema")) for t in body["tools"]]
    declarations = [d for tool in body["tools"] for d in tool.get("functionDeclarations", [])]
    return [(d["name"], d.get("description"), d.get("parametersJsonSchema", d.get("parameters")))
            for d in declarations]


def upstream_output_cap(body: dict[str, Any], kind: str) -> int | None:
    if kind == "openai":
        return body.get("max_completion_tokens", body.get("max_tokens"))
    if kind == "anthropic":
        return body.get("max_tokens")
    return body.get("generationConfig", {}).get("maxOutputTokens")


def assert_upstream_holds_tool_exchange(body: dict[str, Any], kind: str, call_id: str) -> None:
    """The second turn of a tool loop, in the provider's own format: the user's question, the
    model's call (same id, name and arguments the client saw) and the result for that call."""
    if kind == "openai":
        messages = [m for m in body["messages"] if m["role"] != "system"]
        assert [m["role"] for m in messages] == ["user", "assistant", "tool"], messages
        [call] = messages[1]["tool_calls"]
        assert call["id"] == call_id
        assert call["type"] == "function"
        assert call["function"]["name"] == TOOL_NAME
        assert json.loads(call["function"]["arguments"]) == TOOL_ARGS
        assert messages[2]["tool_call_id"] == call_id
        assert text_of(messages[2]["content"]) == TOOL_RESULT
    elif kind == "anthropic":
        messages = body["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "user"], messages
        [tool_use] = [b for b in messages[1]["content"] if b["type"] == "tool_use"]
        assert tool_use["id"] == call_id
        assert tool_use["name"] == TOOL_NAME
        assert tool_use["input"] == TOOL_ARGS
        [result] = [b for b in messages[2]["content"] if b["type"] == "tool_result"]
        assert messages[2]["content"][0] is result, "tool_result blocks must come first"
        assert result["tool_use_id"] == call_id
        assert text_of(result.get("content", "")) == TOOL_RESULT
        assert not result.get("is_error")
    else:
        contents = body["contents"]
        assert [c["role"] for c in contents] == ["user", "model", "user"], contents
        [call] = [p["functionCall"] for p in contents[1]["parts"] if "functionCall" in p]
        assert call["name"] == TOOL_NAME
        assert call["args"] == TOOL_ARGS
        assert call.get("id", call_id) == call_id
        [response] = [p["functionResponse"] for p in contents[2]["parts"] if "functionResponse" in p]
        # Gemini matches a response to its call by the function's name.
        assert response["name"] == TOOL_NAME
        assert response.get("id", call_id) == call_id
        assert TOOL_RESULT in json.dumps(response["response"], ensure_ascii=False)


# =========================================================================== OpenAI SDK: text

@pytest.mark.parametrize("model", TARGETS)
def test_openai_sdk_text_from_every_provider_kind(model: str, oai: openai.OpenAI, fakes: Fakes):
    forget_requests(fakes)
    system, prompt = "You are terse.", f"Say something about {model} please"
    completion = oai.chat.completions.create(
        model=model, messages=[{"role": "system", "content": system}, *user(prompt)])

    expected = reply_for(model, prompt)
    assert completion.object == "chat.completion"
    assert completion.model == model
    assert isinstance(completion.id, str) and completion.id
    assert isinstance(completion.created, int) and completion.created > 0
    [choice] = completion.choices
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == expected
    assert not choice.message.tool_calls
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == tokens(system, prompt)
    assert usage.completion_tokens == tokens(expected)
    assert usage.total_tokens == tokens(system, prompt, expected)

    [sent] = sent_upstream(fakes, model, stream=False)
    body = sent["body"]
    kind = kind_of(model)
    if kind == "anthropic":
        # Anthropic requires max_tokens; the OpenAI client sent none.
        assert body["max_tokens"] == 4096
        assert text_of(body["system"]) == system
        assert [m["role"] for m in body["messages"]] == ["user"]
        assert text_of(body["messages"][0]["content"]) == prompt
    elif kind == "gemini":
        assert gemini_text(body["systemInstruction"]) == system
        assert [c["role"] for c in body["contents"]] == ["user"]
        assert gemini_text(body["contents"][0]) == prompt
        assert "maxOutputTokens" not in body.get("generationConfig", {})
    else:
        assert body["messages"] == [{"role": "system", "content": system}, *user(prompt)]


@pytest.mark.parametrize("model", TARGETS)
def test_openai_sdk_output_cap_reaches_each_provider_and_reports_length(
        model: str, oai: openai.OpenAI, fakes: Fakes):
    forget_requests(fakes)
    prompt = "a long answer please"
    completion = oai.chat.completions.create(model=model, messages=user(prompt), max_completion_tokens=3)
    assert completion.choices[0].message.content == first_words(reply_for(model, prompt), 3)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 3
    [sent] = sent_upstream(fakes, model, stream=False)
    assert upstream_output_cap(sent["body"], kind_of(model)) == 3


@pytest.mark.parametrize("model", TARGETS)
def test_openai_sdk_stream_with_usage_from_every_provider_kind(
        model: str, oai: openai.OpenAI, fakes: Fakes):
    forget_requests(fakes)
    prompt = "stream this sentence back to me"
    chunks = list(oai.chat.completions.create(
        model=model, messages=user(prompt), stream=True, stream_options={"include_usage": True}))

    expected = reply_for(model, prompt)
    assert chunks, "no chunks"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert all(c.model == model for c in chunks), {c.model for c in chunks}
    assert chunks[0].id and len({c.id for c in chunks}) == 1, {c.id for c in chunks}
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in with_choices if c.choices[0].delta.content]
    assert "".join(pieces) == expected
    # Relayed piece by piece as the provider streamed it (one piece per word), not in one lump.
    assert len(pieces) == tokens(expected), pieces
    finish = [c.choices[0].finish_reason for c in with_choices if c.choices[0].finish_reason]
    assert finish == ["stop"]
    # include_usage: exactly one usage chunk, the last, with no choices.
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert usage_chunks == [chunks[-1]], usage_chunks
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.prompt_tokens == tokens(prompt)
    assert last.usage.completion_tokens == tokens(expected)
    assert last.usage.total_tokens == tokens(prompt, expected)

    [sent] = sent_upstream(fakes, model, stream=True)
    if kind_of(model) == "anthropic":
        assert sent["body"]["max_tokens"] == 4096
        assert text_of(sent["body"]["messages"][0]["content"]) == prompt
    elif kind_of(model) == "gemini":
        assert gemini_text(sent["body"]["contents"][0]) == prompt


@pytest.mark.parametrize("model", TARGETS)
def test_openai_sdk_stream_without_include_usage_has_no_usage_chunk(
        model: str, oai: openai.OpenAI, fakes: Fakes):
    prompt = "no usage for me"
    chunks = list(oai.chat.completions.create(model=model, messages=user(prompt), stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == reply_for(model, prompt)
    assert [c for c in chunks if not c.choices] == []
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


# =========================================================================== Anthropic SDK: text

@pytest.mark.parametrize("model", TARGETS)
def test_anthropic_sdk_text_from_every_provider_kind(model: str, ant: anthropic.Anthropic, fakes: Fakes):
    forget_requests(fakes)
    system, prompt = "Be brief.", f"Tell me about {model} and export controls"
    message = ant.messages.create(model=model, max_tokens=200, system=system, messages=user(prompt))

    expected = reply_for(model, prompt)
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == model
    assert isinstance(message.id, str) and message.id
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == expected
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.usage.input_tokens == tokens(system, prompt)
    assert message.usage.output_tokens == tokens(expected)

    [sent] = sent_upstream(fakes, model, stream=False)
    body = sent["body"]
    kind = kind_of(model)
    if kind == "openai":
        assert "system" not in body
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert text_of(body["messages"][0]["content"]) == system
        assert text_of(body["messages"][1]["content"]) == prompt
    elif kind == "gemini":
        assert gemini_text(body["systemInstruction"]) == system
        assert [c["role"] for c in body["contents"]] == ["user"]
        assert gemini_text(body["contents"][0]) == prompt
    else:
        assert body["system"] == system
        assert body["messages"] == user(prompt)
    assert upstream_output_cap(body, kind) == 200


@pytest.mark.parametrize("model", TARGETS)
def test_anthropic_sdk_max_tokens_cut_reports_max_tokens(model: str, ant: anthropic.Anthropic):
    message = ant.messages.create(model=model, max_tokens=2, messages=user("hi there"))
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Fake reply"
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 2


@pytest.mark.parametrize("model", TARGETS)
def test_anthropic_sdk_stream_from_every_provider_kind(model: str, ant: anthropic.Anthropic, fakes: Fakes):
    forget_requests(fakes)
    system, prompt = "Be brief.", "stream me a reply"
    with ant.messages.stream(model=model, max_tokens=200, system=system, messages=user(prompt)) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()

    expected = reply_for(model, prompt)
    assert "".join(pieces) == expected
    assert len(pieces) == tokens(expected), pieces  # relayed event by event
    assert final.model == model
    assert final.role == "assistant"
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == expected
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == tokens(system, prompt)
    assert final.usage.output_tokens == tokens(expected)

    [sent] = sent_upstream(fakes, model, stream=True)
    assert upstream_output_cap(sent["body"], kind_of(model)) == 200


@pytest.mark.parametrize("model", TARGETS)
def test_anthropic_sdk_stream_events_follow_the_messages_grammar(model: str, ant: anthropic.Anthropic):
    events = list(ant.messages.create(model=model, max_tokens=200, messages=user("hi"), stream=True))
    kinds = [e.type for e in events if e.type != "ping"]
    assert kinds[0] == "message_start", kinds
    assert kinds[-2:] == ["message_delta", "message_stop"], kinds
    assert kinds[1] == "content_block_start" and kinds[-3] == "content_block_stop", kinds
    assert set(kinds[2:-3]) == {"content_block_delta"}, kinds
    start = events[0]
    assert start.message.model == model
    assert start.message.role == "assistant"
    assert start.message.content == []
    blocks = [e for e in events if e.type.startswith("content_block")]
    assert {e.index for e in blocks} == {0}
    assert blocks[0].content_block.type == "text"
    assert all(e.delta.type == "text_delta" for e in blocks if e.type == "content_block_delta")
    [delta] = [e for e in events if e.type == "message_delta"]
    assert delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens == tokens(reply_for(model, "hi"))


# =========================================================================== tools: OpenAI SDK

@pytest.mark.parametrize("model", TARGETS)
def test_openai_sdk_gets_a_tool_call_from_every_provider_kind(model: str, oai: openai.OpenAI, fakes: Fakes):
    call_tool_on(fakes, model)
    forget_requests(fakes)
    prompt = "What will the weather be in Zürich?"
    completion = oai.chat.completions.create(
        model=model, messages=user(prompt), tools=[OPENAI_TOOL],
        tool_choice={"type": "function", "function": {"name": TOOL_NAME}})

    assert completion.model == model
    [choice] = completion.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.role == "assistant"
    assert not choice.message.content
    [call] = choice.message.tool_calls
    assert call.type == "function"
    assert isinstance(call.id, str) and call.id
    assert call.function.name == TOOL_NAME
    assert json.loads(call.function.arguments) == TOOL_ARGS
    assert completion.usage.prompt_tokens == tokens(prompt)
    assert completion.usage.completion_tokens > 0

    [sent] = sent_upstream(fakes, model, stream=False)
    body, kind = sent["body"], kind_of(model)
    assert upstream_tools(body, kind) == [(TOOL_NAME, TOOL_DESCRIPTION, WEATHER_SCHEMA)]
    if kind == "anthropic":
        assert body["tool_choice"]["type"] == "tool"
        assert body["tool_choice"]["name"] == TOOL_NAME
    elif kind == "gemini":
        assert body["toolConfig"]["functionCallingConfig"] == {
            "mode": "ANY", "allowedFunctionNames": [TOOL_NAME]}
    else:
        assert body["tool_choice"] == {"type": "function", "function": {"name": TOOL_NAME}}


@pytest.mark.parametrize("model", TARGETS)
def test_openai_sdk_streamed_tool_call_from_every_provider_kind(model: str, oai: openai.OpenAI, fakes: Fakes):
    call_tool_on(fakes, model)
    forget_requests(fakes)
    stream = oai.chat.completions.create(
        model=model, messages=user("Weather in Zürich?"), tools=[OPENAI_TOOL], stream=True,
        stream_options={"include_usage": True})

    calls: dict[int, dict[str, Any]] = {}
    text, finish, usage = "", [], None
    for chunk in stream:
        assert chunk.model == model
        if chunk.usage is not None:
            usage = chunk.usage
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        text += choice.delta.content or ""
        if choice.finish_reason:
            finish.append(choice.finish_reason)
        for delta in choice.delta.tool_calls or []:
            slot = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": "", "fragments": 0})
            if delta.id:
                assert slot["id"] in (None, delta.id), "a tool call changed its id mid-stream"
                slot["id"] = delta.id
            if delta.function and delta.function.name:
                slot["name"] += delta.function.name
            if delta.function and delta.function.arguments:
                slot["arguments"] += delta.function.arguments
                slot["fragments"] += 1

    assert text == ""
    assert finish == ["tool_calls"]
    assert list(calls) == [0], calls
    call = calls[0]
    assert isinstance(call["id"], str) and call["id"]
    assert call["name"] == TOOL_NAME
    assert json.loads(call["arguments"]) == TOOL_ARGS
    if kind_of(model) != "gemini":  # Gemini streams a call whole; the others in fragments.
        assert call["fragments"] >= 2, call
    assert usage is not None and usage.completion_tokens > 0

    [sent] = sent_upstream(fakes, model, stream=True)
    assert upstream_tools(sent["body"], kind_of(model)) == [(TOOL_NAME, TOOL_DESCRIPTION, WEATHER_SCHEMA)]


@pytest.mark.parametrize("model", TARGETS)
def test_openai_sdk_tool_loop_with_every_provider_kind(model: str, oai: openai.OpenAI, fakes: Fakes):
    call_tool_on(fakes, model)
    question = "What will the weather be in Zürich?"
    first = oai.chat.completions.create(model=model, messages=user(question), tools=[OPENAI_TOOL])
    [call] = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"

    forget_requests(fakes)
    messages = [
        *user(question),
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": call.id, "type": "function",
            "function": {"name": call.function.name, "arguments": call.function.arguments},
        }]},
        {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT},
    ]
    second = oai.chat.completions.create(model=model, messages=messages, tools=[OPENAI_TOOL])

    assert second.model == model
    assert second.choices[0].message.content == f"tool result: {TOOL_RESULT}"
    assert not second.choices[0].message.tool_calls
    assert second.choices[0].finish_reason == "stop"
    [sent] = sent_upstream(fakes, model, stream=False)
    assert_upstream_holds_tool_exchange(sent["body"], kind_of(model), call.id)


# =========================================================================== tools: Anthropic SDK

@pytest.mark.parametrize("model", TARGETS)
def test_anthropic_sdk_gets_a_tool_use_block_from_every_provider_kind(
        model: str, ant: anthropic.Anthropic, fakes: Fakes):
    call_tool_on(fakes, model)
    forget_requests(fakes)
    prompt = "What will the weather be in Zürich?"
    message = ant.messages.create(
        model=model, max_tokens=300, messages=user(prompt), tools=[ANTHROPIC_TOOL],
        tool_choice={"type": "any"})

    assert message.model == model
    assert message.stop_reason == "tool_use"
    assert [b.type for b in message.content] == ["tool_use"]
    block = message.content[0]
    assert isinstance(block.id, str) and block.id
    assert block.name == TOOL_NAME
    assert block.input == TOOL_ARGS
    assert message.usage.input_tokens == tokens(prompt)
    assert message.usage.output_tokens > 0

    [sent] = sent_upstream(fakes, model, stream=False)
    body, kind = sent["body"], kind_of(model)
    assert upstream_tools(body, kind) == [(TOOL_NAME, TOOL_DESCRIPTION, WEATHER_SCHEMA)]
    if kind == "openai":
        assert body["tool_choice"] == "required"
    elif kind == "gemini":
        assert body["toolConfig"]["functionCallingConfig"]["mode"] == "ANY"
        assert not body["toolConfig"]["functionCallingConfig"].get("allowedFunctionNames")
    else:
        assert body["tool_choice"] == {"type": "any"}


@pytest.mark.parametrize("model", TARGETS)
def test_anthropic_sdk_streamed_tool_use_from_every_provider_kind(
        model: str, ant: anthropic.Anthropic, fakes: Fakes):
    call_tool_on(fakes, model)
    forget_requests(fakes)
    with ant.messages.stream(model=model, max_tokens=300, messages=user("Weather in Zürich?"),
                             tools=[ANTHROPIC_TOOL]) as stream:
        events = list(stream)
        final = stream.get_final_message()

    partial = "".join(e.partial_json for e in events if e.type == "input_json")
    assert json.loads(partial) == TOOL_ARGS
    assert not [e for e in events if e.type == "text"]
    assert final.model == model
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["tool_use"]
    block = final.content[0]
    assert isinstance(block.id, str) and block.id
    assert block.name == TOOL_NAME
    assert block.input == TOOL_ARGS  # the SDK parsed the accumulated input_json_delta
    assert final.usage.output_tokens > 0

    [sent] = sent_upstream(fakes, model, stream=True)
    assert upstream_tools(sent["body"], kind_of(model)) == [(TOOL_NAME, TOOL_DESCRIPTION, WEATHER_SCHEMA)]


@pytest.mark.parametrize("model", TARGETS)
def test_anthropic_sdk_tool_loop_with_every_provider_kind(model: str, ant: anthropic.Anthropic, fakes: Fakes):
    call_tool_on(fakes, model)
    question = "What will the weather be in Zürich?"
    first = ant.messages.create(model=model, max_tokens=300, messages=user(question), tools=[ANTHROPIC_TOOL])
    [tool_use] = [b for b in first.content if b.type == "tool_use"]
    assert first.stop_reason == "tool_use"

    forget_requests(fakes)
    second = ant.messages.create(
        model=model, max_tokens=300, tools=[ANTHROPIC_TOOL],
        messages=[
            *user(question),
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": tool_use.id, "content": TOOL_RESULT}]},
        ])

    assert second.model == model
    assert [b.type for b in second.content] == ["text"]
    assert second.content[0].text == f"tool result: {TOOL_RESULT}"
    assert second.stop_reason == "end_turn"
    [sent] = sent_upstream(fakes, model, stream=False)
    assert_upstream_holds_tool_exchange(sent["body"], kind_of(model), tool_use.id)


# =========================================================================== images

def test_anthropic_sdk_base64_image_reaches_gemini_as_inline_data(ant: anthropic.Anthropic, fakes: Fakes):
    forget_requests(fakes)
    prompt = "What is in this picture?"
    message = ant.messages.create(model="gemini-flash", max_tokens=100, messages=[{"role": "user", "content": [
        {"type": "text", "text": prompt},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_BASE64}},
    ]}])
    assert message.content[0].text == reply_for("gemini-flash", prompt)
    [sent] = sent_upstream(fakes, "gemini-flash", stream=False)
    [turn] = sent["body"]["contents"]
    assert turn["parts"] == [
        {"text": prompt}, {"inlineData": {"mimeType": "image/png", "data": PNG_BASE64}}]


def test_anthropic_sdk_url_image_reaches_openai_as_image_url(ant: anthropic.Anthropic, fakes: Fakes):
    forget_requests(fakes)
    url = "https://example.com/cat.png"
    prompt = "What is in this picture?"
    message = ant.messages.create(model="gpt-5", max_tokens=100, messages=[{"role": "user", "content": [
        {"type": "text", "text": prompt},
        {"type": "image", "source": {"type": "url", "url": url}},
    ]}])
    assert message.content[0].text == reply_for("gpt-5", prompt)
    [sent] = sent_upstream(fakes, "gpt-5", stream=False)
    [turn] = sent["body"]["messages"]
    parts = turn["content"]
    assert parts[0] == {"type": "text", "text": prompt}
    assert parts[1]["type"] == "image_url"
    assert parts[1]["image_url"]["url"] == url


# =========================================================================== refusals

OPENAI_REFUSALS = [
    pytest.param("mythos-5", {"logprobs": True}, "logprobs", id="logprobs-to-anthropic"),
    pytest.param("gemini-flash", {"logprobs": True}, "logprobs", id="logprobs-to-gemini"),
    pytest.param("mythos-5", {"n": 2}, "n", id="n-to-anthropic"),
    pytest.param("gemini-flash", {"n": 2}, "n", id="n-to-gemini"),
    pytest.param("gemini-flash", {"logit_bias": {"1734": 5}}, "logit_bias", id="logit_bias-to-gemini"),
    pytest.param("mythos-5", {"seed": 7}, "seed", id="seed-to-anthropic"),
    pytest.param("mythos-5", {"response_format": {"type": "json_object"}}, "response_format",
                 id="json-mode-to-anthropic"),
    pytest.param("mythos-5", {"temperature": 1.5}, "temperature", id="temperature-above-1-to-anthropic"),
]


@pytest.mark.parametrize(("model", "extra", "field"), OPENAI_REFUSALS)
def test_openai_sdk_request_the_target_cannot_express_is_refused_before_the_provider(
        model: str, extra: dict[str, Any], field: str, oai: openai.OpenAI, fakes: Fakes):
    forget_requests(fakes)
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model=model, messages=user("hi"), **extra)
    e = caught.value
    assert e.status_code == 400
    assert e.type == "invalid_request_error"
    assert e.code == "untranslatable"
    assert e.param == field
    assert f"`{field}`" in e.body["message"], e.body
    assert model in e.body["message"], e.body
    assert_nothing_sent(fakes)


def test_openai_only_fields_still_reach_an_openai_model(oai: openai.OpenAI, fakes: Fakes):
    """The control for the refusals above: nothing is refused when nothing is translated."""
    forget_requests(fakes)
    completion = oai.chat.completions.create(model="gpt-5", messages=user("hi"), logprobs=True, seed=7)
    assert completion.choices[0].message.content == reply_for("gpt-5", "hi")
    [sent] = sent_upstream(fakes, "gpt-5", stream=False)
    assert sent["body"]["logprobs"] is True and sent["body"]["seed"] == 7


def test_openai_sdk_seed_and_sampling_reach_gemini_in_generation_config(oai: openai.OpenAI, fakes: Fakes):
    forget_requests(fakes)
    completion = oai.chat.completions.create(
        model="gemini-flash", messages=user("hi"), seed=7, temperature=0.25, top_p=0.5, stop=["END"])
    assert completion.choices[0].message.content == reply_for("gemini-flash", "hi")
    [sent] = sent_upstream(fakes, "gemini-flash", stream=False)
    config = sent["body"]["generationConfig"]
    assert config["seed"] == 7
    assert config["temperature"] == 0.25
    assert config["topP"] == 0.5
    assert config["stopSequences"] == ["END"]


def test_openai_sdk_sampling_stop_and_user_reach_anthropic_in_its_own_fields(oai: openai.OpenAI, fakes: Fakes):
    forget_requests(fakes)
    completion = oai.chat.completions.create(
        model="mythos-5", messages=user("hi"), temperature=0.25, top_p=0.5, stop=["END"], user="u-42")
    assert completion.choices[0].message.content == reply_for("mythos-5", "hi")
    [sent] = sent_upstream(fakes, "mythos-5", stream=False)
    body = sent["body"]
    assert body["temperature"] == 0.25
    assert body["top_p"] == 0.5
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u-42"}
    assert "stop" not in body and "user" not in body


URL_IMAGE = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
THINKING = {"type": "enabled", "budget_tokens": 1024}

ANTHROPIC_REFUSALS = [
    pytest.param("gemini-flash",
                 {"messages": [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, URL_IMAGE]}]},
                 "messages[0].content[1]", id="url-image-to-gemini"),
    pytest.param("gpt-5", {"thinking": THINKING}, "thinking", id="thinking-to-openai"),
    pytest.param("gemini-flash", {"thinking": THINKING}, "thinking", id="thinking-to-gemini"),
    # This SDK release has no `top_k` argument; the Messages API still takes the field.
    pytest.param("gpt-5", {"extra_body": {"top_k": 5}}, "top_k", id="top_k-to-openai"),
]


@pytest.mark.parametrize(("model", "extra", "field"), ANTHROPIC_REFUSALS)
def test_anthropic_sdk_request_the_target_cannot_express_is_refused_before_the_provider(
        model: str, extra: dict[str, Any], field: str, ant: anthropic.Anthropic, fakes: Fakes):
    forget_requests(fakes)
    kwargs: dict[str, Any] = {"messages": user("hi"), **extra}
    with pytest.raises(anthropic.BadRequestError) as caught:
        ant.messages.create(model=model, max_tokens=2048, **kwargs)
    e = caught.value
    assert e.status_code == 400
    assert e.body["type"] == "error"
    assert e.body["error"]["type"] == "invalid_request_error"
    assert f"`{field}`" in e.body["error"]["message"], e.body
    assert model in e.body["error"]["message"], e.body
    assert_nothing_sent(fakes)


def test_anthropic_only_fields_still_reach_an_anthropic_model_and_top_k_reaches_gemini(
        ant: anthropic.Anthropic, fakes: Fakes):
    forget_requests(fakes)
    ant.messages.create(model="mythos-5", max_tokens=2048, messages=user("hi"), thinking=THINKING,
                        extra_body={"top_k": 5})
    [sent] = sent_upstream(fakes, "mythos-5", stream=False)
    assert sent["body"]["thinking"] == THINKING and sent["body"]["top_k"] == 5

    forget_requests(fakes)
    message = ant.messages.create(model="gemini-flash", max_tokens=100, messages=user("hi"),
                                  extra_body={"top_k": 5})
    assert message.content[0].text == reply_for("gemini-flash", "hi")
    [sent] = sent_upstream(fakes, "gemini-flash", stream=False)
    assert sent["body"]["generationConfig"]["topK"] == 5


# =========================================================================== provider errors

PROVIDER_ERRORS = [
    pytest.param(429, openai.RateLimitError, anthropic.RateLimitError, "rate_limit_error", id="429"),
    pytest.param(500, openai.InternalServerError, anthropic.InternalServerError, None, id="500"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("status", "openai_error", "anthropic_error", "anthropic_type"), PROVIDER_ERRORS)
@pytest.mark.parametrize("model", TARGETS)
def test_provider_error_reaches_each_sdk_in_its_own_shape(
        model: str, status: int, openai_error: type, anthropic_error: type, anthropic_type: str | None,
        stream: bool, oai: openai.OpenAI, ant: anthropic.Anthropic, fakes: Fakes):
    upstream = upstream_of(model)
    fakes.serving(model).set_behavior(
        upstream, status=status, error_message=f"quota exhausted on {upstream}", retry_after_s=7)

    with pytest.raises(openai_error) as caught:
        oai.chat.completions.create(model=model, messages=user("hi"), stream=stream)
    e = caught.value
    assert e.status_code == status
    assert f"quota exhausted on {model}" in e.body["message"], e.body
    assert upstream not in json.dumps(e.body), "the provider's model id reached the client"
    if status == 429:
        assert e.response.headers.get("retry-after") == "7"

    with pytest.raises(anthropic_error) as caught:
        if stream:
            with ant.messages.stream(model=model, max_tokens=50, messages=user("hi")) as s:
                list(s.text_stream)
        else:
            ant.messages.create(model=model, max_tokens=50, messages=user("hi"))
    e = caught.value
    assert e.status_code == status
    assert e.body["type"] == "error"
    if anthropic_type:
        assert e.body["error"]["type"] == anthropic_type
    assert f"quota exhausted on {model}" in e.body["error"]["message"], e.body
    if status == 429:
        assert e.response.headers.get("retry-after") == "7"


# =========================================================================== broken streams

# Events each fake writes before the cut so that the client has received "Fake reply":
# Anthropic message_start, content_block_start, ping, "Fake", " reply"; OpenAI the role chunk,
# "Fake", " reply"; Gemini "Fake", " reply" (it has no opening event).
EVENTS_BEFORE_TWO_WORDS = {"anthropic": 5, "openai": 3, "gemini": 2}


@pytest.mark.parametrize("model", TARGETS)
def test_stream_cut_by_any_provider_is_an_error_in_each_sdk_not_a_short_answer(
        model: str, oai: openai.OpenAI, ant: anthropic.Anthropic, fakes: Fakes):
    fakes.serving(model).set_behavior(
        upstream_of(model), drop_after_events=EVENTS_BEFORE_TWO_WORDS[kind_of(model)])

    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in oai.chat.completions.create(model=model, messages=user("hi"), stream=True):
            assert not (chunk.choices and chunk.choices[0].finish_reason), "a cut stream reported a finish"
            received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(received) == "Fake reply"
    assert "broke off" in str(caught.value)

    received = []
    with pytest.raises(anthropic.APIError) as caught:
        with ant.messages.stream(model=model, max_tokens=50, messages=user("hi")) as stream:
            for text in stream.text_stream:
                received.append(text)
    assert "".join(received) == "Fake reply"
    assert "broke off" in str(caught.value)


# =========================================================================== audit of translated calls

def _audit_record(gateway: SessionGateway, request_id: str, timeout_s: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        for r in gateway.cli.audit_requests():
            if r["id"] == request_id:
                return r["record"]
        if time.monotonic() > deadline:
            raise AssertionError(f"request {request_id} never reached the audit log")
        time.sleep(0.1)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("model", TARGETS)
def test_translated_calls_are_audited_with_the_tokens_the_provider_reported(
        model: str, stream: bool, oai: openai.OpenAI, ant: anthropic.Anthropic, gateway: SessionGateway):
    prompt = "count these five words"
    expected = reply_for(model, prompt)

    # OpenAI client, no include_usage: the client sees no usage, the audit log still does.
    raw = oai.chat.completions.with_raw_response.create(model=model, messages=user(prompt), stream=stream)
    openai_id = raw.headers["x-clearance-request-id"]
    if stream:
        with raw.parse() as chunks:
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected
    else:
        assert raw.parse().choices[0].message.content == expected

    raw = ant.messages.with_raw_response.create(
        model=model, max_tokens=100, messages=user(prompt), stream=stream)
    anthropic_id = raw.headers["x-clearance-request-id"]
    if stream:
        assert "".join(e.delta.text for e in raw.parse() if e.type == "content_block_delta") == expected
    else:
        assert raw.parse().content[0].text == expected

    for request_id, api in ((openai_id, "openai_chat"), (anthropic_id, "anthropic_messages")):
        record = _audit_record(gateway, request_id)
        assert record["api"] == api
        assert record["requested_model"] == model
        assert record["served_model"] == model
        assert record["stream"] is stream
        assert record["status"] == 200
        assert record["upstream_status"] == 200
        assert record["error_class"] is None, record
        assert record["input_tokens"] == tokens(prompt), record
        assert record["output_tokens"] == tokens(expected), record


def test_untranslatable_request_is_audited_as_refused_without_a_provider_call(
        oai: openai.OpenAI, gateway: SessionGateway):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="gemini-flash", messages=user("hi"), n=3)
    record = _audit_record(gateway, caught.value.response.headers["x-clearance-request-id"])
    assert record["status"] == 400
    assert record["requested_model"] == "gemini-flash"
    assert record["error_class"] == "untranslatable"
    assert record["upstream_status"] is None
    assert record["served_model"] is None
