//! Groups: creation, membership with owner and admin roles, history.

use std::collections::HashSet;

use oriole_proto::{
    AddMember, CreateGroup, GroupInfo, GroupRole, InboxEvent, MemberInfo, UpdateGroup,
};

use super::{Caller, Oriole};
use crate::domain::{GroupId, GroupName, Timestamp, UserId, Username};
use crate::error::{ServiceError, ServiceResult};
use crate::store::{GroupRecord, MemberRecord, Store};

fn info(group: GroupRecord, role: GroupRole) -> GroupInfo {
    GroupInfo {
        group_id: group.id.to_string(),
        name: group.name.as_str().to_owned(),
        history_visible: group.history_visible,
        created_at: group.created_at.0,
        role,
    }
}

fn member_info(m: MemberRecord) -> MemberInfo {
    MemberInfo {
        username: m.username.to_string(),
        role: m.role,
        joined_at: m.joined_at.0,
    }
}

fn manages(role: GroupRole) -> bool {
    matches!(role, GroupRole::Owner | GroupRole::Admin)
}

impl<S: Store> Oriole<S> {
    async fn user_named(&self, raw: &str) -> ServiceResult<(UserId, Username)> {
        let name = Username::parse(raw)
            .map_err(|_| ServiceError::not_found(format!("no such user: {raw}")))?;
        let user = self
            .store
            .user_by_name(&name)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no such user: {name}")))?;
        Ok((user.id, name))
    }

    /// The group and the caller's membership; `not_found` for non-members so
    /// group ids do not leak.
    async fn my_group(
        &self,
        caller: &Caller,
        group: &str,
    ) -> ServiceResult<(GroupRecord, MemberRecord)> {
        let not_found = || ServiceError::not_found("no such group, or you are not a member");
        let id: GroupId = group.parse().map_err(|_| not_found())?;
        let g = self.store.group(id).await?.ok_or_else(not_found)?;
        let me = self
            .store
            .membership(id, caller.user_id)
            .await?
            .ok_or_else(not_found)?;
        Ok((g, me))
    }

    pub async fn create_group(
        &self,
        caller: &Caller,
        req: CreateGroup,
    ) -> ServiceResult<GroupInfo> {
        self.policy_gate(caller.user_id).await?;
        let name = GroupName::parse(&req.name)?;
        if req.members.len() + 1 > self.config.max_group_members {
            return Err(ServiceError::invalid(format!(
                "a group has at most {} members",
                self.config.max_group_members
            )));
        }
        let mut seen = HashSet::from([caller.user_id]);
        let mut members = vec![(caller.user_id, GroupRole::Owner)];
        for raw in &req.members {
            let (id, name) = self.user_named(raw).await?;
            self.refuse_bot_member(id).await?;
            if !seen.insert(id) {
                return Err(ServiceError::invalid(format!(
                    "duplicate group member: {name}"
                )));
            }
            members.push((id, GroupRole::Member));
        }
        let group = GroupRecord {
            id: GroupId::generate(),
            name,
            history_visible: req.history_visible,
            created_at: self.clock.now(),
        };
        self.store.create_group(group.clone(), &members).await?;
        Ok(info(group, GroupRole::Owner))
    }

    pub async fn group_info(&self, caller: &Caller, group: &str) -> ServiceResult<GroupInfo> {
        self.policy_gate(caller.user_id).await?;
        let (g, me) = self.my_group(caller, group).await?;
        Ok(info(g, me.role))
    }

    pub async fn my_groups(&self, caller: &Caller) -> ServiceResult<Vec<GroupInfo>> {
        self.policy_gate(caller.user_id).await?;
        Ok(self
            .store
            .groups_of(caller.user_id)
            .await?
            .into_iter()
            .map(|(g, role)| info(g, role))
            .collect())
    }

    pub async fn update_group(
        &self,
        caller: &Caller,
        group: &str,
        req: UpdateGroup,
    ) -> ServiceResult<GroupInfo> {
        self.policy_gate(caller.user_id).await?;
        let (g, me) = self.my_group(caller, group).await?;
        if !manages(me.role) {
            return Err(ServiceError::forbidden(
                "only the owner or an admin can change the group",
            ));
        }
        let name = req.name.as_deref().map(GroupName::parse).transpose()?;
        self.store
            .update_group(g.id, name, req.history_visible)
            .await?;
        if let Some(days) = req.message_retention_days {
            // 0: back to the deployment's period.
            self.store
                .set_group_retention(g.id, (days > 0).then_some(days))
                .await?;
        }
        let g = self
            .store
            .group(g.id)
            .await?
            .ok_or_else(|| ServiceError::not_found("no such group"))?;
        Ok(info(g, me.role))
    }

