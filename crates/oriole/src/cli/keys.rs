//! `oriole public-keys -o DIR`: fetch the server's public signing keys, so
//! an auditor can verify an audit export, and a user a deletion receipt,
//! offline.

use std::path::Path;

use serde::Serialize;

use super::error::CliError;
use super::Ctx;

#[derive(Serialize)]
struct Written<'a> {
    purpose: &'a str,
    key_id: &'a str,
    path: String,
}

pub async fn public_keys(ctx: &Ctx, dir: &Path) -> Result<(), CliError> {
    // Public: no session needed, so none is sent.
    let keys = ctx.anonymous()?.public_keys().await?;
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::io(&format!("cannot create {}", dir.display()), &e))?;
    for (purpose, key) in [("audit", &keys.audit), ("receipt", &keys.receipt)] {
        let path = dir.join(format!("{purpose}.pub"));
        std::fs::write(&path, &key.pem)
            .map_err(|e| CliError::io(&format!("cannot write {}", path.display()), &e))?;
        let written = Written {
            purpose,
            key_id: &key.key_id,
            path: path.display().to_string(),
        };
        ctx.out.emit(&written, || {
            format!("{purpose} key {} -> {}", key.key_id, path.display())
        })?;
    }
    Ok(())
}
