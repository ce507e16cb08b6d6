//! Black-box harness: runs the real `oriole` binary on 127.0.0.1:0 with a
//! temporary data directory (plain HTTP, or TLS with extra `serve` flags),
//! waits for its "listening on" line, and drives it through the SDK or the
//! CLI.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use oriole_client::Client;
use oriole_proto::{InboxEvent, RegisterRequest};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const PASSWORD: &str = "correct horse battery";

/// Settings that keep tests fast: a cheap password hash.
const TEST_ENV: &[(&str, &str)] = &[
    ("ORIOLE_PASSWORD_MEMORY_KIB", "1024"),
    ("ORIOLE_PASSWORD_ITERATIONS", "1"),
];

pub struct TestServer {
    pub data: TempDir,
    pub url: String,
    /// `http://HOST:PORT/metrics` when `metrics_listen` is set.
    pub metrics_url: Option<String>,
    /// The CA certificate the harness's clients trust (TLS servers).
    pub ca_file: Option<PathBuf>,
    child: Option<Child>,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with_env(&[]).await
    }

    pub async fn start_with_env(env: &[(&str, &str)]) -> TestServer {
        Self::start_with(env, &[]).await
    }

    /// With extra `oriole serve` flags, e.g. `--self-signed`.
    pub async fn start_with(env: &[(&str, &str)], args: &[&str]) -> TestServer {
        let data = TempDir::new().expect("temp dir");
        Self::start_in(data, env, args).await
    }

    /// On a data directory prepared by the test (certificates, say).
    pub async fn start_in(data: TempDir, env: &[(&str, &str)], args: &[&str]) -> TestServer {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (child, url, metrics_url) = spawn(data.path(), &env, &args).await;
        TestServer {
            data,
            url,
            metrics_url,
            ca_file: None,
            child: Some(child),
            env,
            args,
        }
    }

    /// An SDK client trusting [`TestServer::ca_file`] when set.
    pub fn client(&self) -> Client {
        let mut builder = Client::builder(&self.url);
        if let Some(ca) = &self.ca_file {
            builder = builder.ca_file(ca).expect("CA file");
        }
        builder.build().expect("client")
    }

    /// SIGTERM, and the server must exit 0 after a graceful stop.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().expect("running").to_string();
            let st = Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .await
                .expect("kill");
            assert!(st.success());
            let status = child.wait().await.expect("wait");
            assert!(
                status.success(),
                "server exited with {status:?} after SIGTERM"
            );
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill -9");
        }
    }

    /// Start again on the same data directory (a new port).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the server first");
        let (child, url, metrics_url) = spawn(self.data.path(), &self.env, &self.args).await;
        self.child = Some(child);
        self.url = url;
        self.metrics_url = metrics_url;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

async fn spawn(
    data: &Path,
    env: &[(String, String)],
    args: &[String],
) -> (Child, String, Option<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oriole"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(args)
        .envs(TEST_ENV.iter().copied())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env(
            "RUST_LOG",
            std::env::var("ORIOLE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn oriole serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut metrics_url = None;
    let url = loop {
        match lines.next_line().await.expect("read stdout") {
            Some(line) => {
                if let Some(url) = line.strip_prefix("metrics on ") {
                    metrics_url = Some(url.trim().to_owned());
                }
                if let Some(url) = line.strip_prefix("listening on ") {
                    break url.trim().to_owned();
                }
            }
            None => panic!("server exited before listening"),
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url, metrics_url)
}

/// Register a user through the SDK; returns a logged-in client.
pub async fn user(server: &TestServer, name: &str) -> Client {
    let mut c = server.client();
    c.register(RegisterRequest {
        username: name.into(),
        password: PASSWORD.into(),
        ..Default::default()
    })
    .await
    .expect("register");
    c
}

/// Log an existing user in again: a second device.
pub async fn device(server: &TestServer, name: &str) -> Client {
    let mut c = server.client();
    c.login(oriole_proto::LoginRequest {
        username: name.into(),
        password: PASSWORD.into(),
        ..Default::default()
    })
    .await
    .expect("login");
    c
}

pub fn texts(events: &[InboxEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind == oriole_proto::EventKind::Message)
        .map(|e| e.text.clone().unwrap_or_default())
        .collect()
}

/// Runs the CLI with its own profile file, as a person at a terminal would.
pub struct Cli {
    pub profile: PathBuf,
    pub server: String,
}

impl Cli {
    pub fn new(dir: &Path, name: &str, server: &str) -> Cli {
        Cli {
            profile: dir.join(format!("{name}.profile.json")),
            server: server.to_owned(),
        }
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_oriole"))
            .args(args)
            .env("ORIOLE_PROFILE", &self.profile)
            .env("ORIOLE_SERVER", &self.server)
            .env("ORIOLE_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run oriole")
    }

    /// Run and require success; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "oriole {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }
}

/// A reqwest client (TLS on aws-lc-rs, like the SDK) trusting only the CA
/// in `ca_pem`, if any.
pub fn http_client(ca_pem: Option<&[u8]>) -> reqwest::Client {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.unwrap_or_default()) {
        roots.add(cert.expect("PEM")).expect("CA certificate");
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .expect("http client")
}

/// A certificate authority made for one test, and a server certificate it
/// signs, written as PEM files into a directory.
pub struct TestCa {
    pub pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().expect("CA key");
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        TestCa {
            pem,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// Write `ca.pem`, and `server-cert.pem` + `server-key.pem` for
    /// localhost and 127.0.0.1 signed by this CA, into `dir`. Returns
    /// (CA, certificate, key) paths.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("params");
        let key = rcgen::KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        let paths = (
            dir.join("ca.pem"),
            dir.join("server-cert.pem"),
            dir.join("server-key.pem"),
        );
        std::fs::write(&paths.0, &self.pem).expect("write CA");
        std::fs::write(&paths.1, cert.pem()).expect("write certificate");
        std::fs::write(&paths.2, key.serialize_pem()).expect("write key");
        paths
    }
}
