-- admin.sql — housekeeping and admin tools: the deadline sweep (the
-- service's, without claims, and the admin's) with the
-- planner statistics it keeps fresh, preloading caches, broadcasting a
-- cache clear, query observations (docs/API.md §8-9). Repeatable: only
-- CREATE OR REPLACE (and DROP IF EXISTS of a signature that changed),
-- re-applied by sql/migrate.sh whenever this file changes; sql/migrate.sh
-- applies the files in the order its list gives.
--
-- The LANGUAGE sql helpers carry no SET search_path: a function with a SET
-- clause cannot be inlined, and inlining makes them several times cheaper.
-- They run inside the entry points (plpgsql, SET search_path = pg_catalog,
-- attempts), and their bodies are checked at creation under this path:
SET search_path = pg_catalog, attempts;

-- Analyzes the columns plans depend on in attempts and attempt_activity
-- when a table has grown by more than 200 rows + 20 % since its last
-- ANALYZE;
-- returns how many tables it analyzed. On exam day a table grows from
-- nothing by thousands of rows a minute while autovacuum looks once a
-- minute (autovacuum_naptime): a plan cached while an exam had no
-- attempts (start_attempt's lookup by exam and user) would otherwise scan
-- the whole exam for each start until then. The sweep calls it; without
-- the right to analyze, ANALYZE only warns.
CREATE OR REPLACE FUNCTION attempts.refresh_statistics()
RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_rel text;
    v_n int := 0;
BEGIN
    -- Growth against the rows ANALYZE last counted (pg_class.reltuples; an
    -- ANALYZE of a column list leaves n_mod_since_analyze as it was).
    FOR v_rel IN SELECT s.relname FROM pg_stat_user_tables s
                   JOIN pg_class c ON c.oid = s.relid
                  WHERE s.schemaname = 'attempts'
                    AND s.relname IN ('attempts', 'attempt_activity')
                    AND s.n_live_tup > 200 + 1.2 * greatest(c.reltuples, 0)
    LOOP
        IF v_rel = 'attempts' THEN
            ANALYZE attempts.attempts (attempt_id, exam_id, user_id, status, deadline_at);
        ELSE
            ANALYZE attempts.attempt_activity (attempt_id, client_event_id);
        END IF;
        v_n := v_n + 1;
    END LOOP;
    RETURN v_n;
END
$$;

-- The deadline sweep, which every worker of the service runs every few
-- seconds (lib/app.c) without claims: closes (reason deadline) every
-- attempt in progress past deadline_at + grace_s, after keeping the
-- planner's statistics fresh (refresh_statistics). Returns how many it
-- closed, or NULL (skipped) while another sweep runs: one at a time.
CREATE OR REPLACE FUNCTION attempts.sweep_expired_attempts()
RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_closed int;
BEGIN
    -- A fixed key outside the int4 range of the hashtext() keys of start_attempt.
    IF NOT pg_try_advisory_xact_lock(7310594523462267185) THEN
        RETURN NULL;
    END IF;
    -- First, while no row is locked yet: the rows closed below stay locked
    -- until the commit, and late saves of them would wait for ANALYZE.
    PERFORM refresh_statistics();
    -- Rows locked in attempt_id order, as the batch functions lock theirs;
    -- a row another transaction holds (a save, which closes it itself if
    -- due) is left to the next sweep.
    WITH due AS (
        SELECT a.attempt_id
          FROM attempts.attempts a
          JOIN attempts.exams e ON e.exam_id = a.exam_id
         WHERE a.status = 'in_progress'
           AND a.deadline_at < now()
           AND now() > a.deadline_at + make_interval(secs => e.grace_s)
         ORDER BY a.attempt_id
           FOR UPDATE OF a SKIP LOCKED),
    closed AS (
        UPDATE attempts.attempts a
           SET status = 'submitted', submit_reason = 'deadline', submitted_at = now(),
               receipt = receipt_of(a.answers), version = a.version + 1, updated_at = now()
          FROM due
         WHERE a.attempt_id = due.attempt_id
        RETURNING 1)
    SELECT count(*) INTO v_closed FROM closed;
    RETURN v_closed;
END
$$;

-- The deadline sweep (sweep_expired_attempts) run by an admin: {"closed":
-- n}, or {"closed": 0, "skipped": true} while another sweep runs.
CREATE OR REPLACE FUNCTION attempts.close_expired_attempts()
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
BEGIN
    -- coalesce evaluates no argument after the first that is not NULL:
    -- the sweep runs only for an admin.
    RETURN coalesce(caller_error('{admin}'),
                    (SELECT CASE WHEN n IS NULL THEN '{"closed": 0, "skipped": true}'::jsonb
                                 ELSE jsonb_build_object('closed', n) END
                       FROM sweep_expired_attempts() AS n));
END
$$;

-- The states of the attempts in progress of the given exams (admin), oldest
-- first, for a worker to preload its cache in one query.
CREATE OR REPLACE FUNCTION attempts.preload_attempt_states(p_exam_ids uuid[])
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
BEGIN
    RETURN coalesce(caller_error('{admin}'),
                    (SELECT jsonb_agg(attempt_state_json(a) ORDER BY a.started_at, a.attempt_id)
                       FROM attempts.attempts a
                      WHERE a.exam_id = ANY (p_exam_ids) AND a.status = 'in_progress'),
                    '[]'::jsonb);
END
$$;

-- Tells every worker to clear its cache (NOTIFY attempts_clear_cache with
-- the sender's backend pid, delivered at commit); admin. {"broadcast": true}.
CREATE OR REPLACE FUNCTION attempts.broadcast_clear_cache()
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_err jsonb := caller_error('{admin}');
BEGIN
    IF v_err IS NULL THEN
        PERFORM pg_notify('attempts_clear_cache', pg_backend_pid()::text);
    END IF;
    RETURN coalesce(v_err, '{"broadcast": true}');
END
$$;

-- analyze_observations(): what PostgreSQL's statistics views say about the
-- service's tables, for the optimize "analyze" operation (admin only):
-- {"pg_stat_statements": bool, "buffer_hit_ratio": n|null,
--  "tables": [{"table", "seq_scan", "seq_tup_read", "idx_scan", "n_live_tup"}]}
CREATE OR REPLACE FUNCTION attempts.analyze_observations()
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
BEGIN
    RETURN coalesce(caller_error('{admin}'), jsonb_build_object(
        'pg_stat_statements',
            EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'),
        'buffer_hit_ratio',
            (SELECT CASE WHEN blks_hit + blks_read > 0
                         THEN round(blks_hit::numeric / (blks_hit + blks_read), 4) END
               FROM pg_stat_database WHERE datname = current_database()),
        'tables',
            COALESCE((SELECT jsonb_agg(jsonb_build_object(
                                'table', relname, 'seq_scan', seq_scan,
                                'seq_tup_read', seq_tup_read,
                                'idx_scan', COALESCE(idx_scan, 0),
                                'n_live_tup', n_live_tup) ORDER BY relname)
                        FROM pg_stat_user_tables WHERE schemaname = 'attempts'),
                     '[]'::jsonb)));
END
$$;
