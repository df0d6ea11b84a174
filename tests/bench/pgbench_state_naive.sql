-- pgbench_state_naive.sql: pgbench_state.sql without the pipeline: BEGIN,
-- set_config, the call and COMMIT as four round trips.
\set j random(0, :students / :nclients - 1)
\set k 1 + :client_id + :nclients * :j
BEGIN;
SELECT pg_catalog.set_config('request.jwt.claims', '{"sub":"00000000-0000-4000-8000-' || lpad(:k::text, 12, '0') || '","role":"student"}', true);
SELECT attempts.get_attempt_state(('00000000-0000-4000-a001-' || lpad(:k::text, 12, '0'))::uuid);
COMMIT;
