//! Which field vault `serve` uses: encryption at rest (always, in
//! production), or, for benchmarks only, plaintext. A data directory keeps
//! the mode it was first written in: the plaintext mode leaves a marker
//! file, and the two are never mixed.

use std::path::Path;

use anyhow::{bail, Context};

/// Left in a data directory written without encryption at rest.
const PLAINTEXT_MARKER: &str = "UNENCRYPTED-AT-REST";

/// Check that `data_dir` may be served in the chosen mode, and mark it
/// when it is to hold plaintext. `database` is the database file.
pub fn check_mode(data_dir: &Path, database: &Path, plaintext: bool) -> anyhow::Result<()> {
    let marker = data_dir.join(PLAINTEXT_MARKER);
    match (plaintext, marker.exists()) {
        (true, true) | (false, false) => Ok(()),
        (true, false) if database.exists() => bail!(
            "unsafe_disable_encryption_at_rest is set, but {} holds data encrypted at rest: \
             use a fresh data directory for a run without encryption",
            data_dir.display()
        ),
        (true, false) => std::fs::write(
            &marker,
            "Personal data in this directory is stored in PLAINTEXT \
             (unsafe_disable_encryption_at_rest). For benchmarks only.\n",
        )
        .with_context(|| format!("cannot write {}", marker.display())),
        (false, true) => bail!(
            "{} was written with unsafe_disable_encryption_at_rest (personal data in \
             plaintext, see {}): it cannot be served with encryption at rest",
            data_dir.display(),
            marker.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_keeps_the_mode_it_was_written_in() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("oriole.db");
        check_mode(dir.path(), &db, true).expect("a fresh directory may be plaintext");
        std::fs::write(&db, b"").expect("db");
        check_mode(dir.path(), &db, true).expect("and stays so");
        let err = check_mode(dir.path(), &db, false).expect_err("never encrypted on top");
        assert!(err.to_string().contains(PLAINTEXT_MARKER), "{err}");

        let encrypted = tempfile::tempdir().expect("tempdir");
        let db = encrypted.path().join("oriole.db");
        check_mode(encrypted.path(), &db, false).expect("the default");
        std::fs::write(&db, b"").expect("db");
        let err = check_mode(encrypted.path(), &db, true).expect_err("no plaintext on top");
        assert!(err.to_string().contains("fresh data directory"), "{err}");
        assert!(!encrypted.path().join(PLAINTEXT_MARKER).exists());
    }
}
