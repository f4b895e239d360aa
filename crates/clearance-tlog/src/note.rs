//! C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and Ed25519 cosignatures
//! (c2sp.org/tlog-cosignature, `cosignature/v1`).
//!
//! A note is a text body (lines ending in `\n`), a blank line, and signature lines
//! `— <key name> base64(key id || signature)`. The key id is the first four bytes of
//! `SHA-256(name || "\n" || type || public key)`: type `0x01` for a note signature, `0x04` for
//! a cosignature (whose signature is a big-endian u64 timestamp followed by an Ed25519
//! signature over `cosignature/v1\ntime <t>\n` and the body). Keys travel as text:
//! `name+<key id hex>+base64(type || public key)` (a verifier key, safe to publish) and
//! `PRIVATE+KEY+name+<key id hex>+base64(type || seed)` (the signer key, a secret).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The dash that starts every signature line (U+2014).
const DASH: &str = "\u{2014} ";
/// The signature type of a note signature with an Ed25519 key.
pub const TYPE_ED25519: u8 = 0x01;
/// The signature type of an Ed25519 `cosignature/v1`.
pub const TYPE_COSIGNATURE: u8 = 0x04;

/// Why a key or a note was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed key: {0}")]
    BadKey(&'static str),
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("no signature on the note verifies with the given key `{0}`")]
    Unverified(String),
    #[error("key name `{0}` may not be empty or contain spaces or `+`")]
    BadName(String),
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains([' ', '+', '\n', '\t']) {
        return Err(NoteError::BadName(name.to_string()));
    }
    Ok(())
}

/// `name+id+material`: names hold no `+`, base64 material may.
fn split_key(text: &str) -> Option<(&str, &str, &str)> {
    let mut parts = text.splitn(3, '+');
    Some((parts.next()?, parts.next()?, parts.next()?))
}

fn key_id(name: &str, kind: u8, public: &[u8; 32]) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([kind]);
    hasher.update(public);
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A key that verifies signatures of one kind (note or cosignature) by one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub name: String,
    pub kind: u8,
    pub id: [u8; 4],
    key: VerifyingKey,
}

impl Verifier {
    /// Parses `name+<hex id>+base64(type || key)`; the id must match the key.
    pub fn parse(text: &str) -> Result<Verifier, NoteError> {
        let text = text.trim();
        let (name, id_hex, material) =
            split_key(text).ok_or(NoteError::BadKey("expected name+id+key"))?;
        check_name(name)?;
        let material = BASE64
            .decode(material)
            .map_err(|_| NoteError::BadKey("the key is not base64"))?;
        let (&kind, public) = material
            .split_first()
            .ok_or(NoteError::BadKey("empty key"))?;
        if kind != TYPE_ED25519 && kind != TYPE_COSIGNATURE {
            return Err(NoteError::BadKey(
                "unsupported key type (0x01 note or 0x04 cosignature expected)",
            ));
        }
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| NoteError::BadKey("an Ed25519 key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| NoteError::BadKey("not an Ed25519 public key"))?;
        let id = key_id(name, kind, &public);
        if hex::encode(id) != id_hex.to_ascii_lowercase() {
            return Err(NoteError::BadKey("the key id does not match the key"));
        }
        Ok(Verifier {
            name: name.to_string(),
            kind,
            id,
            key,
        })
    }

    /// The key in text form, to publish.
    pub fn to_text(&self) -> String {
        let mut material = vec![self.kind];
        material.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            BASE64.encode(material)
        )
    }

    /// Whether `signature` (the bytes after the key id) is this key's over `body`.
    fn verifies(&self, body: &str, signature: &[u8]) -> Option<Option<u64>> {
        match self.kind {
            TYPE_ED25519 => {
                let sig = ed25519_dalek::Signature::from_slice(signature).ok()?;
                self.key.verify_strict(body.as_bytes(), &sig).ok()?;
                Some(None)
            }
            _ => {
                if signature.len() != 8 + 64 {
                    return None;
                }
                let (time, sig) = signature.split_at(8);
                let time = u64::from_be_bytes(time.try_into().ok()?);
                let sig = ed25519_dalek::Signature::from_slice(sig).ok()?;
                self.key
                    .verify_strict(cosigned_message(time, body).as_bytes(), &sig)
                    .ok()?;
                Some(Some(time))
            }
        }
    }
}

/// What a cosignature signs: `cosignature/v1`, the time, then the checkpoint body.
fn cosigned_message(time: u64, body: &str) -> String {
    format!("cosignature/v1\ntime {time}\n{body}")
}

/// A signing key of one kind by one name. Its text form is a secret.
pub struct Signer {
    pub name: String,
    pub kind: u8,
    pub id: [u8; 4],
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        write!(f, "Signer({}+{})", self.name, hex::encode(self.id))
    }
}

impl Signer {
    /// A new random key.
    pub fn generate(name: &str, kind: u8) -> Result<Signer, NoteError> {
        check_name(name)?;
        let seed: [u8; 32] = rand::random();
        Ok(Signer::from_seed(name, kind, seed))
    }

    fn from_seed(name: &str, kind: u8, seed: [u8; 32]) -> Signer {
        let key = SigningKey::from_bytes(&seed);
        let id = key_id(name, kind, key.verifying_key().as_bytes());
        Signer {
            name: name.to_string(),
            kind,
            id,
            key,
        }
    }

