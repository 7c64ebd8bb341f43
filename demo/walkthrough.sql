-- ============================================================================
-- pg_warden walkthrough
-- ============================================================================
CREATE EXTENSION pg_warden;
CREATE EXTENSION pgcrypto;

-- ---------------------------------------------------------------------------
-- 1. Keyring: keys are created inside the server and never shown again.
-- ---------------------------------------------------------------------------
-- 32 random bytes from the server's CSPRNG:
SELECT warden.create_key('default');
-- A key whose material stays in the server's environment (WARDEN_DEMO_KEY was set
-- when scripts/cluster.sh started the server); only the variable's name is stored:
SELECT warden.create_key_from_env('payments', 'WARDEN_DEMO_KEY');
-- The key that signs audit ledger entries (section 5):
SELECT warden.create_key('audit');
-- What anyone may see: names, versions, a check value. Never material.
SELECT name, version, active, check_value, source FROM warden.keys ORDER BY name, version;

-- ---------------------------------------------------------------------------
-- 2. Fingerprints: HMAC-SHA256 under the active key version.
-- ---------------------------------------------------------------------------
CREATE TABLE api_clients (id int PRIMARY KEY, name text, api_key_fp text);
INSERT INTO api_clients VALUES
    (1, 'billing', warden.fingerprint('sk_live_billing_123')),
    (2, 'search',  warden.fingerprint('sk_live_search_456'));
-- Which client presented this key? Compare fingerprints, never raw secrets:
SELECT id, name FROM api_clients WHERE api_key_fp = warden.fingerprint('sk_live_search_456');

-- Rotate: new fingerprints use version 2; version-1 fingerprints still match.
SELECT warden.rotate_key('default');
SELECT name,
       api_key_fp = warden.fingerprint('sk_live_billing_123') AS same_as_new_fp,
       warden.fingerprint_matches('sk_live_billing_123', api_key_fp) AS still_matches
  FROM api_clients WHERE id = 1;

-- Secret-named fields in a JSON document, at any depth, become fingerprints:
SELECT jsonb_pretty(warden.fingerprint_secrets(
    '{"user": "ann", "password": "hunter2", "integrations": [{"name": "s3", "aws_secret": "xyz"}]}'));

-- The same bytes as pgcrypto's HMAC, computed several times faster (see make bench):
SELECT warden.fingerprint('hunter2', 'payments')
     = encode(hmac('hunter2', 'pg_warden demo env key 0001', 'sha256'), 'hex') AS equals_pgcrypto;

-- ---------------------------------------------------------------------------
-- 3. Deterministic anonymization: same input, seed and key, same pseudonym.
-- ---------------------------------------------------------------------------
SELECT v, warden.anonymize(v, 'email') AS email, warden.anonymize(v, 'hash') AS hash
  FROM (VALUES ('alice@example.org'), ('ALICE@example.org'), ('bob@example.org')) AS t(v);
SELECT warden.anonymize('+1 (555) 010-9999', 'phone') AS phone,
       warden.anonymize('4111111111111111', 'partial') AS card,
       warden.anonymize('alice@example.org', 'email', '{"domain": "keep"}'::jsonb) AS same_domain,
       warden.pseudonymize(42::bigint) AS customer_id;
-- A schema to mask: orders reference users by email, a NOT DEFERRABLE foreign key.
CREATE TABLE users (id bigint PRIMARY KEY, email text UNIQUE NOT NULL, phone text);
CREATE TABLE orders (id int PRIMARY KEY, user_email text NOT NULL REFERENCES users (email), total numeric);
INSERT INTO users VALUES (1, 'alice@example.org', '+1 (555) 010-9999'), (2, 'bob@example.org', '+44 20 7946 0958');
INSERT INTO orders VALUES (10, 'alice@example.org', 12.50), (11, 'bob@example.org', 99.00), (12, 'alice@example.org', 3.20);
-- Profiles are validated with every problem at once:
SELECT * FROM warden.validate_profile('{"name": "demo", "version": 1, "strategies": {"mail": {"type": "email"}},
    "tables": {"public.users": [{"column": "emial", "strategy": "mail"}, {"column": "phone", "strategy": "sms"}],
               "public.nope": []}}');
