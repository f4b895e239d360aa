//! Problems in directive files, each with the file and line it was found at.

use std::fmt;
use std::path::PathBuf;

/// One problem in one directive file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectiveError {
    pub file: PathBuf,
    /// 1-based; `None` when the problem belongs to the whole file.
    pub line: Option<usize>,
    pub message: String,
}

impl DirectiveError {
    pub fn new(file: impl Into<PathBuf>, line: Option<usize>, message: impl Into<String>) -> Self {
        DirectiveError {
            file: file.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for DirectiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found in a directive set; a set with any problem is never activated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DirectiveErrors(pub Vec<DirectiveError>);

impl fmt::Display for DirectiveErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        writeln!(
            f,
            "{count} problem{} in the directive set:",
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.0 {
            writeln!(f, "  {error}")?;
        }
        Ok(())
    }
}

/// The 1-based line holding byte `offset` of `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
