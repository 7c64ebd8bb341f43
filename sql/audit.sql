-- Audit ledger: the append-only table, its chain and guard triggers, logging,
-- verification and export functions, privileges and comments. The guards around it and
-- audit_table/unaudit_table are in audit_guard.sql.

-- The ledger's trigger functions and row capture (C: src/audit/chain.rs, capture.rs).
CREATE FUNCTION warden.audit_chain_entry() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_chain_entry_wrapper';
CREATE FUNCTION warden.audit_guard() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_guard_wrapper';
CREATE FUNCTION warden.audit_capture() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_capture_wrapper';

CREATE TABLE warden.audit_log (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts                timestamptz NOT NULL,
    event_type        text        NOT NULL,
    action            text        NOT NULL,
    -- NULL only once redacted (warden.redact_audit); the chain trigger sets the session
    -- user when none is given.
    actor             text,
    resource_type     text,
    resource_id       text,
    correlation_id    text,
    tenant            text,
    reason            text,
    -- 0 to 1; checked by the chain trigger (a CHECK constraint would be prepared again
    -- for every one-row INSERT).
    confidence        numeric(5,4),
    details           jsonb,
    before_state      jsonb,
    after_state       jsonb,
    -- Session facts, captured by the chain trigger whatever the client sends.
    session_user_name text,
    application_name  text,
    client_addr       inet,
    txid              bigint      NOT NULL,
    -- Chain material, computed by the chain trigger; client values are overwritten.
    chain_id          integer     NOT NULL,
    chain_pos         bigint      NOT NULL,
    prev_hash         bytea       NOT NULL,
    entry_hash        bytea       NOT NULL,
    key_name          text        NOT NULL,
    key_version       integer     NOT NULL,
    signature         bytea       NOT NULL,
    -- Encoding version 2: one salted commitment per redactable field (NULL: version 1).
    field_seals       bytea,
    UNIQUE (chain_id, chain_pos)
);
-- Lookups auditors make. Time ranges get a B-tree on ts: a BRIN index reads every page
-- written since its last summary, and the newest entries are the ones asked for most.
-- Actor and event type go to BRIN bloom filters at next to no cost per insert: a B-tree
-- on a column every writer repeats ('app', 'login') is a page all writers contend for.
-- autosummarize has autovacuum summarize each block range once the next one starts.
-- Correlation ids are selective, so they get a B-tree. A site that looks up actors far
-- more than it writes can add its own B-tree: the DDL guard allows CREATE INDEX on the
-- ledger.
CREATE INDEX audit_log_ts ON warden.audit_log (ts);
CREATE INDEX audit_log_brin ON warden.audit_log
    USING brin (ts, actor text_bloom_ops, event_type text_bloom_ops) WITH (autosummarize = on);
CREATE INDEX audit_log_correlation ON warden.audit_log (correlation_id) WHERE correlation_id IS NOT NULL;
-- Redaction records, so a verification that reads part of the ledger (incremental, or
-- before a purge) finds the records vouching for what it reads at the cost of their
-- number.
CREATE INDEX audit_log_redaction ON warden.audit_log (id) WHERE event_type = 'audit_redaction';
REVOKE ALL ON warden.audit_log FROM PUBLIC;
GRANT SELECT ON warden.audit_log TO warden_admin;
-- Key officers may read the ledger, so their pg_dump may carry its sequence too.
GRANT SELECT ON SEQUENCE warden.audit_log_id_seq TO warden_admin;

-- Retention checkpoints: the last purged entry of each chain, signed.
CREATE TABLE warden.audit_checkpoint (
    chain_id    integer     NOT NULL,
    chain_pos   bigint      NOT NULL,
    entry_hash  bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    key_name    text        NOT NULL,
    key_version integer     NOT NULL,
    signature   bytea       NOT NULL,
    PRIMARY KEY (chain_id, chain_pos)
);
REVOKE ALL ON warden.audit_checkpoint FROM PUBLIC;
GRANT SELECT ON warden.audit_checkpoint TO warden_admin;

