//! Normalisation and scoring never panic, normalisation is idempotent, and scores stay in 0..=1,
//! whatever the input.

use clearance_screening::{name_similarity, normalize};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn normalize_is_idempotent(name in any::<String>()) {
        let once = normalize(&name);
        prop_assert_eq!(normalize(&once), once.clone());
        prop_assert!(once.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' '));
    }

    #[test]
    fn normalize_is_idempotent_on_name_like_text(name in "[A-Za-zÀ-ÿА-я ,.'-]{0,40}") {
        let once = normalize(&name);
        prop_assert_eq!(normalize(&once), once);
    }

    #[test]
    fn scores_are_in_range(a in any::<String>(), b in "[A-Za-zÀ-ÿ ,.'-]{0,30}") {
        let s = name_similarity(&a, &b);
        prop_assert!((0.0..=1.0).contains(&s), "{}", s);
        if !normalize(&b).is_empty() {
            prop_assert!((name_similarity(&b, &b) - 1.0).abs() < 1e-9);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Whatever bytes the files hold, the parsers return (an error or a list); they never panic.
    #[test]
    fn parsers_never_panic(sdn in proptest::collection::vec(any::<u8>(), 0..400),
                           alt in proptest::collection::vec(any::<u8>(), 0..200),
                           text in "[0-9A-Za-z\",\t; \\-\r\n]{0,300}") {
        use clearance_screening::parse::{self, Input};
        let _ = parse::ofac_sdn(Input::new("sdn", &sdn), Input::new("alt", &alt), Some(Input::new("add", &alt)));
        let _ = parse::ofac_sdn(Input::new("sdn", text.as_bytes()), Input::new("alt", text.as_bytes()), None);
        let _ = parse::bis_dpl(Input::new("dpl", &sdn));
        let _ = parse::bis_dpl(Input::new("dpl", text.as_bytes()));
        let _ = parse::csl(Input::new("csl", &sdn));
        let _ = parse::csl(Input::new("csl", text.as_bytes()));
    }

    /// Remarks in OFAC's style with random values parse without panicking.
    #[test]
    fn remarks_never_panic(remarks in "((alt\\. )?(DOB|Passport|National ID No\\.|nationality|citizen|NIT #) [0-9A-Za-z ().,-]{0,20}; ){0,5}") {
        let _ = clearance_screening::parse::remarks::parse_remarks(&remarks);
    }
}
