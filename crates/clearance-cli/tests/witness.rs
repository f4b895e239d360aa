//! `clearance witness`: a real witness process cosigning a log's checkpoints over HTTP, as the
//! C2SP tlog-witness protocol asks; its state outlives a restart.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use clearance_tlog::merkle::leaf_hash;
use clearance_tlog::note::TYPE_ED25519;
use clearance_tlog::{Checkpoint, Frontier, Hash, NodeId, Note, ProofPlan, Signer, Verifier};

mod common;

use common::{BIN, Witness, as_str, free_port, stderr, stdout};

const ORIGIN: &str = "clearance.test/audit-log";
const WITNESS: &str = "witness.test/w1";

fn start_witness(dir: &Path, log_key: &str) -> Witness {
    let listen = format!("127.0.0.1:{}", free_port());
    Witness::start(dir, &listen, WITNESS, &format!("{ORIGIN}={log_key}"))
}

/// A log's tree in memory: every root and every complete node.
struct Tree {
    nodes: HashMap<NodeId, Hash>,
    roots: Vec<Hash>,
}

impl Tree {
    fn new(size: u64, prefix: &str) -> Tree {
        let mut frontier = Frontier::new();
        let mut tree = Tree {
            nodes: HashMap::new(),
            roots: vec![frontier.root()],
        };
        for i in 0..size {
            let data = if i == 3 {
                format!("{prefix}-{i}")
            } else {
                format!("leaf-{i}")
            };
            tree.nodes
                .extend(frontier.append(leaf_hash(data.as_bytes())));
            tree.roots.push(frontier.root());
        }
        tree
    }

    /// The signed checkpoint at `size`.
    fn note(&self, log: &Signer, size: u64) -> String {
        log.sign(&Checkpoint::new(ORIGIN, size, self.roots[size as usize]).body())
            .unwrap()
    }

    /// The `add-checkpoint` body for `old -> size`.
    fn request(&self, log: &Signer, old: u64, size: u64) -> String {
        let mut body = format!("old {old}\n");
        for hash in ProofPlan::consistency(old, size)
            .unwrap()
            .assemble(|id| self.nodes.get(&id).copied())
            .unwrap()
        {
            body.push_str(&hash.to_base64());
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.note(log, size));
        body
    }
}

async fn post(base: &str, body: String) -> (u16, Option<String>, String) {
    let response = reqwest::Client::new()
        .post(format!("{base}/add-checkpoint"))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    (status, kind, response.text().await.unwrap())
}

/// The answer's cosignature verifies over the checkpoint with the witness's key.
fn assert_cosigned(note_text: &str, answer: &str, key: &Verifier) {
    let mut note = Note::parse(note_text).unwrap();
    assert_eq!(note.add_signature_lines(answer).unwrap(), 1, "{answer}");
    let times = note.verified_by(key);
    assert_eq!(times.len(), 1, "the cosignature verifies: {answer}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let time = times[0].unwrap();
    assert!(time <= now && now - time < 300, "stamped now: {time}");
}

#[tokio::test(flavor = "multi_thread")]
async fn witness_cosigns_growth_refuses_forks_and_remembers() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("witness.key");

    let keygen = || {
        Command::new(BIN)
            .args([
                "witness",
                "keygen",
                "--name",
                WITNESS,
                "--out",
                as_str(&key_file),
            ])
            .output()
            .unwrap()
    };
    let made = keygen();
    assert!(made.status.success(), "{}", stderr(&made));
    let printed_key = stdout(&made).trim().to_string();
    let witness_key = Verifier::parse(&printed_key).unwrap();
    assert_eq!(witness_key.name, WITNESS);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let secret = std::fs::read_to_string(&key_file).unwrap();
    let again = keygen();
    assert!(!again.status.success(), "keygen refuses to overwrite");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), secret);

    let log = Signer::generate(ORIGIN, TYPE_ED25519).unwrap();
    let log_key = log.verifier().to_text();
    let tree = Tree::new(30, "leaf");
    let forked = Tree::new(30, "fork");

    let mut witness = start_witness(dir.path(), &log_key);
    assert_eq!(witness.key, printed_key);
    let base = witness.base.clone();

    // The first checkpoint, then growth with consistency proofs.
    let (status, _, answer) = post(&base, tree.request(&log, 0, 7)).await;
    assert_eq!(status, 200, "{answer}");
    assert_cosigned(&tree.note(&log, 7), &answer, &witness_key);
    let (status, _, answer) = post(&base, tree.request(&log, 7, 20)).await;
    assert_eq!(status, 200, "{answer}");
    assert_cosigned(&tree.note(&log, 20), &answer, &witness_key);

    // A fork at the cosigned size; a forked history (leaf 3 differs) at a larger one.
    let (status, _, answer) = post(&base, forked.request(&log, 20, 20)).await;
    assert_eq!(status, 409, "{answer}");
    let (status, _, answer) = post(&base, forked.request(&log, 20, 30)).await;
    assert_eq!(status, 422, "{answer}");
    // A stale old size: the latest cosigned size, as text/x.tlog.size.
    let (status, kind, answer) = post(&base, tree.request(&log, 7, 30)).await;
    assert_eq!(
        (status, kind.as_deref(), answer.as_str()),
        (409, Some("text/x.tlog.size"), "20\n")
    );
    // Signed by another key of the log's name.
    let impostor = Signer::generate(ORIGIN, TYPE_ED25519).unwrap();
    let (status, _, answer) = post(&base, tree.request(&impostor, 20, 30)).await;
    assert_eq!(status, 403, "{answer}");

    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);

    let exit = tokio::task::spawn_blocking(move || witness.stop())
        .await
        .unwrap();
    assert!(
        exit.success(),
        "the witness exits cleanly on SIGTERM: {exit:?}"
    );

    // Restarted, it remembers size 20 and goes on from there.
    let mut witness = start_witness(dir.path(), &log_key);
    let base = witness.base.clone();
    let (status, kind, answer) = post(&base, tree.request(&log, 0, 30)).await;
    assert_eq!(
        (status, kind.as_deref(), answer.as_str()),
        (409, Some("text/x.tlog.size"), "20\n")
    );
    let (status, _, answer) = post(&base, tree.request(&log, 20, 30)).await;
    assert_eq!(status, 200, "{answer}");
    assert_cosigned(&tree.note(&log, 30), &answer, &witness_key);
    let exit = tokio::task::spawn_blocking(move || witness.stop())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}
