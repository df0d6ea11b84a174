-- exams.sql — exams (create, read) and a proctor's view of one exam:
-- statistics and the active attempts (docs/API.md §5, §8). Repeatable: only
-- CREATE OR REPLACE (and DROP IF EXISTS of a signature that changed),
-- re-applied by sql/migrate.sh whenever this file changes; sql/migrate.sh
-- applies the files in the order its list gives.
--
-- The LANGUAGE sql helpers carry no SET search_path: a function with a SET
-- clause cannot be inlined, and inlining makes them several times cheaper.
-- They run inside the entry points (plpgsql, SET search_path = pg_catalog,
-- attempts), and their bodies are checked at creation under this path:
SET search_path = pg_catalog, attempts;

-- The exam object of API.md §5.
CREATE OR REPLACE FUNCTION attempts.exam_json(e attempts.exams)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'exam_id', e.exam_id, 'title', e.title, 'time_limit_s', e.time_limit_s,
        'grace_s', e.grace_s, 'max_attempts', e.max_attempts,
        'opens_at', attempts.ts(e.opens_at), 'closes_at', attempts.ts(e.closes_at),
        'upload', jsonb_build_object('max_bytes', e.upload_max_bytes,
                                     'allowed_types', to_jsonb(e.upload_allowed_types)))
$$;

-- The error a proctor's view of exam p_exam_id answers instead of going
-- on (require_caller for proctor/admin, then not_found), or NULL.
CREATE OR REPLACE FUNCTION attempts.staff_exam_error(p_exam_id uuid)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(attempts.caller_error('{proctor,admin}'),
                    CASE WHEN NOT EXISTS (SELECT 1 FROM attempts.exams e WHERE e.exam_id = p_exam_id)
                         THEN attempts.exam_not_found() END)
$$;

