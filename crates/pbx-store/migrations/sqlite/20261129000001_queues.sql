-- Call queues (issue 5): the queue log, one row per event of a queue call (ENTER,
-- CONNECT, ABANDON, TIMEOUT, FULL, JOINEMPTY, LEAVEEMPTY, RINGNOANSWER, TRANSFER,
-- COMPLETE) and of its agents (AGENTLOGIN, AGENTLOGOFF, PAUSE, UNPAUSE), from which the
-- statistics are computed; and the dynamic agents logged in, so a restart keeps them
-- (Asterisk's persistentmembers). Keep in step with the other database's migration of
-- the same name.
CREATE TABLE queue_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    ts_ms          BIGINT NOT NULL,
    queue          TEXT NOT NULL,
    call_id        TEXT NOT NULL,
    event          TEXT NOT NULL,
    agent          TEXT,
    caller         TEXT,
    position       INTEGER,
    entry_position INTEGER,
    wait_s         INTEGER,
    talk_s         INTEGER
);
CREATE INDEX queue_log_by_tenant ON queue_log (tenant_id, queue, ts_ms);

CREATE TABLE queue_agents (
    tenant_id     INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    queue         TEXT NOT NULL,
    agent         TEXT NOT NULL,
    paused        INTEGER NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, queue, agent)
);