    /// Parses `PRIVATE+KEY+name+<hex id>+base64(type || seed)`.
    pub fn parse(text: &str) -> Result<Signer, NoteError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::BadKey("a signer key starts with PRIVATE+KEY+"))?;
        let (name, id_hex, material) =
            split_key(rest).ok_or(NoteError::BadKey("expected PRIVATE+KEY+name+id+key"))?;
        check_name(name)?;
        let material = BASE64
            .decode(material)
            .map_err(|_| NoteError::BadKey("the key is not base64"))?;
        let (&kind, seed) = material
            .split_first()
            .ok_or(NoteError::BadKey("empty key"))?;
        if kind != TYPE_ED25519 && kind != TYPE_COSIGNATURE {
            return Err(NoteError::BadKey("unsupported key type"));
        }
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| NoteError::BadKey("an Ed25519 seed is 32 bytes"))?;
        let signer = Signer::from_seed(name, kind, seed);
        if hex::encode(signer.id) != id_hex.to_ascii_lowercase() {
            return Err(NoteError::BadKey("the key id does not match the key"));
        }
        Ok(signer)
    }

    /// The secret text form.
    pub fn to_text(&self) -> String {
        let mut material = vec![self.kind];
        material.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex::encode(self.id),
            BASE64.encode(material)
        )
    }

    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            kind: self.kind,
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// A signature line over `body` (for a cosigner, stamped with `time`).
    pub fn signature_line(&self, body: &str, time: u64) -> String {
        let mut bytes = self.id.to_vec();
        if self.kind == TYPE_COSIGNATURE {
            bytes.extend_from_slice(&time.to_be_bytes());
            bytes.extend_from_slice(
                &self
                    .key
                    .sign(cosigned_message(time, body).as_bytes())
                    .to_bytes(),
            );
        } else {
            bytes.extend_from_slice(&self.key.sign(body.as_bytes()).to_bytes());
        }
        format!("{DASH}{} {}\n", self.name, BASE64.encode(bytes))
    }

    /// The signed note: `body`, a blank line, this key's signature.
    pub fn sign(&self, body: &str) -> Result<String, NoteError> {
        check_body(body)?;
        Ok(format!("{body}\n{}", self.signature_line(body, 0)))
    }
}

fn check_body(body: &str) -> Result<(), NoteError> {
    if body.is_empty() || !body.ends_with('\n') {
        return Err(NoteError::Malformed("the body must end with a newline"));
    }
    if body.contains("\n\n") || body.starts_with('\n') {
        return Err(NoteError::Malformed(
            "the body may not contain a blank line",
        ));
    }
    if body.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("control characters in the body"));
    }
    Ok(())
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLine {
    pub name: String,
    pub id: [u8; 4],
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
    /// The line as it appeared, newline included.
    pub line: String,
}

/// A note split into its body and signature lines; nothing verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub body: String,
    pub signatures: Vec<SignatureLine>,
}

impl Note {
    pub fn parse(text: &str) -> Result<Note, NoteError> {
        if text.len() > 1_000_000 {
            return Err(NoteError::Malformed("the note is larger than 1 MB"));
        }
        let split = text
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (body, sigs) = (&text[..=split], &text[split + 2..]);
        check_body(body)?;
        if !sigs.ends_with('\n') {
            return Err(NoteError::Malformed("the note must end with a newline"));
        }
        let signatures = sigs
            .split_inclusive('\n')
            .map(parse_signature_line)
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.is_empty() {
            return Err(NoteError::Malformed("no signature lines"));
        }
        Ok(Note {
            body: body.to_string(),
            signatures,
        })
    }

    /// The signatures that verify with `verifier` (each line once); for cosignatures with
    /// their timestamps.
    pub fn verified_by(&self, verifier: &Verifier) -> Vec<Option<u64>> {
        self.signatures
            .iter()
            .filter(|s| s.name == verifier.name && s.id == verifier.id)
            .filter_map(|s| verifier.verifies(&self.body, &s.signature))
            .collect()
    }

    /// Fails unless `verifier` signed the body.
    pub fn verify(&self, verifier: &Verifier) -> Result<(), NoteError> {
        if self.verified_by(verifier).is_empty() {
            return Err(NoteError::Unverified(verifier.to_text()));
        }
        Ok(())
    }

    /// The note as text, with every signature line.
    pub fn to_text(&self) -> String {
        let mut text = format!("{}\n", self.body);
        for s in &self.signatures {
            text.push_str(&s.line);
        }
        text
    }

    /// Adds signature lines (a witness's answer), skipping any already present.
    pub fn add_signature_lines(&mut self, lines: &str) -> Result<usize, NoteError> {
        let mut added = 0;
        for line in lines.split_inclusive('\n').filter(|l| !l.trim().is_empty()) {
            let line = if line.ends_with('\n') {
                line.to_string()
            } else {
                format!("{line}\n")
            };
            let parsed = parse_signature_line(&line)?;
            if !self.signatures.contains(&parsed) {
                self.signatures.push(parsed);
                added += 1;
            }
        }
        Ok(added)
    }
}

fn parse_signature_line(line: &str) -> Result<SignatureLine, NoteError> {
    let rest = line.strip_prefix(DASH).ok_or(NoteError::Malformed(
        "a signature line starts with an em dash and a space",
    ))?;
    let (name, b64) = rest
        .trim_end_matches('\n')
        .split_once(' ')
        .ok_or(NoteError::Malformed(
            "a signature line is `— name signature`",
        ))?;
    check_name(name).map_err(|_| NoteError::Malformed("bad key name on a signature line"))?;
    let bytes = BASE64
        .decode(b64)
        .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
    if bytes.len() < 5 {
        return Err(NoteError::Malformed("a signature is too short"));
    }
    Ok(SignatureLine {
        name: name.to_string(),
        id: [bytes[0], bytes[1], bytes[2], bytes[3]],
        signature: bytes[4..].to_vec(),
        line: line.to_string(),
    })
}
