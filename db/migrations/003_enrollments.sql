-- Enrolment requests waiting for an operator (EST manual approval, the API): the CSR as submitted,
-- who submitted it and under what label, and the decision. The certificate an approval issues is an
-- ordinary row in certificates; certificate_serial names it.
CREATE TABLE enrollments (
  id                 INTEGER PRIMARY KEY,
  label              TEXT    NOT NULL,
  requester          TEXT    NOT NULL,
  issuer_id          INTEGER NOT NULL REFERENCES cas (id),
  profile            TEXT    NOT NULL,
  common_name        TEXT    NOT NULL,
  csr_pem            TEXT    NOT NULL,
  state              TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
  created_at         INTEGER NOT NULL,
  decided_by         TEXT,
  decided_at         INTEGER,
  reason             TEXT,
  certificate_serial TEXT    COLLATE NOCASE
);
-- The operator's queue: pending requests in submission order.
CREATE INDEX enrollments_state ON enrollments (state, id);
