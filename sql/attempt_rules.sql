-- attempt_rules.sql — an attempt as JSON (state, info) and the rules every
-- function that reads or changes one applies: who may touch it, its
-- deadline and grace, the version check, merging answers, closing it.
-- Repeatable: only CREATE OR REPLACE (and DROP IF EXISTS of a signature
-- that changed), re-applied by sql/migrate.sh whenever this file changes;
-- sql/migrate.sh applies the files in the order its list gives.
--
-- The LANGUAGE sql helpers carry no SET search_path: a function with a SET
-- clause cannot be inlined, and inlining makes them several times cheaper.
-- They run inside the entry points (plpgsql, SET search_path = pg_catalog,
-- attempts), and their bodies are checked at creation under this path:
SET search_path = pg_catalog, attempts;

-- Whole seconds left until deadline_at (floor, never negative); NULL when
-- there is no deadline or the attempt is submitted.
CREATE OR REPLACE FUNCTION attempts.time_remaining_s(a attempts.attempts)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN a.status = 'in_progress' AND a.deadline_at IS NOT NULL
                THEN greatest(0, floor(extract(epoch FROM a.deadline_at - now())))::bigint
           END
$$;

-- The attempt state object of API.md §5.
CREATE OR REPLACE FUNCTION attempts.attempt_state_json(a attempts.attempts)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'attempt_id', a.attempt_id, 'exam_id', a.exam_id, 'user_id', a.user_id,
        'attempt_number', a.attempt_number, 'status', a.status, 'answers', a.answers,
        'auto_save_data', a.auto_save_data, 'version', a.version,
        'started_at', attempts.ts(a.started_at), 'deadline_at', attempts.ts(a.deadline_at),
        'submitted_at', attempts.ts(a.submitted_at), 'updated_at', attempts.ts(a.updated_at),
        'time_remaining_s', attempts.time_remaining_s(a))
$$;

-- The attempt info object: the state without answers and auto_save_data,
-- plus exam_title, activity_count, upload_count, submit_reason, receipt.
CREATE OR REPLACE FUNCTION attempts.attempt_info_json(a attempts.attempts)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT (attempts.attempt_state_json(a) - 'answers' - 'auto_save_data')
        || jsonb_build_object(
            'exam_title', (SELECT e.title FROM attempts.exams e WHERE e.exam_id = a.exam_id),
            'activity_count', (SELECT count(*) FROM attempts.attempt_activity v
                               WHERE v.attempt_id = a.attempt_id),
            'upload_count', (SELECT count(*) FROM attempts.attempt_uploads u
                             WHERE u.attempt_id = a.attempt_id),
            'submit_reason', a.submit_reason,
            'receipt', a.receipt)
$$;

-- The attempt row (FOR UPDATE when p_lock), or a row of NULLs if none.
CREATE OR REPLACE FUNCTION attempts.load_attempt(p_attempt_id uuid, p_lock boolean)
RETURNS attempts.attempts LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_a attempts.attempts;
BEGIN
    IF p_lock THEN
        SELECT * INTO v_a FROM attempts.attempts WHERE attempt_id = p_attempt_id FOR UPDATE;
    ELSE
        SELECT * INTO v_a FROM attempts.attempts WHERE attempt_id = p_attempt_id;
    END IF;
    RETURN v_a;
END
$$;

