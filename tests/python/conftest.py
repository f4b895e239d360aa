"""End-to-end harness: the real `clearance` gateway between the official `openai`,
`anthropic` and `google-genai` Python SDKs and three `clearance-fake` providers, one of each
kind.

Layout of one session:

                                                  ──Bearer OPENLAB_PROVIDER_KEY──► fake "openlab" (openai)
    openai SDK  ──Bearer clr_…──►
                                  clearance serve ──x-api-key ACME_PROVIDER_KEY──► fake "acme" (anthropic)
    anthropic SDK ─x-api-key clr_…►
                                                  ──x-goog-api-key GOOGLE_PROVIDER_KEY──► fake "google" (gemini)

Either SDK can reach a model of any provider: the gateway translates between the formats.
Each provider is its own fake process demanding its own key (`--require-key`), so a key sent
to the wrong provider, or the client's key forwarded upstream, fails loudly.

Binaries come from `$CLEARANCE_BIN_DIR` (default `<repo>/target/debug`); build them with
`cargo build -p clearance-cli -p clearance-fake`.

Every request the tests send to the session gateway's model endpoints goes through a client
carrying the `ledger` response hook, so the audit test can compare the audit log with exactly
what was sent.
"""

from __future__ import annotations

import atexit
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import anthropic
import httpx
import openai
import pytest

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("CLEARANCE_BIN_DIR") or REPO / "target" / "debug")

# Every wait is bounded, so a broken build fails in seconds instead of hanging CI.
STARTUP_TIMEOUT_S = 15.0
SHUTDOWN_TIMEOUT_S = 10.0
CLI_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 10.0

OPENLAB_PROVIDER_KEY = "sk-openlab-provider-key-7f3a9c2e"
ACME_PROVIDER_KEY = "sk-ant-acme-provider-key-b41d08e6"
GOOGLE_PROVIDER_KEY = "AIzaSy-google-provider-key-5c0e9d71"

MODEL_PATHS = ("/v1/chat/completions", "/v1/messages", "/v1/responses")


def is_model_path(path: str) -> bool:
    """A model request's path: the OpenAI, Anthropic and Responses routes, and Gemini's
    `/v1beta/models/{model}:generateContent` / `:streamGenerateContent`."""
    return path in MODEL_PATHS or (path.startswith("/v1beta/") and ":" in path)

# Client-facing name -> (provider, upstream model id).
MODELS: dict[str, tuple[str, str]] = {
    "mythos-5": ("acme", "claude-mythos-5"),
    "fable-5": ("acme", "claude-fable-5"),
    "gpt-5": ("openlab", "gpt-5-2026-06"),
    "open-model": ("openlab", "llama-4-70b-instruct"),
    "gemini-flash": ("google", "gemini-3-flash"),
}

PRINCIPALS_HEADER = [
    "id", "name", "citizenships", "permanent_residency", "protected_individual",
    "residence", "org", "employee", "roles",
]
PRINCIPALS = [
    ["alice", "Alice Adams", "US", "", "false", "FR", "acme-labs", "true", "engineer"],
    ["bjorn", "Björn Berg", "SE", "", "false", "US", "acme-labs", "true", "engineer"],
    ["carla", "Carla Cruz", "US;MX", "", "false", "US", "partner-co", "false", "analyst"],
    ["dev", "Dev Patel", "IN", "US", "false", "US", "acme-labs", "true", "engineer"],
]


# --------------------------------------------------------------------------- processes

_live: dict[int, subprocess.Popen] = {}


