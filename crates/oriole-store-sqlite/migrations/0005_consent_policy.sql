-- Purposes and consent, the versioned privacy policy, usage events and
-- per-group message retention (PRIVACY.md P2, P3, P15).

-- Every consent change, kept as the proof of consent: a grant or a
-- withdrawal of one optional purpose, under the policy version in force.
-- The current state is the newest row per (user, purpose).
CREATE TABLE consents (
    id             INTEGER PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose        TEXT NOT NULL,
    granted        INTEGER NOT NULL CHECK (granted IN (0, 1)),
    policy_version INTEGER NOT NULL,
    channel        TEXT NOT NULL CHECK (channel IN ('registration', 'api', 'cli')),
    at             INTEGER NOT NULL
);

CREATE INDEX consents_by_user ON consents (user_id, purpose, id);

-- Published policy versions; a version never changes once published.
CREATE TABLE policy_versions (
    version      INTEGER PRIMARY KEY NOT NULL CHECK (version > 0),
    material     INTEGER NOT NULL CHECK (material IN (0, 1)),
    published_at INTEGER NOT NULL
);

-- A version's text in each language it was published in.
CREATE TABLE policy_texts (
    version INTEGER NOT NULL REFERENCES policy_versions (version),
    lang    TEXT NOT NULL,
    text    TEXT NOT NULL,
    PRIMARY KEY (version, lang)
) WITHOUT ROWID;

-- Which versions each user accepted, when and where.
CREATE TABLE policy_acceptances (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version INTEGER NOT NULL REFERENCES policy_versions (version),
    channel TEXT NOT NULL CHECK (channel IN ('registration', 'api', 'cli')),
    at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, version)
) WITHOUT ROWID;

-- The newest version each user was told about: a notice is pending while
-- it is older than the current version.
CREATE TABLE policy_notices (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version INTEGER NOT NULL
) WITHOUT ROWID;

-- Usage events a client reported, stored only under product_analytics
-- consent and deleted when it is withdrawn.
CREATE TABLE analytics_events (
    id      INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    at      INTEGER NOT NULL
);

CREATE INDEX analytics_events_by_user ON analytics_events (user_id);
CREATE INDEX analytics_events_by_time ON analytics_events (at);

-- A group's own message retention, overriding the deployment default.
CREATE TABLE group_retention (
    group_id     TEXT PRIMARY KEY NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    message_days INTEGER NOT NULL CHECK (message_days >= 0)
) WITHOUT ROWID;

-- Retention scans devices by last use. Messages get no such index (it
-- would cost every send): their rows are in time order (UUIDv7 keys,
-- appended), so a batch finds the oldest ones first.
CREATE INDEX devices_by_last_seen ON devices (last_seen);
