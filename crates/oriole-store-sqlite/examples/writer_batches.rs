//! The message writer alone, in batches shaped like the benchmark's W1 and
//! W3, through the real store API (`append_message`, group commit,
//! synchronous = FULL): what the SQLite writer costs per message, without
//! the server around it.
//!
//! `per_batch` tasks each append one message, wait for its commit, and
//! append the next: on the current-thread runtime the group-commit queue
//! then holds exactly `per_batch` appends each time it is drained, so every
//! run writes the same batches (stable under `valgrind --tool=callgrind`).
//!
//! - `w1`: 100 users in 50 pairs, each message from one member of a pair
//!   to the other (inbox entries for both), with an idempotency key as the
//!   SDK sends;
//! - `w3`: one group of 100, every message from its owner to all 100.
//!
//! Prints, per message: CPU time of the whole process (user and system,
//! from `/proc/self/stat`), bytes and write calls (`/proc/self/io`: the WAL
//! frames and checkpoints), and the transactions taken. Then how long
//! opening the store again takes, how long one member's first inbox page
//! then takes (it writes that member's pending rows first), and how many
//! inbox rows the two wrote (see `src/group_inbox.rs`).
//!
//! ```text
//! cargo run --release -p oriole-store-sqlite --example writer_batches -- \
//!     w1|w3 [batches=500] [per_batch=12 for w1, 4 for w3] [page_size=0]
//! ```
//!
//! A `page_size` other than 0 creates the database with that page size
//! first (as an existing data directory would have), then opens it.

use std::path::Path;
use std::time::Instant;

use oriole_core::domain::{
    GroupId, GroupName, IdempotencyKey, MessageBody, MessageId, Timestamp, UserId, Username,
};
use oriole_core::store::{Conversation, GroupRecord, NewMessage, NewUser, Store};
use oriole_crypto::PasswordHashString;
use oriole_proto::GroupRole;
use oriole_store_sqlite::{SqliteOptions, SqliteStore};
use sqlx::{ConnectOptions, Connection};

const USERS: usize = 100;

/// Process-wide counters: CPU ticks (user, system) and writes (bytes, calls).
#[derive(Clone, Copy)]
struct Usage {
    utime: u64,
    stime: u64,
    wchar: u64,
    syscw: u64,
}

fn usage() -> Usage {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces) start at 3.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io");
    let io_field = |name: &str| -> u64 {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .expect("io field")
    };
    Usage {
        utime: fields[11].parse().expect("utime"),
        stime: fields[12].parse().expect("stime"),
        wchar: io_field("wchar:"),
        syscw: io_field("syscw:"),
    }
}

/// An empty database in WAL mode with the given page size, as an older
/// data directory would have been created.
async fn precreate(path: &Path, page_size: u32) {
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .page_size(page_size)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .connect()
        .await
        .expect("pre-create");
    sqlx::query("CREATE TABLE precreated (x)")
        .execute(&mut conn)
        .await
        .expect("first table");
    conn.close().await.expect("close");
}

async fn users(store: &SqliteStore) -> Vec<UserId> {
    let mut ids = Vec::with_capacity(USERS);
    for i in 0..USERS {
        let id = UserId::generate();
        store
            .create_user(NewUser {
                id,
                username: Username::parse(&format!("user{i}")).expect("name"),
                password_hash: PasswordHashString::from_stored("$argon2id$bench".into()),
                phone: None,
                email: None,
                created_at: Timestamp(1),
            })
            .await
            .expect("user");
        ids.push(id);
    }
    ids
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shape = args.first().map_or("w1", String::as_str).to_owned();
    let num = |i: usize, default: u64| -> u64 {
        args.get(i).map_or(default, |a| {
            a.parse()
                .expect("arguments: w1|w3 batches per_batch page_size")
        })
    };
    let batches = num(1, 500);
    let per_batch = num(2, if shape == "w3" { 4 } else { 12 });
    let page_size = num(3, 0);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(shape, batches, per_batch, page_size));
}

