-- Delta CRLs (RFC 5280 5.2.4): what changed since a base CRL is read from the changes themselves,
-- never by scanning or diffing the whole revoked set.
--
-- Each certificate row records the issuer revision of its latest status change (set by the revision
-- triggers, in the same transaction as the change). A delta against a base built at revision R lists
-- the rows whose revocation_revision is above R: revoked, held, held then revoked, and released from
-- hold (then listed as removeFromCRL). NULL: never changed since it was issued valid.
ALTER TABLE certificates ADD COLUMN revocation_revision INTEGER;

-- Rows already revoked or held count as changed at the current revision: a stale base CRL (behind its
-- issuer's revision at upgrade) gets them in its delta; a fresh one does not.
UPDATE certificates SET revocation_revision =
  (SELECT revision FROM revocation_revisions WHERE issuer_id = certificates.issuer_id)
  WHERE status <> 'valid';

-- Covers the delta query (issuer, revision range, then the entry's columns) without touching the
-- table, and holds only the rows that ever changed.
CREATE INDEX certificates_revocation_changes
  ON certificates (issuer_id, revocation_revision, serial, status, not_after, revoked_at, revocation_reason,
                   invalidity_date)
  WHERE revocation_revision IS NOT NULL;

-- A delta CRL names its base's number here; NULL for a full CRL. Full and delta CRLs share one cRLNumber
-- sequence per issuer (RFC 5280 5.2.4), so both live in the same table and primary key.
ALTER TABLE crls ADD COLUMN base_number INTEGER;

-- The last cRLNumber handed out per issuer. A full CRL takes its number when its entries are read (its
-- build then takes seconds at scale); delta CRLs made meanwhile take the numbers after it, so neither
-- has to be built again for a number the other took.
CREATE TABLE crl_numbers (
  issuer_id   INTEGER PRIMARY KEY REFERENCES cas (id),
  last_number INTEGER NOT NULL CHECK (last_number >= 0)
);
INSERT INTO crl_numbers (issuer_id, last_number) SELECT issuer_id, max(number) FROM crls GROUP BY issuer_id;

-- The revision triggers of migration 004, now also stamping the changed row. The stamp is an UPDATE of
-- revocation_revision only, which none of these triggers watch, so it fires nothing further.
DROP TRIGGER certificates_revision_update;
DROP TRIGGER certificates_revision_insert;

CREATE TRIGGER certificates_revision_update
AFTER UPDATE OF status, revoked_at, revocation_reason, invalidity_date, not_after ON certificates
BEGIN
  INSERT OR IGNORE INTO revocation_revisions (issuer_id, revision) VALUES (NEW.issuer_id, 0);
  UPDATE revocation_revisions SET revision = revision + 1 WHERE issuer_id = NEW.issuer_id;
  UPDATE certificates SET revocation_revision =
    (SELECT revision FROM revocation_revisions WHERE issuer_id = NEW.issuer_id) WHERE id = NEW.id;
END;

CREATE TRIGGER certificates_revision_insert AFTER INSERT ON certificates WHEN NEW.status <> 'valid'
BEGIN
  INSERT OR IGNORE INTO revocation_revisions (issuer_id, revision) VALUES (NEW.issuer_id, 0);
  UPDATE revocation_revisions SET revision = revision + 1 WHERE issuer_id = NEW.issuer_id;
  UPDATE certificates SET revocation_revision =
    (SELECT revision FROM revocation_revisions WHERE issuer_id = NEW.issuer_id) WHERE id = NEW.id;
END;
