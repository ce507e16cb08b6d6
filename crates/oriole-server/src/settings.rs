//! The server's settings: defaults, then an optional TOML file, then
//! `ORIOLE_*` environment variables, then command-line flags (merged by the
//! binary). Every field is documented in `docs/configuration.md`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use oriole_core::throttle::ThrottleRule;
use oriole_core::CoreConfig;
use oriole_crypto::PasswordCost;
use serde::{Deserialize, Serialize};

/// Environment variables that start with `ORIOLE_` but belong to the
/// command-line client, not to the server (`$ORIOLE_PASSWORD` is a user's
/// password: it must never be mistaken for a setting).
const CLIENT_ENV_KEYS: &[&str] = &["password", "server", "profile", "ca_file"];

/// Everything `oriole serve` can be configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address to listen on, `HOST:PORT`; port 0 picks a free port.
    pub listen: String,
    /// The data directory: the database, and the key store under `keys/`.
    pub data_dir: PathBuf,
    /// Serve Prometheus metrics on this loopback `IP:PORT` (plain HTTP,
    /// `GET /metrics`); unset: no metrics listener.
    pub metrics_listen: Option<String>,
    /// Limit on the text plus payload of one message, in bytes.
    pub max_message_bytes: usize,
    /// How long after sending a sender may recall a message, in seconds.
    pub recall_window_secs: u64,
    /// Concurrent WebSocket connections; more are refused with 429.
    pub max_connections: usize,
    /// Largest page `sync` returns (REST and WebSocket).
    pub sync_page_max: u32,
    /// Members allowed in one group.
    pub max_group_members: usize,
    /// A REST request (not a WebSocket session) that takes longer is
    /// answered with 408.
    pub request_timeout_secs: u64,
    /// An idle WebSocket is pinged after this many seconds, and dropped when
    /// it stays silent for as long again.
    pub ws_ping_interval_secs: u64,
    /// Events queued for one WebSocket connection before it is marked as
    /// lagging (it then catches up from the store).
    pub ws_queue_len: usize,
    /// Argon2id memory cost for password hashes, in KiB.
    pub password_memory_kib: u32,
    /// Argon2id passes over the memory.
    pub password_iterations: u32,
    /// Argon2id lanes.
    pub password_parallelism: u32,
    /// Failed-login throttling.
    pub login_throttle: LoginThrottle,
    /// The embedded SQLite store.
    pub sqlite: SqliteSettings,
    /// Account deletion, exports and support-assisted requests.
    pub user_rights: crate::rights_settings::UserRightsSettings,
    /// How long personal data is kept, and how often that is enforced.
    pub retention: crate::retention::RetentionSettings,
    /// How often the audit log is sealed by a signed checkpoint.
    pub audit: crate::audit_seal::AuditSettings,
    /// How the sharing gateway retries failed webhooks.
    pub sharing: crate::sharing_settings::SharingSettings,
    /// Take the client's IP address from the last entry of
    /// `X-Forwarded-For` (set this only behind a reverse proxy that sets it).
    pub trust_forwarded_for: bool,
    /// TLS certificate chain (PEM); with `tls_key`, serve HTTPS and WSS.
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM).
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS and WSS with a certificate generated once for
    /// localhost and kept in the data directory.
    pub self_signed: bool,
    /// A command (run with `sh -c`) whose standard output is the base64
    /// key-encryption key: the hook for a KMS or secret manager.
    pub kek_command: Option<String>,
    /// An environment variable holding the base64 key-encryption key.
    pub kek_env: Option<String>,
    /// Users' data keys kept unwrapped in memory (least recently used go).
    pub key_cache_capacity: usize,
    /// UNSAFE, for benchmarks only: store personal data in plaintext (no
    /// encryption at rest, no crypto-shredding). Never in production.
    pub unsafe_disable_encryption_at_rest: bool,
}

/// Failed-login limits: per account and per client IP, in one fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginThrottle {
    /// Failed logins allowed per account in one window.
    pub account_max_failures: u32,
    /// Failed logins allowed per client IP in one window.
    pub ip_max_failures: u32,
    /// Length of the window, in seconds.
    pub window_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SqliteSettings {
    pub synchronous: SqliteSynchronous,
}

