//! Oriole's wire contract: WebSocket frames, REST request and response bodies,
//! and the machine-readable error codes both share. No I/O lives here, so the
//! server, the SDK and any third-party client can depend on it cheaply.

pub mod api;
pub mod consent;
pub mod error;
pub mod frame;
pub mod rights;
pub mod sharing;
pub mod staff;

pub use api::*;
pub use consent::*;
pub use error::{ApiError, ErrorCode};
pub use frame::{ClientFrame, ServerFrame};
pub use rights::*;
pub use sharing::*;
pub use staff::*;

/// Version of the WebSocket protocol described in `docs/protocol.md`.
/// Sent in the server's `hello` frame; a client may ask for it with
/// `?protocol=N` on the upgrade request and is refused when it differs.
pub const PROTOCOL_VERSION: u32 = 1;

/// Default limit on the encoded size of one message (text plus payload).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// WebSocket close codes used when the server ends a session.
pub mod close_code {
    /// The device was revoked or logged out; the token no longer works.
    pub const REVOKED: u16 = 4001;
    /// The client violated the protocol in a way that cannot be answered
    /// with an error frame (e.g. a binary frame, invalid UTF-8).
    pub const PROTOCOL_VIOLATION: u16 = 1002;
    /// The frame was larger than the server accepts.
    pub const TOO_BIG: u16 = 1009;
    /// The server is shutting down; reconnect later.
    pub const GOING_AWAY: u16 = 1001;
}
