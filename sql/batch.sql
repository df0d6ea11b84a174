-- batch.sql — batch functions (docs/API.md §6 batch): many items of one
-- caller in one call. Repeatable: only CREATE OR REPLACE (and DROP IF
-- EXISTS of a signature that changed), re-applied by sql/migrate.sh
-- whenever this file changes; sql/migrate.sh applies the files in the order
-- its list gives.
--
-- Batch functions answer one element per input item, in input order, in one
-- statement; an item fails alone (an attempt the caller may not touch is
-- not_found, as for a single call). Only a caller who may not use the
-- function at all gets a single error object instead of an array.
--
-- The LANGUAGE sql helpers carry no SET search_path: a function with a SET
-- clause cannot be inlined, and inlining makes them several times cheaper.
-- They run inside the entry points (plpgsql, SET search_path = pg_catalog,
-- attempts), and their bodies are checked at creation under this path:
SET search_path = pg_catalog, attempts;

-- Signatures that changed (a new parameter): the old ones would be
-- overloads that make calls ambiguous.
DROP FUNCTION IF EXISTS attempts.attempt_problems(attempts.attempts);
DROP FUNCTION IF EXISTS attempts.multiple_attempts(uuid[], boolean);
DROP FUNCTION IF EXISTS attempts.get_multiple_attempt_states(uuid[]);
DROP FUNCTION IF EXISTS attempts.get_multiple_attempt_infos(uuid[]);

