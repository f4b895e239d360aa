#!/usr/bin/env python3
"""audit_check.py: an independent verifier for Clearance's verifiable audit logs.

Written for auditors, from the published specifications only, never from Clearance's own
(Rust) code, so that a mistake in the gateway is not repeated here:

  * RFC 6962 / RFC 9162 section 2.1: the Merkle tree hashes (leaf hash SHA-256(0x00 || data),
    node hash SHA-256(0x01 || left || right)), inclusion proofs (RFC 9162 2.1.3.2) and
    consistency proofs (RFC 9162 2.1.4.2);
  * c2sp.org/signed-note: the signed note format, verifier keys `name+hex8+base64(type||key)`,
    key ID = SHA-256(name || 0x0A || type || public key)[:4], Ed25519 (type 0x01);
  * c2sp.org/tlog-checkpoint: the checkpoint body (origin, decimal tree size, base64 root hash,
    optional extension lines);
  * c2sp.org/tlog-cosignature: Ed25519 witness cosignatures (type 0x04), a signature over
    "cosignature/v1\\ntime <T>\\n" followed by the checkpoint body;
  * c2sp.org/tlog-tiles: tiles and entry bundles, for the `log` subcommand.

It needs Python 3.9+, the standard library and the `cryptography` package (Ed25519 only).

Subcommands (each prints what it checked and exits 0, or prints what failed and exits 1):

  receipt BUNDLE.json --key VKEY [--witness-key VKEY ...] [--witnesses-required K]
      A receipt bundle (`clearance audit prove`, or GET /audit/receipt/{request_id}) proves that
      a request's audit record(s) are leaves of a log whose head the log key signed. Checks:
      the checkpoint's signature by the log key, its origin is "<key name>/<log id>", every
      entry's leaf hash and RFC 9162 inclusion proof against the signed root and size, that each
      record's `id` is the bundle's request id, and (with --witness-key) the witnesses'
      cosignatures, K of them at least with --witnesses-required.

  consistency --key VKEY OLD_CHECKPOINT NEW_CHECKPOINT PROOF.json
      Both checkpoints signed by the log key, same origin, and the RFC 9162 consistency proof
      ({"log", "from", "to", "proof"}) shows the old tree is a prefix of the new one: the log
      only appended between the two.

  checkpoint --key VKEY FILE [--witness-key VKEY ...] [--witnesses-required K]
      Verifies one checkpoint's signatures; prints origin, size and root.

  log --key VKEY --url BASE --log LOG_ID [--auth TOKEN]
      Fetches the signed checkpoint and every tile and entry bundle of the log (tlog-tiles under
      BASE/audit/log/LOG_ID/), recomputes every leaf hash from the records and the root from the
      leaves, and compares it with the signed checkpoint.

What a success proves, and what it does not, is written out in docs/auditor.md.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HASH_SIZE = 32
RECEIPT_FORMAT = "clearance-receipt/v1"
SIG_TYPE_ED25519 = 0x01
SIG_TYPE_COSIGNATURE_V1 = 0x04
# signed-note: verifiers MUST accept at least 16 signatures and SHOULD bound the number.
MAX_SIGNATURES = 100
# An RFC 6962 path in a tree of fewer than 2^64 leaves has at most 64 hashes.
MAX_PROOF_HASHES = 64
TILE_WIDTH = 256


class CheckFailed(Exception):
    """A check did not pass; the message says which and why."""


# --------------------------------------------------------------------------- Merkle tree (RFC 6962)

def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 2.1: MTH({d(0)}) = SHA-256(0x00 || d(0))."""
    return sha256(b"\x00" + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 2.1: an interior node, SHA-256(0x01 || left || right)."""
    return sha256(b"\x01" + left + right)


def empty_root() -> bytes:
    """RFC 6962 2.1: the hash of an empty list is SHA-256 of the empty string."""
    return sha256(b"")


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from the leaf hashes: split at k, the largest power of two smaller than n.

    Computed bottom-up with a stack of complete subtrees (the same tree as the recursive
    definition: each left subtree is complete, the right one holds what is left)."""
    if not hashes:
        return empty_root()
    # Stack of (height, hash) of complete subtrees, left to right.
    stack: list[tuple[int, bytes]] = []
    for h in hashes:
        height, node = 0, h
        while stack and stack[-1][0] == height:
            _, left = stack.pop()
            node = node_hash(left, node)
            height += 1
        stack.append((height, node))
    # Fold the incomplete right edge: the rightmost (smallest) subtrees first.
    _, root = stack.pop()
    while stack:
        _, left = stack.pop()
        root = node_hash(left, root)
    return root


def _check_hash(h: bytes, what: str) -> None:
    if not isinstance(h, (bytes, bytearray)) or len(h) != HASH_SIZE:
        raise CheckFailed(f"{what} is not a {HASH_SIZE}-byte hash")


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 2.1.3.2: the leaf `leaf` is at `index` of the tree of `size` leaves with `root`.
    Raises CheckFailed naming what did not hold."""
    _check_hash(leaf, "leaf hash")
    _check_hash(root, "root hash")
    for i, p in enumerate(proof):
        _check_hash(p, f"inclusion proof hash #{i}")
    if len(proof) > MAX_PROOF_HASHES:
        raise CheckFailed(f"inclusion proof has {len(proof)} hashes, more than any tree needs")
    # 1. leaf_index must be below tree_size.
    if not 0 <= index < size:
        raise CheckFailed(f"leaf index {index} is not below the tree size {size}")
    # 2.-3.
    fn, sn, r = index, size - 1, bytes(leaf)
    # 4.
    for p in proof:
        # a. A proof longer than the path from the leaf to the root.
        if sn == 0:
            raise CheckFailed("inclusion proof is longer than the path to the root")
        # b.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        # c.
        fn >>= 1
        sn >>= 1
    # 5.
    if sn != 0:
        raise CheckFailed("inclusion proof is shorter than the path to the root")
    if r != root:
        raise CheckFailed(
            f"inclusion proof does not lead to the root: computed {b64(r)}, signed {b64(root)}")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes,
                       proof: Sequence[bytes]) -> None:
    """RFC 9162 2.1.4.2: the tree of `size1` leaves with `root1` is a prefix of the tree of
    `size2` leaves with `root2`. Raises CheckFailed naming what did not hold."""
    _check_hash(root1, "old root hash")
    _check_hash(root2, "new root hash")
    for i, p in enumerate(proof):
        _check_hash(p, f"consistency proof hash #{i}")
    if len(proof) > 2 * MAX_PROOF_HASHES:
        raise CheckFailed(f"consistency proof has {len(proof)} hashes, more than any tree needs")
    if size1 < 0 or size2 < 0:
        raise CheckFailed("a tree size is negative")
    if size1 > size2:
        raise CheckFailed(f"the old tree ({size1}) is larger than the new one ({size2})")
    if size1 == size2:
        # Nothing to prove: the same tree, so the same root and an empty proof.
        if proof:
            raise CheckFailed("consistency proof between trees of equal size must be empty")
        if root1 != root2:
            raise CheckFailed(
                f"two different roots for the same size {size1}: {b64(root1)} and {b64(root2)}")
        return
    if size1 == 0:
        # The empty tree is a prefix of every tree; its root is fixed.
        if proof:
            raise CheckFailed("consistency proof from the empty tree must be empty")
        if root1 != empty_root():
            raise CheckFailed("the old (empty) tree's root is not SHA-256 of the empty string")
        return
    # 1.
    if not proof:
        raise CheckFailed("consistency proof is empty")
    path = list(proof)
    # 2. A complete old tree is itself a node of the new tree: it starts the path.
    if size1 & (size1 - 1) == 0:
        path.insert(0, bytes(root1))
    # 3.-4.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        # a.
        if sn == 0:
            raise CheckFailed("consistency proof is longer than the path to the root")
        # b.
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        # c.
        fn >>= 1
        sn >>= 1
    # 7.
    if sn != 0:
        raise CheckFailed("consistency proof is shorter than the path to the root")
    if fr != root1:
        raise CheckFailed(
            f"consistency proof does not lead to the old root: computed {b64(fr)}, signed {b64(root1)}")
    if sr != root2:
        raise CheckFailed(
            f"consistency proof does not lead to the new root: computed {b64(sr)}, signed {b64(root2)}")


# --------------------------------------------------------------------------- base64

def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    """Standard base64 (RFC 4648 section 4), padded, nothing else accepted."""
    if not isinstance(text, str):
        raise CheckFailed(f"{what} is not a string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise CheckFailed(f"{what} is not valid base64: {text!r}") from None
    if b64(raw) != text:
        raise CheckFailed(f"{what} is not canonical base64: {text!r}")
    return raw


def unb64_hash(text: str, what: str) -> bytes:
    raw = unb64(text, what)
    if len(raw) != HASH_SIZE:
        raise CheckFailed(f"{what} decodes to {len(raw)} bytes, not {HASH_SIZE}")
    return raw


# --------------------------------------------------------------------------- signed notes (c2sp.org/signed-note)

def _valid_key_name(name: str) -> bool:
    """Non-empty, no Unicode spaces, no '+'."""
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]."""
    return sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key)[:4]


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes          # 4 bytes
    sig_type: int          # 0x01 (Ed25519 note signature) or 0x04 (Ed25519 cosignature v1)
    public_key: bytes      # 32 bytes

    @property
    def text(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{b64(bytes([self.sig_type]) + self.public_key)}"

    def ed25519(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)


def parse_verifier_key(text: str, expected_type: int | None = None) -> VerifierKey:
    """`name+hex8+base64(type || 32-byte Ed25519 public key)`, its key ID checked."""
    text = text.strip()
    # Split at the first two '+' only: the base64 key may itself contain '+'.
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise CheckFailed(f"verifier key {text!r} is not of the form name+keyid+key")
    name, hex_id, key64 = parts
    if not _valid_key_name(name):
        raise CheckFailed(f"verifier key {text!r}: invalid key name {name!r}")
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise CheckFailed(f"verifier key {text!r}: key ID {hex_id!r} is not 8 lowercase hex digits")
    raw = unb64(key64, f"verifier key {name}'s key")
    if len(raw) != 33:
        raise CheckFailed(f"verifier key {text!r}: key is {len(raw)} bytes, expected 1 + 32 (Ed25519)")
    sig_type, public = raw[0], raw[1:]
    if sig_type not in (SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1):
        raise CheckFailed(f"verifier key {text!r}: unsupported signature type 0x{sig_type:02x}")
    if expected_type is not None and sig_type != expected_type:
        raise CheckFailed(
            f"verifier key {text!r} has type 0x{sig_type:02x}, expected 0x{expected_type:02x}")
    want = key_id(name, sig_type, public)
    if bytes.fromhex(hex_id) != want:
        raise CheckFailed(
            f"verifier key {text!r}: key ID {hex_id} is not SHA-256(name, 0x0A, type, key)[:4] = {want.hex()}")
    try:
        Ed25519PublicKey.from_public_bytes(public)
    except ValueError:
        raise CheckFailed(f"verifier key {text!r}: not an Ed25519 public key") from None
    return VerifierKey(name=name, key_id=want, sig_type=sig_type, public_key=public)


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes      # the first 4 bytes of the decoded signature
    signature: bytes   # the rest


@dataclass(frozen=True)
class Note:
    text: str                          # the signed text, final newline included
    signatures: tuple[NoteSignature, ...]


def parse_note(message: str | bytes) -> Note:
    """Splits a signed note into its text and its signature lines (not verified here)."""
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckFailed("signed note is not valid UTF-8") from None
    for ch in message:
        if ord(ch) < 0x20 and ch != "\n":
            raise CheckFailed(f"signed note contains control character U+{ord(ch):04X}")
    split = message.rfind("\n\n")
    if split < 0:
        raise CheckFailed("signed note has no blank line before its signatures")
    text, sig_block = message[: split + 1], message[split + 2:]
    if not sig_block:
        raise CheckFailed("signed note has no signature lines")
    if not sig_block.endswith("\n"):
        raise CheckFailed("signed note's last signature line does not end in a newline")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckFailed(f"signed note has {len(lines)} signatures, more than {MAX_SIGNATURES}")
    signatures = []
    for line in lines:
        if not line.startswith("\u2014 "):
            raise CheckFailed(f"signature line does not start with an em dash and a space: {line!r}")
        rest = line[2:]
        name, sep, sig64 = rest.partition(" ")
        if not sep or not _valid_key_name(name) or " " in sig64:
            raise CheckFailed(f"malformed signature line: {line!r}")
        raw = unb64(sig64, f"signature by {name}")
        if len(raw) < 5:
            raise CheckFailed(f"signature by {name} is too short")
        signatures.append(NoteSignature(name=name, key_id=raw[:4], signature=raw[4:]))
    return Note(text=text, signatures=tuple(signatures))


def _matching(note: Note, key: VerifierKey) -> list[NoteSignature]:
    """The signature lines whose key name AND key ID are this key's (others are ignored)."""
    return [s for s in note.signatures if s.name == key.name and s.key_id == key.key_id]


def verify_note_signature(note: Note, key: VerifierKey) -> None:
    """The note carries a valid Ed25519 (type 0x01) signature by `key`; a signature line that
    names this key and does not verify fails the whole note."""
    if key.sig_type != SIG_TYPE_ED25519:
        raise CheckFailed(f"key {key.name} is not an Ed25519 note key (type 0x01)")
    found = _matching(note, key)
    if not found:
        names = ", ".join(f"{s.name} ({s.key_id.hex()})" for s in note.signatures) or "none"
        raise CheckFailed(
            f"no signature by key {key.name}+{key.key_id.hex()} on the note (signatures: {names})")
    public = key.ed25519()
    for sig in found:
        if len(sig.signature) != 64:
            raise CheckFailed(f"signature by {key.name} is {len(sig.signature)} bytes, not 64")
        try:
            public.verify(sig.signature, note.text.encode("utf-8"))
        except InvalidSignature:
            raise CheckFailed(f"signature by {key.name}+{key.key_id.hex()} does not verify") from None


def cosignature_message(body: str, timestamp: int) -> bytes:
    """tlog-cosignature, Ed25519 signed message."""
    return f"cosignature/v1\ntime {timestamp}\n".encode("ascii") + body.encode("utf-8")


def verify_cosignature(note: Note, key: VerifierKey) -> int | None:
    """The timestamp of a valid cosignature by witness `key` (type 0x04) on the note, or None if
    the witness did not cosign. A cosignature line naming this key that does not verify fails."""
    if key.sig_type != SIG_TYPE_COSIGNATURE_V1:
        raise CheckFailed(f"witness key {key.name} is not a cosignature/v1 key (type 0x04)")
    found = _matching(note, key)
    if not found:
        return None
    public = key.ed25519()
    timestamp = None
    for sig in found:
        if len(sig.signature) != 8 + 64:
            raise CheckFailed(
                f"cosignature by {key.name} is {len(sig.signature)} bytes after the key ID, not 8 + 64")
        ts = int.from_bytes(sig.signature[:8], "big")
        if ts > 2**63 - 1:
            raise CheckFailed(f"cosignature by {key.name} has a timestamp above 2^63 - 1")
        try:
            public.verify(sig.signature[8:], cosignature_message(note.text, ts))
        except InvalidSignature:
            raise CheckFailed(f"cosignature by witness {key.name}+{key.key_id.hex()} does not verify") from None
        timestamp = ts if timestamp is None else max(timestamp, ts)
    return timestamp


# --------------------------------------------------------------------------- checkpoints (c2sp.org/tlog-checkpoint)

@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...]
    body: str                                     # the signed note text
    cosigned_by: dict[str, int] = field(default_factory=dict)   # witness key name -> timestamp

    def log_id(self, key: VerifierKey) -> str:
        """Clearance's origin is "<log key name>/<log id>"."""
        prefix = key.name + "/"
        if not self.origin.startswith(prefix) or len(self.origin) == len(prefix):
            raise CheckFailed(
                f"checkpoint origin {self.origin!r} is not \"<key name>/<log id>\" for key {key.name!r}")
        return self.origin[len(prefix):]


