//! The published test vectors: RFC 6962's reference tree (the eight leaves every Certificate
//! Transparency implementation tests against, with their roots and proofs) and the signed-note
//! example key and note from Go's `golang.org/x/mod/sumdb/note` documentation, which the C2SP
//! signed-note spec describes. A tree or note no other implementation agrees with proves
//! nothing to anyone else.
#![allow(clippy::unwrap_used)]

use clearance_tlog::merkle::{
    Frontier, Hash, ProofPlan, empty_root, leaf_hash, node_hash, root_nodes, verify_consistency,
    verify_inclusion,
};
use clearance_tlog::note::{Note, Signer, Verifier};
use proptest::prelude::*;

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn h(hex_text: &str) -> Hash {
    Hash::from_slice(&hex::decode(hex_text).unwrap()).unwrap()
}

fn leaves() -> Vec<Hash> {
    LEAVES
        .iter()
        .map(|l| leaf_hash(&hex::decode(l).unwrap()))
        .collect()
}

/// Every complete node of a tree over `leaves`, the way a store keeps them.
fn stored_nodes(leaves: &[Hash]) -> std::collections::HashMap<clearance_tlog::NodeId, Hash> {
    let mut frontier = Frontier::new();
    leaves.iter().flat_map(|l| frontier.append(*l)).collect()
}

fn prove_inclusion(leaves: &[Hash], index: u64, size: u64) -> Vec<Hash> {
    let nodes = stored_nodes(&leaves[..size as usize]);
    ProofPlan::inclusion(index, size)
        .unwrap()
        .assemble(|id| nodes.get(&id).copied())
        .unwrap()
}

fn prove_consistency(leaves: &[Hash], from: u64, to: u64) -> Vec<Hash> {
    let nodes = stored_nodes(&leaves[..to as usize]);
    ProofPlan::consistency(from, to)
        .unwrap()
        .assemble(|id| nodes.get(&id).copied())
        .unwrap()
}

/// MTH straight from RFC 6962 2.1, recursively: the definition the fast code must match.
fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = (n - 1).next_power_of_two().max(1);
            let k = if k >= n { k / 2 } else { k };
            node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

#[test]
fn roots_match_rfc_6962_for_every_size() {
    let leaves = leaves();
    for (size, want) in ROOTS.iter().enumerate() {
        let mut frontier = Frontier::new();
        for leaf in &leaves[..size] {
            frontier.append(*leaf);
        }
        assert_eq!(frontier.root(), h(want), "size {size}");
        let nodes = stored_nodes(&leaves[..size]);
        let from_store: Vec<Hash> = root_nodes(size as u64).iter().map(|id| nodes[id]).collect();
        assert_eq!(clearance_tlog::merkle::fold(&from_store), h(want));
    }
}

#[test]
fn inclusion_proofs_match_the_published_ones() {
    let leaves = leaves();
    let cases: [(u64, u64, &[&str]); 3] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (0, 1, &[]),
    ];
    for (index, size, want) in cases {
        let want: Vec<Hash> = want.iter().map(|w| h(w)).collect();
        assert_eq!(
            prove_inclusion(&leaves, index, size),
            want,
            "{index} in {size}"
        );
        let root = h(ROOTS[size as usize]);
        verify_inclusion(index, size, &leaves[index as usize], &want, &root).unwrap();
    }
}

