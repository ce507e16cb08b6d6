//! The Rust SDK for Oriole: [`Client`] for the REST API under `/v1/`, and
//! [`Connection`] for a live WebSocket session that reconnects by itself and
//! resumes from its cursor without gaps or duplicates.
//!
//! `https://` servers are always verified (host name included), against the
//! built-in roots or a CA given to [`ClientBuilder::ca_file`]; the REST calls
//! and the WebSocket share that trust. TLS is rustls on aws-lc-rs.
//!
//! The wire types come from [`oriole_proto`], re-exported here as [`proto`].
//!
//! ```no_run
//! use oriole_client::{Client, ClientError};
//! use oriole_client::proto::RegisterRequest;
//!
//! # async fn tour() -> Result<(), ClientError> {
//! let mut alice = Client::new("http://127.0.0.1:7070")?;
//! alice
//!     .register(RegisterRequest {
//!         username: "alice".into(),
//!         password: "correct horse battery".into(),
//!         ..Default::default()
//!     })
//!     .await?; // the client keeps the session token
//!
//! // A live session from the start of the inbox (store `last_seq()` to resume).
//! let mut conn = alice.connect(0).await?;
//! let ack = alice.send_text("bob", "hi bob").await?;
//! println!("sent {} as seq {}", ack.message_id, ack.seq);
//!
//! while let Some(event) = conn.next_event().await {
//!     let event = event?; // e.g. ClientError::Closed { code: 4001, .. } when revoked
//!     println!(
//!         "[seq {}] {}: {}",
//!         event.seq,
//!         event.from.as_deref().unwrap_or("?"),
//!         event.text.as_deref().unwrap_or("")
//!     );
//!     if event.id == ack.message_id {
//!         break; // our own copy came back
//!     }
//! }
//! conn.close().await;
//! # Ok(())
//! # }
//! ```

mod client;
mod connection;
mod consent;
mod error;
mod rights;
mod sharing;
mod staff;
pub mod webhook;

pub use client::{new_idempotency_key, Client, ClientBuilder};
pub use connection::Connection;
pub use error::ClientError;
pub use oriole_proto as proto;
pub use oriole_proto::{
    ApiError, CreateGroup, DeviceInfo, ErrorCode, EventKind, GroupInfo, GroupRole, Health,
    InboxEvent, LoginRequest, MemberInfo, Profile, ReceiptKind, RegisterRequest, SendAck,
    SendMessage, SessionResponse, SyncPage, UpdateGroup,
};
