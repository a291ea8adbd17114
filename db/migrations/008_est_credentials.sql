-- Per-device enrolment credentials of EST labels that take HTTP Basic (devices outside NMOS). Only a
-- salted PBKDF2-HMAC-SHA256 of each secret is kept ("pbkdf2-sha256$<iterations>$<salt>$<hash>",
-- base64). A credential is one-time (spent by the first request it authenticates) or expiring.
CREATE TABLE est_credentials (
  id           INTEGER PRIMARY KEY,
  label        TEXT    NOT NULL,
  username     TEXT    NOT NULL,
  secret_hash  TEXT    NOT NULL,
  one_time     INTEGER NOT NULL,
  created_by   TEXT    NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER,
  spent_at     INTEGER,
  revoked_at   INTEGER,
  last_used_at INTEGER
);
-- One usable credential per device name and label: a request names the one it means.
CREATE UNIQUE INDEX est_credentials_live ON est_credentials (label, username) WHERE revoked_at IS NULL AND spent_at IS NULL;
