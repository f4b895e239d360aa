//! Normalisation and scoring never panic, normalisation is idempotent, and scores stay in 0..=1,
//! whatever the input.

mod common;

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

proptest! {
    /// Any two dates of birth, however odd, compare without panicking, and symmetrically.
    #[test]
    fn dob_compatibility_is_total_and_symmetric(
        a in (any::<i32>(), any::<i32>(), proptest::option::of(any::<u32>()), proptest::option::of(any::<u32>()), any::<bool>()),
        b in (any::<i32>(), any::<i32>(), proptest::option::of(any::<u32>()), proptest::option::of(any::<u32>()), any::<bool>()),
    ) {
        use clearance_screening::DateOfBirth;
        let a = DateOfBirth { year: a.0, year_to: a.1, month: a.2, day: a.3, circa: a.4 };
        let b = DateOfBirth { year: b.0, year_to: b.1, month: b.2, day: b.3, circa: b.4 };
        prop_assert_eq!(a.compatible(&b), b.compatible(&a));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Screening any name against the real SDN and DPL returns, with scores in 0..=1, sorted.
    #[test]
    fn screening_any_name_returns(name in any::<String>(), id in "[0-9A-Z -]{0,12}") {
        use clearance_screening::{PartyKind, Query};
        let result = common::screener().screen(&Query::new(&name, PartyKind::Unknown).with_identifier(&id));
        prop_assert!(result.matches.iter().all(|m| (0.0..=1.0).contains(&m.score)));
        prop_assert!(result.matches.windows(2).all(|w| w[0].score >= w[1].score));
    }
}
