-- helpers.sql — what every function of the attempt service stands on: the
-- error objects, the caller from request.jwt.claims, timestamps and JSON
-- number checks (docs/SQL.md). Repeatable: only CREATE OR REPLACE (and DROP
-- IF EXISTS of a signature that changed), re-applied by sql/migrate.sh
-- whenever this file changes; sql/migrate.sh applies the files in the order
-- its list gives.
--
-- Every public function returns jsonb and never raises for a client error:
-- it returns the resource or {"error": {"code", "message", "details"?}}.
-- The caller is read from the setting request.jwt.claims ({"sub": uuid,
-- "role": "student"|"proctor"|"admin"}).
--
-- The LANGUAGE sql helpers carry no SET search_path: a function with a SET
-- clause cannot be inlined, and inlining makes them several times cheaper.
-- They run inside the entry points (plpgsql, SET search_path = pg_catalog,
-- attempts), and their bodies are checked at creation under this path:
SET search_path = pg_catalog, attempts;

-- Builds the error object {"error": {"code", "message", "details"?}}.
CREATE OR REPLACE FUNCTION attempts.err(p_code text, p_message text,
                                        p_details jsonb DEFAULT NULL)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('error',
        jsonb_build_object('code', p_code, 'message', p_message)
        || CASE WHEN p_details IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('details', p_details) END)
$$;

-- validation_failed naming the offending field in details.field.
CREATE OR REPLACE FUNCTION attempts.invalid(p_field text, p_message text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT attempts.err('validation_failed', p_message, jsonb_build_object('field', p_field))
$$;

-- The error for missing or unusable claims.
CREATE OR REPLACE FUNCTION attempts.unauthorized()
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT attempts.err('unauthorized', 'missing or invalid request.jwt.claims')
$$;

-- The error for an exam that does not exist.
CREATE OR REPLACE FUNCTION attempts.exam_not_found()
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT attempts.err('not_found', 'exam not found')
$$;

-- The claims object from request.jwt.claims, or NULL when the setting is
-- unset, empty, not JSON or not an object.
CREATE OR REPLACE FUNCTION attempts.claims()
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
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
-- rule for claims, shared by require_caller() and coalesced_writes().
CREATE OR REPLACE FUNCTION attempts.caller_of(p_claims jsonb, OUT sub uuid, OUT role text)
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, attempts AS $$
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

-- The caller (sub, role) from request.jwt.claims, checked as caller_of,
-- or the error every entry point answers instead: unauthorized without
-- valid claims; forbidden when p_roles (NULL: any role) lacks the caller's
-- role ("proctor or admin role required"). The exact text the service
-- writes, {"sub":"<uuid>","role":"<role>"}, is read by position: parsing
-- it as jsonb needs claims()' exception block (a subtransaction per call),
-- and this runs on every request. Any other text takes the general path.
DROP FUNCTION IF EXISTS attempts.caller();   -- became require_caller(NULL)
CREATE OR REPLACE FUNCTION attempts.require_caller(p_roles text[], OUT sub uuid,
                                                   OUT role text, OUT error jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
DECLARE
    v_raw text := current_setting('request.jwt.claims', true);
BEGIN
    IF left(v_raw, 8) = '{"sub":"' AND substr(v_raw, 45, 10) = '","role":"'
       AND right(v_raw, 2) = '"}'
       AND substr(v_raw, 9, 36) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       AND substr(v_raw, 55, length(v_raw) - 56) IN ('student', 'proctor', 'admin') THEN
        sub := substr(v_raw, 9, 36)::uuid;
        role := substr(v_raw, 55, length(v_raw) - 56);
    ELSE
        SELECT c.sub, c.role INTO sub, role FROM caller_of(claims()) c;
    END IF;
    IF sub IS NULL THEN
        error := unauthorized();
    ELSIF NOT role = ANY (coalesce(p_roles, ARRAY[role])) THEN
        error := err('forbidden', array_to_string(p_roles, ' or ') || ' role required');
    END IF;
END
$$;

-- require_caller's error alone (NULL: the caller may go on), for the entry
-- points that need nothing else of the caller: RETURN coalesce(
-- caller_error(roles), <the answer>) answers the error, or else the answer.
CREATE OR REPLACE FUNCTION attempts.caller_error(p_roles text[])
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT (attempts.require_caller(p_roles)).error
$$;

-- RFC 3339 UTC text with microseconds (YYYY-MM-DDTHH:MM:SS.ffffffZ); NULL in, NULL out.
CREATE OR REPLACE FUNCTION attempts.ts(p timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- True when p is a UUID in canonical lowercase 8-4-4-4-12 form (API §3).
CREATE OR REPLACE FUNCTION attempts.is_uuid(p text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(p ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', false)
$$;

-- A JSON value as an integer if it is an integral number within [p_lo, p_hi],
-- else NULL (also for strings, fractions, NULL).
CREATE OR REPLACE FUNCTION attempts.json_int(p jsonb, p_lo bigint, p_hi bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN jsonb_typeof(p) IS DISTINCT FROM 'number' THEN NULL
        WHEN p::numeric < p_lo OR p::numeric > p_hi THEN NULL
        WHEN p::numeric <> trunc(p::numeric) THEN NULL
        ELSE p::numeric::bigint
    END
$$;

-- An RFC 3339 timestamp (offset required) as timestamptz, NULL if p is not one.
CREATE OR REPLACE FUNCTION attempts.try_ts(p text)
RETURNS timestamptz LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
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

-- A decimal numeral as float8, NULL when it does not fit a double.
CREATE OR REPLACE FUNCTION attempts.float8_or_null(p text)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, attempts AS $$
BEGIN
    RETURN p::float8;
EXCEPTION WHEN numeric_value_out_of_range OR invalid_text_representation THEN
    RETURN NULL;
END
$$;
