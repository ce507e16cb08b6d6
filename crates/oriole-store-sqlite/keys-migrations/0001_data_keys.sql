-- The key store (DATA/keys/keys.db): one data key per owner, wrapped by the
-- KEK identified by kek_id. Nothing else lives here: deleting a row is the
-- crypto-shredding of everything sealed under that key.

CREATE TABLE data_keys (
    owner      TEXT PRIMARY KEY NOT NULL,
    wrapped    BLOB NOT NULL,
    kek_id     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Rotation finds the keys not yet wrapped by the new KEK.
CREATE INDEX data_keys_by_kek ON data_keys (kek_id);
