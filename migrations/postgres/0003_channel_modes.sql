-- Channel modes set at run time by an admin command (e.g. Discord's `active`, `mention`,
-- `off`), one row per channel of a platform, shared by every instance on this database. A
-- row overrides the channel's mode in clara.toml; deleting it goes back to that. The mode is
-- kept as text: the adapter that owns it validates it, so a new mode needs no migration.

CREATE TABLE channel_modes (
    platform   TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    guild_id   TEXT,
    mode       TEXT NOT NULL,
    set_by     TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (platform, channel_id)
);
