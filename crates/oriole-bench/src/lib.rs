//! `oriole-bench`: an open-loop load generator that drives Oriole, and the
//! XMPP servers people run today, through the same workloads on one
//! machine, next to two reference ceilings (a bare WebSocket relay and
//! SQLite's own batched-insert rate).
//!
//! Open loop: every message has a slot on a fixed timetable at the offered
//! rate and its latency is measured from that *scheduled* time to its
//! receipt, so a slow server cannot hide its queueing delay by slowing the
//! sender down (no coordinated omission). Every message carries a [`Probe`]
//! (run, sender, sequence number, scheduled time) read back on receipt, so
//! loss, duplicates and latency all come from the generator's one clock.
//!
//! The workloads ([`workload`]) are generic over a [`Protocol`] adapter:
//! [`adapter::oriole`], [`adapter::xmpp`] (RFC 7395) and [`adapter::relay`].

pub mod adapter;
pub mod ceiling;
pub mod chart;
pub mod pages;
pub mod probe;
pub mod process;
pub mod record;
pub mod report;
pub mod schedule;
pub mod seal;
pub mod store_append;
pub mod workload;

pub use adapter::{Account, Inbox, Protocol, Session, Target};
pub use probe::Probe;
pub use record::{Recorder, Tally};
