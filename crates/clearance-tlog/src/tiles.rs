//! C2SP tiles (c2sp.org/tlog-tiles): the tree served as static files, so a mirror or an
//! auditor copies a whole log with plain HTTP GETs and checks it without the database.
//!
//! A hash tile at level `L` holds the hashes of tree level `8 * L`, nodes `N * 256 ..`
//! (256 of them, or `W` for a partial tile on the right edge); an entry bundle holds the
//! entries (leaves' data) `N * 256 ..`, each prefixed with its length as a big-endian u16.

use std::ops::Range;

/// Hashes per full tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels per tile level.
pub const TILE_HEIGHT: u8 = 8;

/// Which tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// `None` for an entry bundle, else the tile level `L`.
    pub level: Option<u8>,
    pub index: u64,
    /// 1..=256; 256 is a full tile.
    pub width: u64,
}

/// Why a tile path was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a tile path: {0}")]
pub struct TileError(pub &'static str);

/// An entry bigger than an entry bundle's u16 length prefix can carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry {index} is {len} bytes; an entry bundle holds entries of at most 65535 bytes")]
pub struct EntryTooLarge {
    pub index: usize,
    pub len: usize,
}

impl Tile {
    /// The path under the log's prefix, e.g. `tile/0/x001/234.p/7` or `tile/entries/005`.
    pub fn path(&self) -> String {
        let level = match self.level {
            Some(l) => l.to_string(),
            None => "entries".to_string(),
        };
        let mut path = format!("tile/{level}/{}", encode_index(self.index));
        if self.width < TILE_WIDTH {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }

    /// Parses what follows `tile/` in a tile URL.
    pub fn parse(path: &str) -> Result<Tile, TileError> {
        let (level, rest) = path.split_once('/').ok_or(TileError("no tile level"))?;
        let level = if level == "entries" {
            None
        } else {
            let l: u8 = parse_decimal(level).ok_or(TileError("the level is not a decimal"))?;
            if l * TILE_HEIGHT >= 64 {
                return Err(TileError("no such level in a tree of at most 2^64 entries"));
            }
            Some(l)
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((index, width)) => {
                let w: u64 = parse_decimal(width).ok_or(TileError("the width is not a decimal"))?;
                if !(1..TILE_WIDTH).contains(&w) {
                    return Err(TileError("a partial tile's width is 1..255"));
                }
                (index, w)
            }
            None => (rest, TILE_WIDTH),
        };
        let index = decode_index(index_part).ok_or(TileError(
            "the index is 3-digit path elements, all but the last starting with x",
        ))?;
        Ok(Tile {
            level,
            index,
            width,
        })
    }

    /// For a hash tile: the tree level its hashes are at and the node indices it holds.
    pub fn node_range(&self) -> Option<(u8, Range<u64>)> {
        let level = self.level? * TILE_HEIGHT;
        let start = self.index.checked_mul(TILE_WIDTH)?;
        Some((level, start..start.checked_add(self.width)?))
    }

    /// For an entry bundle: the leaf indices it holds.
    pub fn entry_range(&self) -> Option<Range<u64>> {
        if self.level.is_some() {
            return None;
        }
        let start = self.index.checked_mul(TILE_WIDTH)?;
        Some(start..start.checked_add(self.width)?)
    }

    /// Whether a tree of `size` entries has this tile: a full tile once all its hashes exist,
    /// a partial one of exactly the right edge's width.
    pub fn exists_in(&self, size: u64) -> bool {
        let level = u32::from(self.level.unwrap_or(0) * TILE_HEIGHT);
        let hashes = size >> level;
        let full_tiles = hashes / TILE_WIDTH;
        if self.width == TILE_WIDTH {
            self.index < full_tiles
        } else {
            self.index == full_tiles && hashes % TILE_WIDTH == self.width
        }
    }
}

/// Every tile (hash tiles at all levels, and entry bundles) a tree of `size` entries has, for
/// a mirror that copies it whole.
pub fn tiles_for(size: u64) -> Vec<Tile> {
    let mut tiles = Vec::new();
    for level in 0..(64 / TILE_HEIGHT) {
        let hashes = size >> u32::from(level * TILE_HEIGHT);
        if hashes == 0 {
            break;
        }
        push_level(&mut tiles, Some(level), hashes);
    }
    push_level(&mut tiles, None, size);
    tiles
}

fn push_level(tiles: &mut Vec<Tile>, level: Option<u8>, hashes: u64) {
    for index in 0..hashes / TILE_WIDTH {
        tiles.push(Tile {
            level,
            index,
            width: TILE_WIDTH,
        });
    }
    if !hashes.is_multiple_of(TILE_WIDTH) {
        tiles.push(Tile {
            level,
            index: hashes / TILE_WIDTH,
            width: hashes % TILE_WIDTH,
        });
    }
}

fn parse_decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

/// `1234067` → `x001/x234/067`.
fn encode_index(index: u64) -> String {
    let digits = index.to_string();
    let pad = (3 - digits.len() % 3) % 3;
    let digits = format!("{}{digits}", "0".repeat(pad));
    let groups: Vec<&str> = digits
        .as_bytes()
        .chunks(3)
        .map(|c| std::str::from_utf8(c).unwrap_or("000"))
        .collect();
    let last = groups.len() - 1;
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            if i < last {
                format!("x{g}")
            } else {
                (*g).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn decode_index(path: &str) -> Option<u64> {
    let parts: Vec<&str> = path.split('/').collect();
    let last = parts.len() - 1;
    let mut digits = String::new();
    for (i, part) in parts.iter().enumerate() {
        let group = if i < last {
            part.strip_prefix('x')?
        } else {
            part
        };
        if group.len() != 3 || !group.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.push_str(group);
    }
    if parts.len() > 1 && parts[0] == "x000" {
        return None;
    }
    digits.parse().ok()
}

/// An entry bundle: each entry as a big-endian u16 length and its bytes.
pub fn encode_entry_bundle<'a>(
    entries: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, EntryTooLarge> {
    let mut bundle = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let len = u16::try_from(entry.len()).map_err(|_| EntryTooLarge {
            index,
            len: entry.len(),
        })?;
        bundle.extend_from_slice(&len.to_be_bytes());
        bundle.extend_from_slice(entry);
    }
    Ok(bundle)
}

/// The entries of a bundle; `None` when it is not a well-formed bundle.
pub fn decode_entry_bundle(mut bundle: &[u8]) -> Option<Vec<&[u8]>> {
    let mut entries = Vec::new();
    while !bundle.is_empty() {
        let (len, rest) = bundle.split_at_checked(2)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let (entry, rest) = rest.split_at_checked(len)?;
        entries.push(entry);
        bundle = rest;
    }
    Some(entries)
}