-- validation_failed naming p_field when the JSON value p_value is present
-- and not null but its parsed form is not (p_unparsed), else NULL.
CREATE OR REPLACE FUNCTION attempts.bad_value(p_value jsonb, p_unparsed boolean, p_field text,
                                              p_message text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN jsonb_typeof(p_value) <> 'null' AND p_unparsed
                THEN attempts.invalid(p_field, p_message) END
$$;

-- A JSON string holding an RFC 3339 timestamp as timestamptz, else NULL.
CREATE OR REPLACE FUNCTION attempts.json_ts(p jsonb)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN jsonb_typeof(p) = 'string' THEN attempts.try_ts(p #>> '{}') END
$$;

-- Creates an exam from the fields of API.md §5 (defaults for the absent or
-- null ones; a partial "upload" keeps the other defaults). Proctor/admin.
-- Returns the exam object, or validation_failed naming the field.
CREATE OR REPLACE FUNCTION attempts.create_exam(p_exam jsonb)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    c record := require_caller('{proctor,admin}');
    v_e attempts.exams;
    v_err jsonb;
    v_v jsonb;
    v_upload jsonb := nullif(p_exam -> 'upload', 'null'::jsonb);
    v_type jsonb;
    v_i int := 0;
    v_types text[] := '{}';
BEGIN
    IF c.error IS NOT NULL THEN
        RETURN c.error;
    ELSIF jsonb_typeof(p_exam) IS DISTINCT FROM 'object' THEN
        RETURN invalid('body', 'the exam must be a JSON object');
    END IF;
    v_e.title := CASE WHEN jsonb_typeof(p_exam -> 'title') = 'string' THEN p_exam ->> 'title' END;
    v_e.time_limit_s := json_int(p_exam -> 'time_limit_s', 1, 604800);
    v_e.grace_s := json_int(p_exam -> 'grace_s', 0, 86400);
    v_e.max_attempts := json_int(p_exam -> 'max_attempts', 1, 1000);
    v_e.opens_at := json_ts(p_exam -> 'opens_at');
    v_e.closes_at := json_ts(p_exam -> 'closes_at');
    v_e.upload_max_bytes := json_int(v_upload -> 'max_bytes', 1, 1073741824);
    v_err := coalesce(
        CASE WHEN char_length(v_e.title) BETWEEN 1 AND 500 AND btrim(v_e.title) <> '' THEN NULL
             ELSE invalid('title', 'title is required: 1..500 characters, not blank') END,
        bad_value(p_exam -> 'time_limit_s', v_e.time_limit_s IS NULL, 'time_limit_s',
                  'time_limit_s must be null or an integer 1..604800'),
        bad_value(p_exam -> 'grace_s', v_e.grace_s IS NULL, 'grace_s',
                  'grace_s must be an integer 0..86400'),
        bad_value(p_exam -> 'max_attempts', v_e.max_attempts IS NULL, 'max_attempts',
                  'max_attempts must be an integer 1..1000'),
        bad_value(p_exam -> 'opens_at', v_e.opens_at IS NULL, 'opens_at',
                  'opens_at must be null or an RFC 3339 timestamp'),
        bad_value(p_exam -> 'closes_at', v_e.closes_at IS NULL, 'closes_at',
                  'closes_at must be null or an RFC 3339 timestamp'),
        CASE WHEN v_e.closes_at <= v_e.opens_at
             THEN invalid('closes_at', 'closes_at must be later than opens_at') END,
        CASE WHEN jsonb_typeof(v_upload) <> 'object'
             THEN invalid('upload', 'upload must be an object') END,
        bad_value(v_upload -> 'max_bytes', v_e.upload_max_bytes IS NULL, 'upload.max_bytes',
                  'upload.max_bytes must be an integer 1..1073741824'));
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    END IF;
    v_e.upload_allowed_types := '{application/pdf,image/png,image/jpeg,text/plain}';
    v_v := nullif(v_upload -> 'allowed_types', 'null'::jsonb);
    IF v_v IS NOT NULL THEN
        IF jsonb_typeof(v_v) <> 'array' OR jsonb_array_length(v_v) NOT BETWEEN 1 AND 100 THEN
            RETURN invalid('upload.allowed_types', 'upload.allowed_types must be an array of 1..100 media types');
        END IF;
        FOR v_type IN SELECT value FROM jsonb_array_elements(v_v) LOOP
            IF jsonb_typeof(v_type) <> 'string'
               OR lower(v_type #>> '{}') !~ '^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$' THEN
                RETURN invalid('upload.allowed_types[' || v_i || ']', 'a media type is type/subtype');
            END IF;
            IF NOT lower(v_type #>> '{}') = ANY (v_types) THEN
                v_types := v_types || lower(v_type #>> '{}');
            END IF;
            v_i := v_i + 1;
        END LOOP;
        v_e.upload_allowed_types := v_types;
    END IF;

    INSERT INTO attempts.exams (title, time_limit_s, grace_s, max_attempts, opens_at, closes_at,
                                upload_max_bytes, upload_allowed_types, created_by)
    VALUES (v_e.title, v_e.time_limit_s, coalesce(v_e.grace_s, 0),
            coalesce(v_e.max_attempts, 1), v_e.opens_at, v_e.closes_at,
            coalesce(v_e.upload_max_bytes, 10485760), v_e.upload_allowed_types, c.sub)
    RETURNING * INTO v_e;
    RETURN exam_json(v_e);
END
$$;

-- The exams, newest first, for a proctor/admin: {"exams": [exam + "created_at"]},
-- at most p_limit (1..1000, NULL: 100) of them, created before p_before
-- (RFC 3339) when given: the next page starts at the last item's
-- created_at (an exam created in the same microsecond as that item would
-- be on neither page). Errors: validation_failed (limit, before).
CREATE OR REPLACE FUNCTION attempts.list_exams(p_limit text DEFAULT NULL,
                                               p_before text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_limit int := CASE WHEN p_limit ~ '^[0-9]{1,4}$' THEN p_limit::int END;
    v_before timestamptz := try_ts(p_before);
BEGIN
    RETURN coalesce(
        caller_error('{proctor,admin}'),
        CASE WHEN p_limit IS NOT NULL AND (v_limit IS NULL OR v_limit NOT BETWEEN 1 AND 1000)
             THEN invalid('limit', 'limit must be an integer from 1 to 1000') END,
        CASE WHEN p_before IS NOT NULL AND v_before IS NULL
             THEN invalid('before', 'before must be an RFC 3339 timestamp') END,
        jsonb_build_object('exams', coalesce((
        SELECT jsonb_agg(exam_json(e) || jsonb_build_object('created_at', ts(e.created_at))
                         ORDER BY e.created_at DESC, e.exam_id DESC)
          FROM (SELECT * FROM attempts.exams x
                 WHERE p_before IS NULL OR x.created_at < v_before
                 ORDER BY x.created_at DESC, x.exam_id DESC
                 LIMIT coalesce(v_limit, 100)) e), '[]'::jsonb)));
END
$$;

-- The exam object; any signed-in caller. not_found if there is no such exam.
CREATE OR REPLACE FUNCTION attempts.get_exam(p_exam_id uuid)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
BEGIN
    RETURN coalesce(caller_error(NULL),
                    (SELECT exam_json(e) FROM attempts.exams e WHERE e.exam_id = p_exam_id),
                    exam_not_found());
END
$$;

-- Statistics of an exam for a proctor/admin: {"exam_id", "total",
-- "in_progress", "submitted", "avg_duration_s", "median_duration_s" (of the
-- submitted attempts, null if none), "avg_answered" (keys in answers, over
-- all attempts), "last_activity_at"}. Durations are seconds, 3 decimals.
CREATE OR REPLACE FUNCTION attempts.get_attempt_statistics(p_exam_id uuid)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
BEGIN
    RETURN coalesce(staff_exam_error(p_exam_id), (
        SELECT jsonb_build_object(
            'exam_id', p_exam_id,
            'total', count(*),
            'in_progress', count(*) FILTER (WHERE s.status = 'in_progress'),
            'submitted', count(*) FILTER (WHERE s.status = 'submitted'),
            'avg_duration_s', round(avg(s.duration_s), 3),
            'median_duration_s', round((percentile_cont(0.5) WITHIN GROUP (ORDER BY s.duration_s))::numeric, 3),
            'avg_answered', round(avg(s.answered), 3),
            'last_activity_at', ts(max(s.last_activity_at)))
          FROM (SELECT a.status, a.last_activity_at,
                       (SELECT count(*) FROM jsonb_object_keys(a.answers)) AS answered,
                       CASE WHEN a.status = 'submitted'
                            THEN extract(epoch FROM a.submitted_at - a.started_at) END AS duration_s
                  FROM attempts.attempts a WHERE a.exam_id = p_exam_id) AS s));
END
$$;

-- The attempts in progress of an exam for a proctor/admin, oldest first:
-- {"exam_id", "attempts": [{"attempt_id", "user_id", "started_at",
-- "last_activity_at", "time_remaining_s", "version", "answered_count"}]}.
CREATE OR REPLACE FUNCTION attempts.get_active_attempts(p_exam_id uuid)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
BEGIN
    RETURN coalesce(staff_exam_error(p_exam_id), jsonb_build_object(
        'exam_id', p_exam_id,
        'attempts', coalesce((
            SELECT jsonb_agg(live_attempt_json(a) - 'status' - 'last_save_at' - 'submitted_at'
                             ORDER BY a.started_at, a.attempt_id)
              FROM attempts.attempts a
             WHERE a.exam_id = p_exam_id AND a.status = 'in_progress'), '[]'::jsonb)));
END
$$;

-- ------------------------------------------------------------ live view
-- The proctor's live view of one exam (web/proctor.*): a snapshot for the
-- first paint (get_live_snapshot, GET ?action=stats&type=live), then one
-- message per exam per batch of changed attempts, which lib/live_feed.c
-- publishes to nginx (nchan) for the watchers (live_changes). Each attempt
-- carries its version: a watcher keeps, per attempt, the highest version
-- it has seen, so replays and duplicates change nothing.

-- One attempt as the live view shows it: {"attempt_id", "user_id",
-- "status", "version", "answered_count", "started_at", "last_save_at"
-- (null before the first save), "last_activity_at", "time_remaining_s",
-- "submitted_at"}.
CREATE OR REPLACE FUNCTION attempts.live_attempt_json(a attempts.attempts)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'attempt_id', a.attempt_id, 'user_id', a.user_id, 'status', a.status,
        'version', a.version,
        'answered_count', (SELECT count(*) FROM jsonb_object_keys(a.answers)),
        'started_at', ts(a.started_at),
        'last_save_at', CASE WHEN a.version > 1 THEN ts(a.updated_at) END,
        'last_activity_at', ts(a.last_activity_at), 'time_remaining_s', time_remaining_s(a),
        'submitted_at', ts(a.submitted_at))
$$;

-- What the live view draws of the whole exam: {"counts": {"total",
-- "in_progress", "submitted"}, "per_question": {"<answer key>": attempts
-- that answered it}} (every attempt of the exam, submitted ones included).
CREATE OR REPLACE FUNCTION attempts.live_exam_summary(p_exam_id uuid)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'counts', (SELECT jsonb_build_object(
                       'total', count(*),
                       'in_progress', count(*) FILTER (WHERE a.status = 'in_progress'),
                       'submitted', count(*) FILTER (WHERE a.status = 'submitted'))
                     FROM attempts.attempts a WHERE a.exam_id = p_exam_id),
        'per_question', (SELECT coalesce(jsonb_object_agg(q.key, q.n), '{}'::jsonb)
                           FROM (SELECT k.key, count(*) AS n
                                   FROM attempts.attempts a,
                                        jsonb_object_keys(a.answers) AS k(key)
                                  WHERE a.exam_id = p_exam_id
                                  GROUP BY k.key) AS q))
$$;

-- The first paint of the live view, proctor/admin: {"exam_id", "at" (the
-- database's clock), "counts", "per_question" (live_exam_summary),
-- "attempts": [live_attempt_json of each attempt in progress, oldest
-- first]}; not_found for an unknown exam.
CREATE OR REPLACE FUNCTION attempts.get_live_snapshot(p_exam_id uuid)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
BEGIN
    RETURN coalesce(staff_exam_error(p_exam_id),
                    jsonb_build_object('exam_id', p_exam_id, 'at', ts(now()))
                    || live_exam_summary(p_exam_id)
                    || jsonb_build_object('attempts', coalesce((
                           SELECT jsonb_agg(live_attempt_json(a) ORDER BY a.started_at, a.attempt_id)
                             FROM attempts.attempts a
                            WHERE a.exam_id = p_exam_id AND a.status = 'in_progress'), '[]'::jsonb)));
END
$$;

-- The changes of p_ids (attempt ids from NOTIFY attempts_changed), as the
-- messages to publish, admin only (the publisher runs as the service):
-- [{"exam_id", "message": {"type": "changes", "exam_id", "at", "attempts":
-- [live_attempt_json, ...]}}], one per exam with a changed attempt, with
-- "counts" and "per_question" (live_exam_summary) too when p_summary: the
-- summary reads every attempt of the exam, so the publisher asks for it at
-- most every few seconds, not with every batch. Ids of attempts that are
-- gone are skipped.
DROP FUNCTION IF EXISTS attempts.live_changes(uuid[]);
CREATE OR REPLACE FUNCTION attempts.live_changes(p_ids uuid[], p_summary boolean)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
BEGIN
    RETURN coalesce(caller_error('{admin}'), coalesce((
        SELECT jsonb_agg(jsonb_build_object('exam_id', e.exam_id, 'message',
                   jsonb_build_object('type', 'changes', 'exam_id', e.exam_id, 'at', ts(now()))
                   || CASE WHEN p_summary THEN live_exam_summary(e.exam_id) ELSE '{}'::jsonb END
                   || jsonb_build_object('attempts', e.attempts)) ORDER BY e.exam_id)
          FROM (SELECT a.exam_id,
                       jsonb_agg(live_attempt_json(a) ORDER BY a.attempt_id) AS attempts
                  FROM attempts.attempts a
                 WHERE a.attempt_id = ANY (p_ids)
                 GROUP BY a.exam_id) AS e), '[]'::jsonb));
END
$$;

-- The exams a watcher may be looking at, admin only: those with an attempt
-- in progress or changed in the last 12 hours, as a JSON array of ids.
-- After notifications may have been lost (the publisher's connection came
-- back, its queue overflowed) each gets {"type": "resync"}.
CREATE OR REPLACE FUNCTION attempts.live_exams()
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
BEGIN
    RETURN coalesce(caller_error('{admin}'),
                    (SELECT jsonb_agg(DISTINCT a.exam_id) FROM attempts.attempts a
                      WHERE a.status = 'in_progress' OR a.updated_at > now() - interval '12 hours'),
                    '[]'::jsonb);
END
$$;
