"""Directives as the official SDKs see them: a denial is an HTTP 451 error the SDK raises with
the directive in its message and body; a reroute is an ordinary answer from the target model;
`models.list()` shows only what the caller may use."""

from __future__ import annotations

from pathlib import Path

import anthropic
import openai
import pytest

from conftest import Fakes, new_gateway

EXD = """id = "EXD-2026-06"
title = "Export control: Fable 5 and Mythos 5"
authority = "Export control directive under national security authorities, 2026-06-15"
effective = "2026-06-15T00:00:00Z"
mode = "enforce"
models = ["fable-5", "mythos-5"]
when = "!principal.us_person"
effect = "deny"
review = "mailto:export-review@example.com"
blocked_by = "https://export-control.example.gov"
"""

REROUTE = """id = "GPT5-TO-OPEN"
title = "GPT-5 for US persons only; others get the open model"
authority = "Internal policy 7"
effective = "2026-06-15T00:00:00Z"
mode = "enforce"
models = ["gpt-5"]
when = "!principal.us_person"
reroute = "open-model"
"""


@pytest.fixture(scope="module")
def directed(tmp_path_factory: pytest.TempPathFactory, fakes: Fakes):
    directory: Path = tmp_path_factory.mktemp("directed")
    gw = new_gateway(directory, fakes)
    (directory / "directives").mkdir()
    (directory / "directives" / "exd.toml").write_text(EXD)
    (directory / "directives" / "reroute.toml").write_text(REROUTE)
    with open(gw.config, "a", encoding="utf-8") as f:
        f.write('\n[directives]\ndir = "directives"\n')
    keys = {p: gw.cli.create_key(p).key for p in ("alice", "bjorn", "dev")}
    gw.start()
    try:
        yield gw, keys
    finally:
        gw.stop()


def _openai(directed, who: str) -> openai.OpenAI:
    gw, keys = directed
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=keys[who], max_retries=0)


def _anthropic(directed, who: str) -> anthropic.Anthropic:
    gw, keys = directed
    return anthropic.Anthropic(base_url=gw.url, api_key=keys[who], max_retries=0)


def test_anthropic_sdk_raises_451_naming_the_directive(directed):
    client = _anthropic(directed, "bjorn")
    with pytest.raises(anthropic.APIStatusError) as raised:
        client.messages.create(model="mythos-5", max_tokens=32, messages=[{"role": "user", "content": "hi"}])
    error = raised.value
    assert error.status_code == 451
    assert "EXD-2026-06" in error.message and "Export control: Fable 5 and Mythos 5" in error.message
    assert "mailto:export-review@example.com" in error.message
    assert error.body["error"]["directive"]["id"] == "EXD-2026-06"
    assert error.response.headers["link"] == '<https://export-control.example.gov>; rel="blocked-by"'
    assert error.response.headers["x-clearance-decision"] == "deny"


def test_anthropic_sdk_stream_is_refused_before_any_event(directed):
    client = _anthropic(directed, "bjorn")
    with pytest.raises(anthropic.APIStatusError) as raised:
        with client.messages.stream(model="fable-5", max_tokens=32,
                                    messages=[{"role": "user", "content": "hi"}]) as stream:
            for _ in stream.text_stream:
                pytest.fail("a denied stream produced text")
    assert raised.value.status_code == 451


def test_a_green_card_holder_is_a_us_person_and_is_served(directed):
    message = _anthropic(directed, "dev").messages.create(
        model="mythos-5", max_tokens=32, messages=[{"role": "user", "content": "hi"}])
    assert message.model == "mythos-5"
    assert message.content[0].text


def test_openai_sdk_gets_the_rerouted_model_and_the_headers_say_so(directed):
    raw = _openai(directed, "bjorn").chat.completions.with_raw_response.create(
        model="gpt-5", messages=[{"role": "user", "content": "hi"}])
    completion = raw.parse()
    assert completion.model == "open-model"
    assert raw.headers["x-clearance-decision"] == "reroute"
    assert raw.headers["x-clearance-directive"] == "GPT5-TO-OPEN"
    assert raw.headers["x-clearance-served-model"] == "open-model"
    alice = _openai(directed, "alice").chat.completions.create(
        model="gpt-5", messages=[{"role": "user", "content": "hi"}])
    assert alice.model == "gpt-5"


def test_openai_sdk_stream_from_the_rerouted_model(directed):
    stream = _openai(directed, "bjorn").chat.completions.create(
        model="gpt-5", stream=True, messages=[{"role": "user", "content": "hi"}])
    chunks = list(stream)
    assert chunks and all(c.model == "open-model" for c in chunks)


def test_models_list_shows_only_what_the_caller_may_use(directed):
    bjorn = [m.id for m in _openai(directed, "bjorn").models.list()]
    alice = [m.id for m in _openai(directed, "alice").models.list()]
    assert "mythos-5" not in bjorn and "fable-5" not in bjorn and "gpt-5" in bjorn
    assert {"mythos-5", "fable-5", "gpt-5", "open-model"} <= set(alice)
    ant = [m.id for m in _anthropic(directed, "bjorn").models.list()]
    assert ant == bjorn
