-- messages_by_sender trails the log instead of taking every message as it
-- is committed.
--
-- The index leads with the sender and the recipient, so a commit of many
-- conversations' messages wrote one of its leaves per conversation, and
-- rebalancing those full leaves dirtied their neighbours: with W1's 50
-- conversations, 172 of the 217 pages a commit of 320 messages wrote
-- (`oriole-bench index-pages`; docs/benchmarks.md, sixteenth pass). Now a
-- message enters the index only once `by_sender` is set, which the commit
-- task does for every message up to the newest committed position once
-- that many have gathered (`SqliteOptions::sender_index_lag`), in one
-- statement whose inserts share each conversation's leaves. Everything
-- from `message_log.sender_indexed_pos` on is not in the index yet: the
-- reads that use it (pending inbox entries, a user's sent messages) read
-- that short tail of the log by position as well.
-- 0 or 1, so that setting it rewrites a row in place: SQLite stores both
-- in the record header alone, where NULL to 1 would grow every row by a
-- byte and split the full table leaves it touched.
ALTER TABLE messages ADD COLUMN by_sender INTEGER NOT NULL DEFAULT 0;

UPDATE messages SET by_sender = 1;

DROP INDEX messages_by_sender;

CREATE INDEX messages_by_sender ON messages (sender_id, recipient_user_id)
    WHERE by_sender = 1;

-- One row: every message at or below this position has `by_sender` set;
-- none above it has.
CREATE TABLE message_log (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    sender_indexed_pos INTEGER NOT NULL
);

INSERT INTO message_log (id, sender_indexed_pos)
SELECT 1, coalesce(max(pos), 0) FROM messages;
