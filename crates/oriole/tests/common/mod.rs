//! Black-box harness: runs the real `oriole` binary on 127.0.0.1:0 with a
//! temporary data directory, waits for its "listening on" line, and drives
//! it through the SDK or the CLI.

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
    child: Option<Child>,
    env: Vec<(String, String)>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with_env(&[]).await
    }

    pub async fn start_with_env(env: &[(&str, &str)]) -> TestServer {
        let data = TempDir::new().expect("temp dir");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (child, url) = spawn(data.path(), &env).await;
        TestServer {
            data,
            url,
            child: Some(child),
            env,
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url).expect("client")
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
        let (child, url) = spawn(self.data.path(), &self.env).await;
        self.child = Some(child);
        self.url = url;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

async fn spawn(data: &Path, env: &[(String, String)]) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oriole"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .envs(TEST_ENV.iter().copied())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn oriole serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        match lines.next_line().await.expect("read stdout") {
            Some(line) => {
                if let Some(url) = line.strip_prefix("listening on ") {
                    break url.trim().to_owned();
                }
            }
            None => panic!("server exited before listening"),
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
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
