//! `--format html`: one self-contained file a person opens in a browser (or attaches to a
//! ticket). No network: the CSS is inline, the chart is inline SVG, no script, no font, no
//! image. Every string from the data is escaped (app names are key names users chose).
//!
//! The page: the window and summary; a chart with one horizontal bar per app, its requests split
//! by requested model (one colour per model), segments that are a single point of failure
//! outlined in red, segments whose model the draft takes away hatched in red, and the app's
//! flags beside the bar; a legend; then the detail table, SPOF rows in red.
//!
//! Elements a test (or a script) can find: `data-testid` = `deps-report`, `window`,
//! `summary`, `summary-spof`, `summary-losing-primary`, `chart`, `app-bar` (one `<g>` per
//! app, with `data-app`), `legend`, `detail-table`, `dep-row` (one `<tr>` per row, with
//! `data-app`, `data-spof` and `data-loses-primary`), `spof-marker` and `loses-primary-marker`.

use std::collections::HashMap;
use std::fmt::Write;

use super::format::{self, compact, percent, plural, thousands};
use super::{AppDeps, DepRow, DepsReport, FallbackState, FallbackStatus};

/// One colour per model (fill, and the text colour readable on it), in the order of the
/// report's busiest models. No red: red means "single point of failure" here.
const PALETTE: [(&str, &str); 10] = [
    ("#4e79a7", "#fff"),
    ("#59a14f", "#fff"),
    ("#edc948", "#1f2328"),
    ("#b07aa1", "#fff"),
    ("#76b7b2", "#1f2328"),
    ("#9c755f", "#fff"),
    ("#bab0ac", "#1f2328"),
    ("#86bcb6", "#1f2328"),
    ("#8cd17d", "#1f2328"),
    ("#d4a6c8", "#1f2328"),
];
const RED: &str = "#c62828";

