"""Signed-in callers through the official SDKs: a JWT from an identity provider (here
`clearance-fake idp`, test-only) is what the `openai` and `anthropic` SDKs send as their API
key, in `Authorization: Bearer` and `x-api-key` respectively. The gateway verifies it against
the provider's JWKS (found by discovery) and decides on the principal's facts; a bad token is a
401 the SDK raises as its authentication error, with a code saying what was wrong."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from conftest import HTTP_TIMEOUT_S, Fakes, Service, binary, new_gateway

AUDIENCE = "clearance-python-tests"

EXD = """id = "EXD-ID"
title = "Export control for signed-in callers"
authority = "Order 7"
effective = "2026-01-01T00:00:00Z"
mode = "enforce"
models = ["mythos-5"]
when = "!principal.us_person"
effect = "deny"
review = "mailto:export-review@example.com"
"""


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory):
    logdir: Path = tmp_path_factory.mktemp("idp")
    service = Service(
        "fake-idp",
        [str(binary("clearance-fake")), "idp", "--listen", "127.0.0.1:0"],
        dict(os.environ),
        logdir,
        "clearance-fake idp listening on ",
    )
    issuer = f"http://{service.addr.split()[0]}"
    try:
        yield issuer
    finally:
        service.stop(check=False)


def token(issuer: str, sub: str, **claims) -> str:
    body = {"sub": sub, "aud": AUDIENCE, **claims}
    answer = httpx.post(f"{issuer}/token", json=body, timeout=HTTP_TIMEOUT_S)
    answer.raise_for_status()
    return answer.json()["access_token"]


def es256_token(issuer: str, sub: str) -> str:
    body = {"sub": sub, "aud": AUDIENCE}
    answer = httpx.post(f"{issuer}/token?alg=ES256", json=body, timeout=HTTP_TIMEOUT_S)
    answer.raise_for_status()
    return answer.json()["access_token"]


@pytest.fixture(scope="module")
def signed_in(tmp_path_factory: pytest.TempPathFactory, fakes: Fakes, idp: str):
    directory: Path = tmp_path_factory.mktemp("signed-in")
    gw = new_gateway(directory, fakes)
    (directory / "directives").mkdir()
    (directory / "directives" / "exd.toml").write_text(EXD)
    with open(gw.config, "a", encoding="utf-8") as f:
        f.write(
            '\n[directives]\ndir = "directives"\n'
            f'\n[[identity.oidc]]\nissuer = "{idp}"\naudience = "{AUDIENCE}"\n'
            '[identity.oidc.claims]\ncitizenships = "citizenships"\n'
        )
    key = gw.cli.create_key("alice").key
    gw.start()
    # The gateway fetches the provider's keys in the background at start.
    deadline = time.monotonic() + 10
    alice = token(idp, "alice")
    while time.monotonic() < deadline:
        probe = httpx.get(f"{gw.url}/v1/models", headers={"authorization": f"Bearer {alice}"},
                          timeout=HTTP_TIMEOUT_S)
        if probe.status_code == 200:
            break
        time.sleep(0.1)
    try:
        yield gw, key
    finally:
        gw.stop()


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_openai_sdk_with_a_jwt_as_its_api_key_is_served(signed_in, idp):
    gw, _ = signed_in
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=token(idp, "alice"), max_retries=0)
    completion = client.chat.completions.create(model="mythos-5", messages=user("hello"))
    assert completion.choices[0].message.content.startswith("Fake reply from claude-mythos-5")
    assert "mythos-5" in [m.id for m in client.models.list()]


def test_anthropic_sdk_with_a_jwt_as_its_api_key_is_served(signed_in, idp):
    gw, _ = signed_in
    client = anthropic.Anthropic(base_url=gw.url, api_key=es256_token(idp, "alice"),
                                 max_retries=0)
    message = client.messages.create(model="mythos-5", max_tokens=32, messages=user("hello"))
    assert message.content[0].text.startswith("Fake reply from claude-mythos-5")


def test_the_registry_facts_of_a_signed_in_foreign_national_deny(signed_in, idp):
    gw, _ = signed_in
    # bjorn is a Swedish citizen in the registry; his token claims US citizenship, but the
    # registry is preferred (the default) and it holds his citizenship.
    client = anthropic.Anthropic(base_url=gw.url, api_key=token(idp, "bjorn", citizenships=["US"]),
                                 max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as raised:
        client.messages.create(model="mythos-5", max_tokens=32, messages=user("hi"))
    assert raised.value.status_code == 451
    assert "EXD-ID" in raised.value.message


def test_an_expired_token_is_the_sdks_authentication_error_saying_so(signed_in, idp):
    gw, _ = signed_in
    expired = token(idp, "alice", exp=int(time.time()) - 3600)
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=expired, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="mythos-5", messages=user("hi"))
    assert raised.value.code == "token_expired"
    assert expired.split(".")[2] not in str(raised.value.body)
    ant = anthropic.Anthropic(base_url=gw.url, api_key=expired, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as raised_ant:
        ant.messages.create(model="mythos-5", max_tokens=8, messages=user("hi"))
    assert "expired" in raised_ant.value.message


def test_a_token_for_another_audience_is_refused(signed_in, idp):
    gw, _ = signed_in
    other = httpx.post(f"{idp}/token", json={"sub": "alice", "aud": "someone-else"},
                       timeout=HTTP_TIMEOUT_S).json()["access_token"]
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=other, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="mythos-5", messages=user("hi"))
    assert raised.value.code == "token_wrong_audience"


def test_keys_keep_working_beside_tokens(signed_in):
    gw, key = signed_in
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
    completion = client.chat.completions.create(model="mythos-5", messages=user("hello"))
    assert completion.choices[0].message.content
