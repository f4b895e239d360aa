//! What the CLI test suites share: the binary, files in a temporary folder, process output.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_clearance");

/// Writes `text` to `name` under `dir`, returning the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn as_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `clearance serve` process: started and waited for until it listens; stopped with SIGTERM
/// by [`Served::stop`], killed if dropped still running.
pub struct Served {
    pub child: Child,
    pub base: String,
}

impl Served {
    /// `clearance serve --config CONFIG` in `dir`, with `env` set.
    pub fn start(dir: &Path, config: &Path, env: &[(&str, &str)]) -> Served {
        let mut child = Command::new(BIN)
            .args(["serve", "--config", as_str(config)])
            .envs(env.iter().copied())
            .env("CLEARANCE_LOG", "warn")
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("clearance listening on ")
            .unwrap_or_else(|| panic!("unexpected: {line}"))
            .to_string();
        Served { child, base }
    }

    /// SIGTERM, then waits (up to 10 s) for the drain; the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("clearance serve did not exit within 10 s of SIGTERM");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
