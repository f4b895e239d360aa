//! The `clearance-fake` binary as scripts use it: start, wait for the ready line, drive it over
//! HTTP, stop it with SIGTERM and expect a clean exit.
#![allow(clippy::unwrap_used)]
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

#[tokio::test]
async fn binary_serves_until_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clearance-fake"))
        .args(["--listen", "127.0.0.1:0", "--require-key", "sk-bin"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("clearance-fake listening on ")
        .unwrap()
        .to_owned();

    let http = reqwest::Client::new();
    let put = http
        .put(format!("http://{addr}/_fake/behavior/slow-model"))
        .json(&json!({"reply": "from the binary"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let body = json!({"model": "slow-model", "messages": [{"role": "user", "content": "hi"}]});
    let url = format!("http://{addr}/v1/chat/completions");
    assert_eq!(
        http.post(&url).json(&body).send().await.unwrap().status(),
        401
    );
    let answer: Value = http
        .post(&url)
        .bearer_auth("sk-bin")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "from the binary"
    );
    let recorded: Value = http
        .get(format!("http://{addr}/_fake/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(recorded.as_array().unwrap().len(), 2);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_with_timeout(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("clearance-fake did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
