-- Bindings are identified by a 64-bit id that the registrar allocates, not by
-- (tenant, AOR, contact); see the SQLite migration of the same name for why.
-- Ids are (block << 40) | n; each registrar shard of each node takes a block
-- from binding_id_blocks at start. Block 1 holds the rows that existed before.
CREATE TABLE binding_id_blocks (
    block       BIGSERIAL PRIMARY KEY,
    taken_at_ms BIGINT NOT NULL
);
INSERT INTO binding_id_blocks (block, taken_at_ms) VALUES (1, 0);
SELECT setval(pg_get_serial_sequence('binding_id_blocks', 'block'), 1);

ALTER TABLE bindings ADD COLUMN id BIGINT;
UPDATE bindings SET id = (1::BIGINT << 40) + n
FROM (SELECT tenant_id AS t, aor AS a, binding_key AS k,
             row_number() OVER (ORDER BY tenant_id, aor, binding_key) AS n
      FROM bindings) AS numbered
WHERE tenant_id = numbered.t AND aor = numbered.a AND binding_key = numbered.k;
ALTER TABLE bindings ALTER COLUMN id SET NOT NULL;
ALTER TABLE bindings DROP CONSTRAINT bindings_pkey;
ALTER TABLE bindings ADD PRIMARY KEY (id);
DROP INDEX bindings_expires_at;
-- No index on tenant_id (see the SQLite migration): listing one tenant's
-- registrations and a tenant deletion scan the table.
