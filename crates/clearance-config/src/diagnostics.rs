//! Config problems with the file, line and text they are about, all reported together.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is about the file as a whole.
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The offending line as written, to show under the message.
    pub snippet: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )?;
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "\n    | {snippet}")?;
        }
        Ok(())
    }
}

/// Every problem found in one config file, in the order they appear in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        writeln!(
            f,
            "{count} problem{} in the config:",
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.0 {
            writeln!(f, "{error}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    pub(crate) fn unreadable(path: &Path, error: &std::io::Error) -> ConfigErrors {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read the config file: {error}"),
            snippet: None,
        }])
    }
}

/// Collects problems for one config text, turning byte spans into lines and columns.
pub(crate) struct Diagnostics<'a> {
    text: &'a str,
    file: &'a Path,
    errors: Vec<ConfigError>,
}

impl<'a> Diagnostics<'a> {
    pub(crate) fn new(text: &'a str, file: &'a Path) -> Self {
        Diagnostics {
            text,
            file,
            errors: Vec::new(),
        }
    }

    pub(crate) fn at(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let (line, column, snippet) = match span {
            Some(span) => self.locate(span.start),
            None => (0, 0, None),
        };
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
            snippet,
        });
    }

    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.locate(offset).0
    }

    fn locate(&self, offset: usize) -> (usize, usize, Option<String>) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        let snippet = self.text[line_start..]
            .lines()
            .next()
            .map(|l| l.trim_end().to_string());
        (line, column, snippet)
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    pub(crate) fn finish<T>(mut self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            self.errors.sort_by_key(|e| (e.line, e.column));
            Err(ConfigErrors(self.errors))
        }
    }

    pub(crate) fn fail<T>(self) -> Result<T, ConfigErrors> {
        let mut errors = self.errors;
        errors.sort_by_key(|e| (e.line, e.column));
        Err(ConfigErrors(errors))
    }
}
