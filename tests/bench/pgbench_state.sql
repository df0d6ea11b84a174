-- pgbench_state.sql: what a GET ?action=state costs the database alone, as
-- the service sends it: the claims and the call in one pipeline, one Sync
-- (one round trip, one implicit transaction). Run with -M prepared and
-- -D students=N -D nclients=C (bench.sh does). Each client keeps to its own
-- students (k = client_id + 1 + nclients * j), so clients never share an
-- attempt. Ids follow bench.sh's seed: student k is
-- 00000000-0000-4000-8000-<k, 12 digits>, its attempt at exam 1 is
-- 00000000-0000-4000-a001-<k, 12 digits>.
\set j random(0, :students / :nclients - 1)
\set k 1 + :client_id + :nclients * :j
\startpipeline
SELECT pg_catalog.set_config('request.jwt.claims', '{"sub":"00000000-0000-4000-8000-' || lpad(:k::text, 12, '0') || '","role":"student"}', true);
SELECT attempts.get_attempt_state(('00000000-0000-4000-a001-' || lpad(:k::text, 12, '0'))::uuid);
\endpipeline
