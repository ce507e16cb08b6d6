-- A 1:1 message is stored once too: its sender's and its recipient's
-- inbox rows for it are written later, in bulk, like a group member's
-- (src/group_inbox.rs). A user's row here, one per person they have a 1:1
-- conversation with (themselves included), is what their pending entries
-- are derived from: the messages between the two, either way, with a
-- position above synced_pos. Created by the first such message after this
-- migration, with synced_pos at the position before it: every earlier
-- message already has its rows.
CREATE TABLE direct_members (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    peer_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    synced_pos INTEGER NOT NULL,
    PRIMARY KEY (user_id, peer_id)
) WITHOUT ROWID;

-- The messages of one direction of a 1:1 conversation in position order
-- (the rowid is the index's tail).
CREATE INDEX messages_by_pair ON messages (recipient_user_id, sender_id)
    WHERE recipient_user_id IS NOT NULL;

-- Erasure drops the rows naming the erased user on either side.
CREATE INDEX direct_members_by_peer ON direct_members (peer_id);
