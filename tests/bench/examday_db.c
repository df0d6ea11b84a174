/* examday_db: the database side of the run: after each phase, every
 * attempt checked against what the service acknowledged (version and the
 * last acknowledged save's data), and for the deadline storm the wait
 * for the sweep to close what is left in progress. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "examday.h"

static int cmp_student(const void *a, const void *b)
{
	return strcmp(S[*(const int *)a].attempt_id, S[*(const int *)b].attempt_id);
}

static PGconn *pg;

void db_open(void)
{
	pg = PQconnectdb(g_conninfo);
	if (PQstatus(pg) != CONNECTION_OK)
		die("cannot connect to the database: %s", PQerrorMessage(pg));
}

void db_close(void)
{
	PQfinish(pg);
}

void verify_phase(phase *ph)
{
	const char *params[1] = {ph->exam_id};
	PGresult *r;
	int *ids = xmalloc((size_t)ph->n * sizeof *ids), n = 0;

	for (int i = 0; i < ph->n; i++)
		if (uuid_valid(S[ph->first + i].attempt_id))
			ids[n++] = ph->first + i;
	qsort(ids, (size_t)n, sizeof *ids, cmp_student);
	/* A new connection: the server reached at the start may have failed
	 * over since (./dev cluster test: a multi-host conninfo with
	 * target_session_attrs=read-write finds the primary). */
	PQreset(pg);
	r = PQexecParams(pg,
			 "SELECT attempt_id::text, version, status, answers->>'last', "
			 "answers->>('q' || (answers->>'last')) FROM attempts.attempts "
			 "WHERE exam_id = $1 ORDER BY 1",
			 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		die("verification query: %s", PQerrorMessage(pg));
	/* Both lists sorted by attempt id: one merge. */
	{
		int row = 0, rows = PQntuples(r);
		for (int q = 0; q < n; q++) {
			student *s = &S[ids[q]];
			int c = -1;
			while (row < rows && (c = strcmp(PQgetvalue(r, row, 0), s->attempt_id)) < 0)
				row++;
			ph->checked++;
			if (row >= rows || c != 0) {
				ph->not_found++;
				ph->missing++;
				continue;
			}
			int v = atoi(PQgetvalue(r, row, 1));
			int sub = strcmp(PQgetvalue(r, row, 2), "submitted") == 0;
			int lo = 1 + s->acked_saves + sub, hi = lo + s->unknown_saves, bad = 0;
			if (v < lo || v > hi) {
				ph->ver_bad++;
				bad = 1;
			}
			if (s->acked_saves > 0) {
				buf want = BUF_INIT;
				const char *last =
					PQgetisnull(r, row, 3) ? "" : PQgetvalue(r, row, 3);
				int seq = atoi(last);
				filler(&want, ids[q], seq, (int)ph->value_bytes);
				if (seq < s->last_acked_seq ||
				    (s->unknown_saves == 0 && seq != s->last_acked_seq) ||
				    PQgetisnull(r, row, 4) || want.failed ||
				    strcmp(want.data ? want.data : "", PQgetvalue(r, row, 4)) !=
					    0) {
					ph->data_bad++;
					bad = 1;
				}
				buf_free(&want);
			}
			if (bad && ph->missing < 5)
				fprintf(stderr,
					"examday: %s: attempt %s: version %d (want %d..%d), last "
					"%s "
					"(acknowledged %d)\n",
					ph->name, s->attempt_id, v, lo, hi,
					PQgetisnull(r, row, 3) ? "null" : PQgetvalue(r, row, 3),
					s->last_acked_seq);
			ph->missing += bad;
		}
	}
	PQclear(r);
	free(ids);
}

/* Deadline storm: waits until no attempt of the exam is in progress, at
 * most 15 s after the last deadline + grace; records how long it took. */
void wait_sweep(phase *ph)
{
	const char *params[1] = {ph->exam_id};

	for (;;) {
		PGresult *r =
			PQexecParams(pg,
				     "SELECT count(*) FROM attempts.attempts WHERE exam_id = $1 "
				     "AND status = 'in_progress'",
				     1, NULL, params, NULL, NULL, 0);
		double now = now_ms();
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			die("sweep query: %s", PQerrorMessage(pg));
		ph->left_in_progress = atol(PQgetvalue(r, 0, 0));
		PQclear(r);
		if (ph->left_in_progress == 0) {
			ph->sweep_s = (now - ph->last_deadline_ms) / 1000.0;
			return;
		}
		if (now > ph->last_deadline_ms + 15000.0) {
			ph->sweep_s = -1;
			return;
		}
		usleep(200000);
	}
}
