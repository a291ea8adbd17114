-- Schema 3: whether a CRL is stale is read from the database, not kept in a process's memory.
--
-- Every change that can alter an issuer's CRL (a status change, a revocation time, reason or
-- invalidity date, a certificate inserted or deleted as revoked/held) bumps that issuer's revision,
-- by trigger, in the same transaction as the change. Each stored CRL records the revision its
-- entries were read at (in the same snapshot). A CRL whose revision is below the issuer's is stale:
-- a process that committed a revocation and died before writing the CRL is repaired by the next
-- refresh of any process, at `serve` start or on its timer.
CREATE TABLE revocation_revisions (
  issuer_id INTEGER PRIMARY KEY REFERENCES cas (id),
  revision  INTEGER NOT NULL CHECK (revision >= 0)
);

ALTER TABLE crls ADD COLUMN revocation_revision INTEGER NOT NULL DEFAULT 0;

-- Every existing CA starts at revision 1 and every existing CRL at 0: one regeneration after the
-- upgrade repairs a CRL a crash left behind before this schema existed.
INSERT INTO revocation_revisions (issuer_id, revision) SELECT id, 1 FROM cas;

CREATE TRIGGER certificates_revision_update
AFTER UPDATE OF status, revoked_at, revocation_reason, invalidity_date, not_after ON certificates
BEGIN
  INSERT OR IGNORE INTO revocation_revisions (issuer_id, revision) VALUES (NEW.issuer_id, 0);
  UPDATE revocation_revisions SET revision = revision + 1 WHERE issuer_id = NEW.issuer_id;
END;

CREATE TRIGGER certificates_revision_insert AFTER INSERT ON certificates WHEN NEW.status <> 'valid'
BEGIN
  INSERT OR IGNORE INTO revocation_revisions (issuer_id, revision) VALUES (NEW.issuer_id, 0);
  UPDATE revocation_revisions SET revision = revision + 1 WHERE issuer_id = NEW.issuer_id;
END;

CREATE TRIGGER certificates_revision_delete AFTER DELETE ON certificates WHEN OLD.status <> 'valid'
BEGIN
  INSERT OR IGNORE INTO revocation_revisions (issuer_id, revision) VALUES (OLD.issuer_id, 0);
  UPDATE revocation_revisions SET revision = revision + 1 WHERE issuer_id = OLD.issuer_id;
END;
