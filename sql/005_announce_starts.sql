-- 005_announce_starts.sql — a new attempt is announced too.
--
-- Until now only updates and deletes of attempts sent
-- pg_notify('attempts_changed', <attempt id>): caches have nothing to drop
-- for an attempt that did not exist. The proctor's live view
-- (lib/live_feed.c, web/proctor.js) must see a start as soon as a save, so
-- an insert now sends the new attempt's id on the same channel. For the
-- caches it is a no-op (nothing cached under that id).
CREATE FUNCTION attempts.notify_attempt_started() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
BEGIN
    PERFORM pg_notify('attempts_changed', NEW.attempt_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER attempts_notify_insert
    AFTER INSERT ON attempts.attempts
    FOR EACH ROW
    EXECUTE FUNCTION attempts.notify_attempt_started();
