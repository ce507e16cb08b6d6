//! Reference ceilings measured in the same run as the servers: what a bare
//! WebSocket relay moves on this machine, and how fast SQLite itself
//! commits inserts at full durability.

pub mod relay;
pub mod sqlite;
