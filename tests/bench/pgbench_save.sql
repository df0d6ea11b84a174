-- pgbench_save.sql: what a PATCH ?action=save costs the database alone:
-- claims + save_attempt (same answers and auto_save_data as save.lua, no
-- expected_version) in one pipeline, one Sync, one round trip. See
-- pgbench_state.sql for the ids and the variables.
\set j random(0, :students / :nclients - 1)
\set k 1 + :client_id + :nclients * :j
\startpipeline
SELECT pg_catalog.set_config('request.jwt.claims', '{"sub":"00000000-0000-4000-8000-' || lpad(:k::text, 12, '0') || '","role":"student"}', true);
SELECT attempts.save_attempt(('00000000-0000-4000-a001-' || lpad(:k::text, 12, '0'))::uuid, '{"q1": "b", "q2": "c", "q3": "the quick brown fox", "q4": 42}'::jsonb, '{"progress": 60, "cursor": "q4"}'::jsonb, NULL::int, 524288);
\endpipeline
