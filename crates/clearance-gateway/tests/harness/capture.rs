//! Every event and span the process logs, kept as text lines for a test to search: install it
//! with `tracing::subscriber::set_global_default` once per test binary.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The log as `target: message field=value ...` lines, every level, every target (or only
/// `clearance*` targets with [`Capture::clearance_only`]).
#[derive(Clone, Default)]
pub struct Capture {
    lines: Arc<Mutex<Vec<String>>>,
    clearance_only: bool,
    next_span: Arc<AtomicU64>,
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Capture {
    /// Keeps only what Clearance's own crates log.
    pub fn clearance_only() -> Capture {
        Capture {
            clearance_only: true,
            ..Capture::default()
        }
    }

    /// Every line logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn keep(&self, line: Line) {
        self.lines.lock().unwrap().push(line.0);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        !self.clearance_only || metadata.target().starts_with("clearance")
    }
    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut line = Line(format!(
            "{}: span {}",
            attributes.metadata().target(),
            attributes.metadata().name()
        ));
        attributes.record(&mut line);
        self.keep(line);
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut line = Line("span record:".to_string());
        values.record(&mut line);
        self.keep(line);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(format!("{}:", event.metadata().target()));
        event.record(&mut line);
        self.keep(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
