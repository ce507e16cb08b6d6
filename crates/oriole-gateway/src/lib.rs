//! The sharing gateway's pure logic (privacy promise P13): the typed values
//! of the recipient registry, field-level minimization of an event to the
//! categories a recipient is registered for, per-recipient pseudonyms, the
//! webhook signature and the retry schedule. No I/O: the core stores and
//! the server delivers; recipients written in Rust verify with
//! [`verify_signature`] (re-exported by the SDK).
//!
//! The wire format is documented in `docs/sharing.md`.

mod category;
mod event;
mod pseudonym;
mod recipient;
mod retry;
mod signature;

pub use category::{CategoryError, CategorySet, SharedCategory};
pub use event::{minimize, BotReply, SharedMessage, WebhookBody, WebhookKind};
pub use pseudonym::{PseudonymKey, RecipientPseudonym};
pub use recipient::{
    DeliveryUrl, RecipientError, RecipientName, RecipientText, SigningSecret, SECRET_PREFIX,
};
pub use retry::RetrySchedule;
pub use signature::{
    sign, verify_signature, SignatureError, DELIVERY_HEADER, REPLAY_WINDOW_SECS, SIGNATURE_HEADER,
};