def _kill_group(pid: int) -> None:
    """SIGKILL whatever is left in the process group a service was started in (its own id):
    catches grandchildren when CLEARANCE_BIN_DIR holds wrapper scripts."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_leftovers() -> None:
    """Last resort if a fixture teardown never ran: no process outlives the test run."""
    for pid, proc in list(_live.items()):
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        _kill_group(pid)
        _live.pop(pid, None)


atexit.register(_kill_leftovers)


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if pytest itself is killed (SIGKILL skips atexit)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
        except OSError:
            pass


def _missing_binaries() -> list[Path]:
    paths = [BIN_DIR / "clearance", BIN_DIR / "clearance-fake"]
    return [p for p in paths if not (p.is_file() and os.access(p, os.X_OK))]


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = _missing_binaries()
    if missing:
        pytest.exit(
            f"missing or not executable: {', '.join(map(str, missing))}. Build them with "
            f"`cargo build -p clearance-cli -p clearance-fake`, or point CLEARANCE_BIN_DIR at "
            f"the directory holding `clearance` and `clearance-fake`.",
            returncode=3,
        )


def binary(name: str) -> Path:
    path = BIN_DIR / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{path} is missing or not executable. Build it with "
            f"`cargo build -p clearance-cli -p clearance-fake`, or point CLEARANCE_BIN_DIR at "
            f"the directory holding `clearance` and `clearance-fake`.",
            pytrace=False,
        )
    return path


class Service:
    """A long-running binary that prints one 'listening on ADDR' line on stdout when ready.

    stdout and stderr go to files in `logdir` (never pipes, which could fill and stall the
    child); their tails are shown when something goes wrong.
    """

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logdir: Path,
                 ready_prefix: str) -> None:
        self.name = name
        self.stdout_path = logdir / f"{name}.stdout"
        self.stderr_path = logdir / f"{name}.stderr"
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
            env=env,
            cwd=logdir,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        _live[self.proc.pid] = self.proc
        try:
            self.addr = self._wait_ready(ready_prefix)
        except BaseException:
            self.stop(check=False)
            raise

    def _wait_ready(self, prefix: str) -> str:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            for line in self.stdout_path.read_text(errors="replace").splitlines():
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
            if self.proc.poll() is not None:
                pytest.fail(
                    f"{self.name} exited with status {self.proc.returncode} before it was ready.\n"
                    f"{self.logs()}",
                    pytrace=False,
                )
            time.sleep(0.02)
        pytest.fail(
            f"{self.name} did not print {prefix!r} within {STARTUP_TIMEOUT_S}s.\n{self.logs()}",
            pytrace=False,
        )

    def logs(self, limit: int = 3000) -> str:
        out = self.stdout_path.read_text(errors="replace")[-limit:]
        err = self.stderr_path.read_text(errors="replace")[-limit:]
        return f"--- {self.name} stdout ---\n{out}\n--- {self.name} stderr ---\n{err}"

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> int:
        """Waits for exit; kills it (and reports that) if it will not go."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError(
                f"{self.name} did not exit within {timeout}s of SIGTERM; killed it.\n{self.logs()}"
            ) from None
        finally:
            _kill_group(self.proc.pid)
            _live.pop(self.proc.pid, None)
            self._stdout.close()
            self._stderr.close()

    def stop(self, check: bool = True) -> int | None:
        """SIGTERM and wait. With `check`, a non-zero exit is an error."""
        if self.proc.poll() is not None and self.proc.pid not in _live:
            return self.proc.returncode
        self.terminate()
        try:
            code = self.wait()
        except AssertionError:
            if check:
                raise
            return None
        if check and code != 0:
            raise AssertionError(f"{self.name} exited with status {code} after SIGTERM.\n{self.logs()}")
        return code


# --------------------------------------------------------------------------- fake providers

