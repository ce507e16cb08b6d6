-- A 1:1 message's conversation by number, in place of the sender index.
--
-- messages_by_sender (sender_id, recipient_user_id) put every 1:1
-- direction's newest entries on a leaf of their own, and its keys (two
-- 36-character ids) are long, so its leaves filled and split often: it
-- wrote 167 of the 217 WAL pages a W1 commit of 320 messages wrote
-- (`oriole-bench index-pages`, docs/benchmarks.md, seventeenth pass). A
-- direction now has a number (`direct_pairs`), each 1:1 message carries
-- it, and the index is on that number: still a leaf per direction per
-- commit, but short keys, so 77 pages instead of 167.
--
-- The pair's row outlives the recipient's account (as the message rows
-- naming them do) and goes when the sender's purge has cleared the
-- messages: it is how the purge, and a user's counts, find the messages
-- a user sent. No foreign keys, for that reason: the account row is
-- deleted with them off, and the purge removes the pairs (the sender's,
-- and the recipient's that hold no message).
CREATE TABLE direct_pairs (
    pair         INTEGER PRIMARY KEY,
    sender_id    TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    UNIQUE (sender_id, recipient_id)
);

CREATE INDEX direct_pairs_by_recipient ON direct_pairs (recipient_id);

INSERT INTO direct_pairs (sender_id, recipient_id)
SELECT sender_id, recipient_user_id FROM messages
WHERE sender_id IS NOT NULL AND recipient_user_id IS NOT NULL
UNION
SELECT user_id, peer_id FROM direct_members
UNION
SELECT peer_id, user_id FROM direct_members
ORDER BY 1, 2;

ALTER TABLE messages ADD COLUMN pair INTEGER;

UPDATE messages SET pair = (
    SELECT dp.pair FROM direct_pairs AS dp
    WHERE dp.sender_id = messages.sender_id AND dp.recipient_id = messages.recipient_user_id
)
WHERE sender_id IS NOT NULL AND recipient_user_id IS NOT NULL;

-- A 1:1 direction's messages in position order (the position is the
-- index's tail): pending entries, a user's counts, the purge.
CREATE INDEX messages_by_direct_pair ON messages (pair) WHERE pair IS NOT NULL;

-- A sender's group messages: a user's counts and the purge.
CREATE INDEX messages_by_group_sender ON messages (sender_id) WHERE group_id IS NOT NULL;

DROP INDEX messages_by_sender;
