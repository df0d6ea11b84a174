-- uploads.sql — upload metadata: the checks before nginx hands a file over
-- (validate_attempt_upload), recording it, reading and listing (docs/API.md
-- §7). The files themselves are the C layer's. Repeatable: only CREATE OR
-- REPLACE (and DROP IF EXISTS of a signature that changed), re-applied by
-- sql/migrate.sh whenever this file changes; sql/migrate.sh applies the
-- files in the order its list gives.
--
-- The LANGUAGE sql helpers carry no SET search_path: a function with a SET
-- clause cannot be inlined, and inlining makes them several times cheaper.
-- They run inside the entry points (plpgsql, SET search_path = pg_catalog,
-- attempts), and their bodies are checked at creation under this path:
SET search_path = pg_catalog, attempts;

-- Upload metadata as returned by upload, get and list.
CREATE OR REPLACE FUNCTION attempts.upload_json(u attempts.attempt_uploads)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'upload_id', u.upload_id,
        'filename', u.filename,
        'content_type', u.content_type,
        'size_bytes', u.size_bytes,
        'sha256', u.sha256,
        'created_at', attempts.ts(u.created_at))
$$;

-- NULL when an upload of p_content_type (media type, parameters ignored) and
-- p_size_bytes (either NULL: not checked) may be added to a, else the error:
-- attempt_submitted, attempt_closed (nothing written here),
-- unsupported_media_type, payload_too_large, or validation_failed at 20 uploads.
CREATE OR REPLACE FUNCTION attempts.upload_check(a attempts.attempts, p_content_type text,
                                                 p_size_bytes bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, attempts AS $$
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

-- Records an upload the C layer has stored: re-checks upload_check in this
-- transaction (closing an attempt past its deadline), then inserts. Owner
-- only. Returns the metadata; a retry with the same upload_id on the same
-- attempt returns the stored row.
CREATE OR REPLACE FUNCTION attempts.record_attempt_upload(p_attempt_id uuid, p_upload_id uuid,
                                                          p_filename text, p_content_type text,
                                                          p_size_bytes bigint, p_sha256 text)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, attempts AS $$
DECLARE
    c record := require_caller(NULL);
    v_a attempts.attempts;
    v_u attempts.attempt_uploads;
    v_err jsonb := c.error;
BEGIN
    IF v_err IS NULL THEN
        v_a := load_attempt(p_attempt_id, true);   -- serialises the upload count
        v_err := access_error(v_a, c.sub, c.role, 'owner');
    END IF;
    IF v_err IS NOT NULL THEN
        RETURN v_err;
    END IF;
    SELECT * INTO v_u FROM attempts.attempt_uploads WHERE upload_id = p_upload_id;
    IF FOUND AND v_u.attempt_id = p_attempt_id THEN
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
        PERFORM close_attempt(p_attempt_id, 'deadline');
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
    VALUES (p_upload_id, p_attempt_id, p_filename,
            lower(btrim(split_part(p_content_type, ';', 1))), p_size_bytes, lower(p_sha256))
    RETURNING * INTO v_u;
    UPDATE attempts.attempts SET last_activity_at = now() WHERE attempt_id = p_attempt_id;
    RETURN upload_json(v_u);
END
$$;

-- One upload's metadata; read access as the state. not_found if the upload
-- is not one of this attempt's.
CREATE OR REPLACE FUNCTION attempts.get_attempt_upload(p_attempt_id uuid, p_upload_id uuid)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT attempts.read_attempt(p_attempt_id, 'upload', p_upload_id)
$$;

-- {"uploads": [metadata...]} oldest first; read access as the state.
CREATE OR REPLACE FUNCTION attempts.list_attempt_uploads(p_attempt_id uuid)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT attempts.read_attempt(p_attempt_id, 'uploads')
$$;

-- Whether the owner may upload a file of p_content_type and p_size_bytes
-- (each optional) to the attempt: {"valid": true, "max_bytes",
-- "allowed_types", "upload_count"}, or attempt_submitted, attempt_closed,
-- unsupported_media_type, payload_too_large, validation_failed (20 uploads).
-- Writes nothing.
CREATE OR REPLACE FUNCTION attempts.validate_attempt_upload(p_attempt_id uuid,
                                                            p_content_type text DEFAULT NULL,
                                                            p_size_bytes bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT attempts.read_attempt(p_attempt_id, 'validate_upload', NULL, p_content_type,
                                 p_size_bytes)
$$;