class Fake:
    """One `clearance-fake` process and its `/_fake/` control plane."""

    def __init__(self, name: str, provider_key: str, logdir: Path) -> None:
        self.name = name
        self.provider_key = provider_key
        env = {k: v for k, v in os.environ.items() if k != "CLEARANCE_FAKE_REQUIRE_KEY"}
        self.service = Service(
            f"fake-{name}",
            [str(binary("clearance-fake")), "--listen", "127.0.0.1:0", "--require-key", provider_key],
            env,
            logdir,
            "clearance-fake listening on ",
        )
        self.addr = self.service.addr
        self.url = f"http://{self.addr}"
        self.http = httpx.Client(base_url=self.url, timeout=HTTP_TIMEOUT_S)

    def set_behavior(self, upstream_model: str, **behavior: Any) -> None:
        r = self.http.put(f"/_fake/behavior/{upstream_model}", json=behavior)
        assert r.status_code == 204, (r.status_code, r.text)

    def reset_behaviors(self) -> None:
        r = self.http.delete("/_fake/behavior")
        assert r.status_code == 204, (r.status_code, r.text)

    def requests(self) -> list[dict[str, Any]]:
        r = self.http.get("/_fake/requests")
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def clear_requests(self) -> None:
        r = self.http.delete("/_fake/requests")
        assert r.status_code == 204, (r.status_code, r.text)

    def close(self) -> None:
        self.http.close()
        self.service.stop()


@dataclass
class Fakes:
    openlab: Fake
    acme: Fake
    google: Fake

    def all(self) -> list[Fake]:
        return [self.openlab, self.acme, self.google]

    def by_name(self, provider: str) -> Fake:
        fake = {f.name: f for f in self.all()}.get(provider)
        assert fake is not None, f"no fake provider named {provider!r}"
        return fake

    def serving(self, model: str) -> Fake:
        """The fake behind a client-facing model name of MODELS."""
        return self.by_name(MODELS[model][0])


@pytest.fixture(scope="session")
def fakes(tmp_path_factory: pytest.TempPathFactory):
    logdir = tmp_path_factory.mktemp("fakes")
    started: list[Fake] = []
    try:
        started.append(Fake("openlab", OPENLAB_PROVIDER_KEY, logdir))
        started.append(Fake("acme", ACME_PROVIDER_KEY, logdir))
        started.append(Fake("google", GOOGLE_PROVIDER_KEY, logdir))
        yield Fakes(openlab=started[0], acme=started[1], google=started[2])
    finally:
        for fake in reversed(started):
            fake.close()


@pytest.fixture(autouse=True)
def _reset_fake_behaviors(fakes: Fakes):
    """Behaviors a test sets never leak into the next test."""
    yield
    for fake in fakes.all():
        fake.reset_behaviors()


# --------------------------------------------------------------------------- gateway

def write_config(directory: Path, fakes: Fakes, db_name: str = "clearance.db",
                 extra_models: dict[str, tuple[str, str]] | None = None) -> Path:
    models = dict(MODELS)
    models.update(extra_models or {})
    lines = [
        "[server]",
        'listen = "127.0.0.1:0"',
        "max_body_bytes = 1048576",
        "",
        "[store]",
        f'sqlite = "{db_name}"',
        "",
        "[audit]",
        "queue_capacity = 4096",
        "max_wait_ms = 2000",
        "batch_max = 64",
        "",
        "[providers.acme]",
        'kind = "anthropic"',
        f'base_url = "{fakes.acme.url}"',
        'api_key_env = "ACME_KEY"',
        "",
        "[providers.openlab]",
        'kind = "openai"',
        f'base_url = "{fakes.openlab.url}/v1"',
        'api_key_env = "OPENLAB_KEY"',
        "",
        "[providers.google]",
        'kind = "gemini"',
        f'base_url = "{fakes.google.url}"',
        'api_key_env = "GOOGLE_KEY"',
        "",
    ]
    for name, (provider, upstream) in models.items():
        lines += [
            "[[models]]",
            f'name = "{name}"',
            f'provider = "{provider}"',
            f'upstream = "{upstream}"',
            "",
        ]
    path = directory / "clearance.toml"
    path.write_text("\n".join(lines))
    return path


def write_principals(directory: Path) -> Path:
    path = directory / "principals.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(PRINCIPALS_HEADER)
        writer.writerows(PRINCIPALS)
    return path


def gateway_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CLEARANCE_CONFIG"}
    env["ACME_KEY"] = ACME_PROVIDER_KEY
    env["OPENLAB_KEY"] = OPENLAB_PROVIDER_KEY
    env["GOOGLE_KEY"] = GOOGLE_PROVIDER_KEY
    env.setdefault("RUST_LOG", "info")
    env["NO_COLOR"] = "1"
    return env