-- Retention policies, one per tenant and one (tenant NULL) for entries without a tenant:
-- warden.set_retention writes them, warden.apply_retention applies them and records in
-- applied_through how far it got. Dumped with the ledger.
CREATE TABLE warden.audit_retention (
    tenant          text,
    keep            interval    NOT NULL,
    set_at          timestamptz NOT NULL,
    set_by          text        NOT NULL,
    applied_through timestamptz
);
CREATE UNIQUE INDEX audit_retention_tenant ON warden.audit_retention (tenant) WHERE tenant IS NOT NULL;
CREATE UNIQUE INDEX audit_retention_default ON warden.audit_retention ((true)) WHERE tenant IS NULL;
REVOKE ALL ON warden.audit_retention FROM PUBLIC;
GRANT SELECT ON warden.audit_retention TO warden_admin;
SELECT pg_catalog.pg_extension_config_dump('warden.audit_retention', '');

-- Imports of existing audit tables (warden.import_audit): progress, resume point and the
-- running SHA-256 chain over the rows copied, batch by batch. Dumped with the ledger.
CREATE TABLE warden.audit_import (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source         text        NOT NULL,
    source_oid     oid         NOT NULL,
    mapping        jsonb       NOT NULL,
    rows_total     bigint      NOT NULL,
    rows_imported  bigint      NOT NULL DEFAULT 0,
    last_key       text,
    rows_sha256    bytea       NOT NULL,
    first_entry_id bigint,
    last_entry_id  bigint,
    started_at     timestamptz NOT NULL,
    started_by     text        NOT NULL,
    finished_at    timestamptz
);
REVOKE ALL ON warden.audit_import FROM PUBLIC;
GRANT SELECT ON warden.audit_import TO warden_admin;
GRANT SELECT ON SEQUENCE warden.audit_import_id_seq TO warden_admin;
SELECT pg_catalog.pg_extension_config_dump('warden.audit_import', '');
SELECT pg_catalog.pg_extension_config_dump('warden.audit_import_id_seq', '');

-- Every verification and its outcome. A valid one that read everything up to the heads
-- it reached (a full one, or an incremental one that started from the previous through)
-- keeps them, signed, in through (a digest: pg_warden-digest-v1): the next incremental
-- verification starts there. A digest from audit_digest() signs heads nobody verified,
-- so a run from one records none. Written only by verify_audit as the extension's owner;
-- a through edited by hand fails its signature.
CREATE TABLE warden.audit_verification (
    id              bigint      GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    started_at      timestamptz NOT NULL,
    duration        interval    NOT NULL,
    mode            text        NOT NULL CHECK (mode IN ('full', 'incremental')),
    valid           boolean     NOT NULL,
    entries_checked bigint      NOT NULL,
    invalid_entries bigint      NOT NULL,
    verified_by     text        NOT NULL,
    through         jsonb,
    workers         integer     NOT NULL DEFAULT 0,
    redacted_entries bigint     NOT NULL DEFAULT 0
);
REVOKE ALL ON warden.audit_verification FROM PUBLIC;
GRANT SELECT ON warden.audit_verification TO warden_admin;
-- Key officers' dumps carry the records, and so the sequence's position.
GRANT SELECT ON SEQUENCE warden.audit_verification_id_seq TO warden_admin;
SELECT pg_catalog.pg_extension_config_dump('warden.audit_verification', '');
SELECT pg_catalog.pg_extension_config_dump('warden.audit_verification_id_seq', '');
-- Append-only as the ledger: a deleted or edited record would move where the next
-- verification starts, and which heads a full one requires.
CREATE TRIGGER verification_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON warden.audit_verification
    FOR EACH STATEMENT EXECUTE FUNCTION warden.audit_guard();
ALTER TABLE warden.audit_verification ENABLE ALWAYS TRIGGER verification_append_only;

