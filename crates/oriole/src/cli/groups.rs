//! `group create|add|remove|leave|members|list`.

use oriole_proto::CreateGroup;

use super::error::CliError;
use super::output::{clean, group_line, member_line};
use super::{Ctx, GroupCommand};

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
        GroupCommand::List => {
            for group in &client.groups().await? {
                ctx.out.emit(group, || group_line(group))?;
            }
            Ok(())
        }
    }
}
