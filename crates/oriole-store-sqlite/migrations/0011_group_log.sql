-- A group message is stored once: its rowid is its position in the log
-- of all messages, and a member's inbox row for it is written later, in
-- bulk (src/group_inbox.rs). synced_pos is the position up to which the
-- member's rows for the group are written; anything above it is pending.

ALTER TABLE group_members ADD COLUMN synced_pos INTEGER NOT NULL DEFAULT 0;

-- Every existing group message already has its rows.
UPDATE group_members SET synced_pos = coalesce(
    (SELECT max(m.rowid) FROM messages AS m WHERE m.group_id = group_members.group_id), 0);

-- A group's messages in position order (the rowid is the index's tail).
CREATE INDEX messages_by_group_pos ON messages (group_id) WHERE group_id IS NOT NULL;
