/* app: a worker process's shared state and the request entry point. */
#include "app.h"

#include <stdlib.h>

#include "db.h"
#include "log.h"
#include "router.h"

struct app {
	const config *cfg;
	db_pool *pool;
};

att_err app_create(const config *cfg, app **out)
{
	pool_options opt = {
		.conninfo = cfg->db,
		.min_size = (int)cfg->pool_min,
		.max_size = (int)cfg->pool_max,
		.acquire_timeout_ms = (int)cfg->pool_acquire_timeout_ms,
		.idle_timeout_ms = (int)cfg->pool_idle_timeout_ms,
		.health_check_after_ms = 30000,
		.statement_timeout_ms = (int)cfg->db_statement_timeout_ms,
		.setup = db_prepare_all,
		.setup_arg = NULL,
	};
	app *a = calloc(1, sizeof *a);
	att_err err;

	if (a == NULL)
		return ATT_ENOMEM;
	a->cfg = cfg;
	err = pool_create(&opt, &a->pool);
	if (err != ATT_OK) {
		free(a);
		return err;
	}
	*out = a;
	return ATT_OK;
}

void app_free(app *a)
{
	if (a == NULL)
		return;
	pool_free(a->pool);
	free(a);
}

int app_serve(app *a, http_param_fn param, http_read_fn read, void *io_ctx,
	      http_write_fn write, void *write_ctx)
{
	http_request req;
	http_response resp;
	att_err err;
	int status;

	http_response_init(&resp);
	err = http_request_init(&req, param, read, io_ctx);
	http_header(&resp, "X-Request-Id", req.request_id);
	if (err == ATT_EINVAL)
		http_error(&resp, 400, "invalid_query",
			   "the query string is malformed", NULL);
	else if (err != ATT_OK)
		http_error(&resp, 500, "internal_error", att_strerror(err), NULL);
	else
		router_dispatch(a, &req, &resp);
	status = resp.status;
	if (http_response_write(&resp, write, write_ctx) != ATT_OK)
		status = -1;
	http_request_free(&req);
	http_response_free(&resp);
	return status;
}

const config *app_config(const app *a)
{
	return a->cfg;
}

db_pool *app_pool(const app *a)
{
	return a->pool;
}
