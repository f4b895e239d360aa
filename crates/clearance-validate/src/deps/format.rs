//! Wording and numbers shared by the renderers, so text, Markdown and HTML say the same thing.

use std::fmt::Write;

use super::{DepRow, FallbackState, FallbackStatus, ModelCount, Validation, Window};

/// `2025-05-01 00:00 UTC to 2025-05-31 00:00 UTC`.
pub(super) fn span(window: &Window) -> String {
    format!(
        "{} to {}",
        window.since.format("%Y-%m-%d %H:%M UTC"),
        window.until.format("%Y-%m-%d %H:%M UTC"),
    )
}

/// `1234567` → `1,234,567`.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `28430230` → `28.4M`, for a cell too narrow for every digit (the title has them).
pub(super) fn compact(n: u64) -> String {
    match n {
        // Bounds at what rounds up to the next unit: 999,960 is 1.0M, not 1000.0k.
        0..1_000 => n.to_string(),
        1_000..999_950 => format!("{:.1}k", n as f64 / 1e3),
        999_950..999_950_000 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// `0.6667` → `66.7%`.
pub(super) fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// `n thing` or `n things`.
pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `gpt-4o 1,190, claude 10`.
pub(super) fn counts(counts: &[ModelCount]) -> String {
    let parts: Vec<String> = counts
        .iter()
        .map(|c| format!("{} {}", c.model, thousands(c.requests)))
        .collect();
    parts.join(", ")
}

/// `claude validated 0.91 2025-05-20`, `mistral failed 0.62<0.80`, `llama untested`, with
/// `(not permitted)` / `(draft forbids)` when the principal may not (or would no longer) use it.
pub(super) fn fallback(f: &FallbackState) -> String {
    let mut out = format!("{} {}", f.model, f.status.as_str());
    if let Some(v) = &f.validation {
        out.push(' ');
        out.push_str(&score(f.status, v));
    }
    if !f.permitted {
        out.push_str(" (not permitted)");
    }
    if f.draft_permitted == Some(false) && f.permitted {
        out.push_str(" (draft forbids)");
    }
    out
}

/// `0.91 2025-05-20` when it met the bar, `0.62<0.80 2025-05-20` when it did not.
pub(super) fn score(status: FallbackStatus, v: &Validation) -> String {
    let mut out = format!("{:.2}", v.score);
    if status != FallbackStatus::Validated {
        let _ = write!(out, "<{:.2}", v.bar);
    }
    let _ = write!(out, " {}", v.at.format("%Y-%m-%d"));
    out
}

/// Every fallback of a row, or why there is none.
pub(super) fn fallbacks(row: &DepRow) -> String {
    if !row.route.configured {
        return "no route".into();
    }
    if row.route.fallbacks.is_empty() {
        return "none".into();
    }
    let parts: Vec<String> = row.route.fallbacks.iter().map(fallback).collect();
    parts.join("; ")
}

/// What the draft does to a row; empty without a draft or when it keeps the primary.
pub(super) fn draft(row: &DepRow) -> String {
    match (row.loses_primary, &row.draft_fallback) {
        (Some(true), Some(to)) => format!("loses primary, falls back to {to}"),
        (Some(true), None) => "loses primary, no validated fallback".into(),
        _ => String::new(),
    }
}

/// A name from the data made safe for a terminal: control characters (a key name could hold
/// an escape sequence) are shown escaped rather than sent.
/// One row's cells as the text and Markdown tables show them: the SPOF mark, the names (each
/// made safe by `name` for its format), the counts and the route.
pub(super) fn row_cells(
    app: &str,
    row: &DepRow,
    spof: &str,
    name: impl Fn(&str) -> String,
) -> Vec<String> {
    vec![
        if row.single_point_of_failure {
            spof
        } else {
            ""
        }
        .to_string(),
        name(app),
        name(&row.principal),
        name(&row.model),
        thousands(row.requests),
        percent(row.share),
        thousands(row.fell_back),
        thousands(row.denied),
        thousands(row.failed),
        thousands(row.tokens),
        name(&counts(&row.served)),
        name(&fallbacks(row)),
    ]
}

pub(super) fn printable(name: &str) -> String {
    if !name.chars().any(char::is_control) {
        return name.to_string();
    }
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_by_three() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn compact_keeps_three_figures() {
        assert_eq!(compact(999), "999");
        assert_eq!(compact(12_345), "12.3k");
        assert_eq!(compact(999_960), "1.0M");
        assert_eq!(compact(28_430_230), "28.4M");
        assert_eq!(compact(3_000_000_000), "3.0G");
    }

    #[test]
    fn printable_escapes_control_characters_only() {
        assert_eq!(printable("support-bot"), "support-bot");
        assert_eq!(printable("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
    }
}
