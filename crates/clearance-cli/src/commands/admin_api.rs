//! The running gateway's admin API, for the commands that act through it (`models`,
//! `status`): where it is (the config's `[server] listen`, or `--url`), its token (from the
//! variable the config names), errors an operator can act on, and plain-text tables.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{Context, anyhow, bail};
use clearance_upstream::{AdminAnswer, AdminCallError, UpstreamClient};
use serde_json::Value;
use url::Url;

use super::load_config;
use crate::cli::GatewayArgs;

/// Rows as a table: columns as wide as their widest cell, the last one unpadded.
pub(super) fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for line in rows {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut push_line = |line: [&str; N]| {
        for (i, (cell, width)) in line.iter().zip(widths).enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push('\n');
    };
    push_line(header);
    for line in rows {
        push_line(line.each_ref().map(String::as_str));
    }
    out
}

/// A JSON value as a table cell: strings without quotes, null as `-`.
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The running gateway's admin API, as the config (or `--url`) locates it.
pub(super) struct AdminApi {
    base: Url,
    token: String,
    /// The variable the token came from, for error messages (never the token itself).
    token_env: String,
    http: UpstreamClient,
}

impl AdminApi {
    pub(super) fn resolve(args: &GatewayArgs) -> anyhow::Result<AdminApi> {
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
        let token = clearance_config::env_var(&token_env)
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
    pub(super) async fn call(
        &self,
        segments: &[&str],
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
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