-- pg_dump carries the ledger (entries as written, with their chain material) and the
-- identity sequence; restore them with warden.restore_mode = on (see docs/audit.md).
SELECT pg_catalog.pg_extension_config_dump('warden.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('warden.audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('warden.audit_checkpoint', '');

-- The chain trigger is named to fire after any other BEFORE trigger (they fire in name
-- order), and ENABLE ALWAYS fires it under session_replication_role = replica too.
CREATE TRIGGER zz_audit_chain BEFORE INSERT ON warden.audit_log
    FOR EACH ROW EXECUTE FUNCTION warden.audit_chain_entry();
ALTER TABLE warden.audit_log ENABLE ALWAYS TRIGGER zz_audit_chain;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON warden.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION warden.audit_guard();
ALTER TABLE warden.audit_log ENABLE ALWAYS TRIGGER audit_append_only;
CREATE TRIGGER checkpoint_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON warden.audit_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION warden.audit_guard();
ALTER TABLE warden.audit_checkpoint ENABLE ALWAYS TRIGGER checkpoint_append_only;

-- confidence as double precision, which drivers send for a float (psycopg, JDBC): no
-- implicit cast leads from float8 to numeric, and an overload that a call without a
-- float8 could also match through defaults would make that call ambiguous. Two forms
-- that cannot: confidence third, for calls that name their arguments
-- (`log_event(e, a, confidence => 0.9::float8, resource_type => ...)`), whose later
-- parameters have the types of the numeric form at the same positions, so positional
-- calls still resolve to it; and all ten positionally.
CREATE FUNCTION warden.log_event(
    event_type     text,
    action         text,
    confidence     double precision,
    resource_type  text  DEFAULT NULL,
    details        jsonb DEFAULT NULL,
    resource_id    text  DEFAULT NULL,
    actor          text  DEFAULT NULL,
    reason         text  DEFAULT NULL
) RETURNS bigint
    VOLATILE
    LANGUAGE sql
AS $$ SELECT warden.log_event(event_type => $1, action => $2, confidence => $3::pg_catalog.numeric,
        resource_type => $4, details => $5, resource_id => $6, actor => $7, reason => $8) $$;
CREATE FUNCTION warden.log_event(
    event_type     text,
    action         text,
    resource_type  text,
    resource_id    text,
    details        jsonb,
    actor          text,
    correlation_id text,
    reason         text,
    confidence     double precision,
    tenant         text DEFAULT NULL
) RETURNS bigint
    VOLATILE
    LANGUAGE sql
AS $$ SELECT warden.log_event(event_type => $1, action => $2, confidence => $9::pg_catalog.numeric,
        resource_type => $3, resource_id => $4, details => $5, actor => $6, correlation_id => $7,
        reason => $8, tenant => $10) $$;


CREATE FUNCTION warden.export_audit("from" timestamptz DEFAULT '-infinity', "to" timestamptz DEFAULT 'infinity')
    RETURNS jsonb
    LANGUAGE sql VOLATILE
AS $$ SELECT warden.export_audit_text("from", "to")::pg_catalog.jsonb $$;

-- Privileges.
REVOKE ALL ON FUNCTION warden.log_event(text, text, text, text, jsonb, text, text, text, numeric, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.log_event(text, text, text, text, jsonb, text, text, text, numeric, text) TO warden_user;
REVOKE ALL ON FUNCTION warden.log_event(text, text, double precision, text, jsonb, text, text, text), warden.log_event(text, text, text, text, jsonb, text, text, text, double precision, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.log_event(text, text, double precision, text, jsonb, text, text, text), warden.log_event(text, text, text, text, jsonb, text, text, text, double precision, text) TO warden_user;
-- Creating a capture trigger needs EXECUTE on its function: key officers audit tables.
REVOKE ALL ON FUNCTION warden.audit_capture() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.audit_capture() TO warden_admin;
REVOKE ALL ON FUNCTION warden.audit_chain_entry() FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.audit_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.verify_audit() FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.verify_audit(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.audit_digest() FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.export_audit(timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.export_audit_text(timestamptz, timestamptz) FROM PUBLIC;
-- export_audit is SQL calling export_audit_text with the caller's rights.
GRANT EXECUTE ON FUNCTION warden.export_audit_text(timestamptz, timestamptz) TO warden_admin;
REVOKE ALL ON FUNCTION warden.purge_audit(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.verify_audit(), warden.verify_audit(jsonb), warden.audit_digest(),
    warden.export_audit(timestamptz, timestamptz), warden.purge_audit(interval) TO warden_admin;
CREATE FUNCTION warden."erase_subject"("match" jsonb, "reason" text, "fields" text[] DEFAULT NULL) RETURNS bigint
    VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'erase_subject_wrapper';
REVOKE ALL ON FUNCTION warden.redact_audit(bigint, text[], text), warden.erase_subject(jsonb, text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.redact_audit(bigint, text[], text), warden.erase_subject(jsonb, text, text[]) TO warden_admin;

COMMENT ON TABLE warden.audit_log IS
    'Append-only, hash-chained audit ledger. Insert through warden.log_event or INSERT; UPDATE, DELETE and TRUNCATE are refused for everyone (warden.redact_audit and warden.erase_subject erase fields, warden.purge_audit removes old entries).';
COMMENT ON TABLE warden.audit_checkpoint IS
    'Signed retention checkpoints: the last purged entry of each chain, so the rest stays verifiable.';
COMMENT ON COLUMN warden.audit_log.id IS
    'Entry id, taken from the identity sequence by the chain trigger: unique and increasing, not contiguous. Chains are walked by (chain_id, chain_pos), never by id.';
COMMENT ON COLUMN warden.audit_log.ts IS
    'When the entry was written (clock time), set by the chain trigger.';
COMMENT ON COLUMN warden.audit_log.event_type IS
    'Kind of event, as the writer gives it (row_change or table_truncate for a captured table).';
COMMENT ON COLUMN warden.audit_log.action IS
    'What was done, as the writer gives it (INSERT, UPDATE, DELETE or TRUNCATE for a captured table).';
COMMENT ON COLUMN warden.audit_log.actor IS
    'Who acted, as the writer gives it; the session user when NULL. NULL only once redacted.';
COMMENT ON COLUMN warden.audit_log.resource_type IS
    'Kind of resource acted on, as the writer gives it (the schema-qualified table for a captured row).';
COMMENT ON COLUMN warden.audit_log.resource_id IS
    'The resource acted on, as the writer gives it (the primary key for a captured row).';
COMMENT ON COLUMN warden.audit_log.correlation_id IS
    'Writer-supplied id tying related entries together, such as a request or job id.';
COMMENT ON COLUMN warden.audit_log.tenant IS
    'Writer-supplied tenant the event belongs to.';
COMMENT ON COLUMN warden.audit_log.reason IS
    'Writer-supplied reason for the action.';
COMMENT ON COLUMN warden.audit_log.confidence IS
    'Writer-supplied confidence from 0 to 1, checked by the chain trigger.';
COMMENT ON COLUMN warden.audit_log.details IS
    'Writer-supplied JSON; secret-named fields are replaced by fingerprints under the audit key.';
COMMENT ON COLUMN warden.audit_log.before_state IS
    'A captured row before UPDATE or DELETE, secret-named columns fingerprinted.';
COMMENT ON COLUMN warden.audit_log.after_state IS
    'A captured row after INSERT or UPDATE, secret-named columns fingerprinted.';
COMMENT ON COLUMN warden.audit_log.session_user_name IS
    'Session user of the writing session, set by the chain trigger.';
COMMENT ON COLUMN warden.audit_log.application_name IS
    'application_name of the writing session, set by the chain trigger.';
COMMENT ON COLUMN warden.audit_log.client_addr IS
    'Client address of the writing session (NULL over a Unix socket), set by the chain trigger.';
COMMENT ON COLUMN warden.audit_log.txid IS
    'Top-level transaction id of the writing transaction, set by the chain trigger.';
COMMENT ON COLUMN warden.audit_log.chain_id IS
    'Chain the entry is on; a backend leases one chain at a time, so writers never wait for each other.';
COMMENT ON COLUMN warden.audit_log.chain_pos IS
    'Position on the chain, from 1; unique with chain_id.';
COMMENT ON COLUMN warden.audit_log.prev_hash IS
    'entry_hash of the previous position on the chain: 32 zero bytes at position 1, the checkpoint''s entry_hash after a purge.';
COMMENT ON COLUMN warden.audit_log.entry_hash IS
    'SHA-256 over the canonical encoding of the content columns (id to txid), chain_id, chain_pos and prev_hash (docs/audit.md).';
COMMENT ON COLUMN warden.audit_log.key_name IS
    'Keyring key that signed the entry.';
COMMENT ON COLUMN warden.audit_log.key_version IS
    'Version of key_name that signed the entry.';
COMMENT ON COLUMN warden.audit_log.signature IS
    'HMAC-SHA256 of entry_hash under key_name, version key_version.';
COMMENT ON COLUMN warden.audit_checkpoint.chain_id IS
    'Chain whose oldest entries were purged.';
COMMENT ON COLUMN warden.audit_checkpoint.chain_pos IS
    'Last purged position; the chain''s first remaining entry links to it.';
COMMENT ON COLUMN warden.audit_checkpoint.entry_hash IS
    'entry_hash of the purged entry at chain_pos.';
COMMENT ON COLUMN warden.audit_checkpoint.created_at IS
    'When the purge made the checkpoint.';
COMMENT ON COLUMN warden.audit_checkpoint.key_name IS
    'Keyring key that signed the checkpoint.';
COMMENT ON COLUMN warden.audit_checkpoint.key_version IS
    'Version of key_name that signed the checkpoint.';
COMMENT ON COLUMN warden.audit_checkpoint.signature IS
    'HMAC-SHA256 of the checkpoint''s canonical encoding under key_name, version key_version.';
COMMENT ON FUNCTION warden.log_event(text, text, text, text, jsonb, text, text, text, numeric, text) IS
    'Appends a chained, signed entry to warden.audit_log and returns its id; actor defaults to the session user; secret-named keys in details are fingerprinted.';
COMMENT ON FUNCTION warden.log_event(text, text, double precision, text, jsonb, text, text, text) IS
    'warden.log_event with confidence as double precision (drivers send floats so), for calls naming confidence; same entry as the numeric form.';
COMMENT ON FUNCTION warden.log_event(text, text, text, text, jsonb, text, text, text, double precision, text) IS
    'warden.log_event with confidence as double precision (drivers send floats so), all positional; same entry as the numeric form.';
COMMENT ON FUNCTION warden.audit_capture() IS
    'Internal: trigger function that records row changes of an audited table in the ledger; runs with the rights of the statement that fired it.';
COMMENT ON FUNCTION warden.audit_chain_entry() IS
    'Internal: BEFORE INSERT trigger computing session facts, chain position, hashes and signature of a ledger entry.';
COMMENT ON FUNCTION warden.audit_guard() IS
    'Internal: refuses UPDATE, DELETE and TRUNCATE on the ledger (only warden.purge_audit deletes, behind a checkpoint; only warden.redact_audit and warden.erase_subject update, erasing fields).';
COMMENT ON FUNCTION warden.verify_audit() IS
    'Verifies every chain: recomputes each entry hash, checks links, positions and signatures; issues name the entry where a chain breaks.';
COMMENT ON FUNCTION warden.verify_audit(jsonb) IS
    'Incremental verification from a signed digest (warden.audit_digest(), or a through of warden.audit_verification): each head must be unchanged, everything after it must verify; verify_audit(digest, full => true) also re-reads what it covered.';
COMMENT ON FUNCTION warden.audit_digest() IS
    'Signed heads of every chain, counts and time: small enough to keep outside the database.';
COMMENT ON FUNCTION warden.export_audit(timestamptz, timestamptz) IS
    'Entries in [from, to) with their chain material and the checkpoints, for the offline verifier (warden-verify).';
COMMENT ON FUNCTION warden.purge_audit(interval) IS
    'Retention: verifies, then removes entries older than the interval behind signed checkpoints, and logs the purge. Superusers and warden_admin only.';
COMMENT ON FUNCTION warden.export_audit_text(timestamptz, timestamptz) IS
    'Internal: the export document as text; use warden.export_audit.';
COMMENT ON FUNCTION warden.redact_audit(bigint, text[], text) IS
    'Erases fields of one entry (encoding version 2) while its hash, chain and signature still verify, and logs a redaction record (entry id, fields, reason; never the content). Returns the fields it erased. warden_admin only.';
REVOKE ALL ON FUNCTION warden.set_retention(text, interval), warden.apply_retention() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.set_retention(text, interval), warden.apply_retention() TO warden_admin;
COMMENT ON FUNCTION warden.set_retention(text, interval) IS
    'Sets how long entries of a tenant are kept (NULL tenant: entries without one; NULL keep: no policy, kept for ever); logged as an audit_control entry. warden_admin only.';
COMMENT ON FUNCTION warden.apply_retention() IS
    'Applies the retention policies: per chain removes the due entries at its start behind signed checkpoints, redacts due entries behind ones that are not, and logs the run (audit_retention); reads only what is due plus what was not verified yet. warden_admin only.';
COMMENT ON TABLE warden.audit_retention IS
    'Retention policies by tenant (NULL: entries without a tenant), written by warden.set_retention; applied_through: the cutoff of the last warden.apply_retention run.';
COMMENT ON COLUMN warden.audit_retention.applied_through IS
    'Entries of the tenant written before this were removed or redacted by warden.apply_retention.';
-- An import, batch after batch, each committed: CALL it outside a transaction block. A
-- crash loses at most the batch under way; calling it again resumes.
CREATE PROCEDURE warden.import_audit(source regclass, mapping jsonb)
    LANGUAGE plpgsql AS $$
DECLARE
    import_id bigint := warden.import_audit_start(source, mapping);
BEGIN
    WHILE warden.import_audit_batch(import_id) LOOP
        COMMIT;
    END LOOP;
END
$$;
REVOKE ALL ON PROCEDURE warden.import_audit(regclass, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.import_audit_start(regclass, jsonb), warden.import_audit_batch(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE warden.import_audit(regclass, jsonb) TO warden_admin;
GRANT EXECUTE ON FUNCTION warden.import_audit_start(regclass, jsonb), warden.import_audit_batch(bigint, integer) TO warden_admin;
COMMENT ON PROCEDURE warden.import_audit(regclass, jsonb) IS
    'Copies the rows of an existing audit table into the ledger in order_by order, original times kept in details.imported, committing every 10,000 rows; resumes an interrupted import, refuses a finished one; logs START and FINISH (row count, SHA-256 chain of the rows). CALL outside a transaction block. warden_admin only.';
COMMENT ON FUNCTION warden.import_audit_start(regclass, jsonb) IS
    'Internal step of warden.import_audit: checks the source and mapping, starts the import or finds the unfinished one to resume; returns its id.';
COMMENT ON FUNCTION warden.import_audit_batch(bigint, integer) IS
    'Internal step of warden.import_audit: copies the next max_rows rows in the caller''s transaction; returns whether rows remain (false once it finished the import).';
COMMENT ON TABLE warden.audit_import IS
    'Imports of existing audit tables: source, mapping, progress (rows_imported, last_key), the SHA-256 chain over the rows copied so far, the ledger entries they became, and when they finished.';
COMMENT ON FUNCTION warden.erase_subject(jsonb, text, text[]) IS
    'Erases a person''s content from every entry match selects (actor, resource_id, … equal; contains: within details, before_state or after_state), all redactable fields unless fields names some, under redaction records of up to 1000 entries each. Returns the entries changed. warden_admin only.';
COMMENT ON COLUMN warden.audit_log.field_seals IS
    'Encoding version 2: for each redactable field its salt, or its commitment once redacted, so a field can be erased and the entry still verifies. NULL for a version-1 entry.';
REVOKE ALL ON FUNCTION warden.verify_audit(jsonb, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.verify_audit(jsonb, boolean) TO warden_admin;
COMMENT ON FUNCTION warden.verify_audit(jsonb, boolean) IS
    'With a digest: full => true reads every entry and checks the chains against it, false is verify_audit(digest). With NULL: full => true is verify_audit(); false verifies incrementally from the latest valid verification recorded in warden.audit_verification (in full when there is none).';
COMMENT ON TABLE warden.audit_verification IS
    'Every verify_audit run: when, how long, full or incremental, the outcome, and for a valid one the signed heads it verified through.';
COMMENT ON COLUMN warden.audit_verification.workers IS
    'Parallel workers that read alongside the verifying backend (0: one process).';
COMMENT ON COLUMN warden.audit_verification.redacted_entries IS
    'Entries read that verified as valid and redacted: fields erased by warden.redact_audit or warden.erase_subject, each covered by a redaction record.';
COMMENT ON COLUMN warden.audit_verification.through IS
    'Signed heads of every chain this valid verification reached, when it read everything up to them (a full run, or an incremental one from the previous through): where the next incremental verification starts.';
COMMENT ON COLUMN warden.audit_verification.entries_checked IS
    'Entries read: all of them for a full verification, those from the heads on for an incremental one.';
