-- canonical_json.sql — JSON Canonicalization Scheme (RFC 8785) and the
-- submission receipt computed from it (docs/API.md §6 submit). Repeatable:
-- only CREATE OR REPLACE (and DROP IF EXISTS of a signature that changed),
-- re-applied by sql/migrate.sh whenever this file changes; sql/migrate.sh
-- applies the files in the order its list gives.
--
-- The LANGUAGE sql helpers carry no SET search_path: a function with a SET
-- clause cannot be inlined, and inlining makes them several times cheaper.
-- They run inside the entry points (plpgsql, SET search_path = pg_catalog,
-- attempts), and their bodies are checked at creation under this path:
SET search_path = pg_catalog, attempts;

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
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, attempts
SET extra_float_digits = 1 AS $$
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
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, attempts AS $$
BEGIN
    CASE jsonb_typeof(p)
    WHEN 'object' THEN
        RETURN '{' || coalesce((
            SELECT string_agg(to_json(e.key)::text || ':' || jcs_item(e.value),
                              ',' ORDER BY e.key COLLATE "C")
              FROM jsonb_each(p) AS e), '') || '}';
    WHEN 'array' THEN
        RETURN '[' || coalesce((
            SELECT string_agg(jcs_item(e.value), ',' ORDER BY e.ord)
              FROM jsonb_array_elements(p) WITH ORDINALITY AS e(value, ord)), '') || ']';
    WHEN 'number' THEN
        RETURN jcs_number(p::numeric);
    ELSE
        RETURN p::text;   -- string, true, false, null
    END CASE;
END
$$;

-- A member or element of a JSON value as jcs() writes it: strings,
-- literals and integers of at most 2^53 (exact in a double, so printed as
-- their digits) here, anything else by jcs(). Inlined into jcs()'s
-- aggregates: a function call per member is what makes large answers slow.
CREATE OR REPLACE FUNCTION attempts.jcs_item(p jsonb)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN jsonb_typeof(p) IN ('string', 'boolean', 'null') THEN p::text
        WHEN jsonb_typeof(p) = 'number' AND abs(p::numeric) <= 9007199254740992
             AND p::numeric = trunc(p::numeric)
            THEN trunc(p::numeric)::text
        ELSE attempts.jcs(p)
    END
$$;

-- The submit receipt: lowercase hex SHA-256 of the JCS text of the answers.
CREATE OR REPLACE FUNCTION attempts.receipt_of(p_answers jsonb)
RETURNS text LANGUAGE sql STABLE STRICT AS $$
    SELECT encode(sha256(convert_to(attempts.jcs(p_answers), 'UTF8')), 'hex')
$$;
