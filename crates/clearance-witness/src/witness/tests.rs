#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;

use clearance_tlog::merkle::leaf_hash;
use clearance_tlog::note::{TYPE_COSIGNATURE, TYPE_ED25519};
use clearance_tlog::{Checkpoint, Frontier, Hash, NodeId, Note, ProofPlan, Signer};

use super::*;

const ORIGIN: &str = "example.com/log";

/// A log in memory: every complete node, so any consistency proof can be assembled.
struct Tree {
    frontier: Frontier,
    nodes: HashMap<NodeId, Hash>,
    roots: Vec<Hash>,
}

impl Tree {
    /// `size` leaves `leaf-<i>`, except those in `changed` (`other-<i>`).
    fn new(size: u64, changed: &[u64]) -> Tree {
        let mut tree = Tree {
            frontier: Frontier::new(),
            nodes: HashMap::new(),
            roots: vec![clearance_tlog::merkle::empty_root()],
        };
        for i in 0..size {
            let data = if changed.contains(&i) {
                format!("other-{i}")
            } else {
                format!("leaf-{i}")
            };
            tree.nodes
                .extend(tree.frontier.append(leaf_hash(data.as_bytes())));
            tree.roots.push(tree.frontier.root());
        }
        tree
    }

    fn root(&self, size: u64) -> Hash {
        self.roots[size as usize]
    }

    fn proof(&self, from: u64, to: u64) -> Vec<Hash> {
        ProofPlan::consistency(from, to)
            .unwrap()
            .assemble(|id| self.nodes.get(&id).copied())
            .unwrap()
    }
}

struct Fixture {
    log: Signer,
    witness: Witness,
}

fn fixture_with(state: WitnessState, log: Signer, cosigner: Signer) -> Fixture {
    let witness = Witness::new(
        cosigner,
        [(ORIGIN.to_string(), vec![log.verifier()])],
        state,
    )
    .unwrap();
    Fixture { log, witness }
}

fn fixture() -> Fixture {
    fixture_with(
        WitnessState::in_memory().unwrap(),
        Signer::generate(ORIGIN, TYPE_ED25519).unwrap(),
        Signer::generate("witness.example/w1", TYPE_COSIGNATURE).unwrap(),
    )
}

fn note(signer: &Signer, origin: &str, size: u64, root: Hash) -> String {
    signer
        .sign(&Checkpoint::new(origin, size, root).body())
        .unwrap()
}

