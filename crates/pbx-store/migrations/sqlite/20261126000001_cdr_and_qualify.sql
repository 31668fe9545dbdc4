-- Call records and the round-trip time of OPTIONS qualify. Keep in step with
-- ../postgres/20261126000001_cdr_and_qualify.sql.

-- qualify_status (already present) holds unknown | reachable | unreachable;
-- qualify_rtt_ms the round-trip time of the last reachable answer when it was written.
ALTER TABLE bindings ADD COLUMN qualify_rtt_ms INTEGER;

-- One row per call, written when the call ends. Times are epoch milliseconds.
-- leg_call_ids and transfers are JSON arrays (text). disposition holds the Asterisk
-- words: ANSWERED, NO ANSWER, BUSY, FAILED, CANCELLED.
CREATE TABLE cdr (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    call_id       TEXT NOT NULL,
    leg_call_ids  TEXT NOT NULL,
    caller        TEXT NOT NULL,
    caller_name   TEXT,
    dialed        TEXT NOT NULL,
    destination   TEXT,
    start_ms      INTEGER NOT NULL,
    answer_ms     INTEGER,
    end_ms        INTEGER NOT NULL,
    duration_s    INTEGER NOT NULL,
    billsec_s     INTEGER NOT NULL,
    disposition   TEXT NOT NULL,
    hangup_by     TEXT NOT NULL,
    sip_cause     INTEGER,
    hangup_reason TEXT NOT NULL,
    transfers     TEXT NOT NULL,
    node          TEXT NOT NULL
);
CREATE INDEX cdr_tenant_id ON cdr (tenant_id, id);
