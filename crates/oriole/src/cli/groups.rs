//! `group create|add|remove|leave|members|list|retention`.

use std::num::NonZeroU32;
use std::str::FromStr;

use oriole_proto::{CreateGroup, UpdateGroup};

use super::error::CliError;
use super::output::{clean, group_line, member_line};
use super::{Ctx, GroupCommand};

/// How long a group's messages are kept: a number of days of its own, or
/// the deployment's `retention.message_days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRetention {
    Default,
    Days(NonZeroU32),
}

impl GroupRetention {
    /// The API's spelling: `0` means the deployment's period.
    fn api_days(self) -> u32 {
        match self {
            GroupRetention::Default => 0,
            GroupRetention::Days(days) => days.get(),
        }
    }
}

impl FromStr for GroupRetention {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw == "default" {
            return Ok(GroupRetention::Default);
        }
        raw.parse::<NonZeroU32>()
            .map(GroupRetention::Days)
            .map_err(|_| format!("`{raw}` is neither a number of days (1 or more) nor `default`"))
    }
}

pub async fn run(ctx: &Ctx, command: GroupCommand) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        GroupCommand::Create {
            name,
            members,
            history_visible,
        } => {
            let group = client
                .create_group(CreateGroup {
                    name,
                    members,
                    history_visible,
                })
                .await?;
            // Just the id, so `$(oriole group create …)` captures it.
            ctx.out.emit(&group, || clean(&group.group_id))
        }
        GroupCommand::Add {
            group_id,
            user,
            role,
        } => {
            let member = client
                .add_member(&group_id, &user, role.map(Into::into))
                .await?;
            ctx.out.emit(&member, || {
                format!(
                    "added {} to {} as {}",
                    clean(&member.username),
                    clean(&group_id),
                    member.role.as_str()
                )
            })
        }
        GroupCommand::Remove { group_id, user } => {
            client.remove_member(&group_id, &user).await?;
            ctx.out.emit(
                &serde_json::json!({"group_id": group_id, "username": user, "removed": true}),
                || format!("removed {} from {}", clean(&user), clean(&group_id)),
            )
        }
        GroupCommand::Leave { group_id } => {
            client.leave_group(&group_id).await?;
            ctx.out.emit(
                &serde_json::json!({"group_id": group_id, "left": true}),
                || format!("left {}", clean(&group_id)),
            )
        }
        GroupCommand::Members { group_id } => {
            for member in &client.group_members(&group_id).await? {
                ctx.out.emit(member, || member_line(member))?;
            }
            Ok(())
        }
        GroupCommand::Retention { group_id, days } => {
            let group = client
                .update_group(
                    &group_id,
                    UpdateGroup {
                        message_retention_days: Some(days.api_days()),
                        ..Default::default()
                    },
                )
                .await?;
            let kept = match days {
                GroupRetention::Default => None,
                GroupRetention::Days(days) => Some(days.get()),
            };
            ctx.out.emit(
                &serde_json::json!({"group_id": group.group_id, "message_retention_days": kept}),
                || match kept {
                    Some(days) => format!(
                        "messages in {} are now deleted {days} days after sending",
                        clean(&group.group_id)
                    ),
                    None => format!(
                        "messages in {} now follow the server's retention.message_days",
                        clean(&group.group_id)
                    ),
                },
            )
        }
        GroupCommand::List => {
            for group in &client.groups().await? {
                ctx.out.emit(group, || group_line(group))?;
            }
            Ok(())
        }
    }
}