@dataclass
class Key:
    id: str
    key: str
    principal: str


class Cli:
    """`clearance …` against one config file."""

    def __init__(self, config: Path) -> None:
        self.config = config

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(binary("clearance")), *args, "--config", str(self.config)]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, env=gateway_env(),
                timeout=CLI_TIMEOUT_S, stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"`{' '.join(argv)}` did not finish in {CLI_TIMEOUT_S}s") from e
        if check and done.returncode != 0:
            raise AssertionError(
                f"`{' '.join(argv)}` exited {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
            )
        return done

    def import_principals(self, csv_path: Path) -> None:
        self.run("principals", "import", str(csv_path))

    def create_key(self, principal: str) -> Key:
        out = self.run("keys", "create", "--principal", principal, "--format", "json").stdout
        data = json.loads(out)
        assert data["key"] and data["id"], data
        return Key(id=data["id"], key=data["key"], principal=principal)

    def revoke_key(self, key_id: str) -> None:
        self.run("keys", "revoke", key_id)

    def audit_export(self) -> list[dict[str, Any]]:
        out = self.run("audit", "export", "--format", "jsonl").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def audit_requests(self) -> list[dict[str, Any]]:
        """One exported line per request whose record is whole: its decision record with what
        its completion record says about how it ended (status, served model, tokens, ...), in
        the order the export gives (time). Requests still waiting for their completion, operators'
        actions and logs' opening and closing records are left out."""
        lines = self.audit_export()
        completions = {
            line["record"]["id"]: line["record"]
            for line in lines
            if line["record"].get("phase") == "completion"
        }
        merged = []
        for line in lines:
            record = line["record"]
            if record.get("decision") == "admin" or record.get("phase") == "completion":
                continue
            if record.get("phase") == "decision":
                completion = completions.get(record["id"])
                if completion is None:
                    continue
                record = dict(record)
                for field in COMPLETION_FIELDS:
                    record[field] = completion.get(field)
                record.pop("phase")
            merged.append({**line, "record": record})
        return merged

    def audit_verify(self) -> tuple[int, dict[str, Any]]:
        done = self.run("audit", "verify", "--format", "json", check=False)
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError as e:
            raise AssertionError(
                f"audit verify printed no JSON (exit {done.returncode}): {done.stdout!r} {done.stderr!r}"
            ) from e
        return done.returncode, report


# What a request's completion record adds to its decision record.
COMPLETION_FIELDS = (
    "decision", "served_model", "status", "upstream_status", "duration_us", "overhead_us",
    "input_tokens", "output_tokens", "error_class", "attempts", "directive_ids",
)


class Gateway:
    def __init__(self, directory: Path, config: Path) -> None:
        self.directory = directory
        self.config = config
        self.cli = Cli(config)
        self.service: Service | None = None
        self.url = ""

    def start(self) -> None:
        self.service = Service(
            f"gateway-{self.directory.name}",
            [str(binary("clearance")), "serve", "--config", str(self.config)],
            gateway_env(),
            self.directory,
            "clearance listening on ",
        )
        self.url = self.service.addr.rstrip("/")

    def stop(self) -> int | None:
        return self.service.stop() if self.service else None


def new_gateway(directory: Path, fakes: Fakes, **config_args: Any) -> Gateway:
    config = write_config(directory, fakes, **config_args)
    gateway = Gateway(directory, config)
    gateway.cli.import_principals(write_principals(directory))
    return gateway


@dataclass
class SessionGateway:
    gateway: Gateway
    keys: dict[str, Key]

    @property
    def url(self) -> str:
        return self.gateway.url

    @property
    def cli(self) -> Cli:
        return self.gateway.cli


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory, fakes: Fakes):
    """The session's gateway, with keys for alice (OpenAI calls) and bjorn (Anthropic calls)."""
    gw = new_gateway(tmp_path_factory.mktemp("gateway"), fakes)
    keys = {p: gw.cli.create_key(p) for p in ("alice", "bjorn")}
    gw.start()
    try:
        yield SessionGateway(gateway=gw, keys=keys)
    finally:
        gw.stop()


