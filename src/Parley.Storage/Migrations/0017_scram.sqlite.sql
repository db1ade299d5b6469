-- SCRAM-SHA-256 credentials (RFC 5802, RFC 7677) beside the Argon2id hash, for the XMPP gateway's SASL SCRAM-SHA-256
-- (docs/security.md, "SCRAM-SHA-256 keys"). One text value, written by the server and parsed strictly by it:
--   $scram-sha-256$i=<iterations>$<base64 salt>$<base64 StoredKey>$<base64 ServerKey>
-- NULL until the password is next set or used (a login computes them), and NULL for a password SASLprep refuses.
-- A password change or reset writes it in the same UPDATE as the new hash, so the old keys stop working with the
-- old hash. StoredKey and ServerKey are as sensitive as the hash: they let whoever holds them pose as this server.
ALTER TABLE users ADD COLUMN scram_sha256 TEXT;
