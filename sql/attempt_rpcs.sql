-- attempt_rpcs.sql — helpers and the single-attempt RPC functions of the
-- attempt service (docs/SQL.md, docs/API.md §5-6). Repeatable: only
-- CREATE OR REPLACE, re-applied by sql/migrate.sh whenever this file changes.
--
-- Every public function returns jsonb and never raises for a client error:
-- it returns the resource or {"error": {"code", "message", "details"?}}.
-- The caller is read from the setting request.jwt.claims
-- ({"sub": uuid, "role": "student"|"proctor"|"admin"}).

------------------------------------------------------------------ basics

-- Builds the error object {"error": {"code", "message", "details"?}}.
-- The LANGUAGE sql helpers carry no SET search_path: a function with a SET
-- clause cannot be inlined, and inlining makes them several times cheaper.
-- They run inside the entry points (plpgsql, SET search_path = pg_catalog,
-- attempts), and their bodies are checked at creation under this path:
SET search_path = pg_catalog, attempts;

CREATE OR REPLACE FUNCTION attempts.err(p_code text, p_message text,
                                        p_details jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object('error',
        jsonb_build_object('code', p_code, 'message', p_message)
        || CASE WHEN p_details IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('details', p_details) END)
$$;

-- validation_failed naming the offending field in details.field.
CREATE OR REPLACE FUNCTION attempts.invalid(p_field text, p_message text)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT attempts.err('validation_failed', p_message, jsonb_build_object('field', p_field))
$$;

-- The error for missing or unusable claims.
CREATE OR REPLACE FUNCTION attempts.unauthorized()
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT attempts.err('unauthorized', 'missing or invalid request.jwt.claims')
$$;

-- The claims object from request.jwt.claims, or NULL when the setting is
-- unset, empty, not JSON or not an object.
CREATE OR REPLACE FUNCTION attempts.claims()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_raw text := current_setting('request.jwt.claims', true);
    v_claims jsonb;
BEGIN
    IF v_raw IS NULL OR btrim(v_raw) = '' THEN
        RETURN NULL;
    END IF;
    BEGIN
        v_claims := v_raw::jsonb;
    EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
        RETURN NULL;
    END;
    IF jsonb_typeof(v_claims) <> 'object' THEN
        RETURN NULL;
    END IF;
    RETURN v_claims;
END
$$;

-- The (sub, role) of a claims object, both NULL unless it is an object whose
-- sub is a UUID string and role one of student, proctor, admin. The one
-- rule for claims, shared by caller() and coalesced_writes().
CREATE OR REPLACE FUNCTION attempts.caller_of(p_claims jsonb, OUT sub uuid, OUT role text)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, attempts
AS $$
BEGIN
    IF jsonb_typeof(p_claims) IS DISTINCT FROM 'object'
       OR jsonb_typeof(p_claims -> 'sub') IS DISTINCT FROM 'string'
       OR jsonb_typeof(p_claims -> 'role') IS DISTINCT FROM 'string'
       OR (p_claims ->> 'role') NOT IN ('student', 'proctor', 'admin')
       OR (p_claims ->> 'sub') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    THEN
        RETURN;
    END IF;
    sub := (p_claims ->> 'sub')::uuid;
    role := p_claims ->> 'role';
END
$$;

-- The caller's (sub, role) from request.jwt.claims, as caller_of. The exact
-- text the service writes, {"sub":"<uuid>","role":"<role>"}, is read by
-- position: parsing it as jsonb needs claims()' exception block (a
-- subtransaction per call), and this runs on every request. Any other
-- text takes the general path.
CREATE OR REPLACE FUNCTION attempts.caller(OUT sub uuid, OUT role text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_raw text := current_setting('request.jwt.claims', true);
BEGIN
    IF left(v_raw, 8) = '{"sub":"' AND substr(v_raw, 45, 10) = '","role":"'
       AND right(v_raw, 2) = '"}'
       AND substr(v_raw, 9, 36) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       AND substr(v_raw, 55, length(v_raw) - 56) IN ('student', 'proctor', 'admin') THEN
        sub := substr(v_raw, 9, 36)::uuid;
        role := substr(v_raw, 55, length(v_raw) - 56);
        RETURN;
    END IF;
    SELECT c.sub, c.role INTO sub, role FROM caller_of(claims()) c;
END
$$;

-- RFC 3339 UTC text with microseconds (YYYY-MM-DDTHH:MM:SS.ffffffZ); NULL in, NULL out.
CREATE OR REPLACE FUNCTION attempts.ts(p timestamptz)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- True when p is a UUID in canonical lowercase 8-4-4-4-12 form (API §3).
CREATE OR REPLACE FUNCTION attempts.is_uuid(p text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
AS $$
    SELECT coalesce(p ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', false)
$$;

-- A JSON value as an integer if it is an integral number within [p_lo, p_hi],
-- else NULL (also for strings, fractions, NULL).
CREATE OR REPLACE FUNCTION attempts.json_int(p jsonb, p_lo bigint, p_hi bigint)
RETURNS bigint
LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE
        WHEN jsonb_typeof(p) IS DISTINCT FROM 'number' THEN NULL
        WHEN p::numeric < p_lo OR p::numeric > p_hi THEN NULL
        WHEN p::numeric <> trunc(p::numeric) THEN NULL
        ELSE p::numeric::bigint
    END
$$;

-- An RFC 3339 timestamp (offset required) as timestamptz, NULL if p is not one.
CREATE OR REPLACE FUNCTION attempts.try_ts(p text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, attempts
AS $$
BEGIN
    -- The regex keeps out PostgreSQL's special inputs ('now', 'epoch', ...).
    IF p IS NULL OR p !~ '^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}(:?\d{2})?)$' THEN
        RETURN NULL;
    END IF;
    RETURN p::timestamptz;
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END
$$;

------------------------------------------------------------------ JCS (RFC 8785)

-- A decimal numeral as float8, NULL when it does not fit a double.
CREATE OR REPLACE FUNCTION attempts.float8_or_null(p text)
RETURNS float8
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, attempts
AS $$
BEGIN
    RETURN p::float8;
EXCEPTION WHEN numeric_value_out_of_range OR invalid_text_representation THEN
    RETURN NULL;
END
$$;

-- A JSON number in ECMAScript Number::toString form, as JCS requires: the
-- value is first rounded to an IEEE double, whose shortest round-trip digits
-- (float8 output with extra_float_digits >= 1) are laid out by ECMAScript's
-- rules: 1.0 -> 1, 1e21 -> 1e+21, 1e-7 -> 1e-7, 0.000001 -> 0.000001, -0 -> 0.
-- Magnitudes beyond a double give what a JavaScript implementation gives:
-- underflow -> 0, overflow -> null (JSON.stringify(Infinity)).
-- PostgreSQL's shortest output never picks a decimal lying exactly on the
-- rounding boundary of the double (its Ryu excludes the bounds), where
-- ECMAScript does when the mantissa is even: -3.9126e21 prints as
-- -3.9126000000000003e+21. That can only happen when 16 or 17 digits come
-- out, and the shorter boundary decimal is then the floor or the ceiling of
-- those digits at some shorter length, so we try those (round trip through
-- float8in, which rounds half to even).
CREATE OR REPLACE FUNCTION attempts.jcs_number(p numeric)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, attempts
SET extra_float_digits = 1
AS $$
DECLARE
    v_text   text;
    v_neg    boolean;
    v_mant   text;
    v_exp    int;
    v_frac   text;
    v_digits text;
    v_zeros  int;
    v_k      int;   -- number of significant digits
    v_n      int;   -- value = 0.digits * 10^n
    v_x      float8;
    v_m      int;
    v_lo     text;
    v_hi     text;
    v_lo_ok  boolean;
    v_hi_ok  boolean;
    v_scale  numeric;
    v_d_lo   numeric;
    v_d_hi   numeric;
BEGIN
    IF p = 0 THEN
        RETURN '0';
    END IF;
    IF abs(p) > 1e308 OR abs(p) < 1e-307 THEN
        BEGIN
            v_text := p::float8::text;
        EXCEPTION WHEN numeric_value_out_of_range THEN
            RETURN CASE WHEN abs(p) < 1 THEN '0' ELSE 'null' END;
        END;
    ELSE
        v_text := p::float8::text;
    END IF;

    v_neg := left(v_text, 1) = '-';
    IF v_neg THEN
        v_text := substr(v_text, 2);
    END IF;
    v_mant := split_part(v_text, 'e', 1);
    v_exp := coalesce(nullif(split_part(v_text, 'e', 2), '')::int, 0);
    v_frac := split_part(v_mant, '.', 2);
    v_digits := ltrim(split_part(v_mant, '.', 1) || v_frac, '0');
    v_zeros := length(v_digits) - length(rtrim(v_digits, '0'));
    v_digits := rtrim(v_digits, '0');
    v_k := length(v_digits);
    IF v_k = 0 THEN
        RETURN '0';
    END IF;
    v_n := v_exp - length(v_frac) + v_zeros + v_k;

    IF v_k >= 16 THEN
        v_x := abs(p)::float8;
        FOR v_m IN 1 .. v_k - 1 LOOP
            v_lo := left(v_digits, v_m);
            v_hi := (v_lo::numeric + 1)::text;
            IF v_x > 1e307 OR v_x < 1e-306 THEN   -- a candidate may not fit a double
                v_lo_ok := coalesce(float8_or_null(v_lo || 'e' || (v_n - v_m)) = v_x, false);
                v_hi_ok := coalesce(float8_or_null(v_hi || 'e' || (v_n - v_m)) = v_x, false);
            ELSE
                v_lo_ok := (v_lo || 'e' || (v_n - v_m))::float8 = v_x;
                v_hi_ok := (v_hi || 'e' || (v_n - v_m))::float8 = v_x;
            END IF;
            IF v_lo_ok AND v_hi_ok THEN   -- both on bounds: keep the nearer, or the even
                v_scale := 10::numeric ^ (v_k - v_m);
                v_d_lo := v_digits::numeric - v_lo::numeric * v_scale;
                v_d_hi := v_hi::numeric * v_scale - v_digits::numeric;
                IF v_d_hi < v_d_lo OR (v_d_hi = v_d_lo AND right(v_hi, 1)::int % 2 = 0) THEN
                    v_lo_ok := false;
                END IF;
            END IF;
            IF v_lo_ok OR v_hi_ok THEN
                v_lo := CASE WHEN v_lo_ok THEN v_lo ELSE v_hi END;
                v_n := v_n - v_m + length(v_lo);
                v_digits := rtrim(v_lo, '0');
                v_k := length(v_digits);
                EXIT;
            END IF;
        END LOOP;
    END IF;

    IF v_k <= v_n AND v_n <= 21 THEN
        v_text := v_digits || repeat('0', v_n - v_k);
    ELSIF 0 < v_n AND v_n <= 21 THEN
        v_text := left(v_digits, v_n) || '.' || substr(v_digits, v_n + 1);
    ELSIF -6 < v_n AND v_n <= 0 THEN
        v_text := '0.' || repeat('0', -v_n) || v_digits;
    ELSE
        v_text := left(v_digits, 1)
                  || CASE WHEN v_k > 1 THEN '.' || substr(v_digits, 2) ELSE '' END
                  || 'e' || CASE WHEN v_n - 1 >= 0 THEN '+' ELSE '-' END
                  || abs(v_n - 1)::text;
    END IF;
    RETURN CASE WHEN v_neg THEN '-' || v_text ELSE v_text END;
END
$$;

-- The RFC 8785 canonical text of a JSON value: no whitespace, object keys
-- sorted, numbers as jcs_number(). Strings use PostgreSQL's JSON escaping,
-- which is exactly JCS's: \" \\ \b \f \n \r \t, \u00xx (lowercase) for the
-- other controls, everything else raw UTF-8.
-- Keys sort by code point (COLLATE "C" on UTF-8 bytes). JCS sorts by UTF-16
-- code units; the two orders differ only between keys holding characters
-- above U+FFFF (surrogates) and U+E000..U+FFFF, which we accept.
CREATE OR REPLACE FUNCTION attempts.jcs(p jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, attempts
AS $$
BEGIN
    -- Members and elements that are strings, literals or integers of at most
    -- 2^53 (exact in a double, so printed as their digits) are written
    -- inline: a function call each is what makes large answers slow.
    CASE jsonb_typeof(p)
    WHEN 'object' THEN
        RETURN '{' || coalesce((
            SELECT string_agg(to_json(e.key)::text || ':' || CASE
                       WHEN jsonb_typeof(e.value) IN ('string', 'boolean', 'null') THEN e.value::text
                       WHEN jsonb_typeof(e.value) = 'number'
                            AND abs(e.value::numeric) <= 9007199254740992
                            AND e.value::numeric = trunc(e.value::numeric)
                            THEN trunc(e.value::numeric)::text
                       ELSE jcs(e.value) END,
                   ',' ORDER BY e.key COLLATE "C")
            FROM jsonb_each(p) AS e), '') || '}';
    WHEN 'array' THEN
        RETURN '[' || coalesce((
            SELECT string_agg(CASE
                       WHEN jsonb_typeof(e.value) IN ('string', 'boolean', 'null') THEN e.value::text
                       WHEN jsonb_typeof(e.value) = 'number'
                            AND abs(e.value::numeric) <= 9007199254740992
                            AND e.value::numeric = trunc(e.value::numeric)
                            THEN trunc(e.value::numeric)::text
                       ELSE jcs(e.value) END,
                   ',' ORDER BY e.ord)
            FROM jsonb_array_elements(p) WITH ORDINALITY AS e(value, ord)), '') || ']';
    WHEN 'number' THEN
        RETURN jcs_number(p::numeric);
    ELSE
        RETURN p::text;   -- string, true, false, null
    END CASE;
END
$$;

-- The submit receipt: lowercase hex SHA-256 of the JCS text of the answers.
CREATE OR REPLACE FUNCTION attempts.receipt_of(p_answers jsonb)
RETURNS text
LANGUAGE sql STABLE STRICT
AS $$
    SELECT encode(sha256(convert_to(attempts.jcs(p_answers), 'UTF8')), 'hex')
$$;

------------------------------------------------------------------ builders

-- The exam object of API.md §5.
CREATE OR REPLACE FUNCTION attempts.exam_json(e attempts.exams)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'exam_id', e.exam_id,
        'title', e.title,
        'time_limit_s', e.time_limit_s,
        'grace_s', e.grace_s,
        'max_attempts', e.max_attempts,
        'opens_at', attempts.ts(e.opens_at),
        'closes_at', attempts.ts(e.closes_at),
        'upload', jsonb_build_object('max_bytes', e.upload_max_bytes,
                                     'allowed_types', to_jsonb(e.upload_allowed_types)))
$$;

-- Whole seconds left until deadline_at (floor, never negative); NULL when
-- there is no deadline or the attempt is submitted.
CREATE OR REPLACE FUNCTION attempts.time_remaining_s(a attempts.attempts)
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN a.status = 'in_progress' AND a.deadline_at IS NOT NULL
                THEN greatest(0, floor(extract(epoch FROM a.deadline_at - now())))::bigint
           END
$$;

-- The attempt state object of API.md §5.
CREATE OR REPLACE FUNCTION attempts.attempt_state_json(a attempts.attempts)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'attempt_id', a.attempt_id,
        'exam_id', a.exam_id,
        'user_id', a.user_id,
        'attempt_number', a.attempt_number,
        'status', a.status,
        'answers', a.answers,
        'auto_save_data', a.auto_save_data,
        'version', a.version,
        'started_at', attempts.ts(a.started_at),
        'deadline_at', attempts.ts(a.deadline_at),
        'submitted_at', attempts.ts(a.submitted_at),
        'updated_at', attempts.ts(a.updated_at),
        'time_remaining_s', attempts.time_remaining_s(a))
$$;

-- The attempt info object: the state without answers and auto_save_data,
-- plus exam_title, activity_count, upload_count, submit_reason, receipt.
CREATE OR REPLACE FUNCTION attempts.attempt_info_json(a attempts.attempts)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
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

-- Upload metadata as returned by upload, get and list.
CREATE OR REPLACE FUNCTION attempts.upload_json(u attempts.attempt_uploads)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'upload_id', u.upload_id,
        'filename', u.filename,
        'content_type', u.content_type,
        'size_bytes', u.size_bytes,
        'sha256', u.sha256,
        'created_at', attempts.ts(u.created_at))
$$;

------------------------------------------------------------------ access and state changes

-- The attempt row (FOR UPDATE when p_lock), or a row of NULLs if none.
CREATE OR REPLACE FUNCTION attempts.load_attempt(p_attempt_id uuid, p_lock boolean)
RETURNS attempts.attempts
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
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
--   'staff' proctor, admin (a student: forbidden on its own, not_found otherwise).
-- A missing attempt (a.attempt_id NULL) is not_found in every mode.
CREATE OR REPLACE FUNCTION attempts.access_error(a attempts.attempts, p_sub uuid,
                                                 p_role text, p_mode text)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN a.attempt_id IS NULL OR (p_role = 'student' AND a.user_id <> p_sub)
            THEN attempts.err('not_found', 'attempt not found')
        WHEN p_mode = 'owner' AND a.user_id <> p_sub
            THEN attempts.err('forbidden', 'only the attempt''s owner may change it')
        WHEN p_mode = 'staff' AND p_role NOT IN ('proctor', 'admin')
            THEN attempts.err('forbidden', 'proctor or admin role required')
    END
$$;

-- True when a is in progress and now() is past deadline_at + p_grace_s
-- (its exam's grace_s). Inlinable: callers that join the exam pass it.
CREATE OR REPLACE FUNCTION attempts.past_deadline(a attempts.attempts, p_grace_s int)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(a.status = 'in_progress' AND a.deadline_at IS NOT NULL
        AND now() > a.deadline_at + make_interval(secs => p_grace_s), false)
$$;

-- past_deadline with the grace_s of a's exam.
CREATE OR REPLACE FUNCTION attempts.past_grace(a attempts.attempts)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT attempts.past_deadline(a, (SELECT e.grace_s FROM attempts.exams e
                                       WHERE e.exam_id = a.exam_id))
$$;

-- Submits an in-progress attempt as it stands (reason deadline, cleanup or
-- student): receipt, submitted_at, version + 1. Returns the new row, or a
-- row of NULLs if it was not in progress.
CREATE OR REPLACE FUNCTION attempts.close_attempt(p_attempt_id uuid, p_reason text)
RETURNS attempts.attempts
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_a attempts.attempts;
BEGIN
    UPDATE attempts.attempts
       SET status = 'submitted', submit_reason = p_reason, submitted_at = now(),
           receipt = receipt_of(answers), version = version + 1, updated_at = now()
     WHERE attempt_id = p_attempt_id AND status = 'in_progress'
    RETURNING * INTO v_a;
    RETURN v_a;
END
$$;

-- merge_answers for a patch with null values.
CREATE OR REPLACE FUNCTION attempts.merge_answers_removing(p_stored jsonb, p_patch jsonb)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT (p_stored || p_patch)
           - ARRAY(SELECT e.key FROM jsonb_each(p_patch) AS e WHERE e.value = 'null'::jsonb)
$$;

-- The stored answers merged with p_patch at the top level: a key whose new
-- value is JSON null is removed, every other key is set. Inlinable (no
-- sub-select) for the usual patch without nulls; merge_answers_removing
-- takes the others.
CREATE OR REPLACE FUNCTION attempts.merge_answers(p_stored jsonb, p_patch jsonb)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN jsonb_path_exists(p_patch, 'strict $.* ? (@ == null)', '{}', true)
            THEN attempts.merge_answers_removing(p_stored, p_patch)
        ELSE p_stored || p_patch
    END
$$;

-- NULL when the in-progress attempt a (of an exam with p_grace_s) may be
-- written with p_expected_version, else the error: attempt_submitted;
-- attempt_closed (past the deadline and its grace; check_writable then
-- closes it); version_conflict with the stored answers.
CREATE OR REPLACE FUNCTION attempts.writable_error(a attempts.attempts, p_grace_s int,
                                                   p_expected_version int)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
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
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
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

-- NULL when an upload of p_content_type (media type, parameters ignored) and
-- p_size_bytes (either NULL: not checked) may be added to a, else the error:
-- attempt_submitted, attempt_closed (nothing written here),
-- unsupported_media_type, payload_too_large, or validation_failed at 20 uploads.
CREATE OR REPLACE FUNCTION attempts.upload_check(a attempts.attempts, p_content_type text,
                                                 p_size_bytes bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_exam attempts.exams;
    v_type text := lower(btrim(split_part(p_content_type, ';', 1)));
    v_count bigint;
BEGIN
    IF a.status = 'submitted' THEN
        RETURN err('attempt_submitted', 'the attempt is already submitted');
    END IF;
    IF past_grace(a) THEN
        RETURN err('attempt_closed', 'the deadline has passed',
                   jsonb_build_object('deadline_at', ts(a.deadline_at)));
    END IF;
    SELECT * INTO v_exam FROM attempts.exams WHERE exam_id = a.exam_id;
    IF p_content_type IS NOT NULL AND NOT v_type = ANY (v_exam.upload_allowed_types) THEN
        RETURN err('unsupported_media_type', 'this file type is not accepted for the exam',
                   jsonb_build_object('allowed_types', to_jsonb(v_exam.upload_allowed_types)));
    END IF;
    IF p_size_bytes < 0 THEN
        RETURN invalid('size_bytes', 'size_bytes must not be negative');
    END IF;
    IF p_size_bytes > v_exam.upload_max_bytes THEN
        RETURN err('payload_too_large', 'the file exceeds the exam''s upload limit',
                   jsonb_build_object('limit', v_exam.upload_max_bytes));
    END IF;
    SELECT count(*) INTO v_count FROM attempts.attempt_uploads WHERE attempt_id = a.attempt_id;
    IF v_count >= 20 THEN
        RETURN err('validation_failed', 'an attempt holds at most 20 uploads',
                   jsonb_build_object('field', 'upload_count', 'limit', 20));
    END IF;
    RETURN NULL;
END
$$;

------------------------------------------------------------------ cores shared with the batch functions

-- save_attempt for a known caller (see save_attempt).
CREATE OR REPLACE FUNCTION attempts.save_core(p_sub uuid, p_role text, p_attempt_id uuid,
                                              p_answers jsonb, p_auto_save_data jsonb,
                                              p_expected_version int, p_max_answers_bytes int)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_a attempts.attempts := load_attempt(p_attempt_id, true);
    v_err jsonb;
    v_merged jsonb;
    v_limit int := coalesce(p_max_answers_bytes, 524288);
BEGIN
    v_err := access_error(v_a, p_sub, p_role, 'owner');
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    END IF;
    v_err := check_writable(v_a, p_expected_version);   -- may close at the deadline
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    END IF;
    p_answers := nullif(p_answers, 'null'::jsonb);
    p_auto_save_data := nullif(p_auto_save_data, 'null'::jsonb);
    IF p_answers IS NULL AND p_auto_save_data IS NULL THEN
        RETURN invalid('answers', 'answers or auto_save_data is required');
    END IF;
    IF jsonb_typeof(p_answers) <> 'object' THEN
        RETURN invalid('answers', 'answers must be an object');
    END IF;
    IF jsonb_typeof(p_auto_save_data) <> 'object' THEN
        RETURN invalid('auto_save_data', 'auto_save_data must be an object');
    END IF;
    v_merged := merge_answers(v_a.answers, coalesce(p_answers, '{}'));
    IF octet_length(v_merged::text) > v_limit THEN
        RETURN err('payload_too_large', 'the stored answers would exceed their size limit',
                   jsonb_build_object('limit', v_limit));
    END IF;
    UPDATE attempts.attempts
       SET answers = v_merged,
           auto_save_data = coalesce(p_auto_save_data, auto_save_data),
           version = version + 1, updated_at = now(), last_activity_at = now()
     WHERE attempt_id = v_a.attempt_id
    RETURNING * INTO v_a;
    RETURN jsonb_build_object('attempt_id', v_a.attempt_id, 'version', v_a.version,
                              'saved_at', ts(v_a.updated_at),
                              'time_remaining_s', time_remaining_s(v_a));
END
$$;

-- submit_attempt for a known caller (see submit_attempt).
CREATE OR REPLACE FUNCTION attempts.submit_core(p_sub uuid, p_role text, p_attempt_id uuid,
                                                p_answers jsonb, p_expected_version int,
                                                p_max_answers_bytes int)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_a attempts.attempts := load_attempt(p_attempt_id, true);
    v_err jsonb;
    v_merged jsonb;
    v_limit int := coalesce(p_max_answers_bytes, 524288);
BEGIN
    v_err := access_error(v_a, p_sub, p_role, 'owner');
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    END IF;
    IF v_a.status = 'submitted' THEN
        RETURN attempt_state_json(v_a)
               || jsonb_build_object('receipt', v_a.receipt, 'already_submitted', true);
    END IF;
    v_err := check_writable(v_a, p_expected_version);
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    END IF;
    p_answers := nullif(p_answers, 'null'::jsonb);
    IF jsonb_typeof(p_answers) <> 'object' THEN
        RETURN invalid('answers', 'answers must be an object');
    END IF;
    v_merged := merge_answers(v_a.answers, coalesce(p_answers, '{}'));
    IF octet_length(v_merged::text) > v_limit THEN
        RETURN err('payload_too_large', 'the stored answers would exceed their size limit',
                   jsonb_build_object('limit', v_limit));
    END IF;
    UPDATE attempts.attempts
       SET answers = v_merged, status = 'submitted', submit_reason = 'student',
           submitted_at = now(), receipt = receipt_of(v_merged),
           version = version + 1, updated_at = now(), last_activity_at = now()
     WHERE attempt_id = v_a.attempt_id
    RETURNING * INTO v_a;
    RETURN attempt_state_json(v_a)
           || jsonb_build_object('receipt', v_a.receipt, 'already_submitted', false);
END
$$;

-- NULL when p_events is an array of well-formed events, else validation_failed
-- naming the first bad field (events[i].event_type, ...).
CREATE OR REPLACE FUNCTION attempts.events_error(p_events jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_ev jsonb;
    v_i bigint;
    v_at text;
    v_id jsonb;
BEGIN
    IF jsonb_typeof(p_events) IS DISTINCT FROM 'array' THEN
        RETURN invalid('events', 'events must be an array');
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
                OR try_ts(v_ev ->> 'occurred_at') IS NULL) THEN
            RETURN invalid(v_at || '.occurred_at', 'occurred_at must be an RFC 3339 timestamp');
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- log_attempt_activity for a known caller (see log_attempt_activity).
CREATE OR REPLACE FUNCTION attempts.log_core(p_sub uuid, p_role text, p_attempt_id uuid,
                                             p_events jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_a attempts.attempts := load_attempt(p_attempt_id, false);
    v_err jsonb;
    v_total int;
    v_logged int;
BEGIN
    v_err := access_error(v_a, p_sub, p_role, 'owner');
    IF v_err IS NULL THEN
        v_err := events_error(p_events);
    END IF;
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

------------------------------------------------------------------ exams

-- Creates an exam from the fields of API.md §5 (defaults for the absent or
-- null ones; a partial "upload" keeps the other defaults). Proctor/admin.
-- Returns the exam object, or validation_failed naming the field.
CREATE OR REPLACE FUNCTION attempts.create_exam(p_exam jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_sub uuid;
    v_role text;
    v_e attempts.exams;
    v_v jsonb;
    v_upload jsonb;
    v_type jsonb;
    v_i int := 0;
    v_types text[] := '{}';
BEGIN
    SELECT c.sub, c.role INTO v_sub, v_role FROM caller() c;
    IF v_sub IS NULL THEN
        RETURN unauthorized();
    END IF;
    IF v_role NOT IN ('proctor', 'admin') THEN
        RETURN err('forbidden', 'proctor or admin role required');
    END IF;
    IF jsonb_typeof(p_exam) IS DISTINCT FROM 'object' THEN
        RETURN invalid('body', 'the exam must be a JSON object');
    END IF;

    v_v := p_exam -> 'title';
    IF jsonb_typeof(v_v) IS DISTINCT FROM 'string'
       OR char_length(v_v #>> '{}') NOT BETWEEN 1 AND 500 OR btrim(v_v #>> '{}') = '' THEN
        RETURN invalid('title', 'title is required: 1..500 characters, not blank');
    END IF;
    v_e.title := v_v #>> '{}';

    v_v := nullif(p_exam -> 'time_limit_s', 'null'::jsonb);
    v_e.time_limit_s := json_int(v_v, 1, 604800);
    IF v_v IS NOT NULL AND v_e.time_limit_s IS NULL THEN
        RETURN invalid('time_limit_s', 'time_limit_s must be null or an integer 1..604800');
    END IF;

    v_v := nullif(p_exam -> 'grace_s', 'null'::jsonb);
    v_e.grace_s := coalesce(json_int(v_v, 0, 86400), 0);
    IF v_v IS NOT NULL AND json_int(v_v, 0, 86400) IS NULL THEN
        RETURN invalid('grace_s', 'grace_s must be an integer 0..86400');
    END IF;

    v_v := nullif(p_exam -> 'max_attempts', 'null'::jsonb);
    v_e.max_attempts := coalesce(json_int(v_v, 1, 1000), 1);
    IF v_v IS NOT NULL AND json_int(v_v, 1, 1000) IS NULL THEN
        RETURN invalid('max_attempts', 'max_attempts must be an integer 1..1000');
    END IF;

    v_v := nullif(p_exam -> 'opens_at', 'null'::jsonb);
    IF v_v IS NOT NULL THEN
        v_e.opens_at := CASE WHEN jsonb_typeof(v_v) = 'string' THEN try_ts(v_v #>> '{}') END;
        IF v_e.opens_at IS NULL THEN
            RETURN invalid('opens_at', 'opens_at must be null or an RFC 3339 timestamp');
        END IF;
    END IF;
    v_v := nullif(p_exam -> 'closes_at', 'null'::jsonb);
    IF v_v IS NOT NULL THEN
        v_e.closes_at := CASE WHEN jsonb_typeof(v_v) = 'string' THEN try_ts(v_v #>> '{}') END;
        IF v_e.closes_at IS NULL THEN
            RETURN invalid('closes_at', 'closes_at must be null or an RFC 3339 timestamp');
        END IF;
    END IF;
    IF v_e.closes_at <= v_e.opens_at THEN
        RETURN invalid('closes_at', 'closes_at must be later than opens_at');
    END IF;

    v_e.upload_max_bytes := 10485760;
    v_e.upload_allowed_types := '{application/pdf,image/png,image/jpeg,text/plain}';
    v_upload := nullif(p_exam -> 'upload', 'null'::jsonb);
    IF v_upload IS NOT NULL AND jsonb_typeof(v_upload) <> 'object' THEN
        RETURN invalid('upload', 'upload must be an object');
    END IF;
    v_v := nullif(v_upload -> 'max_bytes', 'null'::jsonb);
    IF v_v IS NOT NULL THEN
        v_e.upload_max_bytes := json_int(v_v, 1, 1073741824);
        IF v_e.upload_max_bytes IS NULL THEN
            RETURN invalid('upload.max_bytes', 'upload.max_bytes must be an integer 1..1073741824');
        END IF;
    END IF;
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
    VALUES (v_e.title, v_e.time_limit_s, v_e.grace_s, v_e.max_attempts, v_e.opens_at,
            v_e.closes_at, v_e.upload_max_bytes, v_e.upload_allowed_types, v_sub)
    RETURNING * INTO v_e;
    RETURN exam_json(v_e);
END
$$;

-- The exam object; any signed-in caller. not_found if there is no such exam.
CREATE OR REPLACE FUNCTION attempts.get_exam(p_exam_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_e attempts.exams;
BEGIN
    IF (SELECT c.sub FROM caller() c) IS NULL THEN
        RETURN unauthorized();
    END IF;
    SELECT * INTO v_e FROM attempts.exams WHERE exam_id = p_exam_id;
    IF NOT FOUND THEN
        RETURN err('not_found', 'exam not found');
    END IF;
    RETURN exam_json(v_e);
END
$$;

------------------------------------------------------------------ attempts

-- Starts the caller's next attempt of an exam: {"created": true, "state"}.
-- An attempt already in progress is returned with "created": false (one
-- past its deadline + grace is closed first, and a new one may start).
-- Errors: not_found, exam_closed, max_attempts_reached.
CREATE OR REPLACE FUNCTION attempts.start_attempt(p_exam_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_sub uuid;
    v_role text;
    v_exam attempts.exams;
    v_a attempts.attempts;
    v_count int;
BEGIN
    SELECT c.sub, c.role INTO v_sub, v_role FROM caller() c;
    IF v_sub IS NULL THEN
        RETURN unauthorized();
    END IF;
    IF p_exam_id IS NULL THEN
        RETURN invalid('exam_id', 'exam_id is required');
    END IF;
    SELECT * INTO v_exam FROM attempts.exams WHERE exam_id = p_exam_id;
    IF NOT FOUND THEN
        RETURN err('not_found', 'exam not found');
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
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_sub uuid;
    v_role text;
    v_a attempts.attempts;
BEGIN
    SELECT c.sub, c.role INTO v_sub, v_role FROM caller() c;
    IF v_sub IS NULL THEN
        RETURN unauthorized();
    END IF;
    SELECT * INTO v_a FROM attempts.attempts WHERE attempt_id = p_attempt_id;
    RETURN coalesce(access_error(v_a, v_sub, v_role, 'read'), attempt_state_json(v_a));
END
$$;

-- The attempt info; owner, proctor, admin.
CREATE OR REPLACE FUNCTION attempts.get_attempt_info(p_attempt_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_sub uuid;
    v_role text;
    v_a attempts.attempts;
BEGIN
    SELECT c.sub, c.role INTO v_sub, v_role FROM caller() c;
    IF v_sub IS NULL THEN
        RETURN unauthorized();
    END IF;
    SELECT * INTO v_a FROM attempts.attempts WHERE attempt_id = p_attempt_id;
    RETURN coalesce(access_error(v_a, v_sub, v_role, 'read'), attempt_info_json(v_a));
END
$$;

-- The single state and info reads of several requests (the service's read
-- coalescing), each under its own caller, in one statement. p_items:
-- [{"kind": "state" | "info", "claims": {"sub", "role"}, "attempt_id":
-- "<uuid>"}, ...]. Returns one element per item, in input order: exactly
-- what get_attempt_state or get_attempt_info returns to that caller alone
-- (the same access rule, the same claims rule, the same JSON).
CREATE OR REPLACE FUNCTION attempts.coalesced_reads(p_items jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, attempts
AS $$
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

-- Saves answers (merged at the top level, null removes a key) and/or
-- auto_save_data (replaced); owner only. Returns {"attempt_id", "version",
-- "saved_at", "time_remaining_s"}. Errors: not_found, forbidden,
-- attempt_submitted, attempt_closed (closing it), version_conflict,
-- validation_failed, payload_too_large (answers text over p_max_answers_bytes).
CREATE OR REPLACE FUNCTION attempts.save_attempt(p_attempt_id uuid, p_answers jsonb,
                                                 p_auto_save_data jsonb,
                                                 p_expected_version int,
                                                 p_max_answers_bytes int DEFAULT 524288)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_sub uuid;
    v_role text;
BEGIN
    SELECT c.sub, c.role INTO v_sub, v_role FROM caller() c;
    IF v_sub IS NULL THEN
        RETURN unauthorized();
    END IF;
    RETURN save_core(v_sub, v_role, p_attempt_id, p_answers, p_auto_save_data,
                     p_expected_version, p_max_answers_bytes);
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
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_sub uuid;
    v_role text;
BEGIN
    SELECT c.sub, c.role INTO v_sub, v_role FROM caller() c;
    IF v_sub IS NULL THEN
        RETURN unauthorized();
    END IF;
    RETURN submit_core(v_sub, v_role, p_attempt_id, p_answers, p_expected_version,
                       p_max_answers_bytes);
END
$$;

-- Logs activity events (also on submitted attempts); owner only. Events
-- whose client_event_id was logged before, or earlier in p_events, are
-- duplicates. Returns {"logged", "duplicates"}; the version is not changed.
CREATE OR REPLACE FUNCTION attempts.log_attempt_activity(p_attempt_id uuid, p_events jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_sub uuid;
    v_role text;
BEGIN
    SELECT c.sub, c.role INTO v_sub, v_role FROM caller() c;
    IF v_sub IS NULL THEN
        RETURN unauthorized();
    END IF;
    RETURN log_core(v_sub, v_role, p_attempt_id, p_events);
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
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
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
        ELSIF v_item ->> 'kind' = 'save' THEN
            v_res := save_core(v_sub, v_role, v_id,
                               nullif(v_body -> 'answers', 'null'::jsonb),
                               nullif(v_body -> 'auto_save_data', 'null'::jsonb),
                               (v_item ->> 'expected_version')::int,
                               (v_item ->> 'max_answers_bytes')::int);
        ELSIF v_item ->> 'kind' = 'submit' THEN
            v_res := submit_core(v_sub, v_role, v_id,
                                 nullif(v_body -> 'answers', 'null'::jsonb),
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

-- Moves the deadline by p_extra_s (1..86400) seconds; proctor/admin.
-- Returns the state. Errors: not_found, forbidden, validation_failed,
-- not_extendable (no deadline, or submitted).
CREATE OR REPLACE FUNCTION attempts.extend_attempt(p_attempt_id uuid, p_extra_s int)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_sub uuid;
    v_role text;
    v_a attempts.attempts;
    v_err jsonb;
BEGIN
    SELECT c.sub, c.role INTO v_sub, v_role FROM caller() c;
    IF v_sub IS NULL THEN
        RETURN unauthorized();
    END IF;
    v_a := load_attempt(p_attempt_id, true);
    v_err := access_error(v_a, v_sub, v_role, 'staff');
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    END IF;
    IF p_extra_s IS NULL OR p_extra_s NOT BETWEEN 1 AND 86400 THEN
        RETURN invalid('extra_s', 'extra_s must be an integer 1..86400');
    END IF;
    IF v_a.status <> 'in_progress' OR v_a.deadline_at IS NULL THEN
        RETURN err('not_extendable', 'only an attempt in progress with a deadline can be extended');
    END IF;
    UPDATE attempts.attempts
       SET deadline_at = deadline_at + make_interval(secs => p_extra_s),
           version = version + 1, updated_at = now()
     WHERE attempt_id = v_a.attempt_id
    RETURNING * INTO v_a;
    RETURN attempt_state_json(v_a);
END
$$;

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
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
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

-- Closes (reason deadline) every attempt in progress past deadline_at +
-- grace_s, after keeping the planner's statistics fresh (refresh_statistics);
-- admin. Returns {"closed": n}, or {"closed": 0, "skipped": true} while
-- another sweep runs.
CREATE OR REPLACE FUNCTION attempts.close_expired_attempts()
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_role text;
    v_closed bigint;
BEGIN
    SELECT c.role INTO v_role FROM caller() c;
    IF v_role IS NULL THEN
        RETURN unauthorized();
    END IF;
    IF v_role <> 'admin' THEN
        RETURN err('forbidden', 'admin role required');
    END IF;
    -- A fixed key outside the int4 range of the hashtext() keys of start_attempt.
    IF NOT pg_try_advisory_xact_lock(7310594523462267185) THEN
        RETURN jsonb_build_object('closed', 0, 'skipped', true);
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
    RETURN jsonb_build_object('closed', v_closed);
END
$$;

------------------------------------------------------------------ uploads

-- Records an upload the C layer has stored: re-checks upload_check in this
-- transaction (closing an attempt past its deadline), then inserts. Owner
-- only. Returns the metadata; a retry with the same upload_id on the same
-- attempt returns the stored row.
CREATE OR REPLACE FUNCTION attempts.record_attempt_upload(p_attempt_id uuid, p_upload_id uuid,
                                                          p_filename text, p_content_type text,
                                                          p_size_bytes bigint, p_sha256 text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_sub uuid;
    v_role text;
    v_a attempts.attempts;
    v_u attempts.attempt_uploads;
    v_err jsonb;
BEGIN
    SELECT c.sub, c.role INTO v_sub, v_role FROM caller() c;
    IF v_sub IS NULL THEN
        RETURN unauthorized();
    END IF;
    v_a := load_attempt(p_attempt_id, true);   -- serialises the upload count
    v_err := access_error(v_a, v_sub, v_role, 'owner');
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    END IF;
    SELECT * INTO v_u FROM attempts.attempt_uploads WHERE upload_id = p_upload_id;
    IF FOUND AND v_u.attempt_id = v_a.attempt_id THEN
        RETURN upload_json(v_u);
    ELSIF FOUND THEN
        RETURN invalid('upload_id', 'upload_id is already used');
    END IF;
    IF p_upload_id IS NULL THEN
        RETURN invalid('upload_id', 'upload_id is required');
    ELSIF p_content_type IS NULL THEN
        RETURN invalid('content_type', 'content_type is required');
    ELSIF p_size_bytes IS NULL THEN
        RETURN invalid('size_bytes', 'size_bytes is required');
    END IF;
    v_err := upload_check(v_a, p_content_type, p_size_bytes);
    IF v_err -> 'error' ->> 'code' = 'attempt_closed' THEN
        PERFORM close_attempt(v_a.attempt_id, 'deadline');
    END IF;
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    END IF;
    IF p_filename IS NULL OR octet_length(p_filename) NOT BETWEEN 1 AND 255
       OR p_filename ~ '[/\\[:cntrl:]]' OR left(p_filename, 1) = '.' THEN
        RETURN invalid('filename', 'filename must be 1..255 bytes, no path separator, control character or leading dot');
    END IF;
    IF p_sha256 IS NULL OR lower(p_sha256) !~ '^[0-9a-f]{64}$' THEN
        RETURN invalid('sha256', 'sha256 must be 64 hex digits');
    END IF;
    INSERT INTO attempts.attempt_uploads (upload_id, attempt_id, filename, content_type,
                                          size_bytes, sha256)
    VALUES (p_upload_id, v_a.attempt_id, p_filename,
            lower(btrim(split_part(p_content_type, ';', 1))), p_size_bytes, lower(p_sha256))
    RETURNING * INTO v_u;
    UPDATE attempts.attempts SET last_activity_at = now() WHERE attempt_id = v_a.attempt_id;
    RETURN upload_json(v_u);
END
$$;

-- One upload's metadata; read access as the state. not_found if the upload
-- is not one of this attempt's.
CREATE OR REPLACE FUNCTION attempts.get_attempt_upload(p_attempt_id uuid, p_upload_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_sub uuid;
    v_role text;
    v_a attempts.attempts;
    v_u attempts.attempt_uploads;
    v_err jsonb;
BEGIN
    SELECT c.sub, c.role INTO v_sub, v_role FROM caller() c;
    IF v_sub IS NULL THEN
        RETURN unauthorized();
    END IF;
    SELECT * INTO v_a FROM attempts.attempts WHERE attempt_id = p_attempt_id;
    v_err := access_error(v_a, v_sub, v_role, 'read');
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    END IF;
    SELECT * INTO v_u FROM attempts.attempt_uploads
     WHERE upload_id = p_upload_id AND attempt_id = p_attempt_id;
    IF NOT FOUND THEN
        RETURN err('not_found', 'upload not found');
    END IF;
    RETURN upload_json(v_u);
END
$$;

-- {"uploads": [metadata...]} oldest first; read access as the state.
CREATE OR REPLACE FUNCTION attempts.list_attempt_uploads(p_attempt_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, attempts
AS $$
DECLARE
    v_sub uuid;
    v_role text;
    v_a attempts.attempts;
    v_err jsonb;
BEGIN
    SELECT c.sub, c.role INTO v_sub, v_role FROM caller() c;
    IF v_sub IS NULL THEN
        RETURN unauthorized();
    END IF;
    SELECT * INTO v_a FROM attempts.attempts WHERE attempt_id = p_attempt_id;
    v_err := access_error(v_a, v_sub, v_role, 'read');
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    END IF;
    RETURN jsonb_build_object('uploads', coalesce((
        SELECT jsonb_agg(upload_json(u) ORDER BY u.created_at, u.upload_id)
          FROM attempts.attempt_uploads u WHERE u.attempt_id = p_attempt_id), '[]'::jsonb));
END
$$;