-- A valid one masks both tables in one transaction; joins still match.
SELECT * FROM warden.apply_profile('{"name": "demo", "version": 1, "strategies": {"mail": {"type": "email"}},
    "tables": {"public.users": [{"column": "email", "strategy": "mail"}, {"column": "phone", "strategy": "phone"}],
               "public.orders": [{"column": "user_email", "strategy": "mail"}]}}');
SELECT o.id, o.user_email, u.phone, o.total FROM orders o JOIN users u ON u.email = o.user_email ORDER BY o.id;
-- Profiles written for the system pg_warden replaces are accepted too: a string version,
-- `config`, tables as {"rules": [...]}, a seed from a WARDEN_* variable of the server
-- (the demo cluster sets WARDEN_TEST_SEED). warden-profile checks such a file offline.
SELECT * FROM warden.validate_profile('{"name": "legacy", "version": "1.0",
    "strategies": {"mail": {"type": "email", "config": {"seed_env_var": "WARDEN_TEST_SEED"}}},
    "tables": {"public.users": {"rules": [{"column": "email", "strategy": "mail"}]},
               "public.orders": {"rules": [{"column": "user_email", "strategy": "mail"}]}}}');

-- ---------------------------------------------------------------------------
-- 4. Least privilege: an application role can use keys, not read them.
-- ---------------------------------------------------------------------------
DROP ROLE IF EXISTS demo_app;
CREATE ROLE demo_app LOGIN;
GRANT warden_user TO demo_app;
SET ROLE demo_app;
SELECT length(warden.fingerprint('x')) AS app_can_fingerprint;
\set ON_ERROR_STOP 0
SELECT secret FROM warden.key_store;          -- permission denied
SELECT warden.rotate_key('default');          -- permission denied (42501)
\set ON_ERROR_STOP 1
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 5. Audit ledger: append-only, hash-chained, signed by triggers.
-- ---------------------------------------------------------------------------
SELECT warden.log_event('login', 'LOGIN', 'user', '42',
                        '{"ip": "192.0.2.1", "password": "hunter2"}',
                        correlation_id => 'req-7', confidence => 0.95);
-- Capture a table's changes; secret-named columns are stored only as fingerprints.
SELECT warden.audit_table('api_clients');
UPDATE api_clients SET name = 'billing-eu' WHERE id = 1;
SELECT id, event_type, action, actor, details, before_state, after_state, chain_pos
  FROM warden.audit_log ORDER BY id;
SELECT valid, total_entries, invalid_entries FROM warden.verify_audit();
-- Nobody may rewrite it, not even a superuser through SQL:
\set ON_ERROR_STOP 0
UPDATE warden.audit_log SET action = 'nothing happened';
ALTER TABLE warden.audit_log DISABLE TRIGGER audit_append_only;
\set ON_ERROR_STOP 1
-- A signed digest to keep outside the database:
SELECT warden.audit_digest() AS digest \gset
SELECT :'digest'::jsonb -> 'chains' AS chain_heads;
-- A superuser attacker who disables every guard and edits a row is still caught:
ALTER EVENT TRIGGER warden_audit_ddl_guard DISABLE;
ALTER TABLE warden.audit_log DISABLE TRIGGER audit_append_only;
UPDATE warden.audit_log SET actor = 'someone_else' WHERE event_type = 'login';
ALTER TABLE warden.audit_log ENABLE ALWAYS TRIGGER audit_append_only;
ALTER EVENT TRIGGER warden_audit_ddl_guard ENABLE ALWAYS;
SELECT valid, invalid_entries, jsonb_pretty(issues) FROM warden.verify_audit(:'digest', full => true);
-- An incremental check reads only what follows the digest's heads (fast, for often);
-- the full one above is what finds an edit behind them. Both are recorded.
SELECT valid, total_entries FROM warden.verify_audit(:'digest');
-- A full verification of a large ledger reads with parallel workers (here forced for a
-- small one) and reports exactly what one process would: the edit above, again.
SET warden.parallel_verify_min_entries = 0;
SELECT valid, total_entries FROM warden.verify_audit(:'digest', full => true);
RESET warden.parallel_verify_min_entries;
SELECT mode, valid, entries_checked, workers FROM warden.audit_verification ORDER BY id;
-- The ledger is also an RFC 9162 Merkle tree, built behind the writers: one entry can
-- be proven (warden-verify --proof checks it offline) with log2(n) hashes.
SELECT warden.advance_audit_tree() AS tree_size;
SELECT p ->> 'leaf_index' AS leaf, jsonb_array_length(p -> 'proof') AS proof_hashes,
       p -> 'tree_head' ->> 'root' AS signed_root
  FROM (SELECT warden.audit_proof((SELECT max(id) FROM warden.audit_log))) AS q(p);
