//! JWT verification with real keys and real signatures (the test keys of `clearance-fake`):
//! every way a token can be wrong, each refused with its own error.

#![allow(clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clearance_identity::{Algorithm, ClaimPath, IssuerPolicy, KeySet, TokenError, verify_token};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

const KEYS: &str = "../clearance-fake/keys";
const NOW: i64 = 1_800_000_000;
const ISSUER: &str = "https://idp.example.com";

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/{name}")).unwrap()
}

fn key_set() -> KeySet {
    let doc = format!(
        r#"{{"keys":[{},{}]}}"#,
        read("rsa-1.jwk.json"),
        read("ec-1.jwk.json")
    );
    KeySet::parse(doc.as_bytes()).unwrap()
}

fn policy() -> IssuerPolicy {
    let mut policy = IssuerPolicy::new(ISSUER, vec!["clearance".into()]);
    policy.claims.facts = vec![("citizenships", ClaimPath::parse("citizenships").unwrap())];
    policy
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": "clearance", "sub": "alice", "exp": NOW + 300, "iat": NOW,
           "citizenships": ["US"]})
}

fn rs256(claims: &Value, kid: &str) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_rsa_pem(read("rsa-1.pem").as_bytes()).unwrap();
    encode(&header, claims, &key).unwrap()
}

fn es256(claims: &Value) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("ec-1".into());
    let key = EncodingKey::from_ec_pem(read("ec-1.pem").as_bytes()).unwrap();
    encode(&header, claims, &key).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn check(token: &str) -> Result<clearance_identity::VerifiedToken, TokenError> {
    verify_token(token, &policy(), &key_set(), NOW)
}

#[test]
fn rs256_and_es256_tokens_verify_and_carry_their_facts() {
    for token in [rs256(&claims(), "rsa-1"), es256(&claims())] {
        let verified = check(&token).unwrap();
        assert_eq!(verified.principal_id.as_str(), "alice");
        assert_eq!(verified.subject, "alice");
        assert!(
            verified
                .facts
                .held()
                .citizenships
                .contains(&"US".parse().unwrap())
        );
    }
}

#[test]
fn an_audience_list_needs_to_name_this_gateway_once() {
    let mut c = claims();
    c["aud"] = json!(["other", "clearance"]);
    assert!(check(&rs256(&c, "rsa-1")).is_ok());
    c["aud"] = json!(["other"]);
    assert_eq!(check(&rs256(&c, "rsa-1")), Err(TokenError::WrongAudience));
}

#[test]
fn expiry_and_not_before_are_checked_within_the_clock_skew() {
    let mut c = claims();
    c["exp"] = json!(NOW - 30);
    assert!(check(&rs256(&c, "rsa-1")).is_ok(), "within 60 s of skew");
    c["exp"] = json!(NOW - 61);
    assert_eq!(check(&rs256(&c, "rsa-1")), Err(TokenError::Expired));
    let mut c = claims();
    c["nbf"] = json!(NOW + 61);
    assert_eq!(check(&rs256(&c, "rsa-1")), Err(TokenError::NotYetValid));
    c["nbf"] = json!(NOW + 30);
    assert!(check(&rs256(&c, "rsa-1")).is_ok());
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        check(&rs256(&c, "rsa-1")),
        Err(TokenError::MissingClaim("exp".into())),
        "a token that never expires is refused"
    );
}

#[test]
fn another_issuer_is_refused() {
    let mut c = claims();
    c["iss"] = json!("https://idp.example.com/");
    assert_eq!(check(&rs256(&c, "rsa-1")), Err(TokenError::WrongIssuer));
}

#[test]
fn an_unknown_kid_is_its_own_error() {
    assert_eq!(
        check(&rs256(&claims(), "rsa-9")),
        Err(TokenError::UnknownKeyId)
    );
}

#[test]
fn alg_none_and_unsigned_tokens_are_refused() {
    let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims()));
    assert_eq!(check(&none), Err(TokenError::AlgorithmNone));
    let signed = rs256(&claims(), "rsa-1");
    let unsigned = format!("{}.", signed.rsplit_once('.').unwrap().0);
    assert_eq!(check(&unsigned), Err(TokenError::Unsigned));
}

#[test]
fn hs256_signed_with_the_public_key_as_secret_is_refused() {
    // The classic confusion attack: the public key is public, so anyone can HMAC with it.
    for public in [read("rsa-1.pub.pem"), read("rsa-1.jwk.json")] {
        let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        let token = encode(
            &header,
            &claims(),
            &EncodingKey::from_secret(public.as_bytes()),
        )
        .unwrap();
        let refused = check(&token).unwrap_err();
        assert!(
            matches!(refused, TokenError::AlgorithmNotAllowed(_)),
            "{refused:?}"
        );
    }
    // Even a policy that lists every algorithm this crate knows cannot list HS256.
    assert!(Algorithm::parse("HS256").is_err());
}

#[test]
fn a_tampered_payload_fails_the_signature() {
    let token = rs256(&claims(), "rsa-1");
    let mut parts: Vec<&str> = token.split('.').collect();
    let mut changed = claims();
    changed["citizenships"] = json!(["DE"]);
    let forged = b64(&changed);
    parts[1] = &forged;
    assert_eq!(check(&parts.join(".")), Err(TokenError::BadSignature));
}

#[test]
fn an_algorithm_outside_the_issuer_allow_list_is_refused() {
    let mut p = policy();
    p.algorithms = vec![Algorithm::Rs256];
    assert!(matches!(
        verify_token(&es256(&claims()), &p, &key_set(), NOW),
        Err(TokenError::AlgorithmNotAllowed(_))
    ));
}

#[test]
fn a_key_of_another_family_never_verifies() {
    // ES256 header, but the kid names the RSA key.
    let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("rsa-1".into());
    let key = EncodingKey::from_ec_pem(read("ec-1.pem").as_bytes()).unwrap();
    let token = encode(&header, &claims(), &key).unwrap();
    assert_eq!(check(&token), Err(TokenError::WrongKeyType));
}

#[test]
fn errors_never_contain_the_token() {
    let token = rs256(&claims(), "rsa-9");
    let mut c = claims();
    c["exp"] = json!(NOW - 3600);
    let expired = rs256(&c, "rsa-1");
    for (t, error) in [(&token, check(&token)), (&expired, check(&expired))] {
        let text = error.unwrap_err().to_string();
        for part in t.split('.') {
            assert!(!text.contains(part), "{text}");
        }
        assert!(!text.contains("alice"));
    }
}
