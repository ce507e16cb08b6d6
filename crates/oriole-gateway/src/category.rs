//! The data categories a recipient may be registered for: the personal-data
//! inventory items an event to a third party can carry, named by their
//! inventory id (`oriole-core` checks that each is declared there).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One shareable inventory item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SharedCategory {
    /// `message.text`: the text of a message sent to the recipient's bot.
    #[serde(rename = "message.text")]
    MessageText,
    /// `message.payload`: its structured payload.
    #[serde(rename = "message.payload")]
    MessagePayload,
    /// `message.metadata`: its id and the time it was sent.
    #[serde(rename = "message.metadata")]
    MessageMetadata,
    /// `account.username`: the sender's username (which identifies them;
    /// without it the recipient sees only a pseudonym).
    #[serde(rename = "account.username")]
    AccountUsername,
}

impl SharedCategory {
    pub const ALL: [SharedCategory; 4] = [
        SharedCategory::MessageText,
        SharedCategory::MessagePayload,
        SharedCategory::MessageMetadata,
        SharedCategory::AccountUsername,
    ];

    /// The inventory id.
    pub const fn as_str(self) -> &'static str {
        match self {
            SharedCategory::MessageText => "message.text",
            SharedCategory::MessagePayload => "message.payload",
            SharedCategory::MessageMetadata => "message.metadata",
            SharedCategory::AccountUsername => "account.username",
        }
    }
}

impl fmt::Display for SharedCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CategoryError {
    #[error("`{0}` is not a shareable data category; use one of: message.text, message.payload, message.metadata, account.username")]
    Unknown(String),
    #[error("name at least one data category")]
    Empty,
}

impl FromStr for SharedCategory {
    type Err = CategoryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SharedCategory::ALL
            .into_iter()
            .find(|c| c.as_str() == s.trim())
            .ok_or_else(|| CategoryError::Unknown(s.trim().to_owned()))
    }
}

/// A non-empty set of categories, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<SharedCategory>", into = "Vec<SharedCategory>")]
pub struct CategorySet(BTreeSet<SharedCategory>);

impl CategorySet {
    /// Parse a comma-separated list (`message.text,message.metadata`).
    pub fn parse_list(list: &str) -> Result<CategorySet, CategoryError> {
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()
            .and_then(CategorySet::try_from)
    }

    pub fn contains(&self, c: SharedCategory) -> bool {
        self.0.contains(&c)
    }

    pub fn iter(&self) -> impl Iterator<Item = SharedCategory> + '_ {
        self.0.iter().copied()
    }

    /// The inventory ids, in order.
    pub fn names(&self) -> Vec<String> {
        self.iter().map(|c| c.as_str().to_owned()).collect()
    }

    /// The comma-separated form [`CategorySet::parse_list`] reads.
    pub fn to_list(&self) -> String {
        self.names().join(",")
    }
}

impl TryFrom<Vec<SharedCategory>> for CategorySet {
    type Error = CategoryError;
    fn try_from(v: Vec<SharedCategory>) -> Result<Self, Self::Error> {
        if v.is_empty() {
            return Err(CategoryError::Empty);
        }
        Ok(CategorySet(v.into_iter().collect()))
    }
}

impl From<CategorySet> for Vec<SharedCategory> {
    fn from(s: CategorySet) -> Self {
        s.0.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_round_trip() {
        let set =
            CategorySet::parse_list("message.text, message.metadata,message.text").expect("valid");
        assert_eq!(set.to_list(), "message.text,message.metadata");
        assert_eq!(CategorySet::parse_list(&set.to_list()), Ok(set));
    }

    #[test]
    fn unknown_and_empty_lists_are_refused() {
        assert_eq!(
            CategorySet::parse_list("message.text,device.ip"),
            Err(CategoryError::Unknown("device.ip".into()))
        );
        assert_eq!(CategorySet::parse_list(" , "), Err(CategoryError::Empty));
    }
}
