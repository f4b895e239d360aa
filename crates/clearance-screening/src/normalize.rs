//! Name normalisation: what makes "AL-ZAWAHIRI, Dr. Ayman", "Ayman al Zawahiri" and
//! "Айман аз-Завахири" comparable token by token. In order:
//!
//! 1. **Order**: "SURNAME, Given Names" (one comma, and what follows it is not a legal form as in
//!    "CIMEX, S.A.") becomes "Given Names SURNAME". Matching is order-independent anyway; this
//!    keeps the normalised form readable.
//! 2. **Diacritics and scripts**: Unicode NFKD, combining marks dropped ("Müller" -> "Muller"),
//!    then every remaining non-ASCII character transliterated to Latin with `deunicode`.
//!    Why `deunicode` rather than `any_ascii`: both are maintained and dependency-free;
//!    `deunicode` is the older and far more used (slug and search crates), covers Cyrillic,
//!    Greek, Arabic, Hebrew and CJK with per-character tables, and never panics on any input.
//!    Transliteration is lossy (Arabic vowels are not written, so "محمد" becomes "mhmd"): it lets
//!    a non-Latin name meet the list's romanisations part of the way, the fuzzy scorer the rest.
//! 3. **Case and punctuation**: upper case; `.` and apostrophes dropped inside words ("S.A." ->
//!    "SA", "O'Brien" -> "OBRIEN"); every other non-alphanumeric character separates words.
//! 4. **Words that do not identify**: titles ([`TITLES`]: DR, MR, ...), connecting words
//!    ([`STOPWORDS`]: DE, OF, AND, ...) and legal forms ([`LEGAL_FORMS`]: LTD, LIMITED, SA, GMBH,
//!    LLC, INC, CO, CORP, JSC, OOO, ...) are dropped, unless nothing would be left.
//! 5. **Arabic article**: a separate "AL"/"EL" before another word is dropped ("AL ZAWAHIRI",
//!    "AL-ZAWAHIRI" and "ZAWAHIRI" all become "ZAWAHIRI"): romanisations often leave it out.
//!    Written together ("ALZAWAHIRI") it stays, and the scorer sees a near spelling.
//!
//! [`normalize`] is idempotent and total: every string, however odd, gives a (maybe empty)
//! normalised name, and normalising that again changes nothing.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Personal titles, dropped.
pub const TITLES: &[&str] = &[
    "DR", "MR", "MRS", "MS", "MISS", "PROF", "SIR", "MME", "HERR",
];

/// Connecting words, dropped.
pub const STOPWORDS: &[&str] = &[
    "DE", "DEL", "DA", "DI", "DO", "DOS", "DAS", "DU", "LA", "LE", "THE", "OF", "AND", "Y", "ET",
    "E", "U",
];

/// Legal forms and the words of long legal forms (Russian "Obshchestvo s Ogranichennoi
/// Otvetstvennostyu", Spanish "Sociedad Anonima de Capital Variable"), dropped.
pub const LEGAL_FORMS: &[&str] = &[
    "LTD",
    "LIMITED",
    "LLC",
    "LLP",
    "LP",
    "INC",
    "INCORPORATED",
    "CO",
    "CORP",
    "CORPORATION",
    "COMPANY",
    "COMPANIA",
    "CIA",
    "JSC",
    "OJSC",
    "CJSC",
    "PJSC",
    "OAO",
    "ZAO",
    "PAO",
    "AO",
    "OOO",
    "TOO",
    "GMBH",
    "AG",
    "KG",
    "SA",
    "SAS",
    "SARL",
    "SRL",
    "SPA",
    "SL",
    "BV",
    "NV",
    "PLC",
    "PTE",
    "PVT",
    "PTY",
    "LTDA",
    "CV",
    "FZE",
    "FZCO",
    "FZC",
    "FZ",
    "WLL",
    "SAL",
    "SAE",
    "AB",
    "OY",
    "LIABILITY",
    "SOCIEDAD",
    "ANONIMA",
    "CAPITAL",
    "VARIABLE",
    "OBSHCHESTVO",
    "AKTSIONERNOE",
    "OGRANICHENNOI",
    "OTVETSTVENNOSTYU",
    "PUBLICHNOE",
    "ZAKRYTOE",
    "OTKRYTOE",
];

/// A name normalised into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedName {
    pub tokens: Vec<String>,
}

impl NormalizedName {
    /// The words joined by single spaces.
    pub fn joined(&self) -> String {
        self.tokens.join(" ")
    }
}

/// Normalises a name into words (see the module docs).
pub fn normalize_name(name: &str) -> NormalizedName {
    let reordered = reorder(name);
    let ascii = transliterate(&reordered);
    let words = words(&ascii);
    let kept: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| !TITLES.contains(w) && !STOPWORDS.contains(w) && !LEGAL_FORMS.contains(w))
        .collect();
    let kept = if kept.is_empty() {
        words.iter().map(String::as_str).collect()
    } else {
        kept
    };
    NormalizedName {
        tokens: drop_articles(&kept),
    }
}

