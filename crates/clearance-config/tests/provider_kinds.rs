//! `[providers.NAME]` of every kind: the fields each kind needs, read and checked, and the
//! ones it does not take reported at their line.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use clearance_config::{BedrockApi, Config, ConfigErrors, ProviderKind};
use clearance_core::api::WireFormat;

fn env(name: &str) -> Option<String> {
    match name {
        "AZURE_KEY" => Some("azure-secret".into()),
        "AWS_ID" => Some("AKIDEXAMPLE".into()),
        "AWS_SECRET" => Some("aws-secret-value".into()),
        "AWS_TOKEN" => Some("aws-session-token".into()),
        "BEDROCK_KEY" => Some("bedrock-api-key".into()),
        _ => None,
    }
}

fn parse(providers: &str) -> Result<Config, ConfigErrors> {
    let text = format!(
        "[store]\nsqlite = \"c.db\"\n\n{providers}\n\n[[models]]\nname = \"m\"\nprovider = \"p\"\n"
    );
    Config::parse(&text, Path::new("/etc/clearance/clearance.toml"), &env)
}

fn errors(providers: &str) -> String {
    parse(providers).unwrap_err().to_string()
}

#[test]
fn azure_openai_reads_its_api_version_and_key() {
    let config = parse(
        "[providers.p]\nkind = \"azure_openai\"\nbase_url = \"https://acme.openai.azure.com\"\napi_version = \"2024-10-21\"\napi_key_env = \"AZURE_KEY\"",
    )
    .unwrap();
    let provider = &config.providers["p"];
    assert_eq!(
        provider.kind,
        ProviderKind::AzureOpenai {
            api_version: "2024-10-21".into()
        }
    );
    assert_eq!(provider.kind.format(), WireFormat::OpenaiChat);
    assert_eq!(provider.api_key.as_ref().unwrap().expose(), "azure-secret");
}

#[test]
fn azure_openai_without_or_with_a_bad_api_version_is_refused_at_its_line() {
    let missing = errors(
        "[providers.p]\nkind = \"azure_openai\"\nbase_url = \"https://acme.openai.azure.com\"",
    );
    assert!(missing.contains("needs `api_version`"), "{missing}");
    assert!(missing.contains("clearance.toml:5"), "{missing}");
    let bad = errors(
        "[providers.p]\nkind = \"azure_openai\"\nbase_url = \"https://a.openai.azure.com\"\napi_version = \"latest\"",
    );
    assert!(
        bad.contains("`latest` is not an Azure OpenAI API version"),
        "{bad}"
    );
    assert!(bad.contains("clearance.toml:7"), "{bad}");
}

#[test]
fn bedrock_signs_with_the_named_credentials_and_defaults_its_endpoint() {
    let config = parse(
        "[providers.p]\nkind = \"bedrock\"\nregion = \"eu-central-1\"\napi = \"anthropic\"\naccess_key_id_env = \"AWS_ID\"\nsecret_access_key_env = \"AWS_SECRET\"\nsession_token_env = \"AWS_TOKEN\"",
    )
    .unwrap();
    let provider = &config.providers["p"];
    assert_eq!(
        provider.base_url.as_str(),
        "https://bedrock-runtime.eu-central-1.amazonaws.com/"
    );
    let ProviderKind::Bedrock(bedrock) = &provider.kind else {
        panic!("a bedrock provider")
    };
    assert_eq!(bedrock.region, "eu-central-1");
    assert_eq!(bedrock.api, BedrockApi::Anthropic);
    let credentials = bedrock.credentials.as_ref().unwrap();
    assert_eq!(credentials.access_key_id.expose(), "AKIDEXAMPLE");
    assert_eq!(credentials.secret_access_key.expose(), "aws-secret-value");
    assert_eq!(
        credentials.session_token.as_ref().unwrap().expose(),
        "aws-session-token"
    );
    // Claude over InvokeModel speaks Anthropic Messages; its errors are Bedrock's.
    assert_eq!(provider.kind.format(), WireFormat::AnthropicMessages);
    assert_eq!(provider.kind.error_dialect(), WireFormat::BedrockConverse);
    // Secrets stay out of debug output.
    let debug = format!("{provider:?}");
    assert!(!debug.contains("aws-secret-value") && !debug.contains("aws-session-token"));
}

#[test]
fn bedrock_takes_an_api_key_instead_and_speaks_converse_by_default() {
    let config = parse(
        "[providers.p]\nkind = \"bedrock\"\nregion = \"us-west-2\"\napi_key_env = \"BEDROCK_KEY\"",
    )
    .unwrap();
    let provider = &config.providers["p"];
    assert_eq!(provider.kind.format(), WireFormat::BedrockConverse);
    assert_eq!(
        provider.api_key.as_ref().unwrap().expose(),
        "bedrock-api-key"
    );
    let ProviderKind::Bedrock(bedrock) = &provider.kind else {
        panic!("a bedrock provider")
    };
    assert!(bedrock.credentials.is_none());
}