def parse_checkpoint_body(body: str) -> Checkpoint:
    if not body.endswith("\n"):
        raise CheckFailed("checkpoint body does not end in a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckFailed(f"checkpoint body has {len(lines)} lines, at least 3 are needed")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise CheckFailed("checkpoint origin line is empty")
    if not re.fullmatch(r"0|[1-9][0-9]*", size_text) or int(size_text) >= 2**64:
        raise CheckFailed(f"checkpoint tree size {size_text!r} is not a decimal without leading zeros")
    root = unb64_hash(root_text, "checkpoint root hash")
    for ext in extensions:
        if not ext:
            raise CheckFailed("checkpoint has an empty extension line")
    return Checkpoint(origin=origin, size=int(size_text), root=root,
                      extensions=tuple(extensions), body=body)


def open_checkpoint(message: str | bytes, log_key: VerifierKey,
                    witness_keys: Sequence[VerifierKey] = (), witnesses_required: int = 0) -> Checkpoint:
    """Verifies a checkpoint note: the log key's signature, then each given witness's cosignature
    (at least `witnesses_required` distinct witnesses), then parses the body."""
    note = parse_note(message)
    verify_note_signature(note, log_key)
    checkpoint = parse_checkpoint_body(note.text)
    cosigned: dict[str, int] = {}
    seen_keys: set[tuple[str, bytes]] = set()
    for wk in witness_keys:
        if (wk.name, wk.key_id) in seen_keys:
            continue
        seen_keys.add((wk.name, wk.key_id))
        ts = verify_cosignature(note, wk)
        if ts is not None:
            cosigned[f"{wk.name}+{wk.key_id.hex()}"] = ts
    if len(cosigned) < witnesses_required:
        raise CheckFailed(
            f"{len(cosigned)} of the given witnesses cosigned the checkpoint, {witnesses_required} required"
            + (f" (cosigned: {', '.join(sorted(cosigned))})" if cosigned else ""))
    return Checkpoint(origin=checkpoint.origin, size=checkpoint.size, root=checkpoint.root,
                      extensions=checkpoint.extensions, body=checkpoint.body, cosigned_by=cosigned)


# --------------------------------------------------------------------------- receipts

@dataclass(frozen=True)
class VerifiedEntry:
    index: int
    leaf: bytes
    record: dict


@dataclass(frozen=True)
class VerifiedReceipt:
    request_id: str
    log: str
    checkpoint: Checkpoint
    entries: tuple[VerifiedEntry, ...]


def _int_field(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CheckFailed(f"{what} is not an integer: {value!r}")
    return value


def verify_receipt(bundle: dict, log_key: VerifierKey, witness_keys: Sequence[VerifierKey] = (),
                   witnesses_required: int = 0) -> VerifiedReceipt:
    """Every check of a receipt bundle (see the module docstring). Raises CheckFailed."""
    if not isinstance(bundle, dict):
        raise CheckFailed("receipt bundle is not a JSON object")
    if bundle.get("format") != RECEIPT_FORMAT:
        raise CheckFailed(f"receipt format is {bundle.get('format')!r}, expected {RECEIPT_FORMAT!r}")
    request_id, log, note_text, entries = (
        bundle.get("request_id"), bundle.get("log"), bundle.get("checkpoint"), bundle.get("entries"))
    if not isinstance(request_id, str) or not request_id:
        raise CheckFailed("receipt has no request_id")
    if not isinstance(log, str) or not log:
        raise CheckFailed("receipt has no log id")
    if not isinstance(note_text, str):
        raise CheckFailed("receipt has no checkpoint")
    if not isinstance(entries, list) or not entries:
        raise CheckFailed("receipt has no entries")

    try:
        checkpoint = open_checkpoint(note_text, log_key, witness_keys, witnesses_required)
    except CheckFailed as e:
        raise CheckFailed(f"checkpoint: {e}") from None
    if checkpoint.log_id(log_key) != log:
        raise CheckFailed(
            f"checkpoint origin {checkpoint.origin!r} is not log {log!r} of key {log_key.name!r}")

    verified = []
    seen: set[int] = set()
    for n, entry in enumerate(entries):
        where = f"entry #{n}"
        if not isinstance(entry, dict):
            raise CheckFailed(f"{where} is not a JSON object")
        index = _int_field(entry.get("index"), f"{where} index")
        where = f"entry at index {index}"
        if index in seen:
            raise CheckFailed(f"{where} appears twice")
        seen.add(index)
        record_text = entry.get("record")
        if not isinstance(record_text, str):
            raise CheckFailed(f"{where}: record is not a string")
        proof_texts = entry.get("inclusion_proof")
        if not isinstance(proof_texts, list):
            raise CheckFailed(f"{where}: inclusion_proof is not a list")
        proof = [unb64_hash(p, f"{where}: inclusion proof hash #{i}") for i, p in enumerate(proof_texts)]
        leaf = leaf_hash(record_text.encode("utf-8"))
        try:
            verify_inclusion(index, checkpoint.size, leaf, proof, checkpoint.root)
        except CheckFailed as e:
            raise CheckFailed(f"{where}: {e}") from None
        try:
            record = json.loads(record_text)
        except json.JSONDecodeError as e:
            raise CheckFailed(f"{where}: record is not JSON ({e})") from None
        if not isinstance(record, dict):
            raise CheckFailed(f"{where}: record is not a JSON object")
        if record.get("id") != request_id:
            raise CheckFailed(
                f"{where}: record id {record.get('id')!r} is not the receipt's request id {request_id!r}")
        verified.append(VerifiedEntry(index=index, leaf=leaf, record=record))
    return VerifiedReceipt(request_id=request_id, log=log, checkpoint=checkpoint,
                           entries=tuple(verified))


def verify_consistency_bundle(old_note: str | bytes, new_note: str | bytes, proof_doc: dict,
                              log_key: VerifierKey) -> tuple[Checkpoint, Checkpoint]:
    """Two checkpoints of one log and the consistency proof between them."""
    try:
        old = open_checkpoint(old_note, log_key)
    except CheckFailed as e:
        raise CheckFailed(f"old checkpoint: {e}") from None
    try:
        new = open_checkpoint(new_note, log_key)
    except CheckFailed as e:
        raise CheckFailed(f"new checkpoint: {e}") from None
    if old.origin != new.origin:
        raise CheckFailed(f"the checkpoints are of different logs: {old.origin!r} and {new.origin!r}")
    if not isinstance(proof_doc, dict):
        raise CheckFailed("consistency proof is not a JSON object")
    log = proof_doc.get("log")
    if log != old.log_id(log_key):
        raise CheckFailed(f"consistency proof is for log {log!r}, the checkpoints for {old.origin!r}")
    size1 = _int_field(proof_doc.get("from"), "consistency proof 'from'")
    size2 = _int_field(proof_doc.get("to"), "consistency proof 'to'")
    if (size1, size2) != (old.size, new.size):
        raise CheckFailed(
            f"consistency proof is from {size1} to {size2}, the checkpoints have sizes {old.size} and {new.size}")
    hashes = proof_doc.get("proof")
    if not isinstance(hashes, list):
        raise CheckFailed("consistency proof has no 'proof' list")
    proof = [unb64_hash(h, f"consistency proof hash #{i}") for i, h in enumerate(hashes)]
    verify_consistency(old.size, new.size, old.root, new.root, proof)
    return old, new


# --------------------------------------------------------------------------- tiles (c2sp.org/tlog-tiles)

def tile_index_path(n: int) -> str:
    """Tile index as zero-padded 3-digit path elements, all but the last prefixed with 'x':
    1234067 -> x001/x234/067."""
    if n < 0:
        raise ValueError("negative tile index")
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n > 0:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


def tile_path(level: int | str, n: int, width: int) -> str:
    """`tile/<L>/<N>[.p/<W>]` (level "entries" for entry bundles); width 256 is a full tile."""
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width {width}")
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{tile_index_path(n)}{suffix}"


def parse_entry_bundle(data: bytes) -> list[bytes]:
    """Big-endian uint16 length-prefixed entries."""
    entries, i = [], 0
    while i < len(data):
        if i + 2 > len(data):
            raise CheckFailed("entry bundle ends inside a length prefix")
        length = int.from_bytes(data[i:i + 2], "big")
        i += 2
        if i + length > len(data):
            raise CheckFailed("entry bundle ends inside an entry")
        entries.append(data[i:i + length])
        i += length
    return entries


def _tiles_of_level(hashes: Sequence[bytes]) -> list[bytes]:
    """The next level's hashes: the root of each full group of 256."""
    out = []
    for start in range(0, len(hashes) - TILE_WIDTH + 1, TILE_WIDTH):
        out.append(root_from_leaf_hashes(hashes[start:start + TILE_WIDTH]))
    return out


def verify_log_tiles(checkpoint: Checkpoint, fetch: Callable[[str], bytes]) -> list[bytes]:
    """Fetches every entry bundle and tile of the tree at the checkpoint's size through
    `fetch(path)`, checks that each tile holds the hashes recomputed from the entries, and that
    the root of all the leaves is the signed root. Returns the entries."""
    size = checkpoint.size
    entries: list[bytes] = []
    for n in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        path = tile_path("entries", n, width)
        bundle = parse_entry_bundle(fetch(path))
        if len(bundle) != width:
            raise CheckFailed(f"{path} holds {len(bundle)} entries, expected {width}")
        entries.extend(bundle)
    level_hashes = [leaf_hash(e) for e in entries]
    level = 0
    while level_hashes:
        for n in range((len(level_hashes) + TILE_WIDTH - 1) // TILE_WIDTH):
            want = level_hashes[n * TILE_WIDTH:(n + 1) * TILE_WIDTH]
            path = tile_path(level, n, len(want))
            got = fetch(path)
            if got != b"".join(want):
                if len(got) != HASH_SIZE * len(want):
                    raise CheckFailed(f"{path} is {len(got)} bytes, expected {HASH_SIZE * len(want)}")
                bad = next(i for i in range(len(want)) if got[i * HASH_SIZE:(i + 1) * HASH_SIZE] != want[i])
                raise CheckFailed(
                    f"{path}: hash #{bad} differs from the one recomputed from the entries "
                    f"(index {(n * TILE_WIDTH + bad) * TILE_WIDTH ** level})")
        level_hashes = _tiles_of_level(level_hashes)
        level += 1
    root = root_from_leaf_hashes([leaf_hash(e) for e in entries])
    if root != checkpoint.root:
        raise CheckFailed(
            f"root recomputed from the {size} entries is {b64(root)}, the signed root is {b64(checkpoint.root)}")
    return entries


def http_fetcher(base: str, auth: str | None, timeout: float = 30.0) -> Callable[[str], bytes]:
    def fetch(path: str) -> bytes:
        url = f"{base.rstrip('/')}/{path}"
        request = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
        if auth:
            request.add_header("Authorization", f"Bearer {auth}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read()
        except urllib.error.HTTPError as e:
            raise CheckFailed(f"GET {url}: HTTP {e.code}") from None
        except (urllib.error.URLError, OSError) as e:
            raise CheckFailed(f"GET {url}: {e}") from None
    return fetch


# --------------------------------------------------------------------------- command line

def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CheckFailed(f"cannot read {path}: {e.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckFailed(f"{path} is not UTF-8") from None


def _read_json(path: str) -> object:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise CheckFailed(f"{path} is not JSON: {e}") from None


def _keys(args: argparse.Namespace) -> tuple[VerifierKey, list[VerifierKey]]:
    log_key = parse_verifier_key(args.key, SIG_TYPE_ED25519)
    witnesses = [parse_verifier_key(k, SIG_TYPE_COSIGNATURE_V1) for k in (getattr(args, "witness_key", None) or [])]
    required = getattr(args, "witnesses_required", 0) or 0
    if required > len(witnesses):
        raise CheckFailed(f"--witnesses-required {required} but only {len(witnesses)} --witness-key given")
    return log_key, witnesses


def _print_checkpoint(cp: Checkpoint, out) -> None:
    print(f"log:  {cp.origin}", file=out)
    print(f"size: {cp.size}", file=out)
    print(f"root: {b64(cp.root)}", file=out)
    for ext in cp.extensions:
        print(f"extension: {ext}", file=out)
    for name, ts in sorted(cp.cosigned_by.items()):
        print(f"cosigned by {name} at {ts}", file=out)


def cmd_receipt(args: argparse.Namespace, out) -> None:
    log_key, witnesses = _keys(args)
    receipt = verify_receipt(_read_json(args.bundle), log_key, witnesses, args.witnesses_required)
    print(f"receipt for request {receipt.request_id}: OK", file=out)
    _print_checkpoint(receipt.checkpoint, out)
    for e in receipt.entries:
        parts = [f"{k}={e.record[k]}" for k in ("phase", "decision", "status") if k in e.record]
        print(f"  entry {e.index}: included ({', '.join(parts) or 'no decision fields'}); leaf {b64(e.leaf)}",
              file=out)


def cmd_consistency(args: argparse.Namespace, out) -> None:
    log_key, _ = _keys(args)
    proof = _read_json(args.proof)
    old, new = verify_consistency_bundle(_read_text(args.old), _read_text(args.new), proof, log_key)
    print(f"consistent: {old.origin} size {old.size} ({b64(old.root)}) is a prefix of "
          f"size {new.size} ({b64(new.root)})", file=out)


def cmd_checkpoint(args: argparse.Namespace, out) -> None:
    log_key, witnesses = _keys(args)
    cp = open_checkpoint(_read_text(args.file), log_key, witnesses, args.witnesses_required)
    print("checkpoint: OK", file=out)
    _print_checkpoint(cp, out)


def cmd_log(args: argparse.Namespace, out) -> None:
    log_key, witnesses = _keys(args)
    fetch = http_fetcher(f"{args.url.rstrip('/')}/audit/log/{args.log}", args.auth)
    cp = open_checkpoint(fetch("checkpoint"), log_key, witnesses, args.witnesses_required)
    if cp.log_id(log_key) != args.log:
        raise CheckFailed(f"checkpoint origin {cp.origin!r} is not log {args.log!r}")
    entries = verify_log_tiles(cp, fetch)
    print(f"log {cp.origin}: all {len(entries)} entries hash to the signed root", file=out)
    _print_checkpoint(cp, out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audit_check.py", description="Independent verifier of Clearance audit receipts, "
        "checkpoints, consistency proofs and tiled logs (RFC 9162, C2SP signed-note, tlog-*).")
    sub = parser.add_subparsers(dest="command", required=True)

    def keys(p: argparse.ArgumentParser, witnesses: bool = True) -> None:
        p.add_argument("--key", required=True, help="the log's verifier key, name+hex8+base64")
        if witnesses:
            p.add_argument("--witness-key", action="append", default=[],
                           help="a witness's verifier key (type 0x04); repeatable")
            p.add_argument("--witnesses-required", type=int, default=0, metavar="K",
                           help="fail unless at least K of the given witnesses cosigned")

    p = sub.add_parser("receipt", help="verify a receipt bundle")
    p.add_argument("bundle")
    keys(p)
    p.set_defaults(run=cmd_receipt)

    p = sub.add_parser("consistency", help="verify a consistency proof between two checkpoints")
    keys(p, witnesses=False)
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("proof")
    p.set_defaults(run=cmd_consistency)

    p = sub.add_parser("checkpoint", help="verify a checkpoint's signatures")
    p.add_argument("file")
    keys(p)
    p.set_defaults(run=cmd_checkpoint)

    p = sub.add_parser("log", help="fetch a log's tiles and recompute its root")
    keys(p)
    p.add_argument("--url", required=True, help="the gateway's base URL")
    p.add_argument("--log", required=True, help="the log id")
    p.add_argument("--auth", help="bearer token for the audit endpoints, if they need one")
    p.set_defaults(run=cmd_log)
    return parser


def main(argv: Sequence[str] | None = None, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        args.run(args, out)
    except CheckFailed as e:
        print(f"FAILED: {e}", file=err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
