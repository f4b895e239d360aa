//! RFC 6962 / RFC 9162 Merkle trees: leaf and node hashing, the tree's complete subtrees (the
//! nodes a store keeps), compact appends, and inclusion and consistency proofs.
//!
//! A store keeps every *complete* subtree's hash ([`NodeId`]): leaf `n`'s hash, and each node
//! whose leaves are all present. Appending a leaf completes at most `log2(n) + 1` of them
//! ([`Frontier::append`]). Any other hash (the root of a tree whose size is not a power of two,
//! the right edge of a proof) is folded from at most `log2(n)` complete ones, so a proof needs
//! `O(log n)` node reads: a [`ProofPlan`] names them all first, so a store can fetch them in one
//! query, then assembles the proof.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

/// A SHA-256 hash in the tree.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    pub fn from_base64(text: &str) -> Option<Hash> {
        let bytes = BASE64.decode(text.trim()).ok()?;
        Some(Hash(bytes.try_into().ok()?))
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        Some(Hash(bytes.try_into().ok()?))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// `SHA-256(0x00 || data)`: the hash of a leaf holding `data` (RFC 6962 2.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    Hash(hasher.finalize().into())
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node (RFC 6962 2.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left.0);
    hasher.update(right.0);
    Hash(hasher.finalize().into())
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// A complete subtree: the `index`-th run of `2^level` leaves, `[index << level, (index + 1)
/// << level)`. Level 0 nodes are the leaves.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub fn new(level: u8, index: u64) -> NodeId {
        NodeId { level, index }
    }

    /// The first leaf it covers.
    pub fn start(&self) -> u64 {
        self.index << self.level
    }

    /// One past the last leaf it covers.
    pub fn end(&self) -> u64 {
        (self.index + 1) << self.level
    }
}

/// Why a proof could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a consistency proof needs 0 < from <= to, got from {from} to {to}")]
    BadSizes { from: u64, to: u64 },
    #[error("the store lacks tree node {0:?}")]
    MissingNode(NodeId),
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
}

/// The complete subtrees that together cover leaves `[start, end)`, left to right. `start`
/// must be aligned as in every RFC 6962 recursion: a multiple of the largest power of two not
/// above `end - start`.
pub fn range_nodes(start: u64, end: u64) -> Vec<NodeId> {
    let mut nodes = Vec::new();
    let mut at = start;
    for level in (0..64u8).rev() {
        let width = 1u64 << level;
        if (end - start) & width != 0 {
            nodes.push(NodeId::new(level, at >> level));
            at += width;
        }
    }
    nodes
}

/// The complete subtrees whose hashes fold into the root of a tree of `size` leaves.
pub fn root_nodes(size: u64) -> Vec<NodeId> {
    range_nodes(0, size)
}

/// Folds the hashes of [`range_nodes`] (left to right) into the range's Merkle tree hash.
pub fn fold(hashes: &[Hash]) -> Hash {
    let mut iter = hashes.iter().rev();
    let Some(last) = iter.next() else {
        return empty_root();
    };
    iter.fold(*last, |right, left| node_hash(left, &right))
}

/// The tree's right edge in memory: the hashes of [`root_nodes`] for the current size. What a
/// writer keeps to compute roots and the nodes each append completes, without reading anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// The frontier of a tree of `size` leaves, from the hashes of its [`root_nodes`].
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Frontier> {
        (hashes.len() == size.count_ones() as usize).then_some(Frontier { size, hashes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf (its hash) and returns every node that became complete, the leaf first.
    pub fn append(&mut self, leaf: Hash) -> Vec<(NodeId, Hash)> {
        let mut index = self.size;
        let mut level = 0u8;
        let mut hash = leaf;
        let mut completed = vec![(NodeId::new(0, index), hash)];
        while index & 1 == 1 {
            let left = self
                .hashes
                .pop()
                .expect("an odd index has a left sibling on the frontier");
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            completed.push((NodeId::new(level, index), hash));
        }
        self.hashes.push(hash);
        self.size += 1;
        completed
    }

    /// The tree's root hash (RFC 6962 MTH of every leaf so far).
    pub fn root(&self) -> Hash {
        fold(&self.hashes)
    }
}

/// The root of a tree over `leaves` (leaf hashes), computed in memory.
pub fn root_of(leaves: &[Hash]) -> Hash {
    let mut frontier = Frontier::new();
    for leaf in leaves {
        frontier.append(*leaf);
    }
    frontier.root()
}

/// The largest power of two strictly below `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// A proof to be built: the leaf ranges whose Merkle tree hashes make it up, in proof order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofPlan {
    ranges: Vec<(u64, u64)>,
}

impl ProofPlan {
    /// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 2.1.3.1).
    pub fn inclusion(index: u64, size: u64) -> Result<ProofPlan, ProofError> {
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        let mut ranges = Vec::new();
        path(index, 0, size, &mut ranges);
        Ok(ProofPlan { ranges })
    }

    /// The consistency proof from the tree of `from` leaves to the tree of `to` leaves (RFC
    /// 9162 2.1.4.1); empty when `from == to` or `from == 0`.
    pub fn consistency(from: u64, to: u64) -> Result<ProofPlan, ProofError> {
        if from > to {
            return Err(ProofError::BadSizes { from, to });
        }
        let mut ranges = Vec::new();
        if from > 0 && from < to {
            subproof(from, 0, to, true, &mut ranges);
        }
        Ok(ProofPlan { ranges })
    }

    /// Every stored node the proof needs, sorted, each once: read them in one query.
    pub fn nodes(&self) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self
            .ranges
            .iter()
            .flat_map(|&(start, end)| range_nodes(start, end))
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }

    /// The proof, from the nodes [`ProofPlan::nodes`] named.
    pub fn assemble(
        &self,
        lookup: impl Fn(NodeId) -> Option<Hash>,
    ) -> Result<Vec<Hash>, ProofError> {
        self.ranges
            .iter()
            .map(|&(start, end)| {
                let hashes = range_nodes(start, end)
                    .into_iter()
                    .map(|id| lookup(id).ok_or(ProofError::MissingNode(id)))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(fold(&hashes))
            })
            .collect()
    }
}

/// RFC 9162 PATH(m, D[lo:hi]), `m` relative to `lo`.
fn path(m: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m < k {
        path(m, lo, lo + k, out);
        out.push((lo + k, hi));
    } else {
        path(m - k, lo + k, hi, out);
        out.push((lo, lo + k));
    }
}

/// RFC 9162 SUBPROOF(m, D[lo:hi], b), `m` relative to `lo`.
fn subproof(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push((lo, hi));
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, lo, lo + k, whole, out);
        out.push((lo + k, hi));
    } else {
        subproof(m - k, lo + k, hi, false, out);
        out.push((lo, lo + k));
    }
}

/// Verifies that `leaf` is leaf `index` of the tree of `size` leaves with root `root` (RFC
/// 9162 2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `from` leaves with root `old_root` is a prefix of the tree of
/// `to` leaves with root `new_root` (RFC 9162 2.1.4.2). From an empty tree anything follows;
/// between equal sizes the roots must be equal and the proof empty.
pub fn verify_consistency(
    from: u64,
    to: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if from > to {
        return Err(ProofError::BadSizes { from, to });
    }
    if from == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::WrongLength)
        };
    }
    if from == to {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if from.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength);
    };
    let (mut f, mut s) = (from - 1, to - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}
