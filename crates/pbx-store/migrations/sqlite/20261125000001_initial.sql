-- vpbx store, SQLite flavour. Keep in step with ../postgres/20261125000001_initial.sql:
-- the same tables, columns and meaning; only the types differ. Times are epoch milliseconds.

-- Counters the server polls: config_generation (tenant config), bans_generation (bans).
CREATE TABLE meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
);
INSERT INTO meta (name, value) VALUES ('config_generation', 0), ('bans_generation', 0);

-- A tenant is a SIP domain. `config` is the opaque tenant document (YAML/JSON text),
-- NULL until the first put; `version` counts puts (0 = never configured).
-- `changed_gen` is the config_generation at which the row last changed.
CREATE TABLE tenants (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    domain        TEXT NOT NULL UNIQUE,
    version       INTEGER NOT NULL DEFAULT 0,
    config        TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    changed_gen   INTEGER NOT NULL
);
CREATE INDEX tenants_changed_gen ON tenants (changed_gen);

-- Deleted domains, so that a poller asking "what changed since N" learns about deletions.
-- A row is removed when the domain is created again.
CREATE TABLE tenant_tombstones (
    domain      TEXT PRIMARY KEY NOT NULL,
    deleted_gen INTEGER NOT NULL
);
CREATE INDEX tenant_tombstones_deleted_gen ON tenant_tombstones (deleted_gen);

-- Registrar bindings (RFC 3261 §10). binding_key is the contact URI, or
-- "<instance>;reg-id=<n>" under RFC 5626 outbound.
CREATE TABLE bindings (
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
    PRIMARY KEY (tenant_id, aor, binding_key)
);
CREATE INDEX bindings_expires_at ON bindings (expires_at_ms);

-- Banned source addresses (global, not per tenant).
CREATE TABLE bans (
    ip            TEXT PRIMARY KEY NOT NULL,
    until_ms      INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- Who changed which tenant when. Keyed by domain text so it outlives the tenant.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    domain  TEXT NOT NULL,
    at_ms   INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX audit_log_domain ON audit_log (domain, id);
