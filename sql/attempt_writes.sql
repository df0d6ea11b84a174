-- attempt_writes.sql — a student's writes to an attempt: save and submit
-- (write_core) and activity (log_core), cores for a known caller shared by
-- the single entry points, the batch functions and coalesced_writes (many
-- requests' writes in one statement, each under its own claims). Repeatable: only CREATE OR
-- REPLACE (and DROP IF EXISTS of a signature that changed), re-applied by
-- sql/migrate.sh whenever this file changes; sql/migrate.sh applies the
-- files in the order its list gives.
--
-- The LANGUAGE sql helpers carry no SET search_path: a function with a SET
-- clause cannot be inlined, and inlining makes them several times cheaper.
-- They run inside the entry points (plpgsql, SET search_path = pg_catalog,
-- attempts), and their bodies are checked at creation under this path:
SET search_path = pg_catalog, attempts;

-- save_attempt (p_submit false) or submit_attempt (p_submit true, without
-- auto_save_data) for a known caller: the one core of both, which the
-- entry points, batch_save_each and coalesced_writes call.
DROP FUNCTION IF EXISTS attempts.save_core(uuid, text, uuid, jsonb, jsonb, int, int);
DROP FUNCTION IF EXISTS attempts.submit_core(uuid, text, uuid, jsonb, int, int);
CREATE OR REPLACE FUNCTION attempts.write_core(p_sub uuid, p_role text, p_attempt_id uuid,
                                               p_submit boolean, p_answers jsonb,
                                               p_auto_save_data jsonb, p_expected_version int,
                                               p_max_answers_bytes int)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_a attempts.attempts := load_attempt(p_attempt_id, true);
    v_err jsonb := access_error(v_a, p_sub, p_role, 'owner');
    v_merged jsonb;
BEGIN
    IF v_err IS NULL AND p_submit AND v_a.status = 'submitted' THEN
        RETURN attempt_state_json(v_a)
               || jsonb_build_object('receipt', v_a.receipt, 'already_submitted', true);
    END IF;
    v_err := coalesce(v_err, check_writable(v_a, p_expected_version));   -- may close it
    p_answers := nullif(p_answers, 'null'::jsonb);
    p_auto_save_data := nullif(p_auto_save_data, 'null'::jsonb);
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    ELSIF NOT p_submit AND p_answers IS NULL AND p_auto_save_data IS NULL THEN
        RETURN invalid('answers', 'answers or auto_save_data is required');
    ELSIF jsonb_typeof(p_answers) <> 'object' THEN
        RETURN invalid('answers', 'answers must be an object');
    ELSIF jsonb_typeof(p_auto_save_data) <> 'object' THEN
        RETURN invalid('auto_save_data', 'auto_save_data must be an object');
    END IF;
    v_merged := merge_answers(v_a.answers, coalesce(p_answers, '{}'));
    v_err := answers_too_large(v_merged, coalesce(p_max_answers_bytes, 524288));
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    ELSIF p_submit THEN
        UPDATE attempts.attempts
           SET answers = v_merged, status = 'submitted', submit_reason = 'student',
               submitted_at = now(), receipt = receipt_of(v_merged),
               version = version + 1, updated_at = now(), last_activity_at = now()
         WHERE attempt_id = p_attempt_id
        RETURNING * INTO v_a;
        RETURN attempt_state_json(v_a)
               || jsonb_build_object('receipt', v_a.receipt, 'already_submitted', false);
    END IF;
    UPDATE attempts.attempts
       SET answers = v_merged, auto_save_data = coalesce(p_auto_save_data, auto_save_data),
           version = version + 1, updated_at = now(), last_activity_at = now()
     WHERE attempt_id = p_attempt_id
    RETURNING * INTO v_a;
    RETURN jsonb_build_object('attempt_id', v_a.attempt_id, 'version', v_a.version,
                              'saved_at', ts(v_a.updated_at),
                              'time_remaining_s', time_remaining_s(v_a));
END
$$;

-- NULL when p_events is an array of well-formed events, else validation_failed
-- naming the first bad field (events[i].event_type, ...): the one statement
-- of these rules (the service checks only the limits on count and payload
-- size before the call, lib/events.h). occurred_at is RFC 3339 with a "T",
-- at most nanoseconds and a zone of Z or +hh:mm, and a real time.
CREATE OR REPLACE FUNCTION attempts.events_error(p_events jsonb)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_ev jsonb;
    v_i bigint;
    v_at text;
    v_id jsonb;
BEGIN
    IF jsonb_typeof(p_events) IS DISTINCT FROM 'array' THEN
        RETURN invalid('events', 'events must be an array of event objects');
    END IF;
    FOR v_ev, v_i IN SELECT e.value, e.ord - 1
                       FROM jsonb_array_elements(p_events) WITH ORDINALITY AS e(value, ord) LOOP
        v_at := 'events[' || v_i || ']';
        IF jsonb_typeof(v_ev) <> 'object' THEN
            RETURN invalid(v_at, 'an event must be an object');
        END IF;
        IF jsonb_typeof(v_ev -> 'event_type') IS DISTINCT FROM 'string'
           OR (v_ev ->> 'event_type') !~ '^[a-z0-9_.-]{1,64}$' THEN
            RETURN invalid(v_at || '.event_type', 'event_type must be 1..64 characters of [a-z0-9_.-]');
        END IF;
        v_id := nullif(v_ev -> 'client_event_id', 'null'::jsonb);
        IF v_id IS NOT NULL AND (jsonb_typeof(v_id) <> 'string'
                                 OR char_length(v_id #>> '{}') NOT BETWEEN 1 AND 128) THEN
            RETURN invalid(v_at || '.client_event_id', 'client_event_id must be a string of 1..128 characters');
        END IF;
        IF nullif(v_ev -> 'occurred_at', 'null'::jsonb) IS NOT NULL
           AND (jsonb_typeof(v_ev -> 'occurred_at') <> 'string'
                OR (v_ev ->> 'occurred_at') !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$'
                OR try_ts(v_ev ->> 'occurred_at') IS NULL) THEN
            RETURN invalid(v_at || '.occurred_at', 'occurred_at must be an RFC 3339 timestamp');
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- log_attempt_activity for a known caller (see log_attempt_activity).
CREATE OR REPLACE FUNCTION attempts.log_core(p_sub uuid, p_role text, p_attempt_id uuid, p_events jsonb)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_a attempts.attempts := load_attempt(p_attempt_id, false);
    -- The events first: a malformed request is refused as such, whoever sends it.
    v_err jsonb := coalesce(events_error(p_events), access_error(v_a, p_sub, p_role, 'owner'));
    v_total int;
    v_logged int;
BEGIN
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    END IF;
    v_total := jsonb_array_length(p_events);
    -- Rows go in input order, so of two events with one client_event_id in
    -- this call the first is stored and the second counts as a duplicate.
    WITH ins AS (
        INSERT INTO attempts.attempt_activity
               (attempt_id, event_type, payload, client_event_id, occurred_at)
        SELECT v_a.attempt_id, e.value ->> 'event_type',
               nullif(e.value -> 'payload', 'null'::jsonb),
               e.value ->> 'client_event_id', try_ts(e.value ->> 'occurred_at')
          FROM jsonb_array_elements(p_events) WITH ORDINALITY AS e(value, ord)
         ORDER BY e.ord
        ON CONFLICT (attempt_id, client_event_id) DO NOTHING
        RETURNING 1)
    SELECT count(*) INTO v_logged FROM ins;
    IF v_total > 0 THEN
        UPDATE attempts.attempts SET last_activity_at = now()
         WHERE attempt_id = v_a.attempt_id AND last_activity_at IS DISTINCT FROM now();
    END IF;
    RETURN jsonb_build_object('logged', v_logged, 'duplicates', v_total - v_logged);
END
$$;

-- Saves answers (merged at the top level, null removes a key) and/or
-- auto_save_data (replaced); owner only. Returns {"attempt_id", "version",
-- "saved_at", "time_remaining_s"}. Errors: not_found, forbidden,
-- attempt_submitted, attempt_closed (closing it), version_conflict,
-- validation_failed, payload_too_large (answers text over p_max_answers_bytes).
CREATE OR REPLACE FUNCTION attempts.save_attempt(p_attempt_id uuid, p_answers jsonb,
                                                 p_auto_save_data jsonb,
                                                 p_expected_version int,
                                                 p_max_answers_bytes int DEFAULT 524288)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    c record := require_caller(NULL);
BEGIN
    RETURN coalesce(c.error, write_core(c.sub, c.role, p_attempt_id, false, p_answers,
                                        p_auto_save_data, p_expected_version,
                                        p_max_answers_bytes));
END
$$;

-- Submits the attempt, after an optional last merge of p_answers; owner only.
-- Returns the state plus "receipt" and "already_submitted" (true, with the
-- same receipt and nothing written, when it was submitted before).
-- Errors as save_attempt.
CREATE OR REPLACE FUNCTION attempts.submit_attempt(p_attempt_id uuid,
                                                   p_answers jsonb DEFAULT NULL,
                                                   p_expected_version int DEFAULT NULL,
                                                   p_max_answers_bytes int DEFAULT 524288)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    c record := require_caller(NULL);
BEGIN
    RETURN coalesce(c.error, write_core(c.sub, c.role, p_attempt_id, true, p_answers, NULL,
                                        p_expected_version, p_max_answers_bytes));
END
$$;

-- Logs activity events (also on submitted attempts); owner only. Events
-- whose client_event_id was logged before, or earlier in p_events, are
-- duplicates. Returns {"logged", "duplicates"}; the version is not changed.
CREATE OR REPLACE FUNCTION attempts.log_attempt_activity(p_attempt_id uuid, p_events jsonb)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    c record := require_caller(NULL);
BEGIN
    RETURN coalesce(c.error, log_core(c.sub, c.role, p_attempt_id, p_events));
END
$$;

-- The single writes of several requests (the service's write coalescing),
-- each under its own caller, in one statement and so one commit. p_items:
-- [{"kind": "save" | "submit" | "log", "claims": {"sub", "role"},
--   "attempt_id": "<uuid>", "body": <the request body or null>,
--   "expected_version": <int or null>, "max_answers_bytes": <int>}, ...].
-- Returns one element per item, in input order: exactly what save_attempt,
-- submit_attempt or log_attempt_activity returns to that caller alone
-- (the same cores, the same claims rule). Items run in attempt_id order,
-- and items of one attempt in input order (two saves of one attempt apply
-- in arrival order): every call takes its row locks in ascending
-- attempt_id order, so concurrent calls cannot deadlock. An item's error
-- is its element; only a statement error (which commits nothing) fails
-- them all. The attempts written are announced by one notification (the
-- ids comma-separated, sql/003) instead of one per row.
CREATE OR REPLACE FUNCTION attempts.coalesced_writes(p_items jsonb)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_item jsonb;
    v_ord bigint;
    v_body jsonb;
    v_sub uuid;
    v_role text;
    v_id uuid;
    v_res jsonb;
    v_out jsonb[] := array_fill(NULL::jsonb, ARRAY[jsonb_array_length(p_items)]);
    v_ids uuid[] := '{}';
BEGIN
    PERFORM set_config('attempts.announce_changes', 'statement', true);
    FOR v_item, v_ord IN SELECT e.value, e.ord
                           FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(value, ord)
                          ORDER BY (e.value ->> 'attempt_id')::uuid, e.ord LOOP
        SELECT c.sub, c.role INTO v_sub, v_role FROM caller_of(v_item -> 'claims') c;
        v_id := (v_item ->> 'attempt_id')::uuid;
        v_body := v_item -> 'body';
        IF v_sub IS NULL THEN
            v_res := unauthorized();
        ELSIF v_item ->> 'kind' IN ('save', 'submit') THEN
            v_res := write_core(v_sub, v_role, v_id, v_item ->> 'kind' = 'submit',
                                nullif(v_body -> 'answers', 'null'::jsonb),
                                CASE WHEN v_item ->> 'kind' = 'save'
                                     THEN nullif(v_body -> 'auto_save_data', 'null'::jsonb) END,
                                (v_item ->> 'expected_version')::int,
                                (v_item ->> 'max_answers_bytes')::int);
        ELSIF v_item ->> 'kind' = 'log' THEN
            v_res := log_core(v_sub, v_role, v_id, v_body -> 'events');
        ELSE
            RAISE EXCEPTION 'coalesced_writes: unknown kind %', v_item ->> 'kind';
        END IF;
        v_out[v_ord] := v_res;
        -- what the item may have changed (an error changes nothing, except
        -- attempt_closed: the deadline close)
        IF v_res ? 'error' IS DISTINCT FROM true OR v_res #>> '{error,code}' = 'attempt_closed' THEN
            v_ids := array_append(v_ids, v_id);
        END IF;
    END LOOP;
    PERFORM set_config('attempts.announce_changes', 'row', true);
    PERFORM announce_changes(v_ids);
    RETURN to_jsonb(v_out);
END
$$;