/// The name normalised with its hyphenated parts joined ("Su-gwang" -> "SUGWANG"; not the
/// article: "AL-ZAWAHIRI" stays "ZAWAHIRI"), when it has a hyphen between two letters and
/// joining changes the result; `None` otherwise. Screening tries both forms: lists and people write
/// such names with a hyphen, a space or nothing.
pub fn normalize_name_joined(name: &str) -> Option<NormalizedName> {
    let chars: Vec<char> = name.chars().collect();
    let mut joined = String::with_capacity(name.len());
    let mut any = false;
    for (i, c) in chars.iter().enumerate() {
        let between_letters = *c == '-'
            && i > 0
            && chars.get(i - 1).is_some_and(|p| p.is_alphabetic())
            && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
        // "AL-" and "EL-" are the article, which normalisation drops; joined, they would make a
        // second spelling of most Arabic names (and a crowded "AL" bucket in the index).
        let word_start = chars[..i]
            .iter()
            .rposition(|p| !p.is_alphanumeric())
            .map_or(0, |p| p + 1);
        let left: String = chars[word_start..i].iter().collect();
        let compound_start = word_start == 0 || chars.get(word_start - 1) != Some(&'-');
        let article =
            compound_start && (left.eq_ignore_ascii_case("al") || left.eq_ignore_ascii_case("el"));
        if between_letters && !article {
            any = true;
        } else {
            joined.push(*c);
        }
    }
    if !any {
        return None;
    }
    let joined = normalize_name(&joined);
    (joined != normalize_name(name)).then_some(joined)
}

/// Normalises a name into one string of words separated by single spaces.
pub fn normalize(name: &str) -> String {
    normalize_name(name).joined()
}

fn reorder(name: &str) -> String {
    let mut parts = name.split(',');
    let (Some(left), Some(right), None) = (parts.next(), parts.next(), parts.next()) else {
        return name.replace(',', " ");
    };
    let right_words = words(&transliterate(right));
    let only_legal = right_words
        .iter()
        .all(|w| LEGAL_FORMS.contains(&w.as_str()) || STOPWORDS.contains(&w.as_str()));
    if only_legal {
        format!("{left} {right}")
    } else {
        format!("{right} {left}")
    }
}

fn transliterate(text: &str) -> String {
    // Cyrillic first, by the BGN/PCGN-style table OFAC's romanisations follow, and before NFKD
    // (which would take "й" apart into "и" and a breve).
    let mut cyrillic_done = String::with_capacity(text.len());
    for c in text.chars() {
        match cyrillic(c) {
            Some(latin) => cyrillic_done.push_str(latin),
            None => cyrillic_done.push(c),
        }
    }
    let stripped: String = cyrillic_done
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .collect();
    if stripped.is_ascii() {
        stripped
    } else {
        deunicode::deunicode(&stripped)
    }
}

/// The Cyrillic letters whose romanisation on sanctions lists differs from `deunicode`'s
/// ("Юрий" is "Yuriy" there, "Iurii" in `deunicode`).
fn cyrillic(c: char) -> Option<&'static str> {
    Some(match c.to_lowercase().next().unwrap_or(c) {
        'ю' => "yu",
        'я' => "ya",
        'й' | 'ы' => "y",
        'ё' | 'э' => "e",
        'х' => "kh",
        'ц' => "ts",
        'ж' => "zh",
        'ч' => "ch",
        'ш' => "sh",
        'щ' => "shch",
        'ь' | 'ъ' => "",
        _ => return None,
    })
}

fn words(ascii: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            current.push(c.to_ascii_uppercase());
        } else if matches!(c, '.' | '\'' | '`') {
            // Inside a word: "S.A.", "O'BRIEN".
        } else if !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn drop_articles(words: &[&str]) -> Vec<String> {
    let last = words.len().saturating_sub(1);
    words
        .iter()
        .enumerate()
        .filter(|(i, w)| !(matches!(**w, "AL" | "EL") && *i < last))
        .map(|(_, w)| (*w).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorders_strips_and_transliterates() {
        assert_eq!(normalize("AL-ZAWAHIRI, Dr. Ayman"), "AYMAN ZAWAHIRI");
        assert_eq!(normalize("Ayman al Zawahiri"), "AYMAN ZAWAHIRI");
        assert_eq!(normalize("CIMEX, S.A."), "CIMEX");
        assert_eq!(normalize("ANGLO-CARIBBEAN CO., LTD."), "ANGLO CARIBBEAN");
        assert_eq!(normalize("Müller GmbH"), "MULLER");
        assert_eq!(normalize("Jörg O'Brien"), "JORG OBRIEN");
        assert_eq!(normalize("ПУТИН, Владимир"), "VLADIMIR PUTIN");
        assert_eq!(normalize("Юрий Ковальчук"), "YURIY KOVALCHUK");
        assert_eq!(normalize("BANCO NACIONAL DE CUBA"), "BANCO NACIONAL CUBA");
        assert_eq!(normalize("OOO"), "OOO");
        assert_eq!(normalize("  ,;  "), "");
    }

    #[test]
    fn hyphenated_parts_joined() {
        let joined = |n: &str| normalize_name_joined(n).map(|j| j.joined());
        assert_eq!(joined("KIM, Su-gwang").as_deref(), Some("SUGWANG KIM"));
        assert_eq!(joined("AL-ZAWAHIRI, Ayman"), None);
        assert_eq!(joined("Abd-al-Salam").as_deref(), Some("ABDALSALAM"));
        assert_eq!(joined("Anglo - Caribbean"), None);
        assert_eq!(joined("Smith"), None);
    }

    #[test]
    fn idempotent_on_examples() {
        for name in [
            "AL AL",
            "Al",
            "de la Cruz, Juan",
            "S. A.",
            "株式会社トヨタ",
            "Ωμέγα, Α.Ε.",
        ] {
            let once = normalize(name);
            assert_eq!(normalize(&once), once, "{name}");
        }
    }
}
