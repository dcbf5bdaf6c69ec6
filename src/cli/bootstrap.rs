//! The first start's admin key: created when no key exists (replicas starting together do not
//! race) and shown once, to a 0600 file or to stderr, never to stdout or the log.

use anyhow::Context;

use crate::store::Store;
use crate::store::keys::Role;

/// On a first start (no keys at all), creates an admin key so a newcomer can call the API at
/// once. Returns the plaintext, which the caller shows once. Replicas starting together on an
/// empty database do not race: the key's name is unique among active keys, so exactly one
/// insert wins and the others return `None`.
pub async fn bootstrap_admin_key(store: &Store) -> anyhow::Result<Option<String>> {
    if store.count_keys().await? > 0 {
        return Ok(None);
    }
    match store.create_key("admin", Role::Admin, None).await {
        Ok((_, key)) => Ok(Some(key)),
        Err(crate::store::keys::KeyError::NameTaken(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Shows a bootstrap key once: written to `file` with mode 0600 when one is configured (the
/// path, not the key, goes to stdout), otherwise to stderr — never to stdout, which process
/// supervisors and `docker logs` keep longest — and never to the log.
pub fn show_bootstrap_key(key: &str, file: Option<&std::path::Path>) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(path) = file {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options
            .open(path)
            .with_context(|| format!("writing the bootstrap admin key to {}", path.display()))?;
        // An existing file keeps its old mode through `open`: tighten it too.
        #[cfg(unix)]
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        writeln!(out, "{key}")?;
        println!(
            "No API keys existed, so an admin key was created and written to {} (mode 0600).",
            path.display()
        );
        return Ok(());
    }
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "\nNo API keys existed, so an admin key was created. It is shown only this once:\n"
    )?;
    writeln!(err, "    {key}\n")?;
    writeln!(
        err,
        "Use it as `Authorization: Bearer <key>`; create more with `powerbirth keys create`.\n"
    )?;
    err.flush()?;
    // On stdout only the fact, so a script reading stdout knows a key is on stderr.
    println!("No API keys existed, so an admin key was created and written to stderr.");
    Ok(())
}