async fn run(shape: String, batches: u64, per_batch: u64, page_size: u64) {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let path = dir.path().join("oriole.db");
    if page_size != 0 {
        precreate(&path, u32::try_from(page_size).expect("page size")).await;
    }
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .expect("store");
    let ids = users(&store).await;
    let group = GroupId::generate();
    let recipients: Vec<(UserId, Vec<UserId>, Conversation)> = match shape.as_str() {
        "w1" => (0..USERS / 2)
            .map(|p| {
                let (from, to) = (ids[2 * p], ids[2 * p + 1]);
                (from, vec![from, to], Conversation::Direct(to))
            })
            .collect(),
        "w3" => {
            let members: Vec<(UserId, GroupRole)> = ids
                .iter()
                .enumerate()
                .map(|(i, &u)| {
                    let role = if i == 0 {
                        GroupRole::Owner
                    } else {
                        GroupRole::Member
                    };
                    (u, role)
                })
                .collect();
            let record = GroupRecord {
                id: group,
                name: GroupName::parse("bench").expect("group name"),
                history_visible: true,
                created_at: Timestamp(1),
            };
            store.create_group(record, &members).await.expect("group");
            vec![(ids[0], ids.clone(), Conversation::Group(group))]
        }
        other => panic!("unknown shape {other}: w1 or w3"),
    };
    // A probe's text, sealed: about as long as the benchmark's.
    let text = "x".repeat(80);

    let (_, commits_before) = store.append_commit_stats();
    let before = usage();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..per_batch {
        let (store, recipients, text) = (store.clone(), recipients.clone(), text.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..batches {
                let n = round * per_batch + k;
                let (from, to, conversation) = &recipients[n as usize % recipients.len()];
                let msg = NewMessage {
                    id: MessageId::generate(),
                    sender: *from,
                    conversation: *conversation,
                    body: MessageBody::parse(Some(text.clone()), None, 65536).expect("body"),
                    sent_at: Timestamp(1_700_000_000_000 + n as i64),
                    idempotency_key: Some(
                        IdempotencyKey::parse(&format!("{from}-{n}")).expect("key"),
                    ),
                };
                store.append_message(msg, to).await.expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let wall = start.elapsed();
    let after = usage();
    let (_, commits_after) = store.append_commit_stats();
    let page: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(
            &mut sqlx::SqliteConnection::connect_with(
                &sqlx::sqlite::SqliteConnectOptions::new().filename(&path),
            )
            .await
            .expect("connect"),
        )
        .await
        .expect("page size");
    store.close().await;

    // Opening again writes the inbox rows still pending (in W3, every
    // member's but the sender's: nothing read their inboxes).
    let rows_before = inbox_rows(&path).await;
    let start = Instant::now();
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .expect("reopen");
    let reopen = start.elapsed();
    // The first page of one member's inbox: their pending rows are written
    // first, all of them.
    let start = Instant::now();
    let first_page = store
        .inbox_after(ids[1], oriole_core::domain::InboxSeq(0), 500)
        .await
        .expect("first read");
    let first_read = start.elapsed();
    store.close().await;
    let written_on_open = inbox_rows(&path).await - rows_before;

    let messages = (batches * per_batch) as f64;
    let tick_us = 10_000.0; // USER_HZ is 100 on Linux
    println!(
        "{shape}: {} messages in {} commits, page size {page}, {:.2} s wall",
        messages,
        commits_after - commits_before,
        wall.as_secs_f64()
    );
    println!(
        "per message: {:.1} µs CPU ({:.1} user, {:.1} system), {:.0} bytes written in {:.2} write calls",
        (after.utime + after.stime - before.utime - before.stime) as f64 * tick_us / messages,
        (after.utime - before.utime) as f64 * tick_us / messages,
        (after.stime - before.stime) as f64 * tick_us / messages,
        (after.wchar - before.wchar) as f64 / messages,
        (after.syscw - before.syscw) as f64 / messages,
    );
    println!(
        "reopen: {:.1} ms; then one member's first page ({} events): {:.1} ms; \
         inbox rows written by both: {written_on_open}",
        reopen.as_secs_f64() * 1000.0,
        first_page.len(),
        first_read.as_secs_f64() * 1000.0
    );
}

async fn inbox_rows(path: &Path) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(
            &mut sqlx::SqliteConnection::connect_with(
                &sqlx::sqlite::SqliteConnectOptions::new().filename(path),
            )
            .await
            .expect("connect"),
        )
        .await
        .expect("inbox rows")
}
