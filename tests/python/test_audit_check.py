"""tools/audit_check.py, the independent verifier, against PUBLISHED vectors (never against
Clearance's own output), then end to end against the real gateway (`test_gateway_receipts_*`).

Published vectors used (each cited where it is used):
  * transparency-dev/merkle, testonly/constants.go: the 8 leaf inputs, the root of every tree of
    0..8 leaves, the node hashes of every complete subtree (the RFC 6962 set that
    certificate-transparency-go also uses);
  * transparency-dev/merkle, proof/verify_test.go: inclusion proofs (leaf, size) = (1,1) (1,8)
    (6,8) (3,3) (2,5) (1-based leaves) and consistency proofs (1,1) (1,8) (6,8) (2,5) (6,7), and
    the corruptions its verifier must reject;
  * golang.org/x/mod/sumdb/note (note.go package doc and note_test.go), the signed-note
    reference implementation: the PeterNeumann verifier key and signed note, and the
    EnochRoot key and its co-signature on the same note;
  * c2sp.org/tlog-checkpoint: the example checkpoint body; c2sp.org/tlog-cosignature: the
    example cosignature line, whose timestamp is the spec's `time 1679315147`;
  * transparency-dev/formats, note/note_cosigv1_test.go: a native type-0x04 verifier key and a
    cosignature whose timestamp is 1727964367.

No published vector signs an Ed25519 cosignature with a published key, so cosignatures, receipts
and checkpoints of our format are signed here, with keys made for the test, following the specs.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "audit_check.py"

_spec = importlib.util.spec_from_file_location("audit_check", SCRIPT)
ac = importlib.util.module_from_spec(_spec)
sys.modules["audit_check"] = ac
_spec.loader.exec_module(ac)


@pytest.fixture(autouse=True)
def _reset_fake_behaviors():
    """Overrides conftest's autouse fixture of the same name: these tests set no fake behavior,
    and the unit tests must not start the fake providers."""
    yield


def h(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


# --------------------------------------------------------------------------- published Merkle vectors
# transparency-dev/merkle testonly/constants.go

LEAF_INPUTS = [h(x) for x in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]

ROOTS = [h(x) for x in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # empty tree
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]

LEAF_HASHES = [h(x) for x in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
)]

# transparency-dev/merkle proof/verify_test.go: (1-based leaf, tree size, proof).
INCLUSION_PROOFS = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]

# transparency-dev/merkle proof/verify_test.go: (size1, size2, proof).
CONSISTENCY_PROOFS = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def _fails(fn, *args) -> str:
    with pytest.raises(ac.CheckFailed) as raised:
        fn(*args)
    return str(raised.value)


def test_leaf_hashes_match_the_published_vectors():
    assert [ac.leaf_hash(d) for d in LEAF_INPUTS] == LEAF_HASHES


@pytest.mark.parametrize("size", range(0, 9))
def test_root_of_every_prefix_matches_the_published_roots(size):
    assert ac.root_from_leaf_hashes([ac.leaf_hash(d) for d in LEAF_INPUTS[:size]]) == ROOTS[size]


@pytest.mark.parametrize("leaf,size,proof", INCLUSION_PROOFS)
def test_published_inclusion_proofs_verify(leaf, size, proof):
    ac.verify_inclusion(leaf - 1, size, LEAF_HASHES[leaf - 1], [h(p) for p in proof], ROOTS[size])


def _inclusion_corruptions(index, size, leaf, proof, root):
    """The corruptions transparency-dev/merkle's verify_test.go (corruptInclusionProof) makes."""
    out = [
        ("leafIndex - 1", index - 1, size, leaf, proof, root),
        ("leafIndex + 1", index + 1, size, leaf, proof, root),
        ("leafIndex ^ 2", index ^ 2, size, leaf, proof, root),
        ("treeSize * 2", index, size * 2, leaf, proof, root),
        ("treeSize / 2", index, size // 2, leaf, proof, root),
        ("wrong leaf", index, size, hashlib.sha256(b"WrongLeaf").digest(), proof, root),
        ("empty root", index, size, leaf, proof, ROOTS[0]),
        ("random root", index, size, leaf, proof, SOME_HASH),
        ("trailing root", index, size, leaf, proof + [root], root),
        ("preceding root", index, size, leaf, [root] + proof, root),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        out.append((f"proof[{i}] bit 3 flipped", index, size, leaf, flipped, root))
    if proof:
        out.append(("removed component (too short)", index, size, leaf, proof[:-1], root))
    if len(proof) > 1:
        out.append(("inserted component", index, size, leaf, [proof[0], SOME_HASH] + proof[1:], root))
    return out


@pytest.mark.parametrize("leaf,size,proof", INCLUSION_PROOFS[1:])
def test_corrupted_inclusion_proofs_fail(leaf, size, proof):
    hashes = [h(p) for p in proof]
    for desc, *probe in _inclusion_corruptions(leaf - 1, size, LEAF_HASHES[leaf - 1], hashes, ROOTS[size]):
        with pytest.raises(ac.CheckFailed):
            ac.verify_inclusion(*probe)
            pytest.fail(f"accepted: {desc}")


def test_inclusion_rejects_index_out_of_range_and_bad_hash_sizes():
    assert "not below the tree size" in _fails(ac.verify_inclusion, 0, 0, SOME_HASH, [], ROOTS[0])
    assert "not below the tree size" in _fails(ac.verify_inclusion, 2, 1, SOME_HASH, [], SOME_HASH)
    assert "32-byte" in _fails(ac.verify_inclusion, 0, 1, b"", [], SOME_HASH)
    assert "32-byte" in _fails(ac.verify_inclusion, 0, 1, SOME_HASH, [], b"")


@pytest.mark.parametrize("size1,size2,proof", CONSISTENCY_PROOFS)
def test_published_consistency_proofs_verify(size1, size2, proof):
    ac.verify_consistency(size1, size2, ROOTS[size1], ROOTS[size2], [h(p) for p in proof])


@pytest.mark.parametrize("size1,size2,proof", [p for p in CONSISTENCY_PROOFS if p[2]])
def test_corrupted_consistency_proofs_fail(size1, size2, proof):
    """The corruptions of transparency-dev/merkle verify_test.go (corruptConsistencyProof)."""
    p = [h(x) for x in proof]
    r1, r2 = ROOTS[size1], ROOTS[size2]
    probes = [
        ("size1 - 1", size1 - 1, size2, r1, r2, p),
        ("size1 + 1", size1 + 1, size2, r1, r2, p),
        ("size1 ^ 2", size1 ^ 2, size2, r1, r2, p),
        ("size2 * 2", size1, size2 * 2, r1, r2, p),
        ("size2 / 2", size1, size2 // 2, r1, r2, p),
        ("wrong root1", size1, size2, SOME_HASH, r2, p),
        ("wrong root2", size1, size2, r1, SOME_HASH, p),
        ("swapped roots", size1, size2, r2, r1, p),
        ("empty proof", size1, size2, r1, r2, []),
        ("trailing root1", size1, size2, r1, r2, p + [r1]),
        ("trailing root2", size1, size2, r1, r2, p + [r2]),
        ("preceding root1", size1, size2, r1, r2, [r1] + p),
        ("preceding root2", size1, size2, r1, r2, [r2] + p),
        ("preceding proof[0]", size1, size2, r1, r2, [p[0]] + p),
        ("truncated proof", size1, size2, r1, r2, p[:-1]),
    ]
    for i in range(len(p)):
        flipped = list(p)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((f"proof[{i}] bit 4 flipped", size1, size2, r1, r2, flipped))
    for desc, *probe in probes:
        with pytest.raises(ac.CheckFailed):
            ac.verify_consistency(*probe)
            pytest.fail(f"accepted: {desc}")


def test_consistency_edge_cases():
    ac.verify_consistency(0, 5, ROOTS[0], ROOTS[5], [])           # the empty tree is a prefix of all
    ac.verify_consistency(3, 3, ROOTS[3], ROOTS[3], [])
    assert "larger" in _fails(ac.verify_consistency, 5, 3, ROOTS[5], ROOTS[3], [SOME_HASH])
    assert "different roots" in _fails(ac.verify_consistency, 3, 3, ROOTS[3], ROOTS[4], [])
    assert "must be empty" in _fails(ac.verify_consistency, 3, 3, ROOTS[3], ROOTS[3], [ROOTS[0]])
    assert "must be empty" in _fails(ac.verify_consistency, 0, 1, ROOTS[0], ROOTS[1], [ROOTS[0]])
    assert "empty string" in _fails(ac.verify_consistency, 0, 1, SOME_HASH, ROOTS[1], [])
    assert "is empty" in _fails(ac.verify_consistency, 1, 2, ROOTS[1], ROOTS[2], [])


# RFC 6962 2.1.1 / 2.1.2 PATH and PROOF, written out from the RFC's recursive definitions to
# check every (leaf, size) and (size1, size2) pair of the 8-leaf tree, not only the listed ones.

def _mth(hashes):
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return ac.node_hash(_mth(hashes[:k]), _mth(hashes[k:]))


def _split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def rfc_path(m, hashes):
    n = len(hashes)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return rfc_path(m, hashes[:k]) + [_mth(hashes[k:])]
    return rfc_path(m - k, hashes[k:]) + [_mth(hashes[:k])]


def rfc_subproof(m, hashes, whole):
    n = len(hashes)
    if m == n:
        return [] if whole else [_mth(hashes)]
    k = _split(n)
    if m <= k:
        return rfc_subproof(m, hashes[:k], whole) + [_mth(hashes[k:])]
    return rfc_subproof(m - k, hashes[k:], False) + [_mth(hashes[:k])]


def rfc_consistency(m, hashes):
    return rfc_subproof(m, hashes, True)


def test_every_inclusion_and_consistency_proof_of_the_published_tree():
    for size in range(1, 9):
        assert _mth(LEAF_HASHES[:size]) == ROOTS[size]
        for index in range(size):
            ac.verify_inclusion(index, size, LEAF_HASHES[index], rfc_path(index, LEAF_HASHES[:size]), ROOTS[size])
        for size1 in range(1, size + 1):
            proof = rfc_consistency(size1, LEAF_HASHES[:size])
            ac.verify_consistency(size1, size, ROOTS[size1], ROOTS[size], proof)
    # The published proofs are the ones the RFC's definitions give.
    for leaf, size, proof in INCLUSION_PROOFS:
        assert rfc_path(leaf - 1, LEAF_HASHES[:size]) == [h(p) for p in proof]
    for size1, size2, proof in CONSISTENCY_PROOFS:
        assert rfc_consistency(size1, LEAF_HASHES[:size2]) == [h(p) for p in proof]


def test_root_of_larger_trees_agrees_with_the_rfc_definition():
    hashes = [ac.leaf_hash(str(i).encode()) for i in range(70)]
    for n in (9, 15, 16, 17, 31, 33, 64, 70):
        assert ac.root_from_leaf_hashes(hashes[:n]) == _mth(hashes[:n])


# --------------------------------------------------------------------------- published signed-note vectors
# golang.org/x/mod/sumdb/note, note.go (package documentation) and note_test.go.

PETER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_KEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
PETER_TEXT = ("If you think cryptography is the answer to your problem,\n"
              "then you don't know what your problem is.\n")
PETER_SIG = "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
PETER_NOTE = PETER_TEXT + "\n" + PETER_SIG


def test_published_verifier_key_parses_and_its_key_id_checks():
    key = ac.parse_verifier_key(PETER_KEY, ac.SIG_TYPE_ED25519)
    assert key.name == "PeterNeumann" and key.key_id.hex() == "c74f20a3"
    assert key.text == PETER_KEY


def test_published_signed_note_verifies():
    note = ac.parse_note(PETER_NOTE)
    assert note.text == PETER_TEXT
    ac.verify_note_signature(note, ac.parse_verifier_key(PETER_KEY))


def test_published_doubly_signed_note_verifies_with_either_key():
    note = ac.parse_note(PETER_TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    ac.verify_note_signature(note, ac.parse_verifier_key(PETER_KEY))
    ac.verify_note_signature(note, ac.parse_verifier_key(ENOCH_KEY))


def test_note_tampering_fails():
    peter = ac.parse_verifier_key(PETER_KEY)
    edited = PETER_NOTE.replace("cryptography", "cryptograhpy")
    assert "does not verify" in _fails(ac.verify_note_signature, ac.parse_note(edited), peter)
    # Wrong key: the note has no signature by it.
    assert "no signature by key EnochRoot" in _fails(
        ac.verify_note_signature, ac.parse_note(PETER_NOTE), ac.parse_verifier_key(ENOCH_KEY))
    # A flipped byte in the signature.
    raw = bytearray(base64.b64decode(PETER_SIG.split()[-1]))
    raw[10] ^= 1
    flipped = PETER_TEXT + "\n\u2014 PeterNeumann " + base64.b64encode(bytes(raw)).decode() + "\n"
    assert "does not verify" in _fails(ac.verify_note_signature, ac.parse_note(flipped), peter)
    # Same name, other key ID: ignored, so no signature by the key.
    raw = bytearray(base64.b64decode(PETER_SIG.split()[-1]))
    raw[0] ^= 1
    other_id = PETER_TEXT + "\n\u2014 PeterNeumann " + base64.b64encode(bytes(raw)).decode() + "\n"
    assert "no signature" in _fails(ac.verify_note_signature, ac.parse_note(other_id), peter)


def test_verifier_key_whose_base64_contains_plus_parses():
    """Only the first two '+' separate the fields: standard base64 uses '+' too."""
    seed = next(bytes([i]) * 32 for i in range(256)
                if "+" in Signer("k.test/a", seed=bytes([i]) * 32).vkey.split("+", 2)[2])
    signer = Signer("k.test/a", seed=seed)
    key = ac.parse_verifier_key(signer.vkey)
    assert key.text == signer.vkey
    ac.verify_note_signature(ac.parse_note("hello\n\n" + signer.line("hello\n")), key)


@pytest.mark.parametrize("bad", [
    PETER_KEY.replace("c74f20a3", "c74f20a4"),           # key ID does not match
    PETER_KEY.replace("+ARpc", "+Arpc"),                  # key bytes changed: ID no longer matches
    PETER_KEY.replace("PeterNeumann", "Peter Neumann"),   # space in the name
    "PeterNeumann+c74f20a3",                              # missing part
    PETER_KEY + "+extra",
    PETER_KEY[:-4],                                       # truncated key
])
def test_mangled_verifier_keys_are_refused(bad):
    with pytest.raises(ac.CheckFailed):
        ac.parse_verifier_key(bad)


@pytest.mark.parametrize("message", [
    PETER_TEXT + PETER_SIG,                                # no blank line
    PETER_TEXT + "\n",                                     # no signatures
    PETER_TEXT + "\n" + PETER_SIG[:-1],                    # last line without newline
    PETER_TEXT + "\n" + PETER_SIG.replace("\u2014", "-"),  # not an em dash
    PETER_TEXT.replace("answer", "ans\twer") + "\n" + PETER_SIG,  # control character
])
def test_malformed_notes_are_refused(message):
    with pytest.raises(ac.CheckFailed):
        ac.parse_note(message)


# --------------------------------------------------------------------------- checkpoint and cosignature vectors

SPEC_CHECKPOINT_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
# c2sp.org/tlog-cosignature, the example cosigned checkpoint.
SPEC_COSIGNED = (
    SPEC_CHECKPOINT_BODY + "\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


def test_spec_checkpoint_body_parses():
    cp = ac.parse_checkpoint_body(SPEC_CHECKPOINT_BODY)
    assert (cp.origin, cp.size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert ac.b64(cp.root) == "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    cp = ac.parse_checkpoint_body(SPEC_CHECKPOINT_BODY + "ext one\n")
    assert cp.extensions == ("ext one",)


@pytest.mark.parametrize("body", [
    "example.com/log\n020\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",     # leading zero
    "example.com/log\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    "example.com/log\n20\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n",           # 30-byte root
    "example.com/log\n20\n",                                                     # no root
    "\n20\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",                       # empty origin
    "example.com/log\n20\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n",      # empty extension
])
def test_malformed_checkpoint_bodies_are_refused(body):
    with pytest.raises(ac.CheckFailed):
        ac.parse_checkpoint_body(body)


def test_spec_cosignature_carries_the_spec_timestamp():
    """The example cosignature's key ID || timestamp || signature layout: its timestamp is the
    `time 1679315147` of the spec's signed-message example."""
    note = ac.parse_note(SPEC_COSIGNED)
    assert note.text == SPEC_CHECKPOINT_BODY
    witness = [s for s in note.signatures if s.name == "witness.example.com/w1"][0]
    assert len(witness.signature) == 8 + 64
    assert int.from_bytes(witness.signature[:8], "big") == 1679315147
    assert ac.cosignature_message(note.text, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + SPEC_CHECKPOINT_BODY.encode())


def test_published_cosignature_timestamp():
    """transparency-dev/formats note_cosigv1_test.go TestCoSigV1Timestamp: 1727964367."""
    raw = base64.b64decode("ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==")
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == 1727964367


def test_published_cosignature_verifier_key_parses():
    """transparency-dev/formats note_cosigv1_test.go: a native type-0x04 Ed25519 key."""
    key = ac.parse_verifier_key("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
                                ac.SIG_TYPE_COSIGNATURE_V1)
    assert key.sig_type == 0x04 and key.key_id.hex() == "da77ade7"
    with pytest.raises(ac.CheckFailed):
        ac.parse_verifier_key(PETER_KEY, ac.SIG_TYPE_COSIGNATURE_V1)   # a type 0x01 key is not a witness key


# --------------------------------------------------------------------------- signing, as the specs say (for test logs)

class Signer:
    """An Ed25519 signed-note signer (type 0x01) or cosigner (type 0x04), made for a test."""

    def __init__(self, name: str, sig_type: int = ac.SIG_TYPE_ED25519, seed: bytes | None = None):
        self.name, self.sig_type = name, sig_type
        self.private = (Ed25519PrivateKey.from_private_bytes(seed) if seed
                        else Ed25519PrivateKey.generate())
        public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        digest = hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public).digest()
        self.key_id = digest[:4]
        self.vkey = f"{name}+{self.key_id.hex()}+{base64.b64encode(bytes([sig_type]) + public).decode()}"

    def line(self, body: str, timestamp: int = 1700000000) -> str:
        if self.sig_type == ac.SIG_TYPE_ED25519:
            raw = self.key_id + self.private.sign(body.encode())
        else:
            message = f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()
            raw = self.key_id + timestamp.to_bytes(8, "big") + self.private.sign(message)
        return f"\u2014 {self.name} {base64.b64encode(raw).decode()}\n"


def signed_checkpoint(origin: str, size: int, root: bytes, *signers: Signer) -> str:
    body = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
    return body + "\n" + "".join(s.line(body) for s in signers)


ORIGIN_NAME = "clearance.test/audit"
LOG_ID = "replica-1"


def _record(rid: str, phase: str, **fields) -> str:
    return json.dumps({"id": rid, "phase": phase, **fields}, separators=(",", ":"))


@pytest.fixture()
def test_log():
    """A log of 11 records signed by a fresh key: request r-allow (decision + completion 200) at
    indexes 3 and 6, r-deny (one whole record, 451) at index 9."""
    records = [_record(f"other-{i}", "decision", decision="allow") for i in range(11)]
    records[3] = _record("r-allow", "decision", decision="allow")
    records[6] = _record("r-allow", "completion", decision="allow", status=200)
    records[9] = json.dumps({"id": "r-deny", "decision": "deny", "status": 451, "directive": "EXD-2026-06"})
    hashes = [ac.leaf_hash(r.encode()) for r in records]
    log_signer = Signer(ORIGIN_NAME)
    witness = Signer("witness.test/w1", ac.SIG_TYPE_COSIGNATURE_V1)
    root = _mth(hashes)
    note = signed_checkpoint(f"{ORIGIN_NAME}/{LOG_ID}", len(records), root, log_signer)
    body = note.split("\n\n")[0] + "\n"
    cosigned = note + witness.line(body, 1700000123)

    def bundle(rid, indexes, checkpoint=note):
        return {
            "format": "clearance-receipt/v1", "request_id": rid, "log": LOG_ID, "checkpoint": checkpoint,
            "entries": [{"index": i, "record": records[i],
                         "inclusion_proof": [ac.b64(p) for p in rfc_path(i, hashes)]} for i in indexes],
        }

    return {"records": records, "hashes": hashes, "signer": log_signer, "witness": witness,
            "note": note, "cosigned": cosigned, "bundle": bundle, "root": root}


def test_receipt_verifies(test_log):
    key = ac.parse_verifier_key(test_log["signer"].vkey)
    receipt = ac.verify_receipt(test_log["bundle"]("r-allow", [3, 6]), key)
    assert [e.index for e in receipt.entries] == [3, 6]
    assert receipt.entries[1].record["status"] == 200
    assert receipt.checkpoint.size == 11 and receipt.log == LOG_ID
    receipt = ac.verify_receipt(test_log["bundle"]("r-deny", [9]), key)
    assert receipt.entries[0].record["decision"] == "deny"


def test_receipt_with_witness_cosignature(test_log):
    key = ac.parse_verifier_key(test_log["signer"].vkey)
    wkey = ac.parse_verifier_key(test_log["witness"].vkey, ac.SIG_TYPE_COSIGNATURE_V1)
    receipt = ac.verify_receipt(test_log["bundle"]("r-deny", [9], test_log["cosigned"]), key, [wkey], 1)
    assert list(receipt.checkpoint.cosigned_by.values()) == [1700000123]


def test_cosignature_by_an_unlisted_key_does_not_count(test_log):
    key = ac.parse_verifier_key(test_log["signer"].vkey)
    listed = Signer("witness.test/w2", ac.SIG_TYPE_COSIGNATURE_V1)   # given, but did not cosign
    wkey = ac.parse_verifier_key(listed.vkey)
    message = _fails(ac.verify_receipt, test_log["bundle"]("r-deny", [9], test_log["cosigned"]), key, [wkey], 1)
    assert "0 of the given witnesses cosigned" in message
    # An impostor with the listed witness's name but its own key: ignored (other key ID), still 0.
    impostor = Signer("witness.test/w2", ac.SIG_TYPE_COSIGNATURE_V1)
    body = test_log["note"].split("\n\n")[0] + "\n"
    note = test_log["note"] + impostor.line(body)
    assert "0 of the given" in _fails(ac.verify_receipt, test_log["bundle"]("r-deny", [9], note), key, [wkey], 1)


def test_tampered_cosignature_fails(test_log):
    key = ac.parse_verifier_key(test_log["signer"].vkey)
    wkey = ac.parse_verifier_key(test_log["witness"].vkey)
    lines = test_log["cosigned"].split("\n")
    name, sig = lines[-2].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[8] ^= 1   # the timestamp: the signed message changes
    lines[-2] = f"{name} {base64.b64encode(bytes(raw)).decode()}"
    message = _fails(ac.verify_receipt, test_log["bundle"]("r-deny", [9], "\n".join(lines)), key, [wkey], 1)
    assert "cosignature by witness witness.test/w1" in message and "does not verify" in message


def test_receipt_tampering_fails(test_log):
    key = ac.parse_verifier_key(test_log["signer"].vkey)
    good = test_log["bundle"]("r-allow", [3, 6])

    edited = json.loads(json.dumps(good))
    edited["entries"][1]["record"] = edited["entries"][1]["record"].replace("200", "201")
    assert "entry at index 6: inclusion proof does not lead to the root" in _fails(ac.verify_receipt, edited, key)

    spaced = json.loads(json.dumps(good))
    spaced["entries"][0]["record"] += " "   # the exact text counts, not its JSON value
    assert "does not lead to the root" in _fails(ac.verify_receipt, spaced, key)

    flipped = json.loads(json.dumps(good))
    raw = bytearray(base64.b64decode(flipped["entries"][0]["inclusion_proof"][1]))
    raw[0] ^= 0x80
    flipped["entries"][0]["inclusion_proof"][1] = base64.b64encode(bytes(raw)).decode()
    assert "does not lead to the root" in _fails(ac.verify_receipt, flipped, key)

    short = json.loads(json.dumps(good))
    short["entries"][0]["inclusion_proof"].pop()
    assert "shorter than the path" in _fails(ac.verify_receipt, short, key)

    moved = json.loads(json.dumps(good))
    moved["entries"][0]["index"] = 2
    assert "does not lead to the root" in _fails(ac.verify_receipt, moved, key)

    other = json.loads(json.dumps(good))
    other["request_id"] = "r-deny"
    assert "is not the receipt's request id" in _fails(ac.verify_receipt, other, key)

    wrong_log = json.loads(json.dumps(good))
    wrong_log["log"] = "replica-2"
    assert "is not log 'replica-2'" in _fails(ac.verify_receipt, wrong_log, key)


def test_receipt_with_wrong_root_fails(test_log):
    """A checkpoint signed by the right key over another root: the proofs do not lead to it."""
    key = ac.parse_verifier_key(test_log["signer"].vkey)
    note = signed_checkpoint(f"{ORIGIN_NAME}/{LOG_ID}", 11, SOME_HASH, test_log["signer"])
    assert "does not lead to the root" in _fails(ac.verify_receipt, test_log["bundle"]("r-deny", [9], note), key)
    # And a checkpoint whose body was edited after signing.
    forged = test_log["note"].replace("\n11\n", "\n12\n", 1)
    assert "checkpoint: signature by" in _fails(ac.verify_receipt, test_log["bundle"]("r-deny", [9], forged), key)


def test_receipt_with_wrong_key_fails(test_log):
    other = Signer(ORIGIN_NAME)   # same name, another key
    message = _fails(ac.verify_receipt, test_log["bundle"]("r-deny", [9]), ac.parse_verifier_key(other.vkey))
    assert "no signature by key clearance.test/audit" in message


# --------------------------------------------------------------------------- the command line

def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = ac.main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_cli_receipt_and_checkpoint(test_log, tmp_path):
    bundle = tmp_path / "receipt.json"
    bundle.write_text(json.dumps(test_log["bundle"]("r-allow", [3, 6], test_log["cosigned"])))
    code, out, err = _run("receipt", str(bundle), "--key", test_log["signer"].vkey,
                          "--witness-key", test_log["witness"].vkey, "--witnesses-required", "1")
    assert code == 0, err
    assert "receipt for request r-allow: OK" in out and "entry 6: included" in out and "status=200" in out

    edited = test_log["bundle"]("r-allow", [3, 6])
    edited["entries"][0]["record"] = edited["entries"][0]["record"].replace("allow", "deny")
    bundle.write_text(json.dumps(edited))
    code, out, err = _run("receipt", str(bundle), "--key", test_log["signer"].vkey)
    assert code == 1 and err.startswith("FAILED: entry at index 3: inclusion proof does not lead to the root")

    checkpoint = tmp_path / "checkpoint"
    checkpoint.write_text(test_log["note"])
    code, out, err = _run("checkpoint", str(checkpoint), "--key", test_log["signer"].vkey)
    assert code == 0 and "size: 11" in out and f"root: {ac.b64(test_log['root'])}" in out


def test_cli_consistency(test_log, tmp_path):
    hashes, signer = test_log["hashes"], test_log["signer"]
    origin = f"{ORIGIN_NAME}/{LOG_ID}"
    (tmp_path / "old").write_text(signed_checkpoint(origin, 5, _mth(hashes[:5]), signer))
    (tmp_path / "new").write_text(test_log["note"])
    proof = {"log": LOG_ID, "from": 5, "to": 11, "proof": [ac.b64(p) for p in rfc_consistency(5, hashes)]}
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    args = ["consistency", "--key", signer.vkey, str(tmp_path / "old"), str(tmp_path / "new"),
            str(tmp_path / "proof.json")]
    code, out, err = _run(*args)
    assert code == 0, err
    assert "is a prefix of size 11" in out

    # A rewritten history: the old checkpoint signed over a different 5-leaf tree.
    forked = hashes[:4] + [ac.leaf_hash(b"rewritten")]
    (tmp_path / "old").write_text(signed_checkpoint(origin, 5, _mth(forked), signer))
    code, out, err = _run(*args)
    assert code == 1 and "does not lead to the old root" in err

    (tmp_path / "old").write_text(signed_checkpoint(f"{ORIGIN_NAME}/other", 5, _mth(hashes[:5]), signer))
    code, out, err = _run(*args)
    assert code == 1 and "different logs" in err


# --------------------------------------------------------------------------- tiles

def test_tile_paths_follow_tlog_tiles():
    assert ac.tile_index_path(1234067) == "x001/x234/067"
    assert ac.tile_index_path(0) == "000"
    assert ac.tile_index_path(1000) == "x001/000"
    assert ac.tile_path(0, 1, 256) == "tile/0/001"
    assert ac.tile_path("entries", 2, 17) == "tile/entries/002.p/17"


def _tiled_log(records, signer):
    """Serves a log as tlog-tiles says (a dict path -> bytes), built from the spec's formulas."""
    hashes = [ac.leaf_hash(r) for r in records]
    files = {}
    for n in range(0, (len(records) + 255) // 256):
        chunk = records[n * 256:(n + 1) * 256]
        files[ac.tile_path("entries", n, len(chunk))] = b"".join(len(r).to_bytes(2, "big") + r for r in chunk)
    level, width = 0, 1
    while width <= len(records):
        # The n-th tile at level l holds MTH(D[(n*256+i)*256^l : (n*256+i+1)*256^l]).
        count = len(records) // width
        level_hashes = [_mth(hashes[j * width:(j + 1) * width]) for j in range(count)]
        for n in range((count + 255) // 256):
            chunk = level_hashes[n * 256:(n + 1) * 256]
            files[ac.tile_path(level, n, len(chunk))] = b"".join(chunk)
        level += 1
        width *= 256
    note = signed_checkpoint(f"{ORIGIN_NAME}/{LOG_ID}", len(records), _mth(hashes), signer)
    return files, note


def test_log_tiles_rebuild_the_signed_root():
    signer = Signer(ORIGIN_NAME)
    records = [_record(f"r-{i}", "decision").encode() for i in range(600)]
    files, note = _tiled_log(records, signer)
    assert "tile/0/002.p/88" in files and "tile/1/000.p/2" in files
    cp = ac.open_checkpoint(note, ac.parse_verifier_key(signer.vkey))
    fetched = []

    def fetch(path):
        fetched.append(path)
        if path not in files:
            raise ac.CheckFailed(f"no {path}")
        return files[path]

    assert ac.verify_log_tiles(cp, fetch) == records
    assert set(fetched) == set(files)

    # One record edited in its bundle: its level-0 tile no longer matches.
    files["tile/entries/001"] = files["tile/entries/001"].replace(b'"r-300"', b'"r-30X"')
    assert "tile/0/001: hash #44 differs" in _fails(ac.verify_log_tiles, cp, fetch)


def test_log_tiles_consistently_rewritten_do_not_match_the_signed_root():
    signer = Signer(ORIGIN_NAME)
    records = [_record(f"r-{i}", "decision").encode() for i in range(20)]
    _, note = _tiled_log(records, signer)
    records[7] = b'{"id":"forged"}'
    files, _ = _tiled_log(records, signer)   # every tile recomputed from the forged entries
    cp = ac.open_checkpoint(note, ac.parse_verifier_key(signer.vkey))
    assert "the signed root is" in _fails(ac.verify_log_tiles, cp, files.__getitem__)


def test_cli_log_fetches_tiles_over_http():
    """`log` against a static tlog-tiles server (the spec's layout under /audit/log/<id>/)."""
    import http.server
    import threading

    signer = Signer(ORIGIN_NAME)
    records = [_record(f"r-{i}", "decision").encode() for i in range(300)]
    files, note = _tiled_log(records, signer)
    files["checkpoint"] = note.encode()
    prefix = f"/audit/log/{LOG_ID}/"
    seen_auth = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen_auth.append(self.headers.get("authorization"))
            body = files.get(self.path[len(prefix):]) if self.path.startswith(prefix) else None
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        code, out, err = _run("log", "--key", signer.vkey, "--url", url, "--log", LOG_ID, "--auth", "tok")
        assert code == 0, err
        assert "all 300 entries hash to the signed root" in out
        assert set(seen_auth) == {"Bearer tok"}
        del files["tile/0/001.p/44"]
        code, out, err = _run("log", "--key", signer.vkey, "--url", url, "--log", LOG_ID)
        assert code == 1 and "tile/0/001.p/44: HTTP 404" in err
    finally:
        server.shutdown()
        server.server_close()


# =========================================================================== end to end: the gateway
# These need the binaries (`clearance`, `clearance-fake`) with the verifiable log in them.

from conftest import Fakes, binary, gateway_env, new_gateway  # noqa: E402

AUDIT_ORIGIN = "clearance.test/audit"
DENY_MYTHOS = """id = "EXD-2026-06"
title = "Export control: Mythos 5"
authority = "Export control directive, 2026-06-15"
effective = "2026-06-15T00:00:00Z"
mode = "enforce"
models = ["mythos-5"]
when = "!principal.us_person"
effect = "deny"
"""
RECEIPT_WAIT_S = 5.0


AUDIT_ADMIN_TOKEN_ENV = "AUDIT_CHECK_TEST_ADMIN_TOKEN"
AUDIT_ADMIN_TOKEN = "audit-check-admin-token-0b7e"


class SignedGateway:
    def __init__(self, gateway, keys, log_key: str):
        self.gateway, self.keys, self.log_key = gateway, keys, log_key
        self.http = httpx.Client(base_url=gateway.url, timeout=10.0)
        self.admin_token = AUDIT_ADMIN_TOKEN

    @property
    def url(self) -> str:
        return self.gateway.url

    def audit_get(self, path: str, token: str | None = None, **params) -> httpx.Response:
        """A GET under /audit/, with the admin token unless another bearer token is given (a
        receipt is for the key that made the request, or the admin token)."""
        return self.http.get(path, params=params or None,
                             headers={"authorization": f"Bearer {token or self.admin_token}"})

    def allowed(self) -> httpx.Response:
        """alice (a US person) asks for gpt-5: 200."""
        r = self.http.post("/v1/chat/completions", headers={"authorization": f"Bearer {self.keys['alice']}"},
                           json={"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
        return r

    def denied(self) -> httpx.Response:
        """bjorn (not a US person) asks for mythos-5: 451 by EXD-2026-06."""
        r = self.http.post("/v1/messages", headers={"x-api-key": self.keys["bjorn"],
                                                    "anthropic-version": "2023-06-01"},
                           json={"model": "mythos-5", "max_tokens": 16,
                                 "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 451, r.text
        return r

    def receipt(self, request_id: str, token: str | None = None) -> dict:
        """GET /audit/receipt/{id}, retrying 425 (not yet in a signed checkpoint) for 5 s."""
        deadline = time.monotonic() + RECEIPT_WAIT_S
        while True:
            r = self.audit_get(f"/audit/receipt/{request_id}", token)
            if r.status_code != 425 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert r.status_code == 200, f"GET /audit/receipt/{request_id}: {r.status_code} {r.text}"
        return r.json()

    def checkpoint(self, log: str) -> str:
        r = self.audit_get(f"/audit/log/{log}/checkpoint")
        assert r.status_code == 200, f"GET /audit/log/{log}/checkpoint: {r.status_code} {r.text}"
        return r.text


def _keygen(directory: Path) -> str:
    argv = [str(binary("clearance")), "audit", "keygen", "--name", AUDIT_ORIGIN,
            "--out", str(directory / "audit.key")]
    done = subprocess.run(argv, capture_output=True, text=True, env=gateway_env(), timeout=30,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"`{' '.join(argv)}` exited {done.returncode}: {done.stderr}"
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    assert lines, f"`clearance audit keygen` printed no verifier key: {done.stdout!r}"
    return lines[-1]


@pytest.fixture(scope="module")
def signed_gateway(tmp_path_factory: pytest.TempPathFactory, fakes: Fakes):
    """A gateway of its own with a log signing key, a checkpoint after every record (or 100 ms),
    and a directive that denies mythos-5 to non-US persons."""
    directory: Path = tmp_path_factory.mktemp("signed")
    log_key = _keygen(directory)
    gw = new_gateway(directory, fakes)
    config = gw.config.read_text()
    assert config.count("[audit]\n") == 1
    assert config.count("[server]\n") == 1
    config = config.replace("[server]\n", f'[server]\nadmin_token_env = "{AUDIT_ADMIN_TOKEN_ENV}"\n', 1)
    os.environ[AUDIT_ADMIN_TOKEN_ENV] = AUDIT_ADMIN_TOKEN
    config = config.replace("[audit]\n", "[audit]\n"
                            f'origin = "{AUDIT_ORIGIN}"\n'
                            'signing_key_file = "audit.key"\n'
                            "checkpoint_every_records = 1\n"
                            "checkpoint_every_ms = 100\n", 1)
    config += '\n[directives]\ndir = "directives"\n'
    gw.config.write_text(config)
    (directory / "directives").mkdir()
    (directory / "directives" / "exd.toml").write_text(DENY_MYTHOS)
    keys = {p: gw.cli.create_key(p).key for p in ("alice", "bjorn")}
    gw.start()
    signed = SignedGateway(gw, keys, log_key)
    try:
        yield signed
    finally:
        signed.http.close()
        gw.stop()


def _receipt_header(response: httpx.Response) -> dict[str, str]:
    value = response.headers.get("x-clearance-receipt")
    assert value, f"no x-clearance-receipt header on the {response.status_code} answer"
    fields = {}
    for part in value.split(";"):
        name, _, v = part.strip().partition("=")
        fields[name] = v
    assert {"log", "index", "leaf", "policy"} <= set(fields), value
    return fields


def _check_receipt_matches_answer(signed: SignedGateway, response: httpx.Response,
                                  owner: str) -> ac.VerifiedReceipt:
    request_id = response.headers["x-clearance-request-id"]
    header = _receipt_header(response)
    bundle = signed.receipt(request_id, signed.keys[owner])   # the caller's own key
    assert signed.receipt(request_id) == bundle               # the admin token: the same bundle
    other = next(k for p, k in signed.keys.items() if p != owner)
    r = signed.audit_get(f"/audit/receipt/{request_id}", other)
    assert r.status_code == 404, f"another client's key must not see the receipt: {r.status_code} {r.text}"
    receipt = ac.verify_receipt(bundle, ac.parse_verifier_key(signed.log_key))
    assert receipt.request_id == request_id and receipt.log == header["log"]
    by_index = {e.index: e for e in receipt.entries}
    assert int(header["index"]) in by_index, (header, list(by_index))
    assert ac.b64(by_index[int(header["index"])].leaf) == header["leaf"]
    return receipt


def test_gateway_receipts_for_a_200_and_a_451_verify(signed_gateway):
    served = _check_receipt_matches_answer(signed_gateway, signed_gateway.allowed(), "alice")
    assert 1 <= len(served.entries) <= 2
    assert any(e.record.get("status") == 200 for e in served.entries), [e.record for e in served.entries]
    assert all(e.record.get("decision") == "allow" for e in served.entries if "decision" in e.record)

    refused = _check_receipt_matches_answer(signed_gateway, signed_gateway.denied(), "bjorn")
    assert any(e.record.get("decision") == "deny" for e in refused.entries), [e.record for e in refused.entries]
    assert any(e.record.get("status") == 451 for e in refused.entries), [e.record for e in refused.entries]


def test_gateway_receipts_tampering_is_caught(signed_gateway):
    response = signed_gateway.allowed()
    bundle = signed_gateway.receipt(response.headers["x-clearance-request-id"])
    key = ac.parse_verifier_key(signed_gateway.log_key)
    edited = json.loads(json.dumps(bundle))
    edited["entries"][0]["record"] = edited["entries"][0]["record"].replace('"allow"', '"deny"')
    assert edited != bundle
    assert "does not lead to the root" in _fails(ac.verify_receipt, edited, key)
    assert "no signature by key" in _fails(ac.verify_receipt, bundle, ac.parse_verifier_key(Signer(AUDIT_ORIGIN).vkey))


def test_gateway_receipts_script_and_rust_verifier_agree(signed_gateway, tmp_path):
    """The script as an auditor runs it, and `clearance audit verify-bundle` on the same files."""
    response = signed_gateway.denied()
    bundle = signed_gateway.receipt(response.headers["x-clearance-request-id"])
    good, bad = tmp_path / "receipt.json", tmp_path / "tampered.json"
    good.write_text(json.dumps(bundle))
    tampered = json.loads(json.dumps(bundle))
    tampered["entries"][-1]["record"] = tampered["entries"][-1]["record"].replace("451", "200")
    bad.write_text(json.dumps(tampered))
    for path, want in ((good, 0), (bad, 1)):
        done = subprocess.run([sys.executable, str(SCRIPT), "receipt", str(path), "--key", signed_gateway.log_key],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == want, (path.name, done.stdout, done.stderr)
        rust = subprocess.run([str(binary("clearance")), "audit", "verify-bundle", str(path),
                               "--key", signed_gateway.log_key],
                              capture_output=True, text=True, timeout=30, env=gateway_env())
        assert (rust.returncode == 0) == (want == 0), (path.name, rust.stdout, rust.stderr)


def test_gateway_receipts_cli_prove_writes_the_same_receipt(signed_gateway):
    """`clearance audit prove REQUEST_ID` (on the store, stdout) gives a bundle that verifies."""
    response = signed_gateway.allowed()
    request_id = response.headers["x-clearance-request-id"]
    signed_gateway.receipt(request_id)   # waits until it is in a signed checkpoint
    done = signed_gateway.gateway.cli.run("audit", "prove", request_id)
    bundle = json.loads(done.stdout)
    receipt = ac.verify_receipt(bundle, ac.parse_verifier_key(signed_gateway.log_key))
    assert receipt.request_id == request_id


def test_gateway_receipts_checkpoints_are_consistent(signed_gateway, tmp_path):
    first = signed_gateway.allowed()
    log = _receipt_header(first)["log"]
    signed_gateway.receipt(first.headers["x-clearance-request-id"])
    key = ac.parse_verifier_key(signed_gateway.log_key)
    old_note = signed_gateway.checkpoint(log)
    old = ac.open_checkpoint(old_note, key)
    assert old.log_id(key) == log

    for _ in range(3):
        signed_gateway.allowed()
    last = signed_gateway.denied()
    signed_gateway.receipt(last.headers["x-clearance-request-id"])
    deadline = time.monotonic() + RECEIPT_WAIT_S
    while True:
        new_note = signed_gateway.checkpoint(log)
        new = ac.open_checkpoint(new_note, key)
        if new.size >= old.size + 4 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert new.size >= old.size + 4, (old.size, new.size)

    r = signed_gateway.audit_get("/audit/proof/consistency", log=log, **{"from": old.size, "to": new.size})
    assert r.status_code == 200, r.text
    proof = r.json()
    ac.verify_consistency_bundle(old_note, new_note, proof, key)

    # And through the command line, as docs/auditor.md tells an auditor.
    (tmp_path / "old").write_text(old_note)
    (tmp_path / "new").write_text(new_note)
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    done = subprocess.run([sys.executable, str(SCRIPT), "consistency", "--key", signed_gateway.log_key,
                           str(tmp_path / "old"), str(tmp_path / "new"), str(tmp_path / "proof.json")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, (done.stdout, done.stderr)


def test_gateway_receipts_log_tiles_rebuild_the_signed_root(signed_gateway):
    """The stretch check: every entry of the log from its tiles, hashed to the signed root."""
    response = signed_gateway.allowed()
    log = _receipt_header(response)["log"]
    signed_gateway.receipt(response.headers["x-clearance-request-id"])
    done = subprocess.run([sys.executable, str(SCRIPT), "log", "--key", signed_gateway.log_key,
                           "--url", signed_gateway.url, "--log", log, "--auth", signed_gateway.admin_token],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "entries hash to the signed root" in done.stdout
