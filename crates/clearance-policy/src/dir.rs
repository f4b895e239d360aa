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
        match std::fs::read(&path).map(clearance_core::text::utf8) {
            Ok(Ok(text)) => sources.push(SourceFile { path, text }),
            Ok(Err(not_utf8)) => errors.push(DirectiveError::new(
                &path,
                Some(not_utf8.line),
                not_utf8.to_string(),
            )),
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

/// Writes directive files into `dir` so that a reader (a polling gateway) sees each file old
/// or new, never half written: every file is written and synced under a hidden temporary name
/// first (which [`read_dir`] skips), then each is renamed into place and the directory synced.
/// If any file cannot be written, none is moved into place.
pub fn write_atomically(dir: &Path, files: &[SourceFile]) -> std::io::Result<()> {
    use std::io::Write;
    let at = |path: &Path, error: std::io::Error| {
        std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
    };
    let mut staged = Vec::new();
    for file in files {
        let name = file.path.file_name().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a directive file needs a name",
            )
        })?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}.tmp", std::process::id()));
        let temp = dir.join(temp_name);
        let written = std::fs::File::create(&temp).and_then(|mut out| {
            out.write_all(file.text.as_bytes())?;
            out.sync_all()
        });
        if let Err(error) = written {
            let _ = std::fs::remove_file(&temp);
            for (staged_temp, _) in &staged {
                let _ = std::fs::remove_file(staged_temp);
            }
            return Err(at(&temp, error));
        }
        staged.push((temp, dir.join(name)));
    }
    for (temp, target) in &staged {
        std::fs::rename(temp, target).map_err(|e| at(target, e))?;
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| at(dir, e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_utf8_is_refused_at_its_first_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "id = \"A\"\n").unwrap();
        std::fs::write(
            dir.path().join("b.toml"),
            b"id = \"B\"\ntitle = \"Caf\xe9\"\nauthority = \"\xff\"\n",
        )
        .unwrap();
        let errors = read_dir(dir.path()).unwrap_err();
        let rendered: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            [format!(
                "{}:2: not UTF-8 (byte 0xe9 at column 13)",
                dir.path().join("b.toml").display()
            )]
        );
    }
}