/// Chart geometry, in SVG user units (the SVG scales to the page's width).
const CHART_WIDTH: u32 = 1060;
const LABEL_WIDTH: u32 = 200;
const BAR_X: u32 = LABEL_WIDTH + 10;
const BAR_WIDTH: u32 = 640;
const FLAGS_X: u32 = BAR_X + BAR_WIDTH + 12;
const ROW_HEIGHT: u32 = 30;
const BAR_HEIGHT: u32 = 20;
const LABEL_CHARS: usize = 28;
/// About one character of the 12px label inside a segment, with room on both sides.
const SEGMENT_CHAR_WIDTH: f64 = 7.0;

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;background:#f6f7f9;color:#1f2328;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
main{max-width:1200px;margin:0 auto;padding:20px 16px 40px}
h1{font-size:22px;margin:0 0 2px}
h2{font-size:16px;margin:24px 0 8px}
.window{color:#57606a;margin:0 0 14px}
.summary{display:flex;flex-wrap:wrap;gap:10px}
.stat{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px 14px;min-width:110px}
.stat b{display:block;font-size:22px}
.stat.bad{border-color:#e5a5a5;background:#fdecea;color:#8b1c1c}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 14px}
svg.chart{display:block;width:100%;height:auto}
svg.chart text{font:13px system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;fill:#1f2328}
svg.chart text.in{font-size:12px}
svg.chart .bad{fill:#c62828;font-weight:600}
svg.chart .count{fill:#57606a}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:6px 18px;margin:10px 0 0;padding:0;color:#57606a}
.swatch{display:inline-block;width:14px;height:14px;border-radius:2px;vertical-align:-2px;margin-right:6px}
.swatch.spof{background:#fff;border:2.5px solid #c62828}
.swatch.hatch{background:repeating-linear-gradient(45deg,#c62828 0 2px,#fff 2px 5px);border:1px solid #c62828}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de;font-size:12.5px}
th,td{padding:4px 6px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
tr.first td{border-top:2px solid #d0d7de}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.name{overflow-wrap:break-word}
/* Principals are often e-mail addresses: one long word. */
td.principal{overflow-wrap:anywhere;min-width:80px}
td.model{white-space:nowrap}
td small{display:block;color:#57606a}
tr.spof td{background:#fdecea}
tr.spof td:first-child{box-shadow:inset 3px 0 #c62828}
tr.losing td.draft{color:#8b1c1c;font-weight:600}
.line{white-space:nowrap}
.marker{display:inline-block;border-radius:3px;padding:0 5px;font-size:11px;font-weight:700;color:#fff;background:#c62828;white-space:nowrap}
.marker.losing{background:#fff;color:#c62828;border:1px solid #c62828}
.fb{display:block;width:max-content;border-radius:3px;padding:0 5px;margin:1px 0;font-size:12px;border:1px solid}
.fb.validated{background:#e6f4ea;border-color:#8cc79a;color:#1a5d2b}
.fb.failed{background:#fff4e5;border-color:#e8b66b;color:#7a4b00}
.fb.untested{background:#f2f3f5;border-color:#c9ced4;color:#57606a}
.fb.forbidden{background:#fff;border-style:dashed;color:#8b1c1c}
.none{color:#8b1c1c}
.note{color:#57606a;font-size:12px;margin-top:10px}
"#;

pub fn render_html(report: &DepsReport) -> String {
    let colours = model_colours(report);
    let mut out = String::with_capacity(16 * 1024);
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Model dependencies</title>\n<style>",
    );
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n<main data-testid=\"deps-report\">\n");
    out.push_str("<h1>Model dependencies</h1>\n");
    window(&mut out, report);
    summary(&mut out, report);
    if report.apps.is_empty() {
        out.push_str("<p>No requests in this window.</p>\n");
    } else {
        out.push_str("<h2>Requests per app, by requested model</h2>\n<div class=\"card\">\n");
        chart(&mut out, report, &colours);
        legend(&mut out, report, &colours);
        out.push_str("</div>\n<h2>Per app, principal and requested model</h2>\n");
        detail(&mut out, report);
    }
    out.push_str(
        "<p class=\"note\">SPOF: single point of failure, no fallback both validated (tested on \
         the eval suite, at or above its bar) and permitted for this principal. A model with no \
         route has no fallback. Hover a fallback for its suite and date.</p>\n\
         </main>\n</body>\n</html>\n",
    );
    out
}

/// Escapes text and attribute values alike (every attribute here is double-quoted).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Each model and its colours.
type Colours = [(String, (&'static str, &'static str))];

/// Each model's colours: busiest models first, so the same report always colours alike.
fn model_colours(report: &DepsReport) -> Vec<(String, (&'static str, &'static str))> {
    let mut totals: HashMap<&str, u64> = HashMap::new();
    for m in report.apps.iter().flat_map(|a| &a.models) {
        *totals.entry(m.model.as_str()).or_default() += m.requests;
    }
    let mut models: Vec<(&str, u64)> = totals.into_iter().collect();
    models.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    models
        .into_iter()
        .enumerate()
        .map(|(i, (model, _))| (model.to_string(), PALETTE[i % PALETTE.len()]))
        .collect()
}

fn colours_of(colours: &Colours, model: &str) -> (&'static str, &'static str) {
    colours
        .iter()
        .find(|(m, _)| m == model)
        .map_or(PALETTE[0], |(_, c)| *c)
}

fn window(out: &mut String, report: &DepsReport) {
    let _ = write!(
        out,
        "<p class=\"window\" data-testid=\"window\">{}",
        escape(&format::span(&report.window))
    );
    if let Some(draft) = &report.window.draft {
        let _ = write!(out, " · draft <code>{}</code>", escape(draft));
    }
    out.push_str("</p>\n");
}

fn summary(out: &mut String, report: &DepsReport) {
    let s = &report.summary;
    out.push_str("<section class=\"summary\" data-testid=\"summary\">\n");
    stat(out, &s.apps.to_string(), "apps", false, None);
    stat(out, &thousands(s.requests), "requests", false, None);
    stat(out, &thousands(s.tokens), "tokens", false, None);
    let spof_words = format!(
        "{} ({})",
        if s.single_points_of_failure == 1 {
            "single point of failure"
        } else {
            "single points of failure"
        },
        plural(s.apps_with_single_point_of_failure, "app", "apps"),
    );
    stat(
        out,
        &s.single_points_of_failure.to_string(),
        &spof_words,
        s.single_points_of_failure > 0,
        Some("summary-spof"),
    );
    if let (Some(apps), Some(rows)) = (s.apps_losing_primary, s.rows_losing_primary) {
        let words = format!(
            "{} under the draft ({})",
            if apps == 1 {
                "app loses its primary"
            } else {
                "apps lose their primary"
            },
            plural(rows, "row", "rows"),
        );
        stat(
            out,
            &apps.to_string(),
            &words,
            apps > 0,
            Some("summary-losing-primary"),
        );
    }
    out.push_str("</section>\n");
}

/// One summary card: a big number and what it counts (our own words, not data).
fn stat(out: &mut String, n: &str, what: &str, bad: bool, testid: Option<&str>) {
    let _ = writeln!(
        out,
        "<div class=\"stat{}\"{}><b>{n}</b>{what}</div>",
        if bad { " bad" } else { "" },
        testid.map_or(String::new(), |id| format!(" data-testid=\"{id}\"")),
    );
}

/// A model's part of an app's bar, and what to flag on it.
struct Segment<'a> {
    model: &'a str,
    requests: u64,
    spof: bool,
    loses_primary: bool,
}

fn segments(app: &AppDeps) -> Vec<Segment<'_>> {
    app.models
        .iter()
        .map(|m| {
            let rows = || app.rows.iter().filter(|r| r.model == m.model);
            Segment {
                model: &m.model,
                requests: m.requests,
                spof: rows().any(|r| r.single_point_of_failure),
                loses_primary: rows().any(|r| r.loses_primary == Some(true)),
            }
        })
        .collect()
}

fn chart(out: &mut String, report: &DepsReport, colours: &Colours) {
    let height = 12 + ROW_HEIGHT * report.apps.len() as u32;
    let busiest = report
        .apps
        .iter()
        .map(|a| a.requests)
        .max()
        .unwrap_or(1)
        .max(1);
    let _ = writeln!(
        out,
        "<svg class=\"chart\" data-testid=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {CHART_WIDTH} {height}\" role=\"img\" \
         aria-label=\"Requests per app, split by requested model\">\n\
         <defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"2.5\" height=\"6\" fill=\"{RED}\"/>\
         </pattern></defs>"
    );
    for (i, app) in report.apps.iter().enumerate() {
        app_bar(out, app, 6 + ROW_HEIGHT * i as u32, busiest, colours);
    }
    out.push_str("</svg>\n");
}

fn app_bar(out: &mut String, app: &AppDeps, y: u32, busiest: u64, colours: &Colours) {
    let losing = app.rows_losing_primary.unwrap_or(0) > 0;
    let flagged = app.single_points_of_failure > 0 || losing;
    let name = escape(&app.app);
    let _ = writeln!(
        out,
        "<g data-testid=\"app-bar\" data-app=\"{name}\" transform=\"translate(0,{y})\">\
         <title>{name}: {} requests</title>",
        thousands(app.requests)
    );
    let _ = writeln!(
        out,
        "<text x=\"{LABEL_WIDTH}\" y=\"{}\" text-anchor=\"end\"{}>{}</text>",
        BAR_HEIGHT - 5,
        if flagged { " class=\"bad\"" } else { "" },
        escape(&shorten(&app.app, LABEL_CHARS)),
    );
    let mut x = f64::from(BAR_X);
    for seg in segments(app) {
        let width = f64::from(BAR_WIDTH) * seg.requests as f64 / busiest as f64;
        segment(out, &seg, x, width, colours_of(colours, seg.model));
        x += width;
    }
    let _ = write!(
        out,
        "<text x=\"{FLAGS_X}\" y=\"{}\"><tspan class=\"count\">{}</tspan>",
        BAR_HEIGHT - 5,
        thousands(app.requests)
    );
    if app.single_points_of_failure > 0 {
        out.push_str("<tspan class=\"bad\" dx=\"10\">SPOF</tspan>");
    }
    if losing {
        out.push_str("<tspan class=\"bad\" dx=\"10\">loses primary</tspan>");
    }
    out.push_str("</text>\n</g>\n");
}

fn segment(out: &mut String, seg: &Segment<'_>, x: f64, width: f64, colours: (&str, &str)) {
    let (fill, ink) = colours;
    let mut tip = format!("{}: {} requests", seg.model, thousands(seg.requests));
    if seg.spof {
        tip.push_str(", single point of failure");
    }
    if seg.loses_primary {
        tip.push_str(", lost under the draft");
    }
    // A thin white edge keeps neighbouring segments apart; a red one flags a SPOF.
    let stroke = if seg.spof {
        format!(" stroke=\"{RED}\" stroke-width=\"2.5\"")
    } else {
        " stroke=\"#fff\" stroke-width=\"1\"".to_string()
    };
    let _ = writeln!(
        out,
        "<rect class=\"segment\" data-model=\"{}\" x=\"{x:.1}\" y=\"0\" width=\"{width:.1}\" \
         height=\"{BAR_HEIGHT}\" fill=\"{fill}\"{stroke}><title>{}</title></rect>",
        escape(seg.model),
        escape(&tip),
    );
    if seg.loses_primary {
        let _ = writeln!(
            out,
            "<rect class=\"hatch\" x=\"{x:.1}\" y=\"0\" width=\"{width:.1}\" \
             height=\"{BAR_HEIGHT}\" fill=\"url(#hatch)\" pointer-events=\"none\"/>"
        );
    }
    // The model's name inside its segment where it fits (the legend says it otherwise);
    // on a hatched segment it would be unreadable.
    let fits = (seg.model.chars().count() as f64 + 2.0) * SEGMENT_CHAR_WIDTH <= width;
    if fits && !seg.loses_primary {
        let _ = writeln!(
            out,
            "<text class=\"in\" x=\"{:.1}\" y=\"{}\" fill=\"{ink}\" style=\"fill:{ink}\" \
             pointer-events=\"none\">{}</text>",
            x + 6.0,
            BAR_HEIGHT - 6,
            escape(seg.model),
        );
    }
}

/// At most `chars` characters, `…` marking a cut (the full name is in the tooltip).
fn shorten(name: &str, chars: usize) -> String {
    if name.chars().count() <= chars {
        return name.to_string();
    }
    let mut short: String = name.chars().take(chars - 1).collect();
    short.push('…');
    short
}

fn legend(out: &mut String, report: &DepsReport, colours: &Colours) {
    out.push_str("<ul class=\"legend\" data-testid=\"legend\">\n");
    for (model, (fill, _)) in colours {
        let _ = writeln!(
            out,
            "<li><span class=\"swatch\" style=\"background:{fill}\"></span>{}</li>",
            escape(model)
        );
    }
    out.push_str(
        "<li><span class=\"swatch spof\"></span>single point of failure: no validated fallback \
         the caller may use</li>\n",
    );
    if report.window.draft.is_some() {
        out.push_str(
            "<li><span class=\"swatch hatch\"></span>loses its primary under the draft</li>\n",
        );
    }
    out.push_str("</ul>\n");
}

fn detail(out: &mut String, report: &DepsReport) {
    let draft = report.window.draft.is_some();
    out.push_str(
        "<div class=\"scroll\">\n<table data-testid=\"detail-table\">\n<thead><tr>\
         <th>App</th><th>Principal</th><th>Model</th><th class=\"num\">Requests</th>\
         <th class=\"num\">Fell back</th>\
         <th class=\"num\">Denied</th><th class=\"num\">Failed</th><th class=\"num\">Tokens</th>\
         <th>Served by</th><th>Fallbacks</th>",
    );
    if draft {
        out.push_str("<th>Draft</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for app in &report.apps {
        for (i, row) in app.rows.iter().enumerate() {
            detail_row(out, &app.app, row, i == 0, draft);
        }
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
}

fn detail_row(out: &mut String, app: &str, row: &DepRow, first: bool, draft: bool) {
    let losing = row.loses_primary == Some(true);
    let classes: Vec<&str> = [
        (first, "first"),
        (row.single_point_of_failure, "spof"),
        (losing, "losing"),
    ]
    .into_iter()
    .filter_map(|(on, class)| on.then_some(class))
    .collect();
    let _ = write!(
        out,
        "<tr data-testid=\"dep-row\" data-app=\"{}\" data-spof=\"{}\" data-loses-primary=\"{}\" \
         class=\"{}\"><td class=\"name\">",
        escape(app),
        row.single_point_of_failure,
        losing,
        classes.join(" "),
    );
    if row.single_point_of_failure {
        out.push_str("<span class=\"marker\" data-testid=\"spof-marker\">SPOF</span> ");
    }
    let num = |n: u64| format!("<td class=\"num\">{}</td>", thousands(n));
    let _ = write!(
        out,
        "{}</td><td class=\"principal\">{}</td><td class=\"model\">{}</td>\
         <td class=\"num\">{}<small>{} of app</small></td>{}{}{}\
         <td class=\"num\" title=\"{}\">{}</td><td>",
        escape(app),
        escape(&row.principal),
        escape(&row.model),
        thousands(row.requests),
        percent(row.share),
        num(row.fell_back),
        num(row.denied),
        num(row.failed),
        thousands(row.tokens),
        compact(row.tokens),
    );
    for served in &row.served {
        let _ = write!(
            out,
            "<div class=\"line\">{} {}</div>",
            escape(&served.model),
            thousands(served.requests)
        );
    }
    out.push_str("</td><td>");
    fallbacks(out, row);
    out.push_str("</td>");
    if draft {
        draft_cell(out, row);
    }
    out.push_str("</tr>\n");
}

fn draft_cell(out: &mut String, row: &DepRow) {
    out.push_str("<td class=\"draft\">");
    if row.loses_primary == Some(true) {
        out.push_str(
            "<span class=\"marker losing\" data-testid=\"loses-primary-marker\">loses \
             primary</span><br>",
        );
        out.push_str(&match &row.draft_fallback {
            Some(to) => format!("falls back to {}", escape(to)),
            None => "no validated fallback".into(),
        });
    }
    out.push_str("</td>");
}

fn fallbacks(out: &mut String, row: &DepRow) {
    if !row.route.configured || row.route.fallbacks.is_empty() {
        let why = if row.route.configured {
            "no fallback"
        } else {
            "no route"
        };
        let _ = write!(out, "<span class=\"none\">{why}</span>");
        return;
    }
    for f in &row.route.fallbacks {
        chip(out, f);
    }
}

/// A fallback as a chip: green validated (✓ score), amber failed (✗ score < bar), grey
/// untested; dashed red when this principal may not use it. The title has the whole story.
fn chip(out: &mut String, f: &FallbackState) {
    let mut class = format!("fb {}", f.status.as_str());
    let mut label = f.model.clone();
    match (&f.validation, f.status) {
        (Some(v), FallbackStatus::Validated) => {
            let _ = write!(label, " ✓ {:.2}", v.score);
        }
        (Some(v), _) => {
            let _ = write!(label, " ✗ {:.2} < {:.2}", v.score, v.bar);
        }
        (None, _) => label.push_str(" untested"),
    }
    if !f.permitted {
        class.push_str(" forbidden");
        label.push_str(" · not permitted");
    } else if f.draft_permitted == Some(false) {
        label.push_str(" · draft forbids");
    }
    let _ = write!(
        out,
        "<span class=\"{class}\" title=\"{}\">{}</span>",
        escape(&chip_title(f)),
        escape(&label)
    );
}

fn chip_title(f: &FallbackState) -> String {
    let mut title = format::fallback(f);
    if let Some(v) = &f.validation {
        let _ = write!(title, ", suite {}", v.suite);
        if let Some(reason) = &v.reason {
            let _ = write!(title, ", {reason}");
        }
    }
    title
}
