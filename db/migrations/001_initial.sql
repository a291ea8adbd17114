-- Schema 1. Times are unix seconds (INTEGER). Enumerations are stored as the text the
-- operator sees in the CLI ("valid", "on-hold", "pending") so the file reads well in sqlite3;
-- revocation reasons are RFC 5280 CRLReason codes because that is what a CRL carries.

CREATE TABLE cas (
  id              INTEGER PRIMARY KEY,
  name            TEXT    NOT NULL UNIQUE,
  state           TEXT    NOT NULL CHECK (state IN ('active', 'pending')),
  certificate_pem TEXT    NOT NULL DEFAULT '',
  csr_pem         TEXT    NOT NULL DEFAULT '',
  key_uri         TEXT    NOT NULL,
  parent_id       INTEGER REFERENCES cas (id),
  chain_pem       TEXT    NOT NULL DEFAULT '',
  is_default      INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
  subject         TEXT    NOT NULL DEFAULT '',
  not_before      INTEGER NOT NULL,
  not_after       INTEGER NOT NULL,
  created_at      INTEGER NOT NULL
);
-- The code clears the old default before setting a new one; this makes a second default impossible
-- even for a hand-edited database.
CREATE UNIQUE INDEX cas_single_default ON cas (is_default) WHERE is_default = 1;

CREATE TABLE certificates (
  id                 INTEGER PRIMARY KEY,
  issuer_id          INTEGER NOT NULL REFERENCES cas (id),
  -- Hex serials compare case-insensitively, so "0a1b" can neither duplicate nor miss "0A1B".
  serial             TEXT    NOT NULL COLLATE NOCASE,
  subject            TEXT    NOT NULL,
  common_name        TEXT    NOT NULL,
  sans               TEXT    NOT NULL DEFAULT '[]',  -- JSON array of "DNS:x" / "IP:y" strings
  profile            TEXT    NOT NULL,
  key_type           TEXT    NOT NULL,
  not_before         INTEGER NOT NULL,
  not_after          INTEGER NOT NULL,
  status             TEXT    NOT NULL CHECK (status IN ('valid', 'revoked', 'on-hold')),
  revoked_at         INTEGER,
  revocation_reason  INTEGER,
  invalidity_date    INTEGER,
  der                BLOB    NOT NULL,
  fingerprint_sha256 TEXT    NOT NULL,
  requester          TEXT    NOT NULL,
  renewal_of         TEXT,
  issued_at          INTEGER NOT NULL,
  UNIQUE (issuer_id, serial)
);
CREATE INDEX certificates_status_not_after ON certificates (status, not_after);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_common_name ON certificates (common_name);
CREATE INDEX certificates_subject ON certificates (subject);
-- The CLI looks a serial up without naming its issuer; (issuer_id, serial) cannot serve that.
CREATE INDEX certificates_serial ON certificates (serial);

-- Hash chain: hash = SHA-256 over the length-prefixed fields and previous_hash (see audit_chain.cpp).
CREATE TABLE audit_log (
  sequence      INTEGER PRIMARY KEY,
  at            INTEGER NOT NULL,
  actor         TEXT    NOT NULL,
  action        TEXT    NOT NULL,
  object        TEXT    NOT NULL,
  detail        TEXT    NOT NULL,
  previous_hash TEXT    NOT NULL,
  hash          TEXT    NOT NULL
);
-- Stops accidental edits by the application; deliberate tampering is what the hash chain detects.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
