//! Reading a directive directory: every `.toml` and `.cedar` file in it, in name order.
//! The only IO in this crate.

use std::path::Path;

use crate::book::SourceFile;
use crate::error::{DirectiveError, DirectiveErrors};

/// Whether a file name is a directive file (editor backups and hidden files are not).
pub fn is_directive_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'));
    let extension = path.extension().and_then(|e| e.to_str());
    !hidden && matches!(extension, Some("toml" | "cedar"))
}

/// Reads every directive file of `dir`. A missing directory is an error: a configured
/// directory that vanished must not silently mean "no directives".
pub fn read_dir(dir: &Path) -> Result<Vec<SourceFile>, DirectiveErrors> {
    let entries = std::fs::read_dir(dir).map_err(|error| {
        DirectiveErrors(vec![DirectiveError::new(
            dir,
            None,
            format!("cannot read the directive directory: {error}"),
        )])
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && is_directive_file(path))
        .collect();
    paths.sort();
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::read_to_string(&path) {
            Ok(text) => sources.push(SourceFile { path, text }),
            Err(error) => errors.push(DirectiveError::new(
                &path,
                None,
                format!("cannot read: {error}"),
            )),
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(DirectiveErrors(errors))
    }
}
