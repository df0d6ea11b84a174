-- 004_exams_newest_first.sql — the index behind GET /api/exams (list_exams:
-- newest first, a page at a time). Applied once by sql/migrate.sh.
CREATE INDEX exams_newest_first ON attempts.exams (created_at DESC, exam_id DESC);
