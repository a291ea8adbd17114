-- Bearer tokens of the REST admin API: only the SHA-256 of each token is kept (tokens are 256 random
-- bits, so a fast hash is enough), with its roles and scope as JSON arrays (NULL: no restriction).
CREATE TABLE api_tokens (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL,
  secret_sha256 TEXT    NOT NULL UNIQUE,
  roles         TEXT    NOT NULL,
  cas           TEXT,
  profiles      TEXT,
  created_by    TEXT    NOT NULL,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER,
  revoked_at    INTEGER,
  last_used_at  INTEGER
);
-- One live token per name: the audit log names tokens, so a name must say which one.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- Answers to requests sent with an Idempotency-Key, per principal: a retry gets the first answer.
CREATE TABLE api_idempotency (
  actor          TEXT    NOT NULL,
  key            TEXT    NOT NULL,
  request_sha256 TEXT    NOT NULL,
  completed      INTEGER NOT NULL DEFAULT 0,
  status         INTEGER NOT NULL DEFAULT 0,
  body           TEXT    NOT NULL DEFAULT '',
  location       TEXT    NOT NULL DEFAULT '',
  created_at     INTEGER NOT NULL,
  PRIMARY KEY (actor, key)
);
-- Keys older than a day are deleted at each claim.
CREATE INDEX api_idempotency_created ON api_idempotency (created_at);