#[test]
fn bedrock_needs_a_region_and_one_kind_of_credentials() {
    let no_region = errors("[providers.p]\nkind = \"bedrock\"\napi_key_env = \"BEDROCK_KEY\"");
    assert!(no_region.contains("needs `region`"), "{no_region}");
    let bad_region = errors(
        "[providers.p]\nkind = \"bedrock\"\nregion = \"US East\"\napi_key_env = \"BEDROCK_KEY\"",
    );
    assert!(
        bad_region.contains("is not an AWS region name"),
        "{bad_region}"
    );
    let none = errors("[providers.p]\nkind = \"bedrock\"\nregion = \"us-east-1\"");
    assert!(none.contains("needs credentials"), "{none}");
    let both = errors(
        "[providers.p]\nkind = \"bedrock\"\nregion = \"us-east-1\"\napi_key_env = \"BEDROCK_KEY\"\naccess_key_id_env = \"AWS_ID\"\nsecret_access_key_env = \"AWS_SECRET\"",
    );
    assert!(both.contains("not both"), "{both}");
    let half = errors(
        "[providers.p]\nkind = \"bedrock\"\nregion = \"us-east-1\"\naccess_key_id_env = \"AWS_ID\"",
    );
    assert!(half.contains("need both"), "{half}");
    let unset = errors(
        "[providers.p]\nkind = \"bedrock\"\nregion = \"us-east-1\"\naccess_key_id_env = \"AWS_ID\"\nsecret_access_key_env = \"NOT_SET\"",
    );
    assert!(
        unset.contains("environment variable NOT_SET is not set"),
        "{unset}"
    );
}

#[test]
fn a_field_another_kind_takes_is_refused_at_its_line() {
    let text = errors(
        "[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\nregion = \"us-east-1\"\napi_version = \"2024-10-21\"",
    );
    assert!(
        text.contains("providers.p.region: only `bedrock` providers take `region`"),
        "{text}"
    );
    assert!(text.contains("clearance.toml:7"), "{text}");
    assert!(
        text.contains("providers.p.api_version: only `azure_openai` providers take `api_version`"),
        "{text}"
    );
}

#[test]
fn base_url_is_required_for_every_kind_but_bedrock() {
    let text = errors("[providers.p]\nkind = \"gemini\"");
    assert!(text.contains("`base_url` is required"), "{text}");
}

fn catalog(models: &str, routes: &str) -> Result<Config, ConfigErrors> {
    let text = format!(
        "[store]\nsqlite = \"c.db\"\n\n[providers.o]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\n[providers.a]\nkind = \"anthropic\"\nbase_url = \"http://127.0.0.1:1\"\n\n{models}\n{routes}"
    );
    Config::parse(&text, Path::new("/etc/clearance/clearance.toml"), &env)
}

const EMBEDDERS: &str = "[[models]]\nname = \"small\"\nprovider = \"o\"\nembedding_dimensions = 1536\n\n[[models]]\nname = \"small-2\"\nprovider = \"o\"\nembedding_dimensions = 1536\n\n[[models]]\nname = \"large\"\nprovider = \"o\"\nembedding_dimensions = 3072\n\n[[models]]\nname = \"chat\"\nprovider = \"o\"\n";

#[test]
fn embedding_models_are_in_the_catalog_with_their_dimension() {
    let config = catalog(
        EMBEDDERS,
        "[[routes]]\nmodel = \"small\"\nfallbacks = [\"small-2\"]\n",
    )
    .unwrap();
    let small = config.models.iter().find(|m| m.name == "small").unwrap();
    assert_eq!(small.embedding_dimensions, Some(1536));
    assert!(small.is_embedding());
    let chat = config.models.iter().find(|m| m.name == "chat").unwrap();
    assert!(!chat.is_embedding());
}

#[test]
fn an_embedding_route_falls_back_only_to_the_same_dimension() {
    let text = catalog(
        EMBEDDERS,
        "[[routes]]\nmodel = \"small\"\nfallbacks = [\"large\", \"chat\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        text.contains("fallback `large` cannot serve its requests: its vectors have 3072 dimensions and `small`'s have 1536"),
        "{text}"
    );
    assert!(
        text.contains("fallback `chat` cannot serve its requests: it is a chat model"),
        "{text}"
    );
    let text = catalog(
        EMBEDDERS,
        "[[routes]]\nmodel = \"chat\"\nfallbacks = [\"small\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        text.contains("it is an embedding model and the primary a chat model"),
        "{text}"
    );
}

#[test]
fn embedding_dimensions_must_be_positive_and_on_a_kind_with_embeddings() {
    let text = catalog(
        "[[models]]\nname = \"zero\"\nprovider = \"o\"\nembedding_dimensions = 0\n\n[[models]]\nname = \"claude-embed\"\nprovider = \"a\"\nembedding_dimensions = 1024\n",
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(
        text.contains("embedding_dimensions must be a positive integer, not 0"),
        "{text}"
    );
    assert!(
        text.contains("an `anthropic` provider has no embeddings API"),
        "{text}"
    );
}