SELECT tree_size, tree_lag, last_full_valid FROM warden.audit_status();

-- ---------------------------------------------------------------------------
-- 6. Guards: capture stays on, the ledger stays whole, the extension stays installed.
-- ---------------------------------------------------------------------------
\set ON_ERROR_STOP 0
-- A table's owner (here the superuser) cannot switch capture off behind the ledger's
-- back; warden.unaudit_table can, and the ledger records it.
ALTER TABLE api_clients DISABLE TRIGGER warden_audit_row;
DROP TRIGGER warden_audit_row ON api_clients;
-- Nor hang the ledger under a table it controls, or replace pg_warden's own guards.
CREATE TABLE ledger_parent (LIKE warden.audit_log) PARTITION BY RANGE (id);
ALTER TABLE ledger_parent ATTACH PARTITION warden.audit_log FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
CREATE OR REPLACE FUNCTION warden.audit_guard() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
-- A migration's downgrade cannot drop the ledger and the keys with the extension.
DROP EXTENSION pg_warden CASCADE;
\set ON_ERROR_STOP 1
DROP TABLE ledger_parent;
SELECT evtname, evtenabled FROM pg_event_trigger WHERE evtname LIKE 'warden%' ORDER BY 1;

-- ---------------------------------------------------------------------------
-- 7. Vault: credentials encrypted under a master key from the server's environment.
-- ---------------------------------------------------------------------------
-- scripts/cluster.sh started the server with WARDEN_MASTER_KEY (a public demo key).
-- The keys of section 1 were sealed under it when they were made:
SELECT name, version, source FROM warden.keys ORDER BY name, version;
SELECT warden.vault_status();
-- A secret: a reference comes back, the value is stored only as a ciphertext.
SELECT warden.create_secret('stripe_live', 'sk_live_demo_123', tenant => 'acme',
                            expires_at => now() + interval '90 days',
                            metadata => '{"owner": "billing"}') AS ref \gset
SELECT secret_ref, tenant, name, active_version, expires_at, readers FROM warden.secrets;
SELECT length(ciphertext) AS ciphertext_bytes, position('sk_live' IN encode(ciphertext, 'escape')) AS plaintext_at
  FROM warden.secret_version;
-- Nobody reads it without a grant, and the refusal is recorded (by a worker, after
-- the failed statement rolled back):
SET ROLE demo_app;
\set ON_ERROR_STOP 0
SELECT warden.get_secret(:'ref'::uuid);
\set ON_ERROR_STOP 1
RESET ROLE;
SELECT warden.grant_secret(:'ref', 'demo_app');
SET ROLE demo_app;
SELECT warden.get_secret(:'ref'::uuid) AS value;
SELECT warden.get_secret('stripe_live', 'acme') AS by_name;
RESET ROLE;
-- Rotation: a new active version; the old one stays readable by number until retired.
SELECT warden.rotate_secret(:'ref', 'sk_live_demo_456');
SET ROLE demo_app;
SELECT warden.get_secret(:'ref'::uuid) AS active, warden.get_secret(:'ref'::uuid, 1) AS version_1;
RESET ROLE;
-- A ciphertext moved onto another row never decrypts (associated data binds it):
SELECT warden.create_secret('other', 'another value') AS other_ref \gset
SELECT warden.grant_secret(:'other_ref', 'demo_app');
UPDATE warden.secret_version SET ciphertext = (SELECT ciphertext FROM warden.secret_version
                                                 WHERE secret_ref = :'ref' AND version = 2)
 WHERE secret_ref = :'other_ref';
