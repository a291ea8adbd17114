-- CA rollover (a CA re-keyed under its name; docs/architecture.md "CA rollover").
--
-- publication_name is the name in the URLs a CA's certificates carry (CRL distribution point
-- {base}/crl/<publication_name>.crl, caIssuers {base}/ca/<publication_name>.crt). It is set when the CA
-- is made and never changes, so a URL baked into a certificate keeps naming the generation that
-- issued it. `name` is what operators, EST labels and the API call the CA: at a rollover the old
-- record gives it up (it becomes <name>-gen<generation>) and the new generation takes it with a
-- publication name of its own (<name>-gen<generation>).
ALTER TABLE cas ADD COLUMN publication_name TEXT NOT NULL DEFAULT '';
UPDATE cas SET publication_name = name;
CREATE UNIQUE INDEX cas_publication_name ON cas (publication_name);

-- 1 for a CA as made; each rollover under the same name counts up.
ALTER TABLE cas ADD COLUMN generation INTEGER NOT NULL DEFAULT 1 CHECK (generation >= 1);
-- The generation that took this CA's name. A CA with a successor issues nothing more, but keeps
-- answering OCSP and publishing its CRL for the certificates it issued.
ALTER TABLE cas ADD COLUMN successor_id INTEGER REFERENCES cas (id);
CREATE UNIQUE INDEX cas_single_successor ON cas (successor_id) WHERE successor_id IS NOT NULL;
-- On a root's new generation: the RFC 4210 §4.4 link certificates, OldWithNew then NewWithOld (PEM).
ALTER TABLE cas ADD COLUMN rollover_pem TEXT NOT NULL DEFAULT '';
