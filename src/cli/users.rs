//! `powerbirth users add --email E --role nurse|admin --password-stdin`, `users disable EMAIL`
//! and `users reset-password EMAIL --password-stdin`: accounts for the review pages. Passwords are
//! read from standard input (one line), never from the command line, where they would stay in
//! the shell history and the process list. Disabling or resetting ends the account's sessions.

use std::io::BufRead;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::review::accounts::{Accounts, Email, Password, ReviewerRole};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a nurse or admin account for the review pages.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["nurse", "admin"])]
        role: String,
        /// Read the password (at least 12 characters) from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable an account: its sessions end at once and it can no longer log in.
    Disable { email: String },
    /// Set a new password (from standard input); the account's sessions end.
    ResetPassword {
        email: String,
        /// Read the new password (at least 12 characters) from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

pub async fn run(config: &Config, action: UsersCommand) -> anyhow::Result<()> {
    match action {
        UsersCommand::Disable { email } => {
            let email = Email::parse(&email)?;
            let done = with_accounts(config, |a| async move { a.disable(&email).await }).await?;
            if !done {
                anyhow::bail!("no enabled account has this e-mail");
            }
            println!("account disabled; its sessions have ended");
            Ok(())
        }
        UsersCommand::ResetPassword {
            email,
            password_stdin: _,
        } => {
            let email = Email::parse(&email)?;
            let password = read_password(std::io::stdin().lock())?;
            let done = with_accounts(config, |a| async move {
                a.reset_password(&email, password).await
            })
            .await?;
            if !done {
                anyhow::bail!("no account has this e-mail");
            }
            println!("password changed; the account's sessions have ended");
            Ok(())
        }
        UsersCommand::Add {
            email,
            role,
            password_stdin: _,
        } => {
            let role: ReviewerRole = role.parse().map_err(anyhow::Error::msg)?;
            let email = Email::parse(&email)?;
            let password = read_password(std::io::stdin().lock())?;
            let store = Store::connect(&config.database.url, 2)
                .await
                .context("opening the database")?;
            let added = match Accounts::new(store.clone()) {
                Ok(accounts) => accounts.add(&email, role, password).await,
                Err(e) => Err(e),
            };
            store.close().await;
            let reviewer = added?;
            println!(
                "created {} account {} (id {})",
                reviewer.role.as_str(),
                reviewer.email,
                reviewer.id
            );
            Ok(())
        }
    }
}

/// Runs `f` on the accounts of the configured database, closing it afterwards.
async fn with_accounts<F, Fut, T>(config: &Config, f: F) -> anyhow::Result<T>
where
    F: FnOnce(Accounts) -> Fut,
    Fut: Future<Output = Result<T, crate::review::accounts::AccountError>>,
{
    let store = Store::connect(&config.database.url, 2)
        .await
        .context("opening the database")?;
    let result = f(Accounts::without_timing_guard(store.clone())).await;
    store.close().await;
    Ok(result?)
}

/// The first line of `input`, without its line ending, as a checked password.
fn read_password(mut input: impl BufRead) -> anyhow::Result<Password> {
    let mut line = String::new();
    let n = input
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    if n == 0 {
        anyhow::bail!(
            "no password on standard input: pipe it in, e.g. `printf '%s\\n' \"$PASSWORD\" | powerbirth users add … --password-stdin`"
        );
    }
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    Ok(Password::parse(password)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_first_line_without_its_ending() {
        assert!(read_password(&b"doze-letras-ok\r\nsecond line\n"[..]).is_ok());
        // Exactly the line without its ending: 11 characters and a CRLF are 11, not 12 or 13.
        let eleven = read_password(&b"onze-letras\r\n"[..])
            .unwrap_err()
            .to_string();
        assert!(eleven.contains("at least 12 characters"), "{eleven}");
        assert!(
            read_password(&b"doze-letras!\r\n"[..]).is_ok(),
            "12 characters"
        );
        let short = read_password(&b"curta\n"[..]).unwrap_err().to_string();
        assert!(short.contains("at least 12 characters"), "{short}");
        let empty = read_password(&b""[..]).unwrap_err().to_string();
        assert!(empty.contains("no password on standard input"), "{empty}");
    }
}