SET ROLE demo_app;
\set ON_ERROR_STOP 0
SELECT warden.get_secret(:'other_ref'::uuid);
\set ON_ERROR_STOP 1
RESET ROLE;
SELECT pg_sleep(1);   -- the recorder worker writes the refused reads
SELECT id, event_type, action, actor, resource_id, details FROM warden.audit_log
 WHERE event_type IN ('secret_read', 'secret_change') ORDER BY id;
-- Changing the master key: restart with the new one in WARDEN_MASTER_KEY and the old
-- one in WARDEN_MASTER_KEY_PREVIOUS, then rewrap every data key (values stay sealed).
-- With the same key it changes nothing:
SELECT warden.rewrap_vault();
-- Key rotation policy:
SELECT warden.set_key_policy('default', interval '90 days');
SELECT name, version, rotate_every, rotation_due FROM warden.keys WHERE active ORDER BY name;

-- ---------------------------------------------------------------------------
-- 8. Compliance trail: schema, privilege and audit-control changes in the ledger.
-- ---------------------------------------------------------------------------
SELECT warden.audit_ddl();
CREATE TABLE payments (id int PRIMARY KEY, card_last4 text);
GRANT SELECT ON payments TO demo_app;
CREATE ROLE auditor_demo LOGIN PASSWORD 'not-in-the-ledger';
ALTER ROLE auditor_demo SET app.api_token = 'nor-this';
SET session_replication_role = replica;
RESET session_replication_role;
-- Each is an entry, in its own transaction, with the statement's secrets fingerprinted:
SELECT event_type, action, resource_id, details->>'statement' AS statement
  FROM warden.audit_log WHERE event_type IN ('ddl', 'role', 'audit_control') ORDER BY id;
DROP ROLE auditor_demo;
-- What this database records of PCI DSS 10.2.1, and what it does not:
SELECT requirement, event_class, status, gap FROM warden.audit_coverage();
-- The new entries verify; the one invalid entry is still section 5's edit.
SELECT valid, total_entries, invalid_entries FROM warden.verify_audit();

-- ---------------------------------------------------------------------------
-- 9. Erasure that keeps the proofs: a customer's right to be forgotten.
-- ---------------------------------------------------------------------------
CREATE TABLE customers (id int PRIMARY KEY, email text, city text);
SELECT warden.audit_table('customers');
INSERT INTO customers VALUES (7, 'zoe@example.com', 'Lyon');
UPDATE customers SET city = 'Nice' WHERE id = 7;
-- Every entry commits to each personal field under a salt of its own (encoding v2):
SELECT id, action, after_state, length(field_seals) AS seal_bytes
  FROM warden.audit_log WHERE resource_type = 'public.customers' ORDER BY id;
-- The request: erase customer 7 from the ledger, with the reason on record.
SELECT warden.erase_subject('{"resource_type": "public.customers", "resource_id": "7"}',
                            'GDPR art. 17 request #2026-118');
SELECT id, action, after_state, before_state, resource_id
  FROM warden.audit_log WHERE resource_type = 'public.customers' ORDER BY id;
-- The erasure is itself an entry: which fields of which entries, who, why; never the content.
SELECT actor, reason, details FROM warden.audit_log WHERE event_type = 'audit_redaction';
-- Still verifies: the erased entries are valid and redacted (NOTICE); the one invalid
-- entry is still section 5's edit. Their Merkle proofs still hold too.
SELECT valid, invalid_entries FROM warden.verify_audit();
-- Afterwards, old row versions and index entries go with a VACUUM:
VACUUM (INDEX_CLEANUP ON) warden.audit_log;
-- Retention per tenant: removed behind signed checkpoints where due at a chain's start,
-- redacted where another tenant's kept entry comes first; the run is an entry itself.
SELECT warden.set_retention(NULL, '7 years');
SELECT warden.set_retention('acme', '90 days');
SELECT tenant, keep FROM warden.audit_retention ORDER BY tenant NULLS FIRST;
SELECT warden.apply_retention() - 'policies' - 'applied_at' AS nothing_due_yet;
