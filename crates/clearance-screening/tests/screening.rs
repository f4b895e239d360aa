//! Screening behaviour against the real SDN and DPL: listed parties found in other spellings,
//! unrelated names not, identifiers, dates of birth, countries and kinds.

mod common;

use clearance_screening::screen::{MATCH, POTENTIAL};
use clearance_screening::{
    AliasType, DateOfBirth, ListSource, PartyKind, Query, Screener, ScreeningResult,
    ScreeningStatus,
};

fn screen(query: Query) -> ScreeningResult {
    common::screener().screen(&query)
}

/// The score of `entity_id` (SDN) in the result, if it is there.
fn score_of(result: &ScreeningResult, entity_id: &str) -> Option<f64> {
    result
        .matches
        .iter()
        .find(|m| m.entity_id == entity_id)
        .map(|m| m.score)
}

fn assert_match(query: Query, entity_id: &str) {
    let name = query.name.clone();
    let result = screen(query);
    assert_eq!(
        result.status,
        ScreeningStatus::Match,
        "{name:?}: {result:#?}"
    );
    let top = &result.matches[0];
    assert_eq!(top.entity_id, entity_id, "{name:?}: {result:#?}");
    assert!(top.score >= MATCH);
}

#[test]
fn a_listed_person_is_found_in_other_spellings() {
    // SDN 2676 "AL ZAWAHIRI, Dr. Ayman".
    for spelling in [
        "Ayman al-Zawahiri", // given name first, article hyphenated
        "ZAWAHIRI Ayman",    // surname first, no comma, no article
        "Aymán al-Zawáhiri", // diacritics added
        "Ayman al-Zawahri",  // one letter missing
        "Aymen Zawahiri",    // one letter changed
    ] {
        assert_match(Query::individual(spelling), "2676");
    }
    // In Cyrillic the transliteration ("ZAVAKHIRI") is two letters off: a potential match.
    let result = screen(Query::individual("айман завахири"));
    assert_eq!(
        result.status,
        ScreeningStatus::PotentialMatch,
        "{result:#?}"
    );
    assert_eq!(result.matches[0].entity_id, "2676");
    // SDN 6861 "GUZMAN LOERA, Joaquin", with and without accents.
    assert_match(Query::individual("Joaquín Guzmán Loera"), "6861");
    assert_match(Query::individual("JOAQUIN GUZMAN LOERA"), "6861");
}

#[test]
fn hyphenated_names_are_found_written_together_or_apart() {
    // SDN 22286 "KIM, Su-gwang" (an alias), written without the hyphen either way.
    assert_match(Query::individual("Kim Sugwang"), "22286");
    assert_match(Query::individual("Su Gwang Kim"), "22286");
    // And a query with a hyphen finds a listed name written together: SDN 2676 as "Al-Zawahiri"
    // and "Alzawahiri".
    assert_match(Query::individual("Ayman Alzawahiri"), "2676");
}

#[test]
fn a_listed_party_is_found_through_an_alias() {
    // SDN 306 BANCO NACIONAL DE CUBA, aka NATIONAL BANK OF CUBA.
    let result = screen(Query::organisation("National Bank of Cuba Ltd."));
    assert_eq!(result.status, ScreeningStatus::Match);
    let top = &result.matches[0];
    assert_eq!(
        (top.entity_id.as_str(), top.entity_name.as_str()),
        ("306", "BANCO NACIONAL DE CUBA")
    );
    assert_eq!(top.matched_name, "NATIONAL BANK OF CUBA");
    assert_eq!(top.alias_type, Some(AliasType::Aka));
    // The entity is reported once, by its best name.
    assert_eq!(
        result
            .matches
            .iter()
            .filter(|m| m.entity_id == "306")
            .count(),
        1
    );
}

#[test]
fn evidence_names_the_list_version_and_algorithm() {
    let screener = common::screener();
    let result = screener.screen(&Query::individual("Ayman al-Zawahiri"));
    let top = &result.matches[0];
    assert_eq!(top.source, ListSource::OfacSdn);
    assert_eq!(top.list_version, screener.versions()[0].sha256);
    assert_eq!(
        top.algorithm_version,
        clearance_screening::ALGORITHM_VERSION
    );
    assert_eq!(top.score, 1.0);
    assert_eq!(top.reasons, vec!["name similarity 1.000".to_string()]);
}

#[test]
fn a_dpl_party_is_found_in_the_other_word_order() {
    let result = screen(Query::new("Villa, Aaron Abraham", PartyKind::Unknown));
    assert_eq!(result.status, ScreeningStatus::Match, "{result:#?}");
    assert_eq!(result.matches[0].source, ListSource::BisDpl);
    assert_eq!(result.matches[0].matched_name, "AARON ABRAHAM VILLA");
}

#[test]
fn unrelated_names_sharing_common_words_are_clear() {
    for name in [
        "Blue River Trading Ltd",     // shares TRADING with hundreds of entries
        "Summit International GmbH",  // shares INTERNATIONAL
        "Northwind Shipping Company", // shares SHIPPING, COMPANY
        "Golden Sun Bakery",          // shares GOLDEN with GOLDEN STAR TRADING
        "Cuba Libre Cocktail Bar",    // shares CUBA with dozens of entries
    ] {
        let result = screen(Query::organisation(name));
        assert_eq!(
            result.status,
            ScreeningStatus::Clear,
            "{name:?}: {result:#?}"
        );
    }
    for name in [
        "Mohammed",
        "Mohammad Jensen",
        "Ali Thompson",
        "Juan Carlos Lindqvist",
        "Sarah Miller",
    ] {
        let result = screen(Query::individual(name));
        assert_eq!(
            result.status,
            ScreeningStatus::Clear,
            "{name:?}: {result:#?}"
        );
    }
}

