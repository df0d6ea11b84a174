-- 001_schema.sql — tables, constraints, indexes and the change-notify trigger
-- of the attempt service (schema "attempts"). Applied once by sql/migrate.sh,
-- in one transaction. The functions live in the repeatable files
-- attempt_rpcs.sql and attempt_optimization_rpcs.sql.

CREATE SCHEMA IF NOT EXISTS attempts;

CREATE TABLE attempts.exams (
    exam_id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title                text NOT NULL
                         CHECK (char_length(title) BETWEEN 1 AND 500),
    time_limit_s         int CHECK (time_limit_s BETWEEN 1 AND 604800),
    grace_s              int NOT NULL DEFAULT 0
                         CHECK (grace_s BETWEEN 0 AND 86400),
    max_attempts         int NOT NULL DEFAULT 1
                         CHECK (max_attempts BETWEEN 1 AND 1000),
    opens_at             timestamptz,
    closes_at            timestamptz,
    upload_max_bytes     bigint NOT NULL DEFAULT 10485760
                         CHECK (upload_max_bytes BETWEEN 1 AND 1073741824),
    upload_allowed_types text[] NOT NULL
                         DEFAULT '{application/pdf,image/png,image/jpeg,text/plain}'
                         CHECK (cardinality(upload_allowed_types) BETWEEN 1 AND 100
                                AND array_position(upload_allowed_types, NULL) IS NULL),
    created_by           uuid,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT exams_window_check
        CHECK (opens_at IS NULL OR closes_at IS NULL OR closes_at > opens_at)
);

CREATE TABLE attempts.attempts (
    attempt_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    exam_id          uuid NOT NULL REFERENCES attempts.exams (exam_id),
    user_id          uuid NOT NULL,
    attempt_number   int NOT NULL CHECK (attempt_number >= 1),
    status           text NOT NULL DEFAULT 'in_progress'
                     CHECK (status IN ('in_progress', 'submitted')),
    answers          jsonb NOT NULL DEFAULT '{}'
                     CHECK (jsonb_typeof(answers) = 'object'),
    auto_save_data   jsonb NOT NULL DEFAULT '{}',
    version          int NOT NULL DEFAULT 1 CHECK (version >= 1),
    started_at       timestamptz NOT NULL DEFAULT now(),
    deadline_at      timestamptz,
    submitted_at     timestamptz,
    submit_reason    text CHECK (submit_reason IN ('student', 'deadline', 'cleanup')),
    receipt          text CHECK (receipt ~ '^[0-9a-f]{64}$'),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_activity_at timestamptz,
    CONSTRAINT attempts_number_key UNIQUE (exam_id, user_id, attempt_number),
    -- An attempt in progress has no submission data; a submitted one has all of it.
    CONSTRAINT attempts_submission_check CHECK (
        CASE status
            WHEN 'in_progress' THEN submitted_at IS NULL AND submit_reason IS NULL
                                    AND receipt IS NULL
            ELSE submitted_at IS NOT NULL AND submit_reason IS NOT NULL
                 AND receipt IS NOT NULL
        END)
);

-- At most one attempt in progress per (exam, user): concurrent starts create one.
CREATE UNIQUE INDEX attempts_one_in_progress
    ON attempts.attempts (exam_id, user_id) WHERE status = 'in_progress';
-- Statistics and the active list of an exam.
CREATE INDEX attempts_exam_status ON attempts.attempts (exam_id, status);
-- A user's attempts across exams.
CREATE INDEX attempts_user ON attempts.attempts (user_id);
-- The deadline sweep (close_expired_attempts).
CREATE INDEX attempts_open_deadline
    ON attempts.attempts (deadline_at) WHERE status = 'in_progress';

CREATE TABLE attempts.attempt_activity (
    activity_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    attempt_id      uuid NOT NULL REFERENCES attempts.attempts (attempt_id)
                    ON DELETE CASCADE,
    event_type      text NOT NULL CHECK (event_type ~ '^[a-z0-9_.-]{1,64}$'),
    payload         jsonb,
    client_event_id text CHECK (char_length(client_event_id) BETWEEN 1 AND 128),
    occurred_at     timestamptz,
    logged_at       timestamptz NOT NULL DEFAULT now(),
    -- Dedupe key; events without a client_event_id (NULL) never collide.
    -- Its leading column also serves every lookup by attempt_id.
    CONSTRAINT attempt_activity_dedupe UNIQUE (attempt_id, client_event_id)
);

CREATE TABLE attempts.attempt_uploads (
    upload_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    attempt_id   uuid NOT NULL REFERENCES attempts.attempts (attempt_id)
                 ON DELETE CASCADE,
    filename     text NOT NULL
                 CHECK (octet_length(filename) BETWEEN 1 AND 255
                        AND filename !~ '[/\\[:cntrl:]]'
                        AND left(filename, 1) <> '.'),
    content_type text NOT NULL CHECK (content_type ~ '^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$'),
    size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX attempt_uploads_attempt ON attempts.attempt_uploads (attempt_id, created_at);

-- Tells every listening worker process that an attempt changed (its cached
-- state/info are stale). One notification per changed row; PostgreSQL folds
-- duplicates within a transaction. Updates that change nothing stay silent.
CREATE FUNCTION attempts.notify_attempt_changed() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, attempts
AS $$
BEGIN
    PERFORM pg_notify('attempts_changed', OLD.attempt_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER attempts_notify_update
    AFTER UPDATE ON attempts.attempts
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION attempts.notify_attempt_changed();

CREATE TRIGGER attempts_notify_delete
    AFTER DELETE ON attempts.attempts
    FOR EACH ROW
    EXECUTE FUNCTION attempts.notify_attempt_changed();
