//! `clearance.toml` text, whatever it holds: `Config::parse` returns a config or every problem
//! found, never panics, and each problem points at a line of the file it was given (or at the
//! file as a whole, line 0). Parsed twice: with every environment variable set (secrets
//! resolve) and with none.
#![no_main]

use std::path::Path;

use clearance_config::Config;
use libfuzzer_sys::fuzz_target;

const PATH: &str = "/etc/clearance/clearance.toml";

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let every = |_: &str| Some("fuzz-secret-value".to_string());
    let none = |_: &str| None;
    let lookups: [&dyn Fn(&str) -> Option<String>; 2] = [&every, &none];
    let lines = text.lines().count();
    for env in lookups {
        let Err(errors) = Config::parse(text, Path::new(PATH), env) else {
            continue;
        };
        assert!(!errors.0.is_empty(), "a refused config names a problem");
        for error in &errors.0 {
            assert_eq!(error.file, Path::new(PATH));
            assert!(
                error.line <= lines + 1,
                "line {} of a {lines}-line file: {error}",
                error.line
            );
            assert!(!error.message.is_empty());
        }
        let _ = errors.to_string();
    }
});