-- p_error ({"error": ...}) with details.field, if any, prefixed by p_prefix
-- and a dot: "answers" -> "data[3].answers".
CREATE OR REPLACE FUNCTION attempts.prefix_field(p_error jsonb, p_prefix text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_error #>> '{error,details,field}' IS NULL THEN p_error
        ELSE jsonb_set(p_error, '{error,details,field}',
                       to_jsonb(p_prefix || '.' || (p_error #>> '{error,details,field}')))
    END
$$;

-- The attempt ids (canonical UUID strings) of the object items of p_items,
-- for locking; other items are left out.
CREATE OR REPLACE FUNCTION attempts.item_attempt_ids(p_items jsonb)
RETURNS uuid[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg((e.value ->> 'attempt_id')::uuid), '{}')
      FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p_items) = 'array'
                                     THEN p_items ELSE '[]' END) AS e(value)
     WHERE CASE WHEN jsonb_typeof(e.value) = 'object' AND jsonb_typeof(e.value -> 'attempt_id') = 'string'
                THEN attempts.is_uuid(e.value ->> 'attempt_id') ELSE false END
$$;

-- Locks, in attempt_id order, the attempts among p_ids that the caller may
-- write (its own; every one for p_all), so that concurrent batches touching
-- the same attempts cannot deadlock.
CREATE OR REPLACE FUNCTION attempts.lock_attempts(p_ids uuid[], p_sub uuid, p_all boolean)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
BEGIN
    PERFORM 1 FROM attempts.attempts a
      WHERE a.attempt_id = ANY (p_ids) AND (p_all OR a.user_id = p_sub)
      ORDER BY a.attempt_id
        FOR UPDATE;
END
$$;

-- The problems of a readable attempt (of an exam with p_grace_s) for
-- validate_multiple_attempts: ["submitted"] alone, or any of
-- "deadline_passed", "answers_too_large".
CREATE OR REPLACE FUNCTION attempts.attempt_problems(a attempts.attempts, p_grace_s int)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN a.status = 'submitted' THEN '["submitted"]'::jsonb
        ELSE CASE WHEN attempts.past_deadline(a, p_grace_s) THEN '["deadline_passed"]'::jsonb ELSE '[]'::jsonb END
          || CASE WHEN octet_length(a.answers::text) > 524288
                  THEN '["answers_too_large"]'::jsonb ELSE '[]'::jsonb END
    END
$$;

-- The shape error of batch_save item p_item (fields named p_at.attempt_id,
-- ...), or NULL: an object with a UUID string attempt_id, answers and
-- auto_save_data objects or null/absent, expected_version an integer or
-- null/absent.
CREATE OR REPLACE FUNCTION attempts.batch_save_shape_error(p_item jsonb, p_at text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN jsonb_typeof(p_item) IS DISTINCT FROM 'object'
            THEN attempts.invalid(p_at, 'an item must be an object')
        WHEN jsonb_typeof(p_item -> 'attempt_id') IS DISTINCT FROM 'string'
             OR NOT attempts.is_uuid(p_item ->> 'attempt_id')
            THEN attempts.invalid(p_at || '.attempt_id', 'attempt_id must be a UUID')
        WHEN jsonb_typeof(p_item -> 'answers') NOT IN ('object', 'null')
            THEN attempts.invalid(p_at || '.answers', 'answers must be an object')
        WHEN jsonb_typeof(p_item -> 'auto_save_data') NOT IN ('object', 'null')
            THEN attempts.invalid(p_at || '.auto_save_data', 'auto_save_data must be an object')
        WHEN jsonb_typeof(p_item -> 'expected_version') <> 'null'
             AND attempts.json_int(p_item -> 'expected_version', -2147483648, 2147483647) IS NULL
            THEN attempts.invalid(p_at || '.expected_version', 'expected_version must be an integer')
    END
$$;

-- A batch_save result item for the item whose attempt_id (as sent, JSON
-- null for a non-object item) is p_id: the error of p_result, or success
-- with p_result's version.
CREATE OR REPLACE FUNCTION attempts.batch_save_result(p_id jsonb, p_result jsonb)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_result ? 'error'
            THEN jsonb_build_object('attempt_id', p_id, 'success', false, 'error', p_result -> 'error')
        ELSE jsonb_build_object('attempt_id', p_id, 'success', true, 'version', p_result -> 'version')
    END
$$;

-- One batch_save item, exactly as save_attempt: its shape, then write_core.
CREATE OR REPLACE FUNCTION attempts.batch_save_item(p_sub uuid, p_role text, p_item jsonb,
                                                    p_at text, p_max_answers_bytes int)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_res jsonb := batch_save_shape_error(p_item, p_at);
BEGIN
    IF v_res IS NULL THEN
        v_res := prefix_field(
            write_core(p_sub, p_role, (p_item ->> 'attempt_id')::uuid, false,
                       nullif(p_item -> 'answers', 'null'::jsonb),
                       nullif(p_item -> 'auto_save_data', 'null'::jsonb),
                       json_int(p_item -> 'expected_version', -2147483648, 2147483647)::int,
                       p_max_answers_bytes),
            p_at);
    END IF;
    RETURN batch_save_result(CASE WHEN jsonb_typeof(p_item) = 'object' THEN p_item -> 'attempt_id' END,
                             v_res);
END
$$;

-- batch_save item by item, in input order: items naming the same attempt
-- see each other's writes, and an attempt past its deadline is closed.
CREATE OR REPLACE FUNCTION attempts.batch_save_each(p_sub uuid, p_role text, p_operations jsonb,
                                                    p_max_answers_bytes int)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_item jsonb;
    v_i bigint;
    v_out jsonb := '[]';
BEGIN
    FOR v_item, v_i IN SELECT e.value, e.ord - 1
                         FROM jsonb_array_elements(p_operations) WITH ORDINALITY AS e(value, ord)
                        ORDER BY e.ord LOOP
        v_out := v_out || jsonb_build_array(
            batch_save_item(p_sub, p_role, v_item, 'data[' || v_i || ']', p_max_answers_bytes));
    END LOOP;
    RETURN v_out;
END
$$;

-- batch_save as one statement: every verdict as write_core would give it,
-- then one UPDATE of the items without an error. Only for batches whose
-- items name distinct attempts, none of the caller's past its deadline
-- (batch_save_attempts checks): then the items are independent, and
-- nothing is closed.
CREATE OR REPLACE FUNCTION attempts.batch_save_set(p_sub uuid, p_role text, p_operations jsonb,
                                                   p_max_answers_bytes int)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_out jsonb;
BEGIN
    WITH item AS MATERIALIZED (
        SELECT e.ord, e.at, e.shape_error,
               CASE WHEN jsonb_typeof(e.value) = 'object' THEN e.value -> 'attempt_id' END AS id,
               CASE WHEN e.shape_error IS NULL THEN (e.value ->> 'attempt_id')::uuid END AS attempt_id,
               coalesce(nullif(e.value -> 'answers', 'null'::jsonb), '{}') AS answers,
               nullif(e.value -> 'auto_save_data', 'null'::jsonb) AS auto_save_data,
               jsonb_typeof(e.value -> 'answers') IS DISTINCT FROM 'object'
                   AND jsonb_typeof(e.value -> 'auto_save_data') IS DISTINCT FROM 'object' AS empty,
               CASE WHEN e.shape_error IS NULL
                    THEN attempts.json_int(e.value -> 'expected_version', -2147483648, 2147483647)::int
               END AS expected_version
          FROM (SELECT o.ord, o.value, 'data[' || (o.ord - 1) || ']' AS at,
                       attempts.batch_save_shape_error(o.value, 'data[' || (o.ord - 1) || ']')
                           AS shape_error
                  FROM jsonb_array_elements(p_operations) WITH ORDINALITY AS o(value, ord)) AS e
    ), verdict AS (
        SELECT i.ord, i.id, i.attempt_id, i.auto_save_data,
               attempts.merge_answers(a.answers, i.answers) AS merged,
               coalesce(i.shape_error,
                        attempts.access_error(a, p_sub, p_role, 'owner'),
                        attempts.writable_error(a, x.grace_s, i.expected_version),
                        CASE WHEN i.empty
                             THEN attempts.invalid(i.at || '.answers',
                                                   'answers or auto_save_data is required') END,
                        attempts.answers_too_large(attempts.merge_answers(a.answers, i.answers),
                                                   p_max_answers_bytes)) AS error
          FROM item i
          LEFT JOIN attempts.attempts a ON a.attempt_id = i.attempt_id
          LEFT JOIN attempts.exams x ON x.exam_id = a.exam_id
    ), saved AS (
        UPDATE attempts.attempts a
           SET answers = v.merged,
               auto_save_data = coalesce(v.auto_save_data, a.auto_save_data),
               version = a.version + 1, updated_at = now(), last_activity_at = now()
          FROM verdict v
         WHERE v.error IS NULL AND a.attempt_id = v.attempt_id
        RETURNING a.attempt_id, a.version
    )
    SELECT coalesce(jsonb_agg(attempts.batch_save_result(v.id,
                                  coalesce(v.error, jsonb_build_object('version', s.version)))
                              ORDER BY v.ord), '[]')
      INTO v_out
      FROM verdict v
      LEFT JOIN saved s ON v.error IS NULL AND s.attempt_id = v.attempt_id;
    RETURN v_out;
END
$$;

-- Saves many attempts, each exactly as save_attempt (owner only) with
-- {"attempt_id", "answers", "auto_save_data", "expected_version"}. Returns
-- [{"attempt_id", "success": true, "version"} | {"attempt_id", "success": false, "error"}].
-- One statement for the whole batch (batch_save_set) unless two items name
-- one attempt or one of the caller's attempts is past its deadline: then
-- item by item (batch_save_each).
CREATE OR REPLACE FUNCTION attempts.batch_save_attempts(p_operations jsonb,
                                                        p_max_answers_bytes int DEFAULT 524288)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    c record := require_caller(NULL);
    v_sub uuid := c.sub;
    v_ids uuid[] := item_attempt_ids(p_operations);
    v_limit int := coalesce(p_max_answers_bytes, 524288);
BEGIN
    IF c.error IS NOT NULL OR jsonb_typeof(p_operations) IS DISTINCT FROM 'array' THEN
        RETURN coalesce(c.error, invalid('data', 'data must be an array'));
    END IF;
    PERFORM lock_attempts(v_ids, v_sub, false);
    IF cardinality(v_ids) <> (SELECT count(DISTINCT x) FROM unnest(v_ids) AS x)
       OR EXISTS (SELECT 1 FROM attempts.attempts a
                   JOIN attempts.exams e ON e.exam_id = a.exam_id
                   WHERE a.attempt_id = ANY (v_ids) AND a.user_id = v_sub
                     AND past_deadline(a, e.grace_s)) THEN
        RETURN batch_save_each(v_sub, c.role, p_operations, v_limit);
    END IF;
    RETURN batch_save_set(v_sub, c.role, p_operations, v_limit);
END
$$;

-- The state (or, with p_info, the info) of each attempt the caller may
-- read, or {"attempt_id", "error"}; in input order, duplicates answered each
-- time. Serves get_multiple_attempt_states and get_multiple_attempt_infos.
-- With p_max_bytes, refuses first (payload_too_large) when the answer
-- would be longer: the readable attempts' answers and auto-save data
-- (body_bytes, kept by PostgreSQL) plus 1 KiB for each item's other
-- fields. Only attempts the caller may read count, so the refusal tells
-- nothing of other people's attempts.
CREATE OR REPLACE FUNCTION attempts.multiple_attempts(p_attempt_ids uuid[], p_info boolean,
                                                      p_max_bytes bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
DECLARE
    c record := require_caller(NULL);
    v_sub uuid := c.sub;
    v_role text := c.role;
    v_bytes bigint;
BEGIN
    IF c.error IS NOT NULL THEN
        RETURN c.error;
    ELSIF p_max_bytes IS NOT NULL THEN
        SELECT coalesce(sum(CASE WHEN p_info OR access_error(a, v_sub, v_role, 'read') IS NOT NULL
                                 THEN 0 ELSE a.body_bytes END), 0)
               + 1024 * cardinality(p_attempt_ids)
          INTO v_bytes
          FROM unnest(p_attempt_ids) AS u(id)
          LEFT JOIN attempts.attempts a ON a.attempt_id = u.id;
        IF v_bytes > p_max_bytes THEN
            RETURN err('payload_too_large',
                       format('the answer would be about %s bytes, over max_response_bytes (%s)',
                              v_bytes, p_max_bytes),
                       jsonb_build_object('limit', 'max_response_bytes', 'max_bytes', p_max_bytes,
                                          'bytes', v_bytes));
        END IF;
    END IF;
    RETURN coalesce((
        SELECT jsonb_agg(CASE WHEN access_error(a, v_sub, v_role, 'read') IS NULL
                              THEN CASE WHEN p_info THEN attempt_info_json(a)
                                        ELSE attempt_state_json(a) END
                              ELSE jsonb_build_object('attempt_id', u.id)
                                   || access_error(a, v_sub, v_role, 'read') END
                         ORDER BY u.ord)
          FROM unnest(p_attempt_ids) WITH ORDINALITY AS u(id, ord)
          LEFT JOIN attempts.attempts a ON a.attempt_id = u.id), '[]'::jsonb);
END
$$;

-- The state of each attempt (read access), or {"attempt_id", "error"}; in
-- input order, duplicates answered each time; p_max_bytes as for
-- multiple_attempts.
CREATE OR REPLACE FUNCTION attempts.get_multiple_attempt_states(p_attempt_ids uuid[], p_max_bytes bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT attempts.multiple_attempts(p_attempt_ids, false, p_max_bytes)
$$;

-- As get_multiple_attempt_states, with the info object (batch "query" of type info).
CREATE OR REPLACE FUNCTION attempts.get_multiple_attempt_infos(p_attempt_ids uuid[], p_max_bytes bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT attempts.multiple_attempts(p_attempt_ids, true, p_max_bytes)
$$;

-- Logs activity for many attempts, each item {"attempt_id", "events"} as
-- log_attempt_activity. Returns [{"attempt_id", "logged", "duplicates"} |
-- {"attempt_id", "error"}]. p_items, when given, are the 1-based positions
-- of the items to log (the service answers the others itself, e.g. over
-- its size limits): only they are answered, in order, and their error
-- paths (data[i]...) still count every item of p_batch.
DROP FUNCTION IF EXISTS attempts.batch_log_attempt_activity(jsonb);
CREATE OR REPLACE FUNCTION attempts.batch_log_attempt_activity(p_batch jsonb,
                                                               p_items bigint[] DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    c record := require_caller(NULL);
    v_item jsonb;
    v_i bigint;
    v_id jsonb;
    v_at text;
    v_res jsonb;
    v_out jsonb := '[]';
BEGIN
    IF c.error IS NOT NULL OR jsonb_typeof(p_batch) IS DISTINCT FROM 'array' THEN
        RETURN coalesce(c.error, invalid('data', 'data must be an array'));
    END IF;
    PERFORM lock_attempts(item_attempt_ids(p_batch), c.sub, false);
    FOR v_item, v_i IN SELECT e.value, e.ord - 1
                         FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS e(value, ord)
                        WHERE p_items IS NULL OR e.ord = ANY (p_items)
                        ORDER BY e.ord LOOP
        v_at := 'data[' || v_i || ']';
        v_id := CASE WHEN jsonb_typeof(v_item) = 'object' THEN v_item -> 'attempt_id' END;
        IF jsonb_typeof(v_item) IS DISTINCT FROM 'object' THEN
            v_res := invalid(v_at, 'an item must be an object');
        ELSIF jsonb_typeof(v_id) IS DISTINCT FROM 'string' OR NOT is_uuid(v_id #>> '{}') THEN
            v_res := invalid(v_at || '.attempt_id', 'attempt_id must be a UUID');
        ELSE
            v_res := prefix_field(log_core(c.sub, c.role, (v_id #>> '{}')::uuid,
                                           v_item -> 'events'), v_at);
        END IF;
        -- {"attempt_id"} + either {"logged", "duplicates"} or {"error"}
        v_out := v_out || jsonb_build_array(jsonb_build_object('attempt_id', v_id) || v_res);
    END LOOP;
    RETURN v_out;
END
$$;

-- Submits many attempts for a proctor/admin (reason cleanup). Returns
-- [{"attempt_id", "submitted": true, "already_submitted", "receipt"} |
-- {"attempt_id", "error"}]; a student gets one forbidden error object.
CREATE OR REPLACE FUNCTION attempts.batch_submit_attempts(p_attempt_ids uuid[])
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_err jsonb := caller_error('{proctor,admin}');
    v_id uuid;
    v_a attempts.attempts;
    v_already boolean;
    v_out jsonb := '[]';
BEGIN
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    END IF;
    PERFORM lock_attempts(p_attempt_ids, NULL, true);
    FOR v_id IN SELECT u.id FROM unnest(p_attempt_ids) WITH ORDINALITY AS u(id, ord)
                 ORDER BY u.ord LOOP
        v_a := load_attempt(v_id, true);
        IF v_a.attempt_id IS NULL THEN
            v_out := v_out || jsonb_build_array(jsonb_build_object('attempt_id', v_id)
                                                || err('not_found', 'attempt not found'));
            CONTINUE;
        END IF;
        v_already := v_a.status = 'submitted';
        IF NOT v_already THEN
            v_a := close_attempt(v_id, 'cleanup');
        END IF;
        v_out := v_out || jsonb_build_array(jsonb_build_object(
            'attempt_id', v_id, 'submitted', true,
            'already_submitted', v_already, 'receipt', v_a.receipt));
    END LOOP;
    RETURN v_out;
END
$$;

-- For each attempt (read access) {"attempt_id", "valid", "problems"}, or
-- {"attempt_id", "error"} (not_found); in input order.
CREATE OR REPLACE FUNCTION attempts.validate_multiple_attempts(p_attempt_ids uuid[])
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
DECLARE
    c record := require_caller(NULL);
    v_sub uuid := c.sub;
    v_role text := c.role;
BEGIN
    RETURN coalesce(c.error, (
        SELECT jsonb_agg(CASE WHEN access_error(a, v_sub, v_role, 'read') IS NULL
                              THEN jsonb_build_object('attempt_id', u.id,
                                                      'valid', attempt_problems(a, e.grace_s) = '[]'::jsonb,
                                                      'problems', attempt_problems(a, e.grace_s))
                              ELSE jsonb_build_object('attempt_id', u.id)
                                   || access_error(a, v_sub, v_role, 'read') END
                         ORDER BY u.ord)
          FROM unnest(p_attempt_ids) WITH ORDINALITY AS u(id, ord)
          LEFT JOIN attempts.attempts a ON a.attempt_id = u.id
          LEFT JOIN attempts.exams e ON e.exam_id = a.exam_id), '[]'::jsonb);
END
$$;
