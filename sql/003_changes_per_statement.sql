-- 003_changes_per_statement.sql — a statement that writes many attempts
-- may announce them in one notification instead of one per row.
--
-- Each changed row still goes through notify_attempt_changed(). Normally it
-- sends pg_notify('attempts_changed', <attempt id>) at once (PostgreSQL
-- folds duplicates within a transaction). When the transaction has set
-- attempts.announce_changes to 'statement' (set_config(..., true), as
-- coalesced_writes() does), the id is collected in attempts.changed_ids
-- instead, and announce_collected_changes() sends them, comma-separated,
-- in as few notifications as the 8000-byte payload limit allows. Listeners
-- read a payload as a comma-separated list of ids.
CREATE OR REPLACE FUNCTION attempts.notify_attempt_changed() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
BEGIN
    IF current_setting('attempts.announce_changes', true) = 'statement' THEN
        PERFORM set_config('attempts.changed_ids',
                           concat_ws(',', nullif(current_setting('attempts.changed_ids', true), ''),
                                     OLD.attempt_id::text),
                           true);
    ELSE
        PERFORM pg_notify('attempts_changed', OLD.attempt_id::text);
    END IF;
    RETURN NULL;
END
$$;

-- Sends the ids collected since attempts.announce_changes was set to
-- 'statement' (each once, at most 200 per notification: 7,400 bytes), and
-- goes back to announcing row by row.
CREATE OR REPLACE FUNCTION attempts.announce_collected_changes() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
BEGIN
    PERFORM pg_notify('attempts_changed', string_agg(c.id, ',' ORDER BY c.id))
       FROM (SELECT DISTINCT i.id, (dense_rank() OVER (ORDER BY i.id) - 1) / 200 AS chunk
               FROM unnest(string_to_array(nullif(current_setting('attempts.changed_ids', true), ''),
                                           ',')) AS i(id)) AS c
      GROUP BY c.chunk;
    PERFORM set_config('attempts.changed_ids', '', true);
    PERFORM set_config('attempts.announce_changes', 'row', true);
END
$$;
