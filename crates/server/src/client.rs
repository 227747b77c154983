//! `ferrocast channel ...`: the CLI over the HTTP API of a running server.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::PathBuf;

/// Where the server is and how to authenticate.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Base URL of the server's HTTP API.
    #[arg(long, env = "FERROCAST_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Data directory of the server (to read the admin token from).
    #[arg(long, env = "FERROCAST_DATA_DIR", default_value = "ferrocast-data")]
    pub data_dir: PathBuf,
}

/// Channel operations.
#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Create a channel; prints its stream key and URLs.
    Create {
        /// Channel name (a-z, 0-9, '-', '_').
        name: String,
    },
    /// List channels.
    List,
    /// Show one channel.
    Get {
        /// Channel name.
        name: String,
    },
    /// Delete a channel (its publisher is disconnected).
    Delete {
        /// Channel name.
        name: String,
    },
    /// Replace the stream key; the old one stops working at once.
    RotateKey {
        /// Channel name.
        name: String,
    },
}

/// Runs one channel command and prints the server's JSON answer.
pub fn run(args: &ClientArgs, cmd: &ChannelCommand) -> anyhow::Result<()> {
    let token = crate::auth::read_admin_token(&args.data_dir)?;
    let base = args.url.trim_end_matches('/');
    let url = |p: &str| format!("{base}/api/v1/channels{p}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let bearer = format!("Bearer {token}");
    let response = match cmd {
        ChannelCommand::Create { name } => agent
            .post(url(""))
            .header("Authorization", &bearer)
            .send_json(serde_json::json!({ "name": name })),
        ChannelCommand::List => agent.get(url("")).header("Authorization", &bearer).call(),
        ChannelCommand::Get { name } => agent
            .get(url(&format!("/{name}")))
            .header("Authorization", &bearer)
            .call(),
        ChannelCommand::Delete { name } => agent
            .delete(url(&format!("/{name}")))
            .header("Authorization", &bearer)
            .call(),
        ChannelCommand::RotateKey { name } => agent
            .post(url(&format!("/{name}/rotate-key")))
            .header("Authorization", &bearer)
            .send_empty(),
    };
    let mut response = response.with_context(|| format!("contacting {base}"))?;
    let status = response.status();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let pretty = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text);
    if !status.is_success() {
        bail!("{status}: {pretty}");
    }
    if !pretty.is_empty() {
        #[allow(clippy::print_stdout)]
        {
            println!("{pretty}");
        }
    }
    Ok(())
}
