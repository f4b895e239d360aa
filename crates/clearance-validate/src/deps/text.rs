//! `--format text`: a summary and one aligned table, read in a terminal. Rows that are a single
//! point of failure start with `SPOF`; names from the data have control characters escaped.

use super::format::{self, plural, printable, thousands};
use super::{DepRow, DepsReport, Summary, Window};

pub fn render_text(report: &DepsReport) -> String {
    let mut out = String::new();
    out.push_str(&heading(&report.window));
    out.push('\n');
    for line in summary_lines(&report.summary) {
        out.push_str(&line);
        out.push('\n');
    }
    if report.apps.is_empty() {
        out.push_str("\nNo requests in this window.\n");
        return out;
    }
    out.push('\n');
    out.push_str(&table(report));
    out.push_str(
        "\nSPOF: single point of failure, no fallback both validated and permitted for this \
         principal.\n",
    );
    out
}

pub(super) fn heading(window: &Window) -> String {
    let mut line = format!("Model dependencies, {}", format::span(window));
    if let Some(draft) = &window.draft {
        line.push_str(&format!(", draft {}", printable(draft)));
    }
    line
}

/// The summary in sentences; the Markdown says the same.
pub(super) fn summary_lines(s: &Summary) -> Vec<String> {
    let mut lines = vec![format!(
        "{}, {}, {} requests, {} tokens",
        plural(s.apps, "app", "apps"),
        plural(s.rows, "row", "rows"),
        thousands(s.requests),
        thousands(s.tokens),
    )];
    lines.push(format!(
        "{} in {}",
        plural(
            s.single_points_of_failure,
            "single point of failure",
            "single points of failure"
        ),
        plural(s.apps_with_single_point_of_failure, "app", "apps"),
    ));
    if let (Some(rows), Some(apps)) = (s.rows_losing_primary, s.apps_losing_primary) {
        lines.push(format!(
            "Under the draft, {} {} primary ({})",
            plural(apps, "app", "apps"),
            if apps == 1 { "loses its" } else { "lose their" },
            plural(rows, "row", "rows"),
        ));
    }
    lines
}

/// Column title and whether it is a number (right-aligned).
const COLUMNS: [(&str, bool); 12] = [
    ("", false),
    ("APP", false),
    ("PRINCIPAL", false),
    ("MODEL", false),
    ("REQUESTS", true),
    ("SHARE", true),
    ("FELL BACK", true),
    ("DENIED", true),
    ("FAILED", true),
    ("TOKENS", true),
    ("SERVED BY", false),
    ("FALLBACKS", false),
];

fn table(report: &DepsReport) -> String {
    let draft = report.window.draft.is_some();
    let mut header: Vec<(&str, bool)> = COLUMNS.to_vec();
    if draft {
        header.push(("DRAFT", false));
    }
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|(t, _)| t.to_string()).collect()];
    for app in &report.apps {
        for row in &app.rows {
            let mut line = cells_of(&app.app, row);
            if draft {
                line.push(printable(&format::draft(row)));
            }
            cells.push(line);
        }
    }
    let right: Vec<bool> = header.iter().map(|(_, r)| *r).collect();
    align(&cells, &right)
}

fn cells_of(app: &str, row: &DepRow) -> Vec<String> {
    format::row_cells(app, row, "SPOF", printable)
}

/// Pads every column to its widest cell, two spaces apart; no trailing spaces.
fn align(cells: &[Vec<String>], right: &[bool]) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths = vec![0; right.len()];
    for line in cells {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(width(cell));
        }
    }
    let mut out = String::new();
    for line in cells {
        let mut text = String::new();
        for ((cell, w), right) in line.iter().zip(&widths).zip(right) {
            let pad = " ".repeat(w - width(cell));
            if *right {
                text.push_str(&pad);
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&pad);
            }
            text.push_str("  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}
