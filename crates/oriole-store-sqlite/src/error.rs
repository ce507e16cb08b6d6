//! Turning sqlx failures and undecodable rows into `StoreError`s. Messages
//! name the operation and SQLite's own description, never a bound value.

use std::str::FromStr;

use oriole_core::store::StoreError;
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite};

/// Maps a failed statement of operation `op`: a uniqueness violation is a
/// `Conflict`, a missing referenced row `NotFound`, anything else `Backend`.
pub(crate) fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| {
        let kind = match &e {
            sqlx::Error::Database(d) => Some(d.kind()),
            _ => None,
        };
        match kind {
            Some(ErrorKind::UniqueViolation) => {
                StoreError::Conflict(format!("{op}: already exists"))
            }
            Some(ErrorKind::ForeignKeyViolation) => StoreError::NotFound(format!(
                "{op}: a referenced user, group or message does not exist"
            )),
            _ => StoreError::Backend(format!("{op}: {}", describe(&e))),
        }
    }
}

/// The `table.column` a uniqueness violation names, as SQLite reports it
/// ("UNIQUE constraint failed: users.username"); the first one for a
/// multi-column constraint.
pub(crate) fn unique_violation_column(e: &sqlx::Error) -> Option<String> {
    let sqlx::Error::Database(d) = e else {
        return None;
    };
    if d.kind() != ErrorKind::UniqueViolation {
        return None;
    }
    let columns = d.message().split_once("constraint failed: ")?.1;
    columns.split(',').next().map(|c| c.trim().to_owned())
}

fn describe(e: &sqlx::Error) -> String {
    match e {
        // SQLite's messages name tables and columns, not values.
        sqlx::Error::Database(d) => match d.code() {
            Some(code) => format!("sqlite error {code}: {}", d.message()),
            None => d.message().to_owned(),
        },
        other => other.to_string(),
    }
}

/// A column of a fetched row.
pub(crate) fn col<'r, T>(row: &'r SqliteRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Backend(format!("reading column {name}: {}", describe(&e))))
}

/// A stored value that must parse into a domain type (ids, usernames, ...).
pub(crate) fn parse_stored<T: FromStr>(raw: &str, what: &'static str) -> Result<T, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Backend(format!("stored {what} is invalid")))
}

/// Sequence numbers, limits and counts cross between `u64`/`u32` and
/// SQLite's `i64`.
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(n: i64, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Backend(format!("stored {what} is negative")))
}
