//! `--format md`: the summary as a list and one table, for a ticket or a pull request. Names
//! from the data are escaped so that a key name can neither break the table nor become markup.

use super::format;
use super::text::summary_lines;
use super::{DepRow, DepsReport};

pub fn render_markdown(report: &DepsReport) -> String {
    let mut out = String::from("# Model dependencies\n\n");
    out.push_str(&escape(&format::span(&report.window)));
    if let Some(draft) = &report.window.draft {
        out.push_str(&format!(", draft {}", escape(draft)));
    }
    out.push_str("\n\n");
    for line in summary_lines(&report.summary) {
        out.push_str(&format!("- {line}\n"));
    }
    if report.apps.is_empty() {
        out.push_str("\nNo requests in this window.\n");
        return out;
    }
    let draft = report.window.draft.is_some();
    out.push('\n');
    out.push_str(&header(draft));
    for app in &report.apps {
        for row in &app.rows {
            out.push_str(&line(&app.app, row, draft));
        }
    }
    out.push_str(
        "\n**SPOF**: single point of failure, no fallback both validated and permitted for \
         this principal.\n",
    );
    out
}

fn header(draft: bool) -> String {
    let mut titles = vec![
        "",
        "App",
        "Principal",
        "Model",
        "Requests",
        "Share",
        "Fell back",
        "Denied",
        "Failed",
        "Tokens",
        "Served by",
        "Fallbacks",
    ];
    if draft {
        titles.push("Draft");
    }
    // Numbers (Requests to Tokens) right-aligned.
    let rule: Vec<&str> = (0..titles.len())
        .map(|i| if (4..=9).contains(&i) { "---:" } else { "---" })
        .collect();
    format!("| {} |\n| {} |\n", titles.join(" | "), rule.join(" | "))
}

fn line(app: &str, row: &DepRow, draft: bool) -> String {
    let mut cells = format::row_cells(app, row, "**SPOF**", escape);
    if draft {
        let words = format::draft(row);
        cells.push(if words.is_empty() {
            String::new()
        } else {
            format!("**{}**", escape(&words))
        });
    }
    format!("| {} |\n", cells.join(" | "))
}

/// Backslash before every character Markdown could read as markup inside a table cell
/// (emphasis, code, links, HTML, entities; CommonMark lets any ASCII punctuation be escaped),
/// `|` included so a cell cannot split; line breaks become spaces so a row stays one line.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_keeps_cells_and_markup_inert() {
        assert_eq!(escape("a|b"), "a\\|b");
        assert_eq!(escape("<script>"), "\\<script\\>");
        assert_eq!(escape("x\ny"), "x y");
        assert_eq!(escape("gpt-4o"), "gpt-4o");
    }
}
