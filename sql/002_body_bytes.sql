-- 002_body_bytes.sql — the length of an attempt's answers and auto-save
-- data as JSON text, kept by PostgreSQL itself on every write, so that a
-- batch read can refuse an answer over the response budget
-- (max_response_bytes) before it builds it (API.md section 3).
ALTER TABLE attempts.attempts
    ADD COLUMN body_bytes integer NOT NULL
        GENERATED ALWAYS AS (octet_length(answers::text) + octet_length(auto_save_data::text)) STORED;
