-- 003_changes_per_statement.sql — a statement that writes many attempts
-- may announce them in one notification instead of one per row, and
-- updates of attempts leave room for themselves.
--
-- The row trigger (001) sends pg_notify('attempts_changed', <attempt id>)
-- for each changed row. A transaction that sets attempts.announce_changes
-- to 'statement' (set_config(..., true), as coalesced_writes() does) takes
-- that job over: the trigger stays silent, and the statement calls
-- announce_changes() with the ids it wrote, which sends them
-- comma-separated in as few notifications as the 8000-byte payload limit
-- allows. Listeners read a payload as a comma-separated list of ids.
DROP TRIGGER attempts_notify_update ON attempts.attempts;
CREATE TRIGGER attempts_notify_update
    AFTER UPDATE ON attempts.attempts
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*
          AND current_setting('attempts.announce_changes', true) IS DISTINCT FROM 'statement')
    EXECUTE FUNCTION attempts.notify_attempt_changed();

-- Announces p_ids (each once, at most 200 per notification: 7,400 bytes).
CREATE FUNCTION attempts.announce_changes(p_ids uuid[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
BEGIN
    PERFORM pg_notify('attempts_changed', string_agg(c.id::text, ',' ORDER BY c.id))
       FROM (SELECT d.id, (row_number() OVER (ORDER BY d.id) - 1) / 200 AS chunk
               FROM (SELECT DISTINCT i.id FROM unnest(p_ids) AS i(id) WHERE i.id IS NOT NULL) AS d) AS c
      GROUP BY c.chunk;
END
$$;

-- Every write is an update of a row of attempts (answers, version,
-- last_activity_at): with room left on each page, PostgreSQL keeps the new
-- version on the same page without touching the indexes (a HOT update).
-- New pages get the room; existing ones as they are rewritten.
ALTER TABLE attempts.attempts SET (fillfactor = 70);
