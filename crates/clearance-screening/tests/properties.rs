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