-- NULL when the caller may use attempt a in p_mode, else the error:
--   'read'  owner, proctor, admin;
--   'owner' owner only (another student: not_found; proctor/admin: forbidden);
--   'staff' proctor, admin (a student: forbidden, whichever attempt).
-- A missing attempt (a.attempt_id NULL) is not_found in every mode but a
-- student's 'staff'.
CREATE OR REPLACE FUNCTION attempts.access_error(a attempts.attempts, p_sub uuid,
                                                 p_role text, p_mode text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_mode = 'staff' AND p_role NOT IN ('proctor', 'admin')
            THEN attempts.err('forbidden', 'proctor or admin role required')
        WHEN a.attempt_id IS NULL OR (p_role = 'student' AND a.user_id <> p_sub)
            THEN attempts.err('not_found', 'attempt not found')
        WHEN p_mode = 'owner' AND a.user_id <> p_sub
            THEN attempts.err('forbidden', 'only the attempt''s owner may change it')
    END
$$;

-- The reads of one attempt, behind get_attempt_state ('state'),
-- get_attempt_info ('info'), list_attempt_uploads ('uploads'),
-- get_attempt_upload ('upload': p_upload_id, not_found unless it is one
-- of the attempt's) and validate_attempt_upload ('validate_upload', owner
-- only: upload_check of p_content_type and p_size_bytes, then
-- {"valid": true, "max_bytes", "allowed_types", "upload_count"}): the
-- caller, the attempt, and unauthorized or access_error (read access;
-- owner for validate_upload) before the answer: one prologue for all (a
-- helper function that loaded the attempt for each entry point instead
-- made a state read 1.5 to 2 times slower).
CREATE OR REPLACE FUNCTION attempts.read_attempt(p_attempt_id uuid, p_what text,
                                                 p_upload_id uuid DEFAULT NULL,
                                                 p_content_type text DEFAULT NULL,
                                                 p_size_bytes bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
DECLARE
    c record := require_caller(NULL);
    v_a attempts.attempts;
    v_err jsonb;
BEGIN
    SELECT * INTO v_a FROM attempts.attempts WHERE attempt_id = p_attempt_id;
    v_err := coalesce(c.error, access_error(v_a, c.sub, c.role, CASE WHEN p_what = 'validate_upload'
                                                                     THEN 'owner' ELSE 'read' END));
    -- One statement per answer: a CASE of them in one statement was
    -- planned anew on every call.
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    ELSIF p_what = 'state' THEN
        RETURN attempt_state_json(v_a);
    ELSIF p_what = 'info' THEN
        RETURN attempt_info_json(v_a);
    ELSIF p_what = 'uploads' THEN
        RETURN jsonb_build_object('uploads', coalesce((
            SELECT jsonb_agg(upload_json(u) ORDER BY u.created_at, u.upload_id)
              FROM attempts.attempt_uploads u WHERE u.attempt_id = p_attempt_id), '[]'::jsonb));
    ELSIF p_what = 'upload' THEN
        RETURN coalesce((SELECT upload_json(u) FROM attempts.attempt_uploads u
                          WHERE u.upload_id = p_upload_id AND u.attempt_id = p_attempt_id),
                        err('not_found', 'upload not found'));
    END IF;
    RETURN coalesce(upload_check(v_a, p_content_type, p_size_bytes), (
        SELECT jsonb_build_object('valid', true, 'max_bytes', e.upload_max_bytes,
                                  'allowed_types', to_jsonb(e.upload_allowed_types),
                                  'upload_count', (SELECT count(*) FROM attempts.attempt_uploads u
                                                   WHERE u.attempt_id = p_attempt_id))
          FROM attempts.exams e WHERE e.exam_id = v_a.exam_id));
END
$$;

-- True when a is in progress and now() is past deadline_at + p_grace_s
-- (its exam's grace_s). Inlinable: callers that join the exam pass it.
CREATE OR REPLACE FUNCTION attempts.past_deadline(a attempts.attempts, p_grace_s int)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(a.status = 'in_progress' AND a.deadline_at IS NOT NULL
        AND now() > a.deadline_at + make_interval(secs => p_grace_s), false)
$$;

-- past_deadline with the grace_s of a's exam.
CREATE OR REPLACE FUNCTION attempts.past_grace(a attempts.attempts)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT attempts.past_deadline(a, (SELECT e.grace_s FROM attempts.exams e
                                       WHERE e.exam_id = a.exam_id))
$$;

-- Submits an in-progress attempt as it stands (reason deadline, cleanup or
-- student): receipt, submitted_at, version + 1. Returns the new row, or
-- NULL if it was not in progress.
CREATE OR REPLACE FUNCTION attempts.close_attempt(p_attempt_id uuid, p_reason text)
RETURNS attempts.attempts LANGUAGE sql AS $$
    UPDATE attempts.attempts
       SET status = 'submitted', submit_reason = p_reason, submitted_at = now(),
           receipt = attempts.receipt_of(answers), version = version + 1, updated_at = now()
     WHERE attempt_id = p_attempt_id AND status = 'in_progress'
    RETURNING *
$$;

-- merge_answers for a patch with null values.
CREATE OR REPLACE FUNCTION attempts.merge_answers_removing(p_stored jsonb, p_patch jsonb)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT (p_stored || p_patch)
           - ARRAY(SELECT e.key FROM jsonb_each(p_patch) AS e WHERE e.value = 'null'::jsonb)
$$;

-- The stored answers merged with p_patch at the top level: a key whose new
-- value is JSON null is removed, every other key is set. Inlinable (no
-- sub-select) for the usual patch without nulls; merge_answers_removing
-- takes the others.
CREATE OR REPLACE FUNCTION attempts.merge_answers(p_stored jsonb, p_patch jsonb)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN jsonb_path_exists(p_patch, 'strict $.* ? (@ == null)', '{}', true)
            THEN attempts.merge_answers_removing(p_stored, p_patch)
        ELSE p_stored || p_patch
    END
$$;

-- payload_too_large when the merged answers p_merged are longer as JSON
-- text than p_limit bytes, else NULL.
CREATE OR REPLACE FUNCTION attempts.answers_too_large(p_merged jsonb, p_limit int)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN octet_length(p_merged::text) > p_limit
                THEN attempts.err('payload_too_large',
                                  'the stored answers would exceed their size limit',
                                  jsonb_build_object('limit', p_limit)) END
$$;

-- NULL when the in-progress attempt a (of an exam with p_grace_s) may be
-- written with p_expected_version, else the error: attempt_submitted;
-- attempt_closed (past the deadline and its grace; check_writable then
-- closes it); version_conflict with the stored answers.
CREATE OR REPLACE FUNCTION attempts.writable_error(a attempts.attempts, p_grace_s int,
                                                   p_expected_version int)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN a.status = 'submitted'
            THEN attempts.err('attempt_submitted', 'the attempt is already submitted')
        WHEN attempts.past_deadline(a, p_grace_s)
            THEN attempts.err('attempt_closed',
                     'the deadline has passed; the attempt was submitted as saved in time',
                     jsonb_build_object('deadline_at', attempts.ts(a.deadline_at)))
        WHEN p_expected_version IS NOT NULL AND p_expected_version <> a.version
            THEN attempts.err('version_conflict', 'the attempt was changed by another request',
                     jsonb_build_object('current_version', a.version,
                                        'answers', a.answers,
                                        'auto_save_data', a.auto_save_data))
    END
$$;

-- writable_error for the locked attempt a, closing it (reason deadline,
-- which commits: intended) when the answer is attempt_closed.
CREATE OR REPLACE FUNCTION attempts.check_writable(a attempts.attempts, p_expected_version int)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_err jsonb := writable_error(a, (SELECT e.grace_s FROM attempts.exams e
                                       WHERE e.exam_id = a.exam_id), p_expected_version);
BEGIN
    IF v_err #>> '{error,code}' = 'attempt_closed' THEN
        PERFORM close_attempt(a.attempt_id, 'deadline');
    END IF;
    RETURN v_err;
END
$$;
