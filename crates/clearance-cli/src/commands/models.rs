//! `clearance models list|disable|enable`: the kill switch, through the running gateway's
//! admin API. The CLI does not write the store itself: the gateway stores the change, puts it
//! in force from the next request on and audits it, so the audit chain keeps a single writer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clearance_upstream::{AdminAnswer, AdminCallError, UpstreamClient};
use serde_json::{Value, json};
use url::Url;

use super::{block_on, load_config};
use crate::cli::{GatewayArgs, ModelsCommand, OutputFormat};

pub fn run(command: ModelsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelsCommand::List {
            gateway,
            format,
            json,
        } => {
            let admin = AdminApi::resolve(&gateway)?;
            let format = if json { OutputFormat::Json } else { format };
            block_on(list(&admin, format))?
        }
        ModelsCommand::Disable {
            model,
            reason,
            gateway,
            format,
        } => {
            if reason.trim().is_empty() {
                bail!("--reason is empty: say why {model} is switched off (it is audited)");
            }
            let admin = AdminApi::resolve(&gateway)?;
            block_on(change(&admin, &model, "disable", Some(reason), format))?
        }
        ModelsCommand::Enable {
            model,
            reason,
            gateway,
            format,
        } => {
            let admin = AdminApi::resolve(&gateway)?;
            block_on(change(&admin, &model, "enable", reason, format))?
        }
    }
}

async fn list(admin: &AdminApi, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let body = admin.call(&["admin", "models"], None).await?;
    let rows = body["data"]
        .as_array()
        .ok_or_else(|| anyhow!("the gateway's model list has no `data` array: {body}"))?;
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        OutputFormat::Text => print!("{}", table(rows)),
    }
    Ok(ExitCode::SUCCESS)
}

async fn change(
    admin: &AdminApi,
    model: &str,
    action: &str,
    reason: Option<String>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let body = json!({ "reason": reason });
    let row = admin
        .call(&["admin", "models", model, action], Some(body))
        .await?;
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&row)?),
        OutputFormat::Text if row["disabled"] == true => println!(
            "{model} is disabled from the next request on: {}",
            text(&row["reason"])
        ),
        OutputFormat::Text => println!("{model} is enabled from the next request on"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The model list as a table: one line per model, columns as wide as their widest cell.
fn table(rows: &[Value]) -> String {
    let header = [
        "MODEL", "PROVIDER", "TAGS", "STATE", "SINCE", "ACTOR", "REASON",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|row| {
            let tags = row["tags"]
                .as_array()
                .map(|tags| tags.iter().map(text).collect::<Vec<_>>().join(","))
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "-".to_string());
            let state = if row["disabled"] == true {
                "DISABLED"
            } else {
                "enabled"
            };
            [
                text(&row["model"]),
                text(&row["provider"]),
                tags,
                state.to_string(),
                text(&row["since"]),
                text(&row["actor"]),
                text(&row["reason"]),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for line in &cells {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut push_line = |line: &[&str]| {
        let last = line.len() - 1;
        for (i, (cell, width)) in line.iter().zip(widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push('\n');
    };
    push_line(&header);
    for line in &cells {
        push_line(&line.each_ref().map(String::as_str));
    }
    out
}

/// A JSON value as a table cell: strings without quotes, null as `-`.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The running gateway's admin API, as the config (or `--url`) locates it.
struct AdminApi {
    base: Url,
    token: String,
    /// The variable the token came from, for error messages (never the token itself).
    token_env: String,
    http: UpstreamClient,
}

impl AdminApi {
    fn resolve(args: &GatewayArgs) -> anyhow::Result<AdminApi> {
        let config = load_config(&args.config.config)?;
        let base = match &args.url {
            Some(url) => Url::parse(url).with_context(|| format!("--url `{url}` is not a URL"))?,
            None => base_url(config.server.listen).with_context(|| {
                format!(
                    "finding the gateway from `[server] listen` in {}",
                    args.config.config.display()
                )
            })?,
        };
        let token_env = config.server.admin_token_env.clone();
        let token = std::env::var(&token_env)
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                anyhow!(
                    "no admin token: set {token_env} (the variable `[server] admin_token_env` names) \
                     to the token the gateway was started with"
                )
            })?;
        Ok(AdminApi {
            base,
            token,
            token_env,
            http: UpstreamClient::new().context("starting the HTTP client")?,
        })
    }

    /// GET (no body) or POST (a JSON body) to the path `segments`; the answer's JSON on 200,
    /// an error an operator can act on otherwise.
    async fn call(&self, segments: &[&str], body: Option<Value>) -> anyhow::Result<Value> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow!("--url `{}` cannot have a path", self.base))?
            .pop_if_empty()
            .extend(segments);
        let answer = match body {
            None => self.http.get_with_bearer(url.as_str(), &self.token).await,
            Some(body) => {
                let json = serde_json::to_vec(&body)?;
                self.http
                    .post_json_with_bearer(url.as_str(), &self.token, json)
                    .await
            }
        };
        match answer {
            Ok(answer) => self.read(answer),
            Err(AdminCallError::Unreachable { .. }) => Err(anyhow!(
                "no gateway reachable at {} (is `clearance serve` running? pass --url if it listens elsewhere)",
                self.base
            )),
            Err(error) => Err(error.into()),
        }
    }

    fn read(&self, answer: AdminAnswer) -> anyhow::Result<Value> {
        let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let message = body["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&answer.body).trim().to_string());
        match answer.status {
            200 => Ok(body),
            401 => bail!(
                "the gateway at {} refused the admin token in {} (401): set it to the token the gateway was started with",
                self.base,
                self.token_env
            ),
            404 if body["error"]["code"] == "unknown_model" => bail!("{message}"),
            404 => bail!(
                "the gateway at {} has no admin API (404): start `clearance serve` with {} set",
                self.base,
                self.token_env
            ),
            status => bail!("the gateway at {} answered {status}: {message}", self.base),
        }
    }
}

/// `http://` and the listen address, with a wildcard address (listen on every interface)
/// reached through loopback.
fn base_url(listen: SocketAddr) -> anyhow::Result<Url> {
    if listen.port() == 0 {
        bail!("it is port 0 (any free port), so the gateway's port is not known: pass --url");
    }
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(Url::parse(&format!(
        "http://{}",
        SocketAddr::new(ip, listen.port())
    ))?)
}
