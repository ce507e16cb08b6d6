-- Account deletion in two steps (issue 6). The request destroys the data
-- key and removes the account row, sessions, memberships, consents and
-- sharing at once; the bulk rows it leaves behind (the user's inbox, the
-- receipts they gave, and the ciphertext and sender of the messages they
-- sent, all unreadable since the key is gone) are removed afterwards in
-- batches by a background purge. One row per account still being purged:
-- written in the deletion's transaction, so a purge interrupted by a crash
-- or restart continues at the next start; counted as it goes, and deleted
-- when nothing of the account is left. user_id has no foreign key: the
-- account row is already gone.
CREATE TABLE deletion_purges (
    user_id       TEXT PRIMARY KEY NOT NULL,
    requested_at  INTEGER NOT NULL,
    inbox_entries INTEGER NOT NULL DEFAULT 0,
    receipts      INTEGER NOT NULL DEFAULT 0,
    messages      INTEGER NOT NULL DEFAULT 0,
    batches       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