#[test]
fn an_identifier_matches_outright_whatever_the_name() {
    // SDN 2676's remarks: "Passport 1084010 (Egypt); alt. Passport 19820215".
    let result = screen(Query::individual("Someone Else Entirely").with_identifier("1084-010"));
    assert_eq!(result.status, ScreeningStatus::Match);
    let top = &result.matches[0];
    assert_eq!((top.entity_id.as_str(), top.score), ("2676", 1.0));
    assert_eq!(
        top.reasons,
        vec!["identifier 1084010 equals the listed passport".to_string()]
    );
    // Too short to be matched on its own.
    let result = screen(Query::individual("Someone Else Entirely").with_identifier("1234"));
    assert_eq!(result.status, ScreeningStatus::Clear);
}

#[test]
fn date_of_birth_and_country_move_the_score() {
    let name = "Ayman al-Zawahiri";
    let plain = score_of(&screen(Query::individual(name)), "2676").expect("found");
    assert_eq!(plain, 1.0);
    // SDN 2676 was born 19 Jun 1951.
    let wrong_dob = screen(Query::individual(name).with_date_of_birth(DateOfBirth::year(1980)));
    let wrong = score_of(&wrong_dob, "2676").expect("still reported");
    assert!((POTENTIAL..MATCH).contains(&wrong), "{wrong}");
    assert_eq!(wrong_dob.status, ScreeningStatus::PotentialMatch);
    assert!(
        wrong_dob.matches[0]
            .reasons
            .iter()
            .any(|r| r.contains("date of birth disagrees"))
    );

    let typo = "Aymen Zawahiry";
    let base = score_of(&screen(Query::individual(typo)), "2676").expect("found");
    let dob = DateOfBirth::ymd(1951, 6, 19).expect("date");
    let with_dob = score_of(
        &screen(Query::individual(typo).with_date_of_birth(dob)),
        "2676",
    )
    .expect("found");
    assert!((with_dob - (base + clearance_screening::screen::DOB_AGREES).min(1.0)).abs() < 1e-9);

    // SDN 306 BANCO NACIONAL DE CUBA has addresses in several countries (add.csv), not Brazil.
    let listed = common::screener()
        .entry(&ListSource::OfacSdn, "306")
        .expect("entry 306");
    let country = listed.countries.first().expect("a listed country").clone();
    assert!(!listed.countries.iter().any(|c| c == "BR"));
    let bank = |q: Query| score_of(&screen(q), "306").expect("found");
    let plain = bank(Query::organisation("Banco Nacional de Cubba"));
    let here = bank(Query::organisation("Banco Nacional de Cubba").with_country(&country));
    let away = bank(Query::organisation("Banco Nacional de Cubba").with_country("Brazil"));
    assert!(here > plain && away < plain, "{away} < {plain} < {here}");
    assert!(away < here, "{away} < {here}");
}

#[test]
fn kinds_keep_people_and_companies_apart() {
    // An organisation named like a listed person is not that person...
    let result = screen(Query::organisation("Ayman al-Zawahiri"));
    assert_eq!(score_of(&result, "2676"), None);
    // ...nor a person named like a listed bank.
    let result = screen(Query::individual("Banco Nacional de Cuba"));
    assert_eq!(score_of(&result, "306"), None);
    // An unknown kind is screened against both.
    assert!(
        score_of(
            &screen(Query::new("Banco Nacional de Cuba", PartyKind::Unknown)),
            "306"
        )
        .is_some()
    );
    // The DPL does not say what its parties are: they are screened against every kind.
    let result = screen(Query::organisation("Aaron Abraham Villa"));
    assert_eq!(result.status, ScreeningStatus::Match);
}

#[test]
fn the_csl_screens_too() {
    let screener = Screener::new(vec![common::csl()]);
    let result = screener.screen(&Query::organisation("Havantur Canada Inc"));
    assert_eq!(result.status, ScreeningStatus::Match, "{result:#?}");
    assert_eq!(result.matches[0].source, ListSource::Csl("SDN".into()));
    assert_eq!(result.matches[0].entity_id, "8124");
    // CSL ids: "US, 80-0890696, Tax ID No."
    let result = screener.screen(&Query::organisation("x").with_identifier("80 0890696"));
    assert_eq!(result.matches[0].entity_id, "20264");
}

#[test]
fn screen_all_keeps_the_order() {
    let queries = vec![
        Query::individual("Ayman al-Zawahiri"),
        Query::individual("Sarah Miller"),
        Query::organisation("National Bank of Cuba"),
    ];
    let results = common::screener().screen_all(&queries);
    let statuses: Vec<ScreeningStatus> = results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![
            ScreeningStatus::Match,
            ScreeningStatus::Clear,
            ScreeningStatus::Match
        ]
    );
}
