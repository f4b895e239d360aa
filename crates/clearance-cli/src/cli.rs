//! The command-line surface, as clap types. Every command that touches the store takes
//! `--config` (default `clearance.toml`, or `$CLEARANCE_CONFIG`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "clearance",
    version,
    about = "Clearance: an AI gateway with targeted access directives and validated fallbacks"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The gateway's config file.
    #[arg(
        long,
        short = 'c',
        env = "CLEARANCE_CONFIG",
        default_value = "clearance.toml"
    )]
    pub config: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(ConfigArg),
    /// Validate a config file and report every problem with file and line.
    CheckConfig(ConfigArg),
    /// Manage client keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage the principal registry.
    #[command(subcommand)]
    Principals(PrincipalsCommand),
    /// Import denied-party lists (OFAC SDN, BIS Denied Persons, the Consolidated Screening
    /// List) and list their versions; an import re-screens every principal.
    #[command(subcommand)]
    Lists(ListsCommand),
    /// Screen a name, or every principal, against the imported lists, with the evidence.
    Screen(ScreenArgs),
    /// Confirm or clear a principal's potential match (audited, with who and why).
    #[command(subcommand)]
    Screening(ScreeningCommand),
    /// Verify and export the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check, list, activate and preview access directives.
    #[command(subcommand)]
    Directives(DirectivesCommand),
    /// Explain the decision a principal would get for a model: which directives fired and why.
    Explain(ExplainArgs),
    /// List models and switch them off or on (kill switch), through the running gateway.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// The running gateway's failover state: kill switches, breakers, routes, provider health.
    Status(StatusArgs),
    /// Bring the store's schema up to date (or, with --check, only report whether it is).
    Migrate(MigrateArgs),
    /// Whole-store operations.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Run a transparency log witness (c2sp.org/tlog-witness) or make its key.
    #[command(subcommand)]
    Witness(WitnessCommand),
    /// Run an eval suite on a primary and candidate fallbacks; candidates at or above the bar
    /// become validated fallbacks of the primary's route.
    Validate(ValidateArgs),
    /// Eval suites: draft one from captured traffic.
    #[command(subcommand)]
    Suites(SuitesCommand),
    /// From the audit log: which apps use which models, their routes, whether each fallback is
    /// validated, and which have no validated fallback they may use.
    Deps(DepsArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ValidateFormat {
    Text,
    Json,
    Junit,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The suite (.toml or .jsonl).
    #[arg(long)]
    pub suite: PathBuf,
    #[command(flatten)]
    pub config: ConfigArg,
    /// The model whose route the candidates are validated for.
    #[arg(long)]
    pub primary: String,
    /// Candidate fallbacks, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub candidates: Vec<String>,
    /// The score (0 to 1) a candidate needs ([validation] bar by default).
    #[arg(long)]
    pub bar: Option<f64>,
    /// Cases in flight at once ([validation] concurrency by default).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Start afresh instead of resuming an interrupted run of the same suite and models.
    #[arg(long)]
    pub fresh: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ValidateFormat,
}

#[derive(Debug, Subcommand)]
pub enum SuitesCommand {
    /// Write a suite from an app's captured requests, with the primary's answers as reference
    /// answers, for a person to review.
    Draft {
        /// The app (client key name) named in [capture] apps.
        #[arg(long = "from-capture")]
        app: String,
        /// Where to write the suite (.toml); an existing file is not overwritten.
        #[arg(long)]
        out: PathBuf,
        /// Only captures answered by this model (default: the model most of them used).
        #[arg(long)]
        primary: Option<String>,
        /// At most this many cases.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DepsFormat {
    Text,
    Json,
    Md,
    Html,
}

#[derive(Debug, Args)]
pub struct DepsArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// How far back to read: a duration (30d, 12h) or an RFC 3339 time.
    #[arg(long, default_value = "30d")]
    pub since: String,
    /// A draft directive: which apps would lose their primary, and whether a validated
    /// fallback their callers may use is left.
    #[arg(long)]
    pub directive: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: DepsFormat,
    /// Write the report to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Cosign the checkpoints of the given logs over HTTP (`POST /add-checkpoint`), each only
    /// when consistent with the last one cosigned (remembered in --state).
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:7380")]
        listen: String,
        /// The witness's name: the name of the key in --key.
        #[arg(long)]
        name: String,
        /// The file holding the witness's cosigner key (`clearance witness keygen`).
        #[arg(long)]
        key: PathBuf,
        /// A log to witness: its origin and a note verifier key of the log; repeat the origin
        /// for several keys, repeat the flag for several logs. `<prefix>/*` witnesses every
        /// log `<prefix>/<id>` (a Clearance deployment: `<[audit] origin>/*`), each on its own.
        #[arg(long = "log", value_name = "ORIGIN=VERIFIERKEY", required = true)]
        logs: Vec<String>,
        /// The SQLite file holding each log's latest cosigned checkpoint (created if absent).
        #[arg(long)]
        state: PathBuf,
    },
    /// Make a witness cosigner key (Ed25519, cosignature/v1), write it to a new file (mode
    /// 0600) and print its verifier key.
    Keygen {
        /// The witness's name, e.g. `witness.example.com/w1`.
        #[arg(long)]
        name: String,
        /// The file to write the key to; it must not exist yet.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Report the schema's migration and exit 1 when it is behind this build; change nothing.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy everything from one store to another, empty one (SQLite or PostgreSQL, either
    /// way): principals, keys, kill switches with their history, every directive set version
    /// and the whole audit trail, hashes as they are. Stop the gateways on the source first:
    /// records written after the copy starts are not copied.
    Copy {
        /// The config naming the store to copy from.
        #[arg(long)]
        from_config: PathBuf,
        /// The config naming the store to copy into; it must hold no principal, key, kill
        /// switch, directive set or audit log yet.
        #[arg(long)]
        to_config: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// Where the running gateway's admin API is: the config's `[server] listen` (and its admin
/// token variable), or `--url`.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The gateway's base URL (default: `http://` and the config's `[server] listen`).
    #[arg(long)]
    pub url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Every configured model with its provider, tags and kill switch.
    List {
        #[command(flatten)]
        gateway: GatewayArgs,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
        /// Print JSON (the same as `--format json`).
        #[arg(long, conflicts_with = "format")]
        json: bool,
    },
    /// Switch a model off from the next request on (requests go to its route's fallbacks, or
    /// get 503 `model_disabled`); audited, and kept across restarts.
    Disable {
        model: String,
        /// Why (required; at most 500 characters): it is shown to operators and audited.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Switch a model back on; audited.
    Enable {
        model: String,
        /// Why (optional).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for a principal. The key is printed once and never stored.
    Create {
        #[arg(long)]
        principal: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// List keys (ids and owners, never secrets).
    List {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Revoke a key; running gateways stop accepting it within a second.
    Revoke {
        id: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ImportFileFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Subcommand)]
pub enum PrincipalsCommand {
    /// Import principals from CSV or JSONL; a file with any bad row imports nothing.
    Import {
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
        /// Defaults to the file's extension (.csv, .jsonl, .ndjson).
        #[arg(long, value_enum)]
        format: Option<ImportFileFormat>,
    },
    /// Delete principals from the registry (audited); their keys stop authenticating.
    Delete {
        /// The principals' registry ids.
        #[arg(required = true)]
        ids: Vec<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Show one principal with its derived facts.
    Show {
        id: String,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
}

/// A list's publisher format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ListSourceArg {
    /// OFAC's SDN list: a folder with sdn.csv, alt.csv and (optionally) add.csv.
    OfacSdn,
    /// BIS's Denied Persons List: the tab-separated file.
    BisDpl,
    /// trade.gov's Consolidated Screening List: the CSV file.
    Csl,
}

#[derive(Debug, Subcommand)]
pub enum ListsCommand {
    /// Import a list version as published, then re-screen every principal against it; until
    /// both are stored together the previous version and results stay in force. A file that
    /// does not parse imports nothing.
    Import {
        #[arg(long, value_enum)]
        source: ListSourceArg,
        /// The SDN folder, or the DPL or CSL file.
        path: PathBuf,
        /// Import even if the new version holds fewer than half the entries of the current
        /// one (by default refused: it looks like a cut-short download, and would clear
        /// everyone the lost entries matched).
        #[arg(long)]
        allow_shrink: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Every imported list version, newest first.
    List {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
}

#[derive(Debug, Args)]
pub struct ScreenArgs {
    /// A name to screen (a person, or with --org a company).
    #[arg(
        long,
        conflicts_with = "principals",
        required_unless_present = "principals"
    )]
    pub name: Option<String>,
    /// Screen --name as an organisation (against entity entries).
    #[arg(long, requires = "name")]
    pub org: bool,
    /// The party's country (ISO 3166-1 alpha-2): agreeing or disagreeing moves the score.
    #[arg(long, requires = "name")]
    pub country: Option<String>,
    /// The person's date of birth (YYYY-MM-DD): agreeing or disagreeing moves the score.
    #[arg(long, requires = "name")]
    pub dob: Option<String>,
    /// Screen every principal of the registry (their name and org), reviews applied. Reads
    /// only: the stored facts change with list imports and reviews.
    #[arg(long)]
    pub principals: bool,
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum ScreeningCommand {
    /// Record a person's decision on one of a principal's matches; the principal is
    /// re-screened with it at once. A cleared match stays cleared until the list entry or the
    /// principal's screened facts change.
    Review {
        /// The principal's registry id.
        principal: String,
        /// The matched entry, as `screen --principals` names it: `ofac-sdn:1234`,
        /// `bis-dpl:…`, `csl:EL:…`. May be left out when the principal has one match.
        #[arg(long)]
        entry: Option<String>,
        /// It is the listed party: the match counts as `match`.
        #[arg(long, conflicts_with = "clear", required_unless_present = "clear")]
        confirm: bool,
        /// A false positive: the match no longer counts.
        #[arg(long)]
        clear: bool,
        /// Why (kept in the audit trail and with the evidence).
        #[arg(long)]
        reason: String,
        /// Who decided (the audit trail's actor); defaults to $USER.
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every log of the audit trail (each writer's hash chain, its opening and closing,
    /// decisions and their completions); names the first edited, deleted or reordered record.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
        /// A checkpoint or deployment note saved earlier (or a witness's copy); the store must
        /// still hold the tree it signed. Repeat for several.
        #[arg(long = "checkpoint")]
        checkpoints: Vec<PathBuf>,
        /// The log's verifier key (default: the config's signing key's).
        #[arg(long)]
        key: Option<String>,
    },
    /// Write every record of every log, merged in time order, with its chain fields, to
    /// stdout or a file.
    Export {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Make the deployment's checkpoint signing key (Ed25519, C2SP signed note): write it to a
    /// new file (mode 0600) and print its verifier key, the one to give auditors.
    Keygen {
        /// The key's name: the config's `[audit] origin`, e.g. `clearance.example.com/audit`.
        #[arg(long)]
        name: String,
        /// The file to write the signer key to; it must not exist yet.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a note, signed now with the config's key, that binds the size and root of every
    /// log in the store: save it, and `verify --checkpoint` later catches any log cut,
    /// rewritten or deleted since.
    Checkpoint {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Write the receipt of a request (its records, their inclusion proofs and the signed
    /// checkpoint over them) as JSON: it verifies offline with `verify-bundle`.
    Prove {
        /// The request id (`x-clearance-request-id`).
        request_id: String,
        #[command(flatten)]
        config: ConfigArg,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Verify a receipt bundle without the store: the checkpoint's signature, each record's
    /// inclusion, and the witnesses' cosignatures.
    VerifyBundle {
        file: PathBuf,
        /// The log's verifier key (what `keygen` printed).
        #[arg(long)]
        key: String,
        /// A witness's verifier key; repeat for several.
        #[arg(long = "witness-key")]
        witness_keys: Vec<String>,
        /// How many of the given witnesses must have cosigned (default: all given).
        #[arg(long)]
        witnesses_required: Option<usize>,
    },
    /// Verify a running gateway's logs over HTTP, from their tiles alone (no database): every
    /// record's leaf, the tree's root against the signed checkpoint, and consistency with
    /// checkpoints saved earlier.
    VerifyLog {
        /// The gateway's base URL, e.g. http://127.0.0.1:8787.
        #[arg(long)]
        url: String,
        /// The log's verifier key.
        #[arg(long)]
        key: String,
        /// One log; without it, every log the deployment note lists.
        #[arg(long)]
        log: Option<String>,
        /// A checkpoint or deployment note saved earlier; repeat for several.
        #[arg(long = "checkpoint")]
        checkpoints: Vec<PathBuf>,
        /// The admin token (the records' entry bundles need it).
        #[arg(long, env = "CLEARANCE_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Retention: empty the bodies of records older than a date. Their leaf hashes stay, so
    /// every checkpoint, proof and receipt of the rest stays valid. Recorded as a change.
    Prune {
        #[command(flatten)]
        config: ConfigArg,
        /// Records before this RFC 3339 time, e.g. 2026-01-01T00:00:00Z (to the whole second:
        /// records of the cutoff's own second are kept).
        #[arg(
            long,
            conflicts_with = "older_than_days",
            required_unless_present = "older_than_days"
        )]
        before: Option<String>,
        /// Records older than this many days.
        #[arg(long)]
        older_than_days: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DirectivesCommand {
    /// Compile a directive directory against the config's models; report every problem with
    /// file and line.
    Check {
        /// The directory to check (default: the config's `[directives] dir`, or without one the
        /// store's active set).
        dir: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// List the active directive set (the config's `[directives] dir`, or without one the
    /// store's): id, title, mode, effect, scope, window, file.
    List {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Add or replace directive files in the active set, only if the whole set stays valid:
    /// stored as a new version (and written into `[directives] dir` when one is configured),
    /// audited; running gateways pick the change up within a second.
    Activate {
        /// Directive files (.toml or .cedar); a file replaces the one of the same name.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
        /// Validate and print the version the set would have; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Refuse the activation unless it is proved that nobody gains access (needs cvc5).
        #[arg(long)]
        require_no_new_access: bool,
    },
    /// Prove what a change to the enforced set does, per model: nobody gains access (or a
    /// caller who does), who loses access (per new or changed directive, in words and by
    /// example), reroutes that changed, and shadow directives if promoted. Needs cvc5.
    Diff {
        /// The old set's folder, then the new set: a folder, or directive files that replace
        /// files of the same name in the old set. With `--active`, every path is the new set
        /// and the old set is the active one.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Compare against the active set (the config's `[directives] dir`, or the store's).
        #[arg(long)]
        active: bool,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        window: WindowArg,
        /// Exit with 1 unless it is proved that nobody gains access.
        #[arg(long)]
        require_no_new_access: bool,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Find directives that cannot do what they seem to: dead, shadowed, duplicates, conditions
    /// that can error (an error denies), and a caller denied every model; each with the caller
    /// that shows it. Exits with 1 when there are findings. Needs cvc5.
    Lint {
        /// The directory to lint (default: the config's `[directives] dir`, or without one the
        /// store's active set).
        dir: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        window: WindowArg,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Who and what traffic a draft directive would cut, beside a blanket block of the same
    /// models.
    Preview {
        /// The draft directive (TOML).
        draft: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
        /// How far back to read recorded requests: a duration (30d, 12h, 90m, 2w) or an RFC 3339
        /// time.
        #[arg(long, default_value = "30d")]
        since: String,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
}

/// The times a proof covers (default: from now on).
#[derive(Debug, Clone, Args)]
pub struct WindowArg {
    /// One instant (RFC 3339).
    #[arg(long, conflicts_with_all = ["from", "until"])]
    pub at: Option<String>,
    /// From this time (RFC 3339; default: now).
    #[arg(long)]
    pub from: Option<String>,
    /// Until this time, exclusive (RFC 3339; default: open-ended).
    #[arg(long)]
    pub until: Option<String>,
}

/// A request capability a directive may restrict on its own.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CapabilityArg {
    Tools,
    Images,
    Stream,
}

/// The client API a request arrives on.
#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum ApiArg {
    /// `POST /v1/chat/completions`.
    #[default]
    Openai,
    /// `POST /v1/messages`.
    Anthropic,
    /// `POST /v1beta/models/{model}:generateContent` (and `:streamGenerateContent`).
    Gemini,
    /// `POST /v1/responses`.
    OpenaiResponses,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The principal's registry id.
    #[arg(long)]
    pub principal: String,
    /// The model asked for.
    #[arg(long)]
    pub model: String,
    /// The request country (ISO 3166-1 alpha-2), as geo-IP would give it; unknown if absent.
    #[arg(long)]
    pub country: Option<String>,
    /// A capability the request uses; repeat for several.
    #[arg(long = "capability", value_enum)]
    pub capabilities: Vec<CapabilityArg>,
    /// When the request is made (RFC 3339); default: now.
    #[arg(long)]
    pub at: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub api: ApiArg,
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}
