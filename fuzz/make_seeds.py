#!/usr/bin/env python3
"""Rebuilds fuzz/seeds/TARGET/ from the repository's fixtures: the wire crate's golden bodies and
streams, the fake providers' fixtures, the demo's config, directives and principals, and the
configs and directives written in the docs and tests. Run from anywhere: python3 fuzz/make_seeds.py
"""
import glob
import os
import re
import shutil
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = os.path.join(root, 'fuzz/seeds')
shutil.rmtree(out, ignore_errors=True)
def put(target, name, data):
    if isinstance(data, str): data = data.encode()
    if len(data) > 16000: return
    d = os.path.join(out, target); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), 'wb').write(data)
def rel(p): return os.path.relpath(p, root)
def slug(p): return re.sub(r'[^A-Za-z0-9]+', '_', rel(p).replace('crates/clearance-', '').replace('tests/', '')).strip('_')
G = 'crates/clearance-wire/tests/golden'
F = 'crates/clearance-fake/tests/fixtures'
reqs = sorted(glob.glob(f'{root}/{G}/*/*/request.json'))
rendered = sorted(glob.glob(f'{root}/{G}/*/*/request.rendered.json'))
resps = sorted(glob.glob(f'{root}/{G}/*/*/response.json')) + sorted(glob.glob(f'{root}/{F}/*.json'))
resps_rendered = sorted(glob.glob(f'{root}/{G}/*/*/response.rendered.json'))
streams = sorted(glob.glob(f'{root}/{G}/*/*/stream.sse')) + sorted(glob.glob(f'{root}/{G}/*/*/stream.rendered.sse')) + sorted(glob.glob(f'{root}/{F}/*.sse'))
for p in reqs + rendered:
    put('client_request', slug(p), open(p,'rb').read())
    put('translate_request', slug(p), open(p,'rb').read())
for p in resps + resps_rendered:
    put('translate_response', slug(p), open(p,'rb').read())
    put('upstream_response', slug(p), open(p,'rb').read())
errors = {
  'openai_error.json': '{"error":{"message":"Incorrect API key provided: sk-live-0123456789abcdef0123456789abcdef.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}',
  'anthropic_error.json': '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
  'gemini_error.json': '{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}',
  'plain_text_error.txt': 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
}
for n, t in errors.items(): put('upstream_response', n, t)
# SSE: options byte, zero cuts, then the stream; a few with cuts and other options.
chunks = open(f'{root}/{F}/openai_chat_completion_chunks.jsonl').read().splitlines()
openai_sse = ''.join(f'data: {c}\n\n' for c in chunks if c.strip()) + 'data: [DONE]\n\n'
all_streams = [(slug(p), open(p,'rb').read()) for p in streams] + [('fake_openai_chunks_sse', openai_sse.encode())]
def source_format(name):
    # The translator's source: 0 OpenAI, 1 Anthropic, 2 Gemini (options % 3; target options / 3 % 3).
    return 1 if 'anthropic' in name else 2 if 'gemini' in name else 0
for i, (n, data) in enumerate(all_streams):
    f = source_format(n)
    for to in range(3):
        # Rewriter surface and usage flags vary with the seed (options / 9, / 18, / 36).
        options = f + 3 * to + 9 * ((i + to) % 8)
        put('sse_stream', f'{n}_to{to}', bytes([options, 0]) + data)
    cuts = (7).to_bytes(2, 'little') + (100).to_bytes(2, 'little') + (333).to_bytes(2, 'little')
    put('sse_stream', n + '_cut', bytes([f + 3 * ((f + 1) % 3) + 9 * (i % 8), 3]) + cuts + data)
# Config: demo, docs' TOML blocks, test configs.
def blocks(path, lang):
    return re.findall(r'```' + lang + r'\n(.*?)```', open(path).read(), re.S)
put('config', 'demo_clearance.toml', open(f'{root}/demo/clearance.toml').read())
for p in sorted(glob.glob(f'{root}/docs/*.md')):
    for i, b in enumerate(blocks(p, 'toml')):
        if '[server]' in b or '[[models]]' in b or '[providers' in b or '[breaker]' in b or '[store]' in b or '[directives]' in b:
            put('config', f'{slug(p)}_{i}.toml', b)
for p in sorted(glob.glob(f'{root}/crates/clearance-config/tests/*.rs')):
    for i, b in enumerate(re.findall(r'r#"(.*?)"#', open(p).read(), re.S)):
        if '[' in b: put('config', f'{slug(p)}_{i}.toml', b)
# Directives: demo, docs' TOML and Cedar blocks, test directives.
for p in sorted(glob.glob(f'{root}/demo/*/*.toml')):
    put('directive', slug(p), open(p).read())
for p in sorted(glob.glob(f'{root}/docs/directives.md')):
    for lang in ('toml', 'cedar'):
        for i, b in enumerate(blocks(p, lang)):
            put('directive', f'{slug(p)}_{lang}_{i}', b)
for p in [f'{root}/crates/clearance-policy/src/directive.rs', f'{root}/crates/clearance-policy/tests/decisions.rs']:
    for i, b in enumerate(re.findall(r'r#"(.*?)"#', open(p).read(), re.S)):
        put('directive', f'{slug(p)}_{i}', b)
# Principal files.
put('principal_import', 'demo_principals.csv', open(f'{root}/demo/principals.csv').read())
samples = {
  'bom_minimal.csv': '\ufeffid,citizenships\nalice,US\n',
  'us_person_column.csv': 'id,us_person\nalice,true\n',
  'quoted_fields.csv': 'id,name,citizenships,roles\n"bob","Bob ""B"" Smith","US;CA","engineer;admin"\r\ncarol,,,\r\n',
  'bad_rows.csv': 'id,citizenships,residence,employee\nok,US,US,true\n../../q8,XX,,maybe\nok,US,,false\n',
  'good.jsonl': '{"id":"alice","name":"Alice Adams","citizenships":["US"],"residence":"FR","org":"acme-labs","employee":true,"roles":["engineer"]}\n{"id":"bjorn","citizenships":["SE"],"permanent_residency":["US"],"protected_individual":false}\n',
  'bad_rows.jsonl': '{"id":"ok"}\n\n{"id":"p","org":7}\n{"id":"alice@example.com"}\n{"id":"../../q8"}\n{"id":"x","citizenships":"US"}\nnot json\n',
  'nulls.jsonl': '{"id":"n","name":null,"citizenships":null,"roles":null,"residence":null}\n',
}
for n, t in samples.items(): put('principal_import', n, t)
# Redaction: two position bytes, a cap byte, then a provider message.
msgs = [
  'Incorrect API key provided: sk-live-0123456789abcdef0123456789abcdef.',
  'GET /v1beta/models/x:generateContent?key=abc123&alt=sse',
  'Authorization: Bearer abc.def-ghi_jkl~mno+pq/rs= failed',
  '{"x-api-key": "supersecretvalue", "n": 1}',
  'Rate limit reached for gpt-5 on requests. Visit https://platform.openai.com/account/rate-limits to learn more.',
  'clé: sk-0123456789abcdefghij — fin',
  'jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
]
for i, m in enumerate(msgs):
    put('redact', f'message_{i}', bytes([0, (i * 7) % 40, 255 if i % 2 else 20]) + m.encode())