fn body(old: u64, proof: &[Hash], note: &str) -> Vec<u8> {
    let mut body = format!("old {old}\n");
    for hash in proof {
        body.push_str(&hash.to_base64());
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body.into_bytes()
}

impl Fixture {
    /// Submits `tree`'s checkpoint at `size` with the proof from `old`.
    fn submit(&self, tree: &Tree, old: u64, size: u64) -> Result<String, AddCheckpointError> {
        let note = note(&self.log, ORIGIN, size, tree.root(size));
        self.witness
            .add_checkpoint(&body(old, &tree.proof(old, size), &note), 1_700_000_000)
    }

    fn latest(&self) -> Option<LatestCheckpoint> {
        self.witness.state().latest(ORIGIN).unwrap()
    }
}

#[test]
fn first_checkpoint_from_old_zero_is_cosigned() {
    let f = fixture();
    let tree = Tree::new(5, &[]);
    let note_text = note(&f.log, ORIGIN, 5, tree.root(5));
    let answer = f
        .witness
        .add_checkpoint(&body(0, &[], &note_text), 1_700_000_000)
        .unwrap();
    assert!(answer.starts_with("\u{2014} witness.example/w1 "));
    assert!(answer.ends_with('\n'));
    assert_eq!(answer.lines().count(), 1);
    let mut cosigned = Note::parse(&note_text).unwrap();
    assert_eq!(cosigned.add_signature_lines(&answer).unwrap(), 1);
    assert_eq!(
        cosigned.verified_by(&f.witness.verifier()),
        vec![Some(1_700_000_000)]
    );
    assert_eq!(
        f.latest(),
        Some(LatestCheckpoint {
            size: 5,
            root: tree.root(5)
        })
    );
}

#[test]
fn growth_with_valid_proofs_is_cosigned() {
    let f = fixture();
    let tree = Tree::new(40, &[]);
    for (old, size) in [
        (0, 1),
        (1, 5),
        (5, 8),
        (8, 13),
        (13, 13),
        (13, 16),
        (16, 40),
    ] {
        f.submit(&tree, old, size)
            .unwrap_or_else(|e| panic!("{old} -> {size}: {e}"));
        assert_eq!(f.latest().unwrap().size, size);
        assert_eq!(f.latest().unwrap().root, tree.root(size));
    }
}

#[test]
fn same_size_with_another_root_is_a_fork() {
    let f = fixture();
    let tree = Tree::new(5, &[]);
    f.submit(&tree, 0, 5).unwrap();
    let forked = Tree::new(5, &[3]);
    let error = f.submit(&forked, 5, 5).unwrap_err();
    assert!(
        matches!(error, AddCheckpointError::Fork { size: 5 }),
        "{error}"
    );
    assert_eq!(error.status(), 409);
    assert_eq!(error.latest_size(), None);
    assert_eq!(f.latest().unwrap().root, tree.root(5));
    // The same checkpoint again is fine (and changes nothing).
    f.submit(&tree, 5, 5).unwrap();
}

#[test]
fn a_forked_history_at_a_larger_size_is_refused() {
    let f = fixture();
    let tree = Tree::new(5, &[]);
    f.submit(&tree, 0, 5).unwrap();
    // Leaf 2 differs: the proof is valid within the forked tree, not against the stored root.
    let forked = Tree::new(13, &[2]);
    let error = f.submit(&forked, 5, 13).unwrap_err();
    assert!(
        matches!(
            error,
            AddCheckpointError::Inconsistent {
                old: 5,
                size: 13,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(error.status(), 422);
    assert_eq!(
        f.latest(),
        Some(LatestCheckpoint {
            size: 5,
            root: tree.root(5)
        })
    );
    // A proof from the right tree but with a hash flipped is refused too.
    let good = Tree::new(13, &[]);
    let mut proof = good.proof(5, 13);
    proof[1].0[0] ^= 1;
    let note_text = note(&f.log, ORIGIN, 13, good.root(13));
    let error = f
        .witness
        .add_checkpoint(&body(5, &proof, &note_text), 1)
        .unwrap_err();
    assert_eq!(error.status(), 422, "{error}");
    // A non-empty proof from old size 0 is not a valid proof either.
    let fresh = fixture();
    let note_text = note(&fresh.log, ORIGIN, 13, good.root(13));
    let error = fresh
        .witness
        .add_checkpoint(&body(0, &good.proof(5, 13), &note_text), 1)
        .unwrap_err();
    assert_eq!(error.status(), 422, "{error}");
    assert_eq!(fresh.latest(), None);
}

#[test]
fn wrong_old_size_answers_the_latest_size() {
    let f = fixture();
    let tree = Tree::new(13, &[]);
    // Never cosigned: the latest size is 0.
    let error = f.submit(&tree, 3, 13).unwrap_err();
    assert_eq!((error.status(), error.latest_size()), (409, Some(0)));
    f.submit(&tree, 0, 5).unwrap();
    for old in [0, 3, 8] {
        let error = f.submit(&tree, old, 13).unwrap_err();
        assert!(
            matches!(error, AddCheckpointError::OldSizeMismatch { latest: 5, .. }),
            "{error}"
        );
        assert_eq!((error.status(), error.latest_size()), (409, Some(5)));
    }
    assert_eq!(f.latest().unwrap().size, 5);
}

#[test]
fn unknown_origin_is_404() {
    let f = fixture();
    let tree = Tree::new(5, &[]);
    let other = Signer::generate("other.example/log", TYPE_ED25519).unwrap();
    let note_text = note(&other, "other.example/log", 5, tree.root(5));
    let error = f
        .witness
        .add_checkpoint(&body(0, &[], &note_text), 1)
        .unwrap_err();
    assert!(
        matches!(error, AddCheckpointError::UnknownOrigin(_)),
        "{error}"
    );
    assert_eq!(error.status(), 404);
}

#[test]
fn no_trusted_signature_is_403() {
    let f = fixture();
    let tree = Tree::new(5, &[]);
    // Same name, another key.
    let impostor = Signer::generate(ORIGIN, TYPE_ED25519).unwrap();
    let note_text = note(&impostor, ORIGIN, 5, tree.root(5));
    let error = f
        .witness
        .add_checkpoint(&body(0, &[], &note_text), 1)
        .unwrap_err();
    assert!(
        matches!(error, AddCheckpointError::Unverified(_)),
        "{error}"
    );
    assert_eq!(error.status(), 403);
    // The right key's signature over another body.
    let genuine = note(&f.log, ORIGIN, 5, tree.root(5));
    let tampered = genuine.replacen("\n5\n", "\n6\n", 1);
    let error = f
        .witness
        .add_checkpoint(&body(0, &[], &tampered), 1)
        .unwrap_err();
    assert_eq!(error.status(), 403, "{error}");
    // An unknown key's signature beside the trusted one is ignored.
    let mut both = Note::parse(&genuine).unwrap();
    both.add_signature_lines(&impostor.signature_line(&both.body, 0))
        .unwrap();
    f.witness
        .add_checkpoint(&body(0, &[], &both.to_text()), 1)
        .unwrap();
    assert_eq!(f.latest().unwrap().size, 5);
}

#[test]
fn malformed_bodies_are_400() {
    let f = fixture();
    let tree = Tree::new(13, &[]);
    let good = note(&f.log, ORIGIN, 13, tree.root(13));
    let proof_line = format!("{}\n", tree.root(1).to_base64());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not UTF-8", vec![0xff, 0xfe, b'\n']),
        ("no old line", format!("\n{good}").into_bytes()),
        (
            "old with leading zero",
            format!("old 05\n\n{good}").into_bytes(),
        ),
        ("old not a number", format!("old x\n\n{good}").into_bytes()),
        ("old with sign", format!("old +5\n\n{good}").into_bytes()),
        ("old twice spaced", format!("old  5\n\n{good}").into_bytes()),
        ("no empty line", format!("old 0\n{good}").into_bytes()),
        ("only old", b"old 0\n".to_vec()),
        (
            "bad proof line",
            format!("old 5\nnot-base64!\n\n{good}").into_bytes(),
        ),
        (
            "short proof hash",
            format!("old 5\nAAAA\n\n{good}").into_bytes(),
        ),
        (
            "64 proof lines",
            format!("old 5\n{}\n{good}", proof_line.repeat(64)).into_bytes(),
        ),
        ("no checkpoint", b"old 0\n\n".to_vec()),
        (
            "unsigned checkpoint",
            format!("old 0\n\n{ORIGIN}\n13\n").into_bytes(),
        ),
        (
            "not a checkpoint",
            format!("old 0\n\n{}", f.log.sign("hello\n").unwrap()).into_bytes(),
        ),
        ("old above size", body(14, &[], &good)),
    ];
    for (what, bytes) in cases {
        let error = f.witness.add_checkpoint(&bytes, 1).unwrap_err();
        assert_eq!(error.status(), 400, "{what}: {error}");
    }
    assert_eq!(f.latest(), None);
    // 63 proof lines are allowed through parsing (the proof itself is then wrong: 422).
    let error = f
        .witness
        .add_checkpoint(
            format!("old 0\n{}\n{good}", proof_line.repeat(63)).as_bytes(),
            1,
        )
        .unwrap_err();
    assert_eq!(error.status(), 422, "{error}");
}

#[test]
fn state_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("witness.sqlite");
    let log = Signer::generate(ORIGIN, TYPE_ED25519).unwrap();
    let cosigner_text = Signer::generate("witness.example/w1", TYPE_COSIGNATURE)
        .unwrap()
        .to_text();
    let tree = Tree::new(13, &[]);
    {
        let f = fixture_with(
            WitnessState::open(&path).unwrap(),
            Signer::parse(&log.to_text()).unwrap(),
            Signer::parse(&cosigner_text).unwrap(),
        );
        f.submit(&tree, 0, 5).unwrap();
    }
    let f = fixture_with(
        WitnessState::open(&path).unwrap(),
        log,
        Signer::parse(&cosigner_text).unwrap(),
    );
    assert_eq!(
        f.latest(),
        Some(LatestCheckpoint {
            size: 5,
            root: tree.root(5)
        })
    );
    let error = f.submit(&tree, 0, 13).unwrap_err();
    assert_eq!(error.latest_size(), Some(5));
    f.submit(&tree, 5, 13).unwrap();
    assert_eq!(f.latest().unwrap().size, 13);
}

#[test]
fn setup_refuses_wrong_key_types() {
    let log = Signer::generate(ORIGIN, TYPE_ED25519).unwrap();
    let note_signer = Signer::generate("witness.example/w1", TYPE_ED25519).unwrap();
    let error = Witness::new(
        note_signer,
        [(ORIGIN.to_string(), vec![log.verifier()])],
        WitnessState::in_memory().unwrap(),
    )
    .unwrap_err();
    assert!(matches!(error, ConfigError::NotACosigner(_)), "{error}");
    let cosigner = Signer::generate("witness.example/w1", TYPE_COSIGNATURE).unwrap();
    let cosigning_log = Signer::generate(ORIGIN, TYPE_COSIGNATURE).unwrap();
    let error = Witness::new(
        cosigner,
        [(ORIGIN.to_string(), vec![cosigning_log.verifier()])],
        WitnessState::in_memory().unwrap(),
    )
    .unwrap_err();
    assert!(matches!(error, ConfigError::NotALogKey { .. }), "{error}");
}

#[tokio::test]
async fn http_answers() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    let f = fixture();
    let tree = Tree::new(5, &[]);
    let log = Signer::parse(&f.log.to_text()).unwrap();
    let app = crate::router(Arc::new(f.witness));
    let post = |bytes: Vec<u8>| {
        Request::post("/add-checkpoint")
            .body(Body::from(bytes))
            .unwrap()
    };
    let read = |response: axum::response::Response| async move {
        let status = response.status();
        let kind = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, kind, String::from_utf8(bytes.to_vec()).unwrap())
    };
    let note_text = note(&log, ORIGIN, 5, tree.root(5));

    let (status, _, text) = read(
        app.clone()
            .oneshot(post(body(0, &[], &note_text)))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.starts_with("\u{2014} witness.example/w1 "));

    let (status, kind, text) = read(
        app.clone()
            .oneshot(post(body(3, &[], &note_text)))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(kind.as_deref(), Some("text/x.tlog.size"));
    assert_eq!(text, "5\n");

    let (status, _, _) = read(
        app.clone()
            .oneshot(post(vec![b'x'; 65 * 1024]))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (status, _, text) = read(
        app.clone()
            .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "ok\n"));

    let (status, _, text) = read(
        app.clone()
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("witness.example/w1+"), "{text}");
    assert!(text.contains(ORIGIN), "{text}");
}

#[test]
fn a_family_of_logs_is_witnessed_each_on_its_own() {
    let log = Signer::generate("clearance.test/audit", TYPE_ED25519).unwrap();
    let witness = Witness::new(
        Signer::generate("witness.example/w1", TYPE_COSIGNATURE).unwrap(),
        [("clearance.test/audit/*".to_string(), vec![log.verifier()])],
        WitnessState::in_memory().unwrap(),
    )
    .unwrap();
    let tree = Tree::new(5, &[]);
    for id in ["log-a", "log-b"] {
        let origin = format!("clearance.test/audit/{id}");
        let text = note(&log, &origin, 5, tree.root(5));
        witness.add_checkpoint(&body(0, &[], &text), 1).unwrap();
    }
    // Each log's state is its own: log-a at 5 does not make log-b's first submission stale.
    let forked = Tree::new(7, &[1]);
    let text = note(&log, "clearance.test/audit/log-a", 7, forked.root(7));
    let error = witness
        .add_checkpoint(&body(5, &forked.proof(5, 7), &text), 2)
        .unwrap_err();
    assert_eq!(error.status(), 422, "{error}");
    // Outside the family, and the family's bare prefix, are unknown.
    for origin in ["clearance.test/other/log-a", "clearance.test/audit/"] {
        let text = note(&log, origin, 5, tree.root(5));
        let error = witness.add_checkpoint(&body(0, &[], &text), 3).unwrap_err();
        assert_eq!(error.status(), 404, "{origin}: {error}");
    }
}