# --------------------------------------------------------------------------- ledger & clients

@dataclass
class Seen:
    """One gateway response to a model endpoint, as a client saw it."""
    path: str
    status: int
    request_id: str | None
    served_model: str | None


@dataclass
class Ledger:
    entries: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hook(self, response: Any) -> None:
        """httpx / httpx2 response event hook (runs when headers arrive, streams included)."""
        path = response.request.url.path
        if is_model_path(path):
            with self.lock:
                self.entries.append(Seen(
                    path=path,
                    status=response.status_code,
                    request_id=response.headers.get("x-clearance-request-id"),
                    served_model=response.headers.get("x-clearance-served-model"),
                ))

    def snapshot(self) -> list[Seen]:
        with self.lock:
            return list(self.entries)


@pytest.fixture(scope="session")
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture(scope="session")
def openai_client_for(gateway: SessionGateway, ledger: Ledger):
    """Factory: an `openai.OpenAI` on the gateway (no retries), default key alice's."""
    made: list[openai.OpenAI] = []

    def make(key: str | None = None, url: str | None = None, hook: Callable | None = None,
             **kwargs: Any) -> openai.OpenAI:
        http_client = openai.DefaultHttpxClient(
            timeout=HTTP_TIMEOUT_S,
            event_hooks={"response": [hook or ledger.hook]},
        )
        client = openai.OpenAI(
            api_key=key or gateway.keys["alice"].key,
            base_url=f"{url or gateway.url}/v1",
            max_retries=0,
            timeout=HTTP_TIMEOUT_S,
            http_client=http_client,
            **kwargs,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture(scope="session")
def anthropic_client_for(gateway: SessionGateway, ledger: Ledger):
    """Factory: an `anthropic.Anthropic` on the gateway (no retries), default key bjorn's."""
    made: list[anthropic.Anthropic] = []

    def make(key: str | None = None, url: str | None = None, hook: Callable | None = None,
             **kwargs: Any) -> anthropic.Anthropic:
        http_client = anthropic.DefaultHttpxClient(
            timeout=HTTP_TIMEOUT_S,
            event_hooks={"response": [hook or ledger.hook]},
        )
        client = anthropic.Anthropic(
            api_key=key or gateway.keys["bjorn"].key,
            base_url=url or gateway.url,
            max_retries=0,
            timeout=HTTP_TIMEOUT_S,
            http_client=http_client,
            **kwargs,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture(scope="session")
def genai_client_for(gateway: SessionGateway, ledger: Ledger):
    """Factory: a `google.genai.Client` on the gateway (its Gemini surface), default key
    alice's. The SDK sends the key in `x-goog-api-key`; its HTTP client carries the ledger."""
    from google import genai
    from google.genai import types

    made: list[httpx.Client] = []

    def make(key: str | None = None, url: str | None = None) -> "genai.Client":
        http = httpx.Client(timeout=HTTP_TIMEOUT_S, event_hooks={"response": [ledger.hook]})
        made.append(http)
        return genai.Client(
            api_key=key or gateway.keys["alice"].key,
            http_options=types.HttpOptions(
                base_url=url or gateway.url,
                httpx_client=http,
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )

    yield make
    for http in made:
        http.close()


@pytest.fixture(scope="session")
def oai(openai_client_for) -> openai.OpenAI:
    return openai_client_for()


@pytest.fixture(scope="session")
def ant(anthropic_client_for) -> anthropic.Anthropic:
    return anthropic_client_for()


@pytest.fixture(scope="session")
def raw(gateway: SessionGateway, ledger: Ledger):
    """Plain httpx on the gateway, for requests no SDK would send."""
    with httpx.Client(base_url=gateway.url, timeout=HTTP_TIMEOUT_S,
                      event_hooks={"response": [ledger.hook]}) as client:
        yield client
