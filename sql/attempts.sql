-- attempts.sql — starting an attempt, reading its state and info (alone or
-- coalesced), and a proctor extending its deadline (docs/API.md §6).
-- Repeatable: only CREATE OR REPLACE (and DROP IF EXISTS of a signature
-- that changed), re-applied by sql/migrate.sh whenever this file changes;
-- sql/migrate.sh applies the files in the order its list gives.
--
-- The LANGUAGE sql helpers carry no SET search_path: a function with a SET
-- clause cannot be inlined, and inlining makes them several times cheaper.
-- They run inside the entry points (plpgsql, SET search_path = pg_catalog,
-- attempts), and their bodies are checked at creation under this path:
SET search_path = pg_catalog, attempts;

-- Starts the caller's next attempt of an exam: {"created": true, "state"}.
-- An attempt already in progress is returned with "created": false (one
-- past its deadline + grace is closed first, and a new one may start).
-- Errors: not_found, exam_closed, max_attempts_reached.
CREATE OR REPLACE FUNCTION attempts.start_attempt(p_exam_id uuid)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    c record := require_caller(NULL);
    v_sub uuid := c.sub;
    v_exam attempts.exams;
    v_a attempts.attempts;
    v_count int;
BEGIN
    IF c.error IS NOT NULL THEN
        RETURN c.error;
    ELSIF p_exam_id IS NULL THEN
        RETURN invalid('exam_id', 'exam_id is required');
    END IF;
    SELECT * INTO v_exam FROM attempts.exams WHERE exam_id = p_exam_id;
    IF NOT FOUND THEN
        RETURN exam_not_found();
    END IF;

    -- One start per (exam, user) at a time keeps the count and
    -- attempt_number exact; the partial unique index is the backstop.
    PERFORM pg_advisory_xact_lock(hashtext(p_exam_id::text || v_sub::text));

    SELECT * INTO v_a FROM attempts.attempts
     WHERE exam_id = p_exam_id AND user_id = v_sub AND status = 'in_progress'
       FOR UPDATE;
    IF FOUND THEN
        IF NOT past_grace(v_a) THEN
            RETURN jsonb_build_object('created', false, 'state', attempt_state_json(v_a));
        END IF;
        PERFORM close_attempt(v_a.attempt_id, 'deadline');
    END IF;

    IF now() < v_exam.opens_at OR now() >= v_exam.closes_at THEN
        RETURN err('exam_closed', 'the exam is not open now',
                   jsonb_build_object('opens_at', ts(v_exam.opens_at),
                                      'closes_at', ts(v_exam.closes_at)));
    END IF;
    SELECT count(*) INTO v_count FROM attempts.attempts
     WHERE exam_id = p_exam_id AND user_id = v_sub;
    IF v_count >= v_exam.max_attempts THEN
        RETURN err('max_attempts_reached', 'all attempts of this exam are used',
                   jsonb_build_object('max_attempts', v_exam.max_attempts));
    END IF;

    INSERT INTO attempts.attempts (exam_id, user_id, attempt_number, deadline_at, last_activity_at)
    VALUES (p_exam_id, v_sub, v_count + 1,
            now() + make_interval(secs => v_exam.time_limit_s), now())
    ON CONFLICT (exam_id, user_id) WHERE status = 'in_progress' DO NOTHING
    RETURNING * INTO v_a;
    IF FOUND THEN
        RETURN jsonb_build_object('created', true, 'state', attempt_state_json(v_a));
    END IF;
    SELECT * INTO v_a FROM attempts.attempts
     WHERE exam_id = p_exam_id AND user_id = v_sub AND status = 'in_progress';
    RETURN jsonb_build_object('created', false, 'state', attempt_state_json(v_a));
END
$$;

-- The attempt state; owner, proctor, admin.
CREATE OR REPLACE FUNCTION attempts.get_attempt_state(p_attempt_id uuid)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT attempts.read_attempt(p_attempt_id, 'state')
$$;

-- The attempt info; owner, proctor, admin.
CREATE OR REPLACE FUNCTION attempts.get_attempt_info(p_attempt_id uuid)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT attempts.read_attempt(p_attempt_id, 'info')
$$;

-- The single state and info reads of several requests (the service's read
-- coalescing), each under its own caller, in one statement. p_items:
-- [{"kind": "state" | "info", "claims": {"sub", "role"}, "attempt_id":
-- "<uuid>"}, ...]. Returns one element per item, in input order: exactly
-- what get_attempt_state or get_attempt_info returns to that caller alone
-- (the same access rule, the same claims rule, the same JSON).
CREATE OR REPLACE FUNCTION attempts.coalesced_reads(p_items jsonb)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(
                       CASE
                           WHEN c.sub IS NULL THEN unauthorized()
                           ELSE coalesce(access_error(a, c.sub, c.role, 'read'),
                                         CASE e.value ->> 'kind'
                                             WHEN 'state' THEN attempt_state_json(a)
                                             ELSE attempt_info_json(a)
                                         END)
                       END ORDER BY e.ord), '[]')
              FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(value, ord)
              CROSS JOIN LATERAL caller_of(e.value -> 'claims') AS c
              LEFT JOIN attempts.attempts a ON a.attempt_id = (e.value ->> 'attempt_id')::uuid);
END
$$;

-- Moves the deadline by p_extra_s (1..86400) seconds; proctor/admin.
-- Returns the state. Errors, in this order: validation_failed (p_extra_s,
-- NULL when the request's extra_s is not an integer), forbidden (a
-- student), not_found, not_extendable (no deadline, or submitted).
CREATE OR REPLACE FUNCTION attempts.extend_attempt(p_attempt_id uuid, p_extra_s int)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    c record := require_caller(NULL);
    v_a attempts.attempts;
    v_err jsonb := c.error;
BEGIN
    IF v_err IS NULL AND (p_extra_s IS NULL OR p_extra_s NOT BETWEEN 1 AND 86400) THEN
        v_err := invalid('extra_s', 'extra_s must be an integer in 1..86400');
    ELSIF v_err IS NULL THEN
        v_a := load_attempt(p_attempt_id, true);
        v_err := access_error(v_a, c.sub, c.role, 'staff');
    END IF;
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    ELSIF v_a.status <> 'in_progress' OR v_a.deadline_at IS NULL THEN
        RETURN err('not_extendable', 'only an attempt in progress with a deadline can be extended');
    END IF;
    UPDATE attempts.attempts
       SET deadline_at = deadline_at + make_interval(secs => p_extra_s),
           version = version + 1, updated_at = now()
     WHERE attempt_id = p_attempt_id
    RETURNING * INTO v_a;
    RETURN attempt_state_json(v_a);
END
$$;
