-- Bindings are identified by a 64-bit id that the registrar allocates, not by
-- (tenant, AOR, contact). A new phone's row then goes to the end of the table
-- instead of a random page of a text primary key: the write-behind flush of a
-- registration storm dirties a few pages instead of one page per row.
-- Ids are (block << 40) | n; each registrar shard takes a block from
-- binding_id_blocks at start. Block 1 holds the rows that existed before.
CREATE TABLE binding_id_blocks (
    block       INTEGER PRIMARY KEY AUTOINCREMENT,
    taken_at_ms INTEGER NOT NULL
);
INSERT INTO binding_id_blocks (block, taken_at_ms) VALUES (1, 0);

CREATE TABLE bindings_by_id (
    id             INTEGER PRIMARY KEY NOT NULL,
    tenant_id      INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    aor            TEXT NOT NULL,
    binding_key    TEXT NOT NULL,
    contact_uri    TEXT NOT NULL,
    instance_id    TEXT,
    reg_id         INTEGER,
    call_id        TEXT NOT NULL,
    cseq           INTEGER NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    received       TEXT NOT NULL,
    path           TEXT,
    user_agent     TEXT,
    qualify_status TEXT,
    updated_at_ms  INTEGER NOT NULL,
    qualify_rtt_ms INTEGER
);
INSERT INTO bindings_by_id (id, tenant_id, aor, binding_key, contact_uri, instance_id, reg_id,
    call_id, cseq, expires_at_ms, received, path, user_agent, qualify_status, updated_at_ms,
    qualify_rtt_ms)
SELECT (1 << 40) + rowid, tenant_id, aor, binding_key, contact_uri, instance_id, reg_id,
    call_id, cseq, expires_at_ms, received, path, user_agent, qualify_status, updated_at_ms,
    qualify_rtt_ms
FROM bindings;
DROP TABLE bindings;
ALTER TABLE bindings_by_id RENAME TO bindings;
-- No index on tenant_id: its entries for a storm of new phones across many
-- tenants would again land on a random page each. Listing one tenant's
-- registrations (`vpbx registrations`) and the cascade of a tenant deletion
-- scan the table instead: rare operator commands (`vpbx registrations` took
-- 40 ms with 150,000 rows here).
