//! The cases, each an `async fn(store)` on a fresh, empty store. Add a new
//! case here and to the list in [`store_conformance!`](crate::store_conformance).

mod accounts;
mod concurrency;
mod group_inbox;
mod groups;
mod inbox;
mod sharing;

pub use accounts::*;
pub use concurrency::*;
pub use group_inbox::*;
pub use groups::*;
pub use inbox::*;
pub use sharing::*;
