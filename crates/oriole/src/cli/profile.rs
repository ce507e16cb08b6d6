//! The login state between invocations: server, session token, who I am, and
//! the sync cursor, in one JSON file readable by its owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::CliError;

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The server the session belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The CA certificate that server's TLS certificate is checked against
    /// (`--ca-file`), when not the built-in roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The bearer token; absent when logged out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The highest inbox seq already shown by `sync` or `listen`.
    #[serde(default)]
    pub cursor: u64,
    /// The operator logged in with `oriole admin login`, and their token:
    /// kept apart from the end-user session, for `oriole admin ...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_token: Option<String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("server", &self.server)
            .field("ca_file", &self.ca_file)
            .field("username", &self.username)
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("cursor", &self.cursor)
            .field("operator_name", &self.operator_name)
            .field(
                "operator_token",
                &self.operator_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `~/.config/oriole/profile.json`.
pub fn default_path() -> Result<PathBuf, CliError> {
    let home = dirs::home_dir().ok_or_else(|| {
        CliError::new(
            "invalid_input",
            "cannot find the home directory; use --profile FILE or $ORIOLE_PROFILE",
        )
    })?;
    Ok(home.join(".config").join("oriole").join("profile.json"))
}

impl Profile {
    /// The profile at `path`; an empty one when the file does not exist yet.
    pub fn load(path: &Path) -> Result<Profile, CliError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Profile::default()),
            Err(e) => return Err(CliError::io(&format!("cannot read {}", path.display()), &e)),
        };
        serde_json::from_str(&text).map_err(|e| {
            CliError::new(
                "invalid_input",
                format!("{} is not an oriole profile: {e}", path.display()),
            )
        })
    }

    /// Write the profile atomically (temporary file, then rename) with mode
    /// 0600, creating its directory (mode 0700) when needed: it holds a token.
    pub fn save(&self, path: &Path) -> Result<(), CliError> {
        let fail = |what: &str, e: std::io::Error| {
            CliError::io(&format!("cannot {what} {}", path.display()), &e)
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(&dir)
                .map_err(|e| fail("create the directory of", e))?;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "profile.json".into());
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| CliError::new("internal", format!("cannot encode the profile: {e}")))?;
        text.push('\n');

        let write = || -> std::io::Result<()> {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temp)?;
            // A stale temporary file keeps its old mode; the umask may also
            // have narrowed ours. Set it exactly before the token goes in.
            restrict(&file)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            fail("write", e)
        })
    }
}

#[cfg(unix)]
fn restrict(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn sample() -> Profile {
        Profile {
            server: Some("http://127.0.0.1:7070".into()),
            ca_file: Some(PathBuf::from("/srv/oriole/tls-cert.pem")),
            username: Some("alice".into()),
            user_id: Some("u1".into()),
            device_id: Some("d1".into()),
            token: Some("ori_secret".into()),
            cursor: 42,
            operator_name: Some("root".into()),
            operator_token: Some("ori_operator".into()),
        }
    }

    #[test]
    fn round_trip_with_owner_only_mode() {
        let dir = tempfile::TempDir::new().expect("dir");
        let path = dir.path().join("nested").join("profile.json");
        sample().save(&path).expect("save");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(path.parent().expect("parent"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        assert_eq!(Profile::load(&path).expect("load"), sample());

        // Saving again over a file someone made world-readable fixes it.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let mut p = sample();
        p.cursor = 43;
        p.token = None;
        p.save(&path).expect("save");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(Profile::load(&path).expect("load"), p);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("list")
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
    }

    #[test]
    fn a_missing_profile_is_empty_and_a_broken_one_is_an_error() {
        let dir = tempfile::TempDir::new().expect("dir");
        let path = dir.path().join("profile.json");
        assert_eq!(Profile::load(&path).expect("load"), Profile::default());
        std::fs::write(&path, "{not json").expect("write");
        let err = Profile::load(&path).expect_err("broken");
        assert_eq!(err.code, "invalid_input");
    }

    #[test]
    fn debug_hides_the_token() {
        assert!(!format!("{:?}", sample()).contains("ori_secret"));
    }
}
