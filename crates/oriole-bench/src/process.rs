//! Processes the benchmark starts and watches: the server under test (or
//! the bare relay) on its own core, the load generator pinned to another,
//! and a server's resident memory read from `/proc`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long a server may take to print its `listening on` line.
const STARTUP_PATIENCE: Duration = Duration::from_secs(60);

/// Pin this process's current thread, and every thread it starts later
/// (Linux threads inherit their creator's affinity), to `core`. Call it
/// before building the runtime.
pub fn pin_current_thread(core: usize) -> anyhow::Result<()> {
    // Not looked up in `get_core_ids`: it lists only the cores the
    // calling thread may already run on, and a thread of a pinned process
    // moves to the server's core here.
    if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
        bail!("cannot pin to core {core}");
    }
    Ok(())
}

/// A server the benchmark started; killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub pid: u32,
    /// What the server printed after `listening on `, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    _data: Option<tempfile::TempDir>,
}

/// How to start a server.
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Run under `taskset -c CORE`.
    pub core: Option<usize>,
    /// Where the server's stderr goes (its logs).
    pub log: Option<PathBuf>,
    /// Removed when the server is dropped.
    pub data: Option<tempfile::TempDir>,
}

impl ServerProcess {
    /// Start the server and wait for its `listening on URL` line on stdout.
    pub async fn start(launch: Launch) -> anyhow::Result<ServerProcess> {
        let mut cmd = match launch.core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(core.to_string()).arg(&launch.program);
                c
            }
            None => Command::new(&launch.program),
        };
        cmd.args(&launch.args)
            .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        match &launch.log {
            Some(path) => {
                let file = std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?;
                cmd.stderr(file);
            }
            None => {
                cmd.stderr(Stdio::null());
            }
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", launch.program.display()))?;
        // taskset execs the program, so the PID is the server's own.
        let pid = child.id().ok_or_else(|| anyhow!("server exited at once"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout from the server"))?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(STARTUP_PATIENCE, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.trim().strip_prefix("listening on ") {
                    return Ok(url.trim().to_owned());
                }
            }
            Err(anyhow!("the server exited before it was listening"))
        })
        .await
        .context("the server did not say it was listening")??;
        // Keep reading so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ServerProcess {
            child,
            pid,
            url,
            _data: launch.data,
        })
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// `oriole serve` on 127.0.0.1:0 over a fresh data directory, with a cheap
/// password hash (the accounts are set up fast; W4 measures logins at that
/// cost) and a one-thread runtime.
pub fn oriole_launch(
    bin: &Path,
    core: Option<usize>,
    log: Option<PathBuf>,
) -> anyhow::Result<Launch> {
    let data = tempfile::Builder::new()
        .prefix("oriole-bench-")
        .tempdir()
        .context("creating a data directory")?;
    Ok(Launch {
        program: bin.to_owned(),
        args: vec![
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data".into(),
            data.path().display().to_string(),
        ],
        env: oriole_env(),
        core,
        log,
        data: Some(data),
    })
}

/// The settings every benchmarked Oriole runs with (recorded in reports).
pub fn oriole_env() -> Vec<(String, String)> {
    [
        ("ORIOLE_PASSWORD_MEMORY_KIB", "1024"),
        ("ORIOLE_PASSWORD_ITERATIONS", "1"),
        ("ORIOLE_SQLITE__SYNCHRONOUS", "full"),
        ("TOKIO_WORKER_THREADS", "1"),
        ("RUST_LOG", "warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The bare relay: this very binary's `relay-server` command.
pub fn relay_launch(core: Option<usize>) -> anyhow::Result<Launch> {
    Ok(Launch {
        program: std::env::current_exe().context("locating oriole-bench")?,
        args: vec![
            "relay-server".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ],
        env: Vec::new(),
        core,
        log: None,
        data: None,
    })
}

/// CPU time a process has used (user + system), in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it do not.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
}

/// Wait until the server is nearly idle (under a tenth of a core for half
/// a second; clock ticks are 1/100 s), at most `patience`: work an
/// overloaded step queued inside the server (archive writes, say) must not
/// be charged to the next step.
pub async fn settle(pid: u32, patience: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + patience;
    let Some(mut before) = cpu_ticks(pid) else {
        return;
    };
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let Some(now) = cpu_ticks(pid) else {
            return;
        };
        if now.saturating_sub(before) <= 5 {
            return;
        }
        before = now;
    }
}

/// A process's resident memory in KiB (`VmRSS`), if it can be read.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_cpu_time() {
        assert!(cpu_ticks(std::process::id()).is_some());
    }

    #[test]
    fn reads_our_own_rss() {
        let rss = rss_kib(std::process::id()).expect("VmRSS of this process");
        assert!(rss > 0);
    }
}
