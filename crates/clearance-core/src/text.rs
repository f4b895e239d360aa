//! Text files read by the gateway and its CLI (principal files, directive files): UTF-8 only,
//! and a file that is not is refused at the line and column of its first bad byte.

use std::fmt;

/// Where a file stops being UTF-8: the first byte that does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8 {
    /// 1-based line of the bad byte.
    pub line: usize,
    /// 1-based byte column of the bad byte within its line.
    pub column: usize,
    pub byte: u8,
}

impl fmt::Display for NotUtf8 {
    /// Without the line, which callers put after the file name (`file:line: ...`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not UTF-8 (byte 0x{:02x} at column {})",
            self.byte, self.column
        )
    }
}

impl std::error::Error for NotUtf8 {}

/// The bytes as text, or where the first byte that is not UTF-8 is.
pub fn utf8(bytes: Vec<u8>) -> Result<String, NotUtf8> {
    String::from_utf8(bytes).map_err(|error| {
        let bytes = error.as_bytes();
        let at = error.utf8_error().valid_up_to();
        let before = &bytes[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        NotUtf8 {
            line,
            column: at - line_start + 1,
            byte: bytes[at],
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn text_passes_through() {
        assert_eq!(
            utf8("héllo\nwörld".as_bytes().to_vec()).unwrap(),
            "héllo\nwörld"
        );
    }

    #[test]
    fn the_first_bad_byte_is_found_by_line_and_column() {
        let mut bytes = b"id,name\nalice,Al\n".to_vec();
        bytes.extend_from_slice(b"bob,B\xe9b\ncarol,\xff\n");
        let error = utf8(bytes).unwrap_err();
        assert_eq!(
            error,
            NotUtf8 {
                line: 3,
                column: 6,
                byte: 0xe9
            }
        );
        assert_eq!(error.to_string(), "not UTF-8 (byte 0xe9 at column 6)");
        let first = utf8(vec![0xff]).unwrap_err();
        assert_eq!((first.line, first.column), (1, 1));
    }
}