/// SQLite's `synchronous` pragma: `full` makes every commit survive a power
/// loss; `normal` may lose the last commits on power loss (never on a
/// process crash) and writes faster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    #[default]
    Full,
    Normal,
}

impl Default for Settings {
    fn default() -> Self {
        let core = CoreConfig::default();
        let cost = PasswordCost::default();
        Settings {
            listen: "127.0.0.1:7070".to_owned(),
            metrics_listen: None,
            data_dir: PathBuf::from("./oriole-data"),
            max_message_bytes: core.max_message_bytes,
            recall_window_secs: core.recall_window_secs,
            max_connections: 10_000,
            sync_page_max: core.max_page,
            max_group_members: core.max_group_members,
            request_timeout_secs: 30,
            ws_ping_interval_secs: 30,
            ws_queue_len: 256,
            password_memory_kib: cost.memory_kib,
            password_iterations: cost.iterations,
            password_parallelism: cost.parallelism,
            login_throttle: LoginThrottle::default(),
            sqlite: SqliteSettings::default(),
            user_rights: crate::rights_settings::UserRightsSettings::default(),
            retention: crate::retention::RetentionSettings::default(),
            audit: crate::audit_seal::AuditSettings::default(),
            sharing: crate::sharing_settings::SharingSettings::default(),
            trust_forwarded_for: false,
            tls_cert: None,
            tls_key: None,
            self_signed: false,
            kek_command: None,
            kek_env: None,
            key_cache_capacity: 10_000,
            unsafe_disable_encryption_at_rest: false,
        }
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        let core = CoreConfig::default();
        LoginThrottle {
            account_max_failures: core.login_failures_per_account.max_failures,
            ip_max_failures: core.login_failures_per_ip.max_failures,
            window_secs: core.login_failures_per_account.window_secs,
        }
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl From<figment::Error> for SettingsError {
    fn from(e: figment::Error) -> Self {
        SettingsError::Invalid(e.to_string())
    }
}

impl Settings {
    /// Defaults, then the TOML file (when given; it must exist), then
    /// `ORIOLE_*` variables (`__` separates nested keys, as in
    /// `ORIOLE_LOGIN_THROTTLE__WINDOW_SECS`). Merge flags on top, then
    /// call [`Settings::from_figment`].
    pub fn figment(config_file: Option<&Path>) -> Result<Figment, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = config_file {
            if !path.is_file() {
                return Err(SettingsError::MissingFile(path.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        Ok(figment.merge(Env::prefixed("ORIOLE_").split("__").ignore(CLIENT_ENV_KEYS)))
    }

    /// Extract and check the settings.
    pub fn from_figment(figment: &Figment) -> Result<Settings, SettingsError> {
        let settings: Settings = figment.extract()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Defaults, file and environment, without flags.
    pub fn load(config_file: Option<&Path>) -> Result<Settings, SettingsError> {
        Self::from_figment(&Self::figment(config_file)?)
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        let positive = [
            ("max_message_bytes", self.max_message_bytes as u64),
            ("max_connections", self.max_connections as u64),
            ("sync_page_max", u64::from(self.sync_page_max)),
            ("max_group_members", self.max_group_members as u64),
            ("request_timeout_secs", self.request_timeout_secs),
            ("ws_ping_interval_secs", self.ws_ping_interval_secs),
            ("ws_queue_len", self.ws_queue_len as u64),
            ("password_iterations", u64::from(self.password_iterations)),
            ("password_parallelism", u64::from(self.password_parallelism)),
            (
                "login_throttle.account_max_failures",
                u64::from(self.login_throttle.account_max_failures),
            ),
            (
                "login_throttle.ip_max_failures",
                u64::from(self.login_throttle.ip_max_failures),
            ),
            ("retention.batch_size", u64::from(self.retention.batch_size)),
            ("audit.checkpoint_secs", self.audit.checkpoint_secs),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(SettingsError::Invalid(format!("{name} must be at least 1")));
        }
        // Argon2 needs 8 KiB per lane.
        if self.password_memory_kib < 8 * self.password_parallelism {
            return Err(SettingsError::Invalid(
                "password_memory_kib must be at least 8 × password_parallelism".to_owned(),
            ));
        }
        // One frame must hold a full message plus its JSON framing, and the
        // limits are computed in usize.
        if self.max_message_bytes > 64 * 1024 * 1024 {
            return Err(SettingsError::Invalid(
                "max_message_bytes must be at most 64 MiB".to_owned(),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(SettingsError::Invalid(
                "tls_cert and tls_key must be given together".to_owned(),
            ));
        }
        self.metrics_addr()?;
        self.user_rights.validate()?;
        self.sharing.validate()?;
        if self.self_signed && self.tls_cert.is_some() {
            return Err(SettingsError::Invalid(
                "self_signed and tls_cert/tls_key exclude each other".to_owned(),
            ));
        }
        Ok(())
    }

    /// The metrics listener's address, when one is configured; refused
    /// unless on loopback.
    pub fn metrics_addr(&self) -> Result<Option<std::net::SocketAddr>, SettingsError> {
        self.metrics_listen
            .as_deref()
            .map(crate::metrics::parse_listen)
            .transpose()
    }

    /// Whether the server speaks HTTPS and WSS.
    pub fn tls_enabled(&self) -> bool {
        self.self_signed || self.tls_cert.is_some()
    }

    /// The tunables of the core services.
    pub fn core_config(&self) -> CoreConfig {
        CoreConfig {
            max_message_bytes: self.max_message_bytes,
            recall_window_secs: self.recall_window_secs,
            max_page: self.sync_page_max,
            password_cost: PasswordCost {
                memory_kib: self.password_memory_kib,
                iterations: self.password_iterations,
                parallelism: self.password_parallelism,
            },
            login_failures_per_account: ThrottleRule {
                max_failures: self.login_throttle.account_max_failures,
                window_secs: self.login_throttle.window_secs,
            },
            login_failures_per_ip: ThrottleRule {
                max_failures: self.login_throttle.ip_max_failures,
                window_secs: self.login_throttle.window_secs,
            },
            max_group_members: self.max_group_members,
            rights: self.user_rights.core_config(),
        }
    }

    /// Largest WebSocket frame or message accepted: a full message, JSON
    /// escaping of its text (up to 2×), and the frame's other fields.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_message_bytes * 2 + 4096
    }

    /// Largest REST request body accepted.
    pub fn max_body_bytes(&self) -> usize {
        self.max_message_bytes * 2 + 16 * 1024
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub fn ws_ping_interval(&self) -> Duration {
        Duration::from_secs(self.ws_ping_interval_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_match_the_documented_values() {
        let s = Settings::default();
        assert_eq!(s.listen, "127.0.0.1:7070");
        assert_eq!(s.data_dir, PathBuf::from("./oriole-data"));
        assert_eq!(s.max_message_bytes, 64 * 1024);
        assert_eq!(s.recall_window_secs, 120);
        assert_eq!(s.max_connections, 10_000);
        assert_eq!(s.sync_page_max, 500);
        assert_eq!(s.sqlite.synchronous, SqliteSynchronous::Full);
        assert!(!s.trust_forwarded_for);
        assert!(!s.tls_enabled());
        s.validate().expect("defaults are valid");
    }

    // `Jail` closures return figment's (large) error type.
    #[test]
    #[allow(clippy::result_large_err)]
    fn file_then_env_override_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "oriole.toml",
                r#"
                    listen = "0.0.0.0:8080"
                    recall_window_secs = 30
                    [login_throttle]
                    window_secs = 60
                    [sqlite]
                    synchronous = "normal"
                "#,
            )?;
            jail.set_env("ORIOLE_RECALL_WINDOW_SECS", "0");
            jail.set_env("ORIOLE_PASSWORD_MEMORY_KIB", "1024");
            jail.set_env("ORIOLE_LOGIN_THROTTLE__ACCOUNT_MAX_FAILURES", "3");
            // The CLI's variables are not settings.
            jail.set_env("ORIOLE_PASSWORD", "correct horse battery");
            jail.set_env("ORIOLE_SERVER", "http://127.0.0.1:1");
            let s = Settings::load(Some(Path::new("oriole.toml"))).expect("loads");
            assert_eq!(s.listen, "0.0.0.0:8080");
            assert_eq!(s.recall_window_secs, 0);
            assert_eq!(s.password_memory_kib, 1024);
            assert_eq!(s.login_throttle.window_secs, 60);
            assert_eq!(s.login_throttle.account_max_failures, 3);
            assert_eq!(s.login_throttle.ip_max_failures, 50);
            assert_eq!(s.sqlite.synchronous, SqliteSynchronous::Normal);
            let core = s.core_config();
            assert_eq!(core.password_cost.memory_kib, 1024);
            assert_eq!(core.login_failures_per_account.max_failures, 3);
            Ok(())
        });
    }

    fn repo_file(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(name)
    }

    #[test]
    fn the_example_config_spells_out_the_defaults() {
        let example = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file_exact(repo_file("oriole.example.toml")));
        let parsed: Settings = example.extract().expect("example parses");
        assert_eq!(parsed, Settings::default());
        // Every key is written out, not just left to the defaults.
        let text = std::fs::read_to_string(repo_file("oriole.example.toml")).expect("read");
        let toml: figment::value::Dict =
            Figment::from(Toml::string(&text)).extract().expect("toml");
        let defaults = serde_json::to_value(Settings::default()).expect("serializes");
        for key in setting_keys() {
            let mut parts = key.split('.');
            let first = parts.next().unwrap_or_default();
            // TOML has no "unset": a setting that is off by default appears
            // commented out.
            if defaults[first].is_null() {
                assert!(
                    text.contains(&format!("\n# {key} = ")),
                    "{key} missing from the example (as a comment)"
                );
                continue;
            }
            let value = toml.get(first).expect(&key);
            if let Some(inner) = parts.next() {
                assert!(
                    value.find_ref(inner).is_some(),
                    "{key} missing from the example"
                );
            }
        }
    }

    #[test]
    fn every_setting_is_documented() {
        let docs = std::fs::read_to_string(repo_file("docs/configuration.md")).expect("read");
        for key in setting_keys() {
            assert!(
                docs.contains(&format!("| `{key}` |")),
                "{key} is not in docs/configuration.md"
            );
            let env = format!("`ORIOLE_{}`", key.replace('.', "__").to_uppercase());
            assert!(docs.contains(&env), "{env} is not in docs/configuration.md");
        }
    }

    /// Every setting's key, tables joined with a dot.
    fn setting_keys() -> Vec<String> {
        let value = serde_json::to_value(Settings::default()).expect("serializes");
        let mut keys = Vec::new();
        for (key, value) in value.as_object().expect("object") {
            match value.as_object() {
                Some(table) => keys.extend(table.keys().map(|k| format!("{key}.{k}"))),
                None => keys.push(key.clone()),
            }
        }
        keys
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn tls_settings_come_from_the_file_or_the_environment() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "oriole.toml",
                r#"
                    tls_cert = "/etc/oriole/cert.pem"
                    tls_key = "/etc/oriole/key.pem"
                "#,
            )?;
            let s = Settings::load(Some(Path::new("oriole.toml"))).expect("loads");
            assert_eq!(s.tls_cert, Some(PathBuf::from("/etc/oriole/cert.pem")));
            assert_eq!(s.tls_key, Some(PathBuf::from("/etc/oriole/key.pem")));
            assert!(s.tls_enabled());

            jail.clear_env();
            jail.set_env("ORIOLE_SELF_SIGNED", "true");
            let s = Settings::load(None).expect("loads");
            assert!(s.self_signed && s.tls_enabled());
            // Both at once is ambiguous.
            assert!(Settings::load(Some(Path::new("oriole.toml"))).is_err());

            jail.clear_env();
            jail.set_env("ORIOLE_TLS_CERT", "/etc/oriole/cert.pem");
            assert!(
                Settings::load(None).is_err(),
                "a certificate without its key"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn a_missing_config_file_and_bad_values_are_errors() {
        Jail::expect_with(|jail| {
            assert!(matches!(
                Settings::load(Some(Path::new("nope.toml"))),
                Err(SettingsError::MissingFile(_))
            ));
            jail.set_env("ORIOLE_MAX_CONNECTIONS", "0");
            assert!(Settings::load(None).is_err());
            jail.set_env("ORIOLE_MAX_CONNECTIONS", "10");
            jail.set_env("ORIOLE_SQLITE__SYNCHRONOUS", "sometimes");
            assert!(Settings::load(None).is_err());
            Ok(())
        });
    }
}