#[test]
fn consistency_proofs_match_the_published_ones() {
    let leaves = leaves();
    let cases: [(u64, u64, &[&str]); 3] = [
        (
            2,
            8,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (from, to, want) in cases {
        let want: Vec<Hash> = want.iter().map(|w| h(w)).collect();
        assert_eq!(prove_consistency(&leaves, from, to), want, "{from} to {to}");
        verify_consistency(
            from,
            to,
            &h(ROOTS[from as usize]),
            &h(ROOTS[to as usize]),
            &want,
        )
        .unwrap();
    }
}

/// The signer key, verifier key and signed note of the signed-note format's documentation
/// (golang.org/x/mod/sumdb/note): Ed25519 is deterministic, so signing must give the same line.
#[test]
fn the_published_signed_note_example_verifies_and_signs_identically() {
    let signer = Signer::parse(
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    )
    .unwrap();
    let verifier_text = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    assert_eq!(signer.verifier().to_text(), verifier_text);
    let verifier = Verifier::parse(verifier_text).unwrap();
    let text = "If you think cryptography is the answer to your problem,\n\
                then you don't know what your problem is.\n\
                \n\
                \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    let note = Note::parse(text).unwrap();
    note.verify(&verifier).unwrap();
    assert_eq!(signer.sign(&note.body).unwrap(), text);
    let edited = text.replace("cryptography", "Cryptography");
    assert!(Note::parse(&edited).unwrap().verify(&verifier).is_err());
}

#[test]
fn cosignatures_verify_only_under_the_cosigner_key_and_bind_their_time() {
    let cosigner =
        Signer::generate("witness.test/w1", clearance_tlog::note::TYPE_COSIGNATURE).unwrap();
    let log = Signer::generate("log.test", clearance_tlog::note::TYPE_ED25519).unwrap();
    let body = "log.test/a\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let mut note = Note::parse(&log.sign(body).unwrap()).unwrap();
    note.add_signature_lines(&cosigner.signature_line(body, 1_700_000_000))
        .unwrap();
    let times = note.verified_by(&Verifier::parse(&cosigner.verifier().to_text()).unwrap());
    assert_eq!(times, vec![Some(1_700_000_000)]);
    note.verify(&log.verifier()).unwrap();
    // The same key as a note signer does not verify a cosignature (the key id differs).
    let other =
        Signer::generate("witness.test/w2", clearance_tlog::note::TYPE_COSIGNATURE).unwrap();
    assert!(note.verified_by(&other.verifier()).is_empty());
    // A cosignature moved onto another checkpoint does not verify.
    let line = cosigner.signature_line(body, 1_700_000_000);
    let other_body = "log.test/a\n4\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let mut moved = Note::parse(&log.sign(other_body).unwrap()).unwrap();
    moved.add_signature_lines(&line).unwrap();
    assert!(moved.verified_by(&cosigner.verifier()).is_empty());
}

#[test]
fn keys_round_trip_and_bad_keys_are_named() {
    let signer =
        Signer::generate("clearance.test/audit", clearance_tlog::note::TYPE_ED25519).unwrap();
    let again = Signer::parse(&signer.to_text()).unwrap();
    assert_eq!(again.verifier(), signer.verifier());
    assert!(Verifier::parse("name+00000000+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
    assert!(Verifier::parse("no-plus-signs").is_err());
    assert!(Signer::generate("has space", 1).is_err());
    assert!(!format!("{signer:?}").contains(&signer.to_text()));
}

#[test]
fn tile_paths_follow_the_spec() {
    use clearance_tlog::tiles::{Tile, decode_entry_bundle, encode_entry_bundle, tiles_for};
    let tile = Tile {
        level: Some(0),
        index: 1_234_067,
        width: 256,
    };
    assert_eq!(tile.path(), "tile/0/x001/x234/067");
    assert_eq!(Tile::parse("0/x001/x234/067").unwrap(), tile);
    let partial = Tile {
        level: None,
        index: 5,
        width: 7,
    };
    assert_eq!(partial.path(), "tile/entries/005.p/7");
    assert_eq!(Tile::parse("entries/005.p/7").unwrap(), partial);
    for bad in [
        "0/5",
        "0/x005",
        "0/005.p/256",
        "0/005.p/0",
        "01/005",
        "9/000",
        "0/x000/005",
    ] {
        assert!(Tile::parse(bad).is_err(), "{bad}");
    }
    // The spec's example: a tree of 70,000 entries.
    let hashes: Vec<_> = tiles_for(70_000)
        .into_iter()
        .filter(|t| t.level.is_some())
        .collect();
    let partial: Vec<_> = hashes
        .iter()
        .filter(|t| t.width < 256)
        .map(|t| (t.level, t.width))
        .collect();
    assert_eq!(hashes.iter().filter(|t| t.width == 256).count(), 273 + 1);
    assert_eq!(partial, vec![(Some(0), 112), (Some(1), 17), (Some(2), 1)]);
    assert!(
        Tile {
            level: Some(1),
            index: 1,
            width: 17
        }
        .exists_in(70_000)
    );
    assert!(
        !Tile {
            level: Some(1),
            index: 1,
            width: 16
        }
        .exists_in(70_000)
    );
    let bundle = encode_entry_bundle([b"ab".as_slice(), b"".as_slice()]).unwrap();
    assert_eq!(bundle, vec![0, 2, b'a', b'b', 0, 0]);
    assert_eq!(
        decode_entry_bundle(&bundle).unwrap(),
        vec![b"ab".as_slice(), b"".as_slice()]
    );
    assert!(decode_entry_bundle(&[0, 3, b'a']).is_none());
    assert!(encode_entry_bundle([vec![0u8; 70_000].as_slice()]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every proof between every pair of sizes of a random tree verifies, against the RFC's
    /// recursive definition of the root, and a proof with any one hash changed does not.
    #[test]
    fn every_proof_verifies_and_no_altered_one_does(size in 1u64..70, flip in any::<prop::sample::Index>()) {
        let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for n in 1..=size {
            let root = reference_root(&leaves[..n as usize]);
            for i in [0, n / 2, n - 1] {
                let proof = prove_inclusion(&leaves, i, n);
                prop_assert!(verify_inclusion(i, n, &leaves[i as usize], &proof, &root).is_ok());
                if !proof.is_empty() {
                    let mut bad = proof.clone();
                    let at = flip.index(bad.len());
                    bad[at].0[0] ^= 1;
                    prop_assert!(verify_inclusion(i, n, &leaves[i as usize], &bad, &root).is_err());
                    prop_assert!(verify_inclusion(i, n, &leaves[i as usize], &proof[1..], &root).is_err());
                }
            }
            for m in [1, n / 2, n.saturating_sub(1)] {
                if m == 0 { continue; }
                let old = reference_root(&leaves[..m as usize]);
                let proof = prove_consistency(&leaves, m, n);
                prop_assert!(verify_consistency(m, n, &old, &root, &proof).is_ok(), "{} to {}", m, n);
                if !proof.is_empty() {
                    let mut bad = proof.clone();
                    let at = flip.index(bad.len());
                    bad[at].0[31] ^= 0x80;
                    prop_assert!(verify_consistency(m, n, &old, &root, &bad).is_err());
                }
                // A forked history (one earlier leaf replaced) is not consistent.
                let mut forked = leaves[..m as usize].to_vec();
                forked[0] = leaf_hash(b"forged");
                prop_assert!(verify_consistency(m, n, &reference_root(&forked), &root, &proof).is_err());
            }
        }
    }
}
