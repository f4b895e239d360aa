//! The reports as text, for a terminal: the verdict first, then per model what changes, each
//! finding with the caller that shows it and what each set does with their request.

use std::fmt::Write;

use crate::diff::{DiffReport, Example, Gains, Loss};
use crate::lint::LintReport;

/// A diff report as text.
pub fn render_diff(report: &DiffReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", report.summary());
    let _ = writeln!(
        out,
        "policy version {} -> {}",
        report.old_version, report.new_version
    );
    for m in &report.models {
        let _ = writeln!(out, "\n{}:", m.model);
        match &m.gains {
            Gains::Nobody => {
                let _ = writeln!(out, "  nobody gains access (proved)");
            }
            Gains::Found { examples } => {
                let _ = writeln!(out, "  SOMEONE GAINS ACCESS, e.g.:");
                examples_text(&mut out, examples, "    ");
            }
            Gains::NotProved { reason } => {
                let _ = writeln!(out, "  not proved that nobody gains access: {reason}");
            }
        }
        if m.losses.is_empty() {
            let _ = writeln!(out, "  nobody loses access");
        }
        for loss in &m.losses {
            loss_text(&mut out, "loses access to", loss);
        }
        for error in &m.errors {
            loss_text(&mut out, "can error on", error);
        }
    }
    if !report.reroutes.is_empty() {
        let _ = writeln!(out, "\nreroutes that changed:");
        for change in &report.reroutes {
            let _ = writeln!(
                out,
                "  {}: {} -> {}",
                change.directive, change.old, change.new
            );
            if let Some(example) = &change.example {
                examples_text(&mut out, std::slice::from_ref(example), "    ");
            }
        }
    }
    if !report.shadow_if_promoted.is_empty() {
        let _ = writeln!(out, "\nshadow directives, if promoted to enforce:");
        for loss in &report.shadow_if_promoted {
            loss_text(&mut out, "would cut", loss);
        }
    }
    not_reproduced_text(&mut out, &report.not_reproduced);
    let _ = writeln!(out, "\n{} solver queries", report.queries);
    out
}

fn loss_text(out: &mut String, verb: &str, loss: &Loss) {
    let _ = writeln!(out, "  {} {verb}: {}", loss.directive, loss.condition);
    examples_text(out, &loss.examples, "    ");
}

fn examples_text(out: &mut String, examples: &[Example], indent: &str) {
    for e in examples {
        let outcome = if e.old == e.new {
            e.new.clone()
        } else {
            format!("{} -> {}", e.old, e.new)
        };
        let _ = writeln!(out, "{indent}- {} [{outcome}]", e.described);
    }
}

fn not_reproduced_text(out: &mut String, found: &[crate::diff::NotReproduced]) {
    if found.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nBUG: {} counterexample(s) did not reproduce through the real decision and are not shown as findings; please report:",
        found.len()
    );
    for n in found {
        let _ = writeln!(out, "  {}: {}", n.query, n.why);
    }
}

/// A lint report as text.
pub fn render_lint(report: &LintReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} (policy version {})",
        report.summary(),
        report.version
    );
    for finding in &report.findings {
        let _ = writeln!(out, "  {}", finding.describe());
        if let Some(example) = finding.example() {
            examples_text(&mut out, std::slice::from_ref(example), "    ");
        }
    }
    not_reproduced_text(&mut out, &report.not_reproduced);
    let _ = writeln!(
        out,
        "{} solver queries; {} directive pairs told apart by concrete callers without the solver",
        report.queries, report.pairs_separated_by_grid
    );
    out
}
