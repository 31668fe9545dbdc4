-- The operator's platform file (trunks, numbers, directions: `vpbx platform apply`), one
-- document with secrets sealed like tenant documents. `version` counts applies; the server
-- polls it and reloads the document when it moved. Keep in step with the other database's
-- migration of the same name.
CREATE TABLE platform (
    id            INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version       BIGINT NOT NULL,
    config        TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
