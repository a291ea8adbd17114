-- Schema 2: published CRLs, delegated OCSP responder certificates, and the index CRL generation reads.

-- Only the newest few CRLs of each issuer are kept (Database prunes the rest in the transaction
-- that stores a new one): a CRL of a large CA runs to megabytes. An ordinary rowid table on
-- purpose: WITHOUT ROWID would put those blobs inside the primary-key B-tree.
CREATE TABLE crls (
  issuer_id   INTEGER NOT NULL REFERENCES cas (id),
  number      INTEGER NOT NULL CHECK (number >= 0),  -- cRLNumber, strictly increasing per issuer
  this_update INTEGER NOT NULL,
  next_update INTEGER NOT NULL,
  entries     INTEGER NOT NULL CHECK (entries >= 0),
  der         BLOB    NOT NULL,
  created_at  INTEGER NOT NULL,
  -- Also the index behind "highest number of this issuer" (latest_crl, the numbering check, pruning).
  PRIMARY KEY (issuer_id, number)
);

-- The newest row of an issuer (highest id) is its current responder; older rows are history.
CREATE TABLE ocsp_signers (
  id              INTEGER PRIMARY KEY,
  issuer_id       INTEGER NOT NULL REFERENCES cas (id),
  serial          TEXT    NOT NULL COLLATE NOCASE,
  key_uri         TEXT    NOT NULL,
  certificate_pem TEXT    NOT NULL,
  not_after       INTEGER NOT NULL,
  created_at      INTEGER NOT NULL
);
-- Rowid is the implicit last column, so "WHERE issuer_id = ? ORDER BY id DESC LIMIT 1" is one seek.
CREATE INDEX ocsp_signers_issuer ON ocsp_signers (issuer_id);

-- CRL entries: revoked and held certificates of one issuer, read without touching the table (the
-- index covers every column the query needs) and without the valid majority (partial index).
-- Ordered by serial after issuer_id so the CRL comes out sorted with no separate sort step.
-- The query must say "status <> 'valid'" word for word for SQLite to use a partial index.
CREATE INDEX certificates_revoked
  ON certificates (issuer_id, serial, status, not_after, revoked_at, revocation_reason, invalidity_date)
  WHERE status <> 'valid';
