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
    /// Set the channel's own transcoding ladder (a live channel switches at once).
    Ladder {
        /// Channel name.
        name: String,
        #[command(flatten)]
        ladder: LadderChoice,
    },
}

/// What `channel ladder` sets: exactly one of the three.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct LadderChoice {
    /// A rung of the channel's own ladder, highest first; repeat for more. PRESET is optional,
    /// e.g. `--rung 720p:720:3000:128:30 --rung 360p:360:800:96:30:veryfast`.
    #[arg(
        long = "rung",
        value_name = "NAME:HEIGHT:VIDEO_KBPS:AUDIO_KBPS:FPS[:PRESET]",
        value_parser = parse_rung
    )]
    rungs: Vec<Value>,
    /// Serve the channel's source only.
    #[arg(long)]
    off: bool,
    /// Follow the server's ladder again.
    #[arg(long)]
    default: bool,
}

impl LadderChoice {
    /// The `ladder` field of the PATCH body.
    fn body(&self) -> Value {
        let ladder = if self.off {
            Value::from("off")
        } else if self.default {
            Value::Null
        } else {
            serde_json::json!({ "rungs": self.rungs })
        };
        serde_json::json!({ "ladder": ladder })
    }
}

/// Parses `NAME:HEIGHT:VIDEO_KBPS:AUDIO_KBPS:FPS[:PRESET]` into a rung of the API; the server
/// checks the values.
fn parse_rung(spec: &str) -> Result<Value, String> {
    let fields: Vec<&str> = spec.split(':').collect();
    let [name, height, video, audio, fps, preset @ ..] = fields.as_slice() else {
        return Err("expected NAME:HEIGHT:VIDEO_KBPS:AUDIO_KBPS:FPS[:PRESET]".into());
    };
    if preset.len() > 1 {
        return Err(
            "too many fields; expected NAME:HEIGHT:VIDEO_KBPS:AUDIO_KBPS:FPS[:PRESET]".into(),
        );
    }
    let number = |what: &str, v: &str| {
        v.parse::<u32>()
            .map_err(|_| format!("{what} {v:?} is not a whole number"))
    };
    let mut rung = serde_json::json!({
        "name": name,
        "height": number("height", height)?,
        "video_bitrate_kbps": number("video bitrate", video)?,
        "audio_bitrate_kbps": number("audio bitrate", audio)?,
        "frame_rate": number("frame rate", fps)?,
    });
    if let Some(preset) = preset.first() {
        rung["preset"] = Value::from(*preset);
    }
    Ok(rung)
}

/// Runs one channel command and prints the server's JSON answer.
pub fn run(args: &ClientArgs, cmd: &ChannelCommand) -> anyhow::Result<()> {
    let path = |p: &str| format!("/api/v1/channels{p}");
    match cmd {
        ChannelCommand::Create { name } => call(
            args,
            "POST",
            &path(""),
            Some(serde_json::json!({ "name": name })),
        ),
        ChannelCommand::List => call(args, "GET", &path(""), None),
        ChannelCommand::Get { name } => call(args, "GET", &path(&format!("/{name}")), None),
        ChannelCommand::Delete { name } => call(args, "DELETE", &path(&format!("/{name}")), None),
        ChannelCommand::RotateKey { name } => {
            call(args, "POST", &path(&format!("/{name}/rotate-key")), None)
        }
        ChannelCommand::Ladder { name, ladder } => call(
            args,
            "PATCH",
            &path(&format!("/{name}")),
            Some(ladder.body()),
        ),
    }
}

/// One API request with the admin token; prints the JSON answer pretty, fails on an error
/// status with the server's message.
pub fn call(
    args: &ClientArgs,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<()> {
    let token = crate::auth::read_admin_token(&args.data_dir)?;
    let base = args.url.trim_end_matches('/');
    let url = format!("{base}{path}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let bearer = format!("Bearer {token}");
    let response = match (method, body) {
        ("GET", _) => agent.get(&url).header("Authorization", &bearer).call(),
        ("DELETE", _) => agent.delete(&url).header("Authorization", &bearer).call(),
        ("POST", Some(b)) => agent
            .post(&url)
            .header("Authorization", &bearer)
            .send_json(b),
        ("POST", None) => agent
            .post(&url)
            .header("Authorization", &bearer)
            .send_empty(),
        ("PATCH", b) => agent
            .patch(&url)
            .header("Authorization", &bearer)
            .send_json(b.unwrap_or(Value::Null)),
        (other, _) => bail!("unsupported method {other}"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: ChannelCommand,
    }

    fn body(args: &[&str]) -> Result<Value, clap::Error> {
        let cli = Cli::try_parse_from(["channel"].iter().chain(args))?;
        match cli.command {
            ChannelCommand::Ladder { ladder, .. } => Ok(ladder.body()),
            other => panic!("not a ladder command: {other:?}"),
        }
    }

    #[test]
    fn ladder_bodies() {
        assert_eq!(
            body(&["ladder", "c", "--off"]).unwrap(),
            json!({"ladder": "off"})
        );
        assert_eq!(
            body(&["ladder", "c", "--default"]).unwrap(),
            json!({"ladder": null})
        );
        assert_eq!(
            body(&[
                "ladder",
                "c",
                "--rung",
                "480p:480:1400:96:30",
                "--rung",
                "360p:360:800:64:25:veryfast"
            ])
            .unwrap(),
            json!({"ladder": {"rungs": [
                {"name": "480p", "height": 480, "video_bitrate_kbps": 1400,
                 "audio_bitrate_kbps": 96, "frame_rate": 30},
                {"name": "360p", "height": 360, "video_bitrate_kbps": 800,
                 "audio_bitrate_kbps": 64, "frame_rate": 25, "preset": "veryfast"},
            ]}})
        );
        for bad in [
            &["ladder", "c"][..],
            &["ladder", "c", "--off", "--default"],
            &["ladder", "c", "--off", "--rung", "a:360:800:96:30"],
            &["ladder", "c", "--rung", "a:360:800:96"],
            &["ladder", "c", "--rung", "a:360:800:96:30:fast:extra"],
            &["ladder", "c", "--rung", "a:tall:800:96:30"],
        ] {
            assert!(body(bad).is_err(), "{bad:?}");
        }
    }
}
