-- Schema 6: a certificate the lab kit made (`facility-ca lab mint`: back-dated, SHA-1, RSA-1024, no
-- AIA, ...) says so in its row, so no one takes a deliberately bad certificate for a production one.
ALTER TABLE certificates ADD COLUMN lab_made INTEGER NOT NULL DEFAULT 0 CHECK (lab_made IN (0, 1));
