-- Revocation faults to order on a lab instance (docs/lab.md): while now < expires_at_ms, `serve`
-- answers OCSP requests (of the issuer and/or serial, when given) or CRL requests (of the issuer)
-- wrongly on purpose. Expired rows no longer apply; `lab fault clear` deletes rows.
CREATE TABLE lab_faults (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: list, clear and the log agree on ids
  kind          TEXT    NOT NULL CHECK (kind IN ('ocsp', 'crl')),
  mode          TEXT    NOT NULL,
  issuer_id     INTEGER REFERENCES cas (id),
  serial        TEXT,
  delay_ms      INTEGER NOT NULL DEFAULT 0,
  created_by    TEXT    NOT NULL,
  created_at    INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL  -- unix milliseconds: a fault of 2 s lasts 2 s, not 1 to 2
);
