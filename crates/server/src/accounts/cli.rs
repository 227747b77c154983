//! `ferrocast user ...`: accounts, straight on the data directory's database. Works with the
//! server stopped or running (SQLite in WAL mode takes both), and needs no account to exist
//! first, which is how the first administrator of a server without open signup is made.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Where the accounts live.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// Data directory of the server (its database is `ferrocast.db` there).
    #[arg(long, env = "FERROCAST_DATA_DIR", default_value = "ferrocast-data")]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: UserCommand,
}

/// Account operations.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; prints it as JSON (with the password when one was generated).
    Add {
        /// Account name (3-25 of a-z, 0-9, '_', starting with a letter).
        name: String,
        /// Make it an administrator (sees and manages every channel).
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input; without it a random
        /// password is generated and printed.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
}

/// Reads one line, without its line ending.
fn read_password(input: impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    input
        .take(4096)
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password)
}

/// Runs one account command and prints the result as JSON.
pub fn run(args: &UserArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let output = runtime.block_on(execute(&args.data_dir, &args.command))?;
    #[allow(clippy::print_stdout)]
    {
        println!("{}", serde_json::to_string_pretty(&output)?);
    }
    Ok(())
}

async fn execute(data_dir: &Path, command: &UserCommand) -> anyhow::Result<serde_json::Value> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let db = ferrocast_db::Store::open_sqlite(&data_dir.join("ferrocast.db")).await?;
    match command {
        UserCommand::Add {
            name,
            admin,
            password_stdin,
        } => {
            let name = super::normalize_name(name);
            super::validate_user_name(&name).map_err(|e| anyhow::anyhow!(e.message))?;
            let (password, generated) = if *password_stdin {
                (read_password(std::io::stdin().lock())?, false)
            } else {
                (super::new_token(""), true)
            };
            super::validate_password(&password).map_err(|e| anyhow::anyhow!(e.message))?;
            let hash = super::password::hash(password.clone()).await?;
            let user = db
                .create_user(&name, &hash, *admin, crate::clock::unix_ms())
                .await?;
            let mut shown = super::user_json(&user);
            if generated {
                shown["password"] = password.into();
            }
            Ok(shown)
        }
        UserCommand::List => {
            let users: Vec<_> = db
                .list_users()
                .await?
                .iter()
                .map(|u| {
                    let mut v = super::user_json(u);
                    v["created_at"] = crate::clock::rfc3339(u.created_at_ms).into();
                    v
                })
                .collect();
            Ok(serde_json::json!({ "users": users }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_the_first_line() {
        assert_eq!(
            read_password(&b"s3cret pass\nnext"[..]).unwrap(),
            "s3cret pass"
        );
        assert_eq!(read_password(&b"crlf line\r\n"[..]).unwrap(), "crlf line");
        assert_eq!(read_password(&b"no newline"[..]).unwrap(), "no newline");
        assert!(read_password(&b"\n"[..]).is_err());
        assert!(read_password(&b""[..]).is_err());
    }
}
