//! The bare relay's cost at a W1 step's rate, measured right after the
//! step, so that Oriole's CPU per message has the transport's own next to
//! it from the same minute. On a shared VM the loopback path alone can
//! cost two thirds more in one quarter of an hour than in the one before;
//! the relay's search at the start of a run cannot show that, a probe
//! seconds from the step can.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::{close_all, connect_pairs, run_step, Pairs, StepResult, StepSpec};
use crate::adapter::relay::{Relay, RelaySession};

/// Connected relay pairs, kept open across a server's W1 steps. Cheap to
/// clone: clones share the connections.
#[derive(Clone)]
pub struct RelayProbe {
    rig: Arc<Mutex<Pairs<RelaySession>>>,
    /// The relay's process, for its CPU time; none for an in-process relay.
    pid: Option<u32>,
    /// How long each probe offers load.
    each: Duration,
}

impl std::fmt::Debug for RelayProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayProbe")
            .field("pid", &self.pid)
            .field("each", &self.each)
            .finish_non_exhaustive()
    }
}

impl RelayProbe {
    /// Connect `pairs` senders and receivers to the relay at `url`
    /// (`ws://HOST:PORT`), named from `prefix`.
    pub async fn connect(
        url: &str,
        pid: Option<u32>,
        pairs: usize,
        prefix: &str,
        each: Duration,
    ) -> anyhow::Result<RelayProbe> {
        let pairs = connect_pairs(&Relay::new(url), &format!("{prefix}rp"), pairs.max(1)).await?;
        Ok(RelayProbe {
            rig: Arc::new(Mutex::new(pairs)),
            pid,
            each,
        })
    }

    /// One relay step at `rate` messages per second, shaped as `like`
    /// (message size, limit, drain), for this probe's length: its CPU per
    /// delivery (with the relay's PID), p99 and whether it held.
    pub async fn measure(&self, rate: f64, like: &StepSpec) -> anyhow::Result<StepResult> {
        let mut rig = self.rig.lock().await;
        let Pairs {
            sending,
            targets,
            recorder,
            ..
        } = &mut *rig;
        let spec = StepSpec {
            rate,
            seconds: self.each.as_secs_f64(),
            fanout: 1,
            judge_last_member: false,
            server_pid: self.pid,
            ceiling_probe: None,
            ..*like
        };
        run_step(sending, targets, recorder, spec).await
    }

    /// Close the connections (every clone's: call it once, at the end).
    pub async fn close(&self) {
        let mut rig = self.rig.lock().await;
        close_all(std::mem::take(&mut rig.sending)).await;
        close_all(std::mem::take(&mut rig.receiving)).await;
    }
}