    pub async fn add_member(
        &self,
        caller: &Caller,
        group: &str,
        req: AddMember,
    ) -> ServiceResult<MemberInfo> {
        self.policy_gate(caller.user_id).await?;
        let (g, me) = self.my_group(caller, group).await?;
        let role = req.role.unwrap_or(GroupRole::Member);
        match (me.role, role) {
            (_, GroupRole::Owner) => {
                return Err(ServiceError::invalid(
                    "a group has one owner; add as admin or member",
                ))
            }
            (GroupRole::Owner, _) | (GroupRole::Admin, GroupRole::Member) => {}
            (GroupRole::Admin, GroupRole::Admin) => {
                return Err(ServiceError::forbidden("only the owner can add admins"))
            }
            (GroupRole::Member, _) => {
                return Err(ServiceError::forbidden(
                    "only the owner or an admin can add members",
                ))
            }
        }
        let (user, name) = self.user_named(&req.username).await?;
        self.refuse_bot_member(user).await?;
        if self.store.members(g.id).await?.len() >= self.config.max_group_members {
            return Err(ServiceError::invalid(format!(
                "a group has at most {} members",
                self.config.max_group_members
            )));
        }
        let now = self.clock.now();
        let added = self.store.add_member(g.id, user, role, now).await;
        // Whatever the outcome: sends read the members from the store again.
        self.rosters.invalidate();
        added.map_err(|e| match e {
            crate::StoreError::Conflict(_) => ServiceError::new(
                oriole_proto::ErrorCode::Conflict,
                format!("{name} is already a member"),
            ),
            other => other.into(),
        })?;
        Ok(MemberInfo {
            username: name.to_string(),
            role,
            joined_at: now.0,
        })
    }

    pub async fn remove_member(
        &self,
        caller: &Caller,
        group: &str,
        username: &str,
    ) -> ServiceResult<()> {
        self.policy_gate(caller.user_id).await?;
        let (g, me) = self.my_group(caller, group).await?;
        let (user, name) = self.user_named(username).await?;
        if user == caller.user_id {
            return self.leave_group(caller, group).await;
        }
        let target = self
            .store
            .membership(g.id, user)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("{name} is not a member")))?;
        let allowed = matches!(
            (me.role, target.role),
            (GroupRole::Owner, _) | (GroupRole::Admin, GroupRole::Member)
        );
        if !allowed {
            return Err(ServiceError::forbidden(
                "the owner removes anyone; an admin removes members only",
            ));
        }
        let removed = self.store.remove_member(g.id, user).await;
        self.rosters.invalidate();
        removed?;
        Ok(())
    }

    /// Leave a group. An owner who leaves hands the group to the longest-
    /// standing admin, else the longest-standing member; the last member
    /// leaving dissolves it.
    pub async fn leave_group(&self, caller: &Caller, group: &str) -> ServiceResult<()> {
        let (g, me) = self.my_group(caller, group).await?;
        let left = self.store.remove_member(g.id, caller.user_id).await;
        self.rosters.invalidate();
        left?;
        if me.role == GroupRole::Owner {
            let rest = self.store.members(g.id).await?;
            let heir = rest
                .iter()
                .find(|m| m.role == GroupRole::Admin)
                .or_else(|| rest.first());
            match heir {
                Some(h) => {
                    self.store
                        .set_member_role(g.id, h.user_id, GroupRole::Owner)
                        .await?
                }
                None => {
                    let deleted = self.store.delete_group(g.id).await;
                    self.rosters.invalidate();
                    deleted?
                }
            }
        }
        Ok(())
    }

    pub async fn group_members(
        &self,
        caller: &Caller,
        group: &str,
    ) -> ServiceResult<Vec<MemberInfo>> {
        self.policy_gate(caller.user_id).await?;
        let (g, _) = self.my_group(caller, group).await?;
        Ok(self
            .store
            .members(g.id)
            .await?
            .into_iter()
            .map(member_info)
            .collect())
    }

    /// Group messages visible to the caller, newest first: all of them when
    /// the group's history is visible, else those since the caller joined.
    pub async fn group_history(
        &self,
        caller: &Caller,
        group: &str,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> ServiceResult<Vec<InboxEvent>> {
        self.policy_gate(caller.user_id).await?;
        let (g, me) = self.my_group(caller, group).await?;
        let since = (!g.history_visible).then_some(me.joined_at);
        let limit = limit
            .unwrap_or(self.config.max_page)
            .clamp(1, self.config.max_page);
        Ok(self
            .store
            .group_history(g.id, since, before.map(Timestamp), limit)
            .await?)
    }
}
