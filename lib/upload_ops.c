/* upload_ops: upload handlers, the database side of uploads. */
#include "upload_ops.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "reply.h"
#include "uploads.h"
#include "uuid.h"

/* The media type of the body, lowercased, without parameters. */
static void media_type(const char *content_type, char *out, size_t n)
{
	size_t i = 0;
	const char *p = content_type ? content_type : "application/octet-stream";

	while (*p == ' ')
		p++;
	for (; *p && *p != ';' && *p != ' ' && i + 1 < n; p++)
		out[i++] = (char)tolower((unsigned char)*p);
	out[i] = '\0';
}

/* The max_bytes of a validate_attempt_upload result, or -1. */
static long long upload_limit(const char *validation)
{
	cJSON *root = cJSON_Parse(validation);
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(root, "max_bytes");
	long long limit = cJSON_IsNumber(max) ? (long long)max->valuedouble : -1;

	cJSON_Delete(root);
	return limit;
}

/* Stores the body (nginx's file, or the stream) under upload_id. */
static att_err store_body(req_ctx *rc, const char *upload_id, long long limit, long long *size,
			  char sha256[UPLOADS_SHA256_HEX])
{
	const char *dir = rc->env->cfg->upload_dir;

	if (rc->req->body_file != NULL)
		return uploads_store_file(dir, rc->req->body_file, upload_id, limit, size, sha256);
	return uploads_store_stream(dir, rc->req->read, rc->req->io_ctx, upload_id, limit, size,
				    sha256);
}

void upload_ops_upload(req_ctx *rc)
{
	size_t filename_len = 0;
	const char *filename = http_query(rc->req, "filename", &filename_len);
	const char *dir = rc->env->cfg->upload_dir;
	char type[128], size_text[24], upload_id[UUID_STR_LEN + 1];
	char sha256[UPLOADS_SHA256_HEX];
	const char *params[6];
	long long limit, size = rc->req->content_length;
	char *text;
	att_err err;

	if (!uploads_filename_valid(filename, filename_len)) {
		http_error(rc->resp, 400, "invalid_filename",
			   "filename must be 1..255 bytes of UTF-8 without path separators, "
			   "control or bidirectional/zero-width format characters, or a "
			   "leading dot",
			   NULL);
		return;
	}
	if (rc->req->body_file == NULL && !rc->req->precheck &&
	    rc->req->param(rc->req->io_ctx, "ATTEMPTS_UPLOADS_VIA_FILE") != NULL) {
		/* nginx hands upload bodies over as files; this one came through
		 * FastCGI because the action was spelled with escapes. */
		http_error(rc->resp, 400, "invalid_query",
			   "write the action as action=upload, without escapes", NULL);
		return;
	}
	if (uuid_generate(upload_id) != ATT_OK) {
		http_error(rc->resp, 500, "internal_error", "no randomness", NULL);
		return;
	}
	media_type(rc->req->content_type, type, sizeof type);
	/* Refuse early (owner, status, type, size by Content-Length). */
	snprintf(size_text, sizeof size_text, "%lld", size);
	params[0] = rc->path_id;
	params[1] = type;
	params[2] = size >= 0 ? size_text : NULL;
	text = reply_call(rc, DB_STMT_VALIDATE_UPLOAD, params);
	if (text == NULL)
		return;
	limit = upload_limit(text);
	free(text);
	if (rc->req->precheck) {
		/* nginx may read the body now. Its key for the limit on
		 * concurrent uploads per caller (nginx/attempts.conf). */
		http_header(rc->resp, "X-Attempts-Upload-Key", rc->claims.sub);
		rc->resp->status = 204;
		return;
	}
	err = store_body(rc, upload_id, limit >= 0 ? limit : 0, &size, sha256);
	if (err == ATT_ETOOBIG) {
		http_error(rc->resp, 413, "payload_too_large",
			   "the file exceeds the exam's upload limit", NULL);
		return;
	}
	if (err == ATT_EIO && rc->req->body_file == NULL) {
		/* The client's body stream broke off. */
		http_error(rc->resp, 400, "invalid_body", "the upload body could not be read",
			   NULL);
		return;
	}
	if (err != ATT_OK) {
		/* Our side: the body file or the store (permissions, disk). */
		log_error("upload could not be stored (%s)", att_strerror(err));
		http_error(rc->resp, 500, "internal_error", "the upload could not be stored", NULL);
		return;
	}
	snprintf(size_text, sizeof size_text, "%lld", size);
	params[0] = rc->path_id;
	params[1] = upload_id;
	params[2] = filename;
	params[3] = type;
	params[4] = size_text;
	params[5] = sha256;
	text = reply_call(rc, DB_STMT_RECORD_UPLOAD, params);
	if (text == NULL) {
		/* Refused or rolled back: the stored file must not stay behind.
		 * On a 503 the outcome may be unknown (the connection broke after
		 * the record was sent): keep the file rather than orphan a row. */
		if (rc->resp->status != 503)
			uploads_remove(dir, upload_id);
		return;
	}
	http_json_text(rc->resp, 201, text, strlen(text));
	free(text);
	attempt_cache_note_write(rc->env->attempts, rc->path_id);
}

void upload_ops_download(req_ctx *rc)
{
	const char *upload_id = http_query_text(rc->req, "upload_id");
	const char *params[2] = {rc->path_id, upload_id};
	const cJSON *type, *name, *size;
	char path[4096], disposition[1024];
	cJSON *meta;
	char *text;
	int fd;

	if (upload_id == NULL || !uuid_valid(upload_id)) {
		http_error(rc->resp, 400, "invalid_uuid", "upload_id is not a canonical UUID",
			   NULL);
		return;
	}
	text = reply_call(rc, DB_STMT_GET_UPLOAD, params);
	if (text == NULL)
		return;
	meta = cJSON_Parse(text);
	free(text);
	type = cJSON_GetObjectItemCaseSensitive(meta, "content_type");
	name = cJSON_GetObjectItemCaseSensitive(meta, "filename");
	size = cJSON_GetObjectItemCaseSensitive(meta, "size_bytes");
	if (!cJSON_IsString(type) || !cJSON_IsString(name) || !cJSON_IsNumber(size)) {
		http_error(rc->resp, 500, "internal_error", "unexpected upload record", NULL);
		goto out;
	}
	uploads_content_disposition(name->valuestring, disposition, sizeof disposition);
	http_header(rc->resp, "Content-Type", type->valuestring);
	http_header(rc->resp, "Content-Disposition", disposition);
	http_header(rc->resp, "X-Content-Type-Options", "nosniff");
	if (rc->req->accel_prefix != NULL) {
		/* nginx serves the bytes from its internal location. */
		http_headerf(rc->resp, "X-Accel-Redirect", "%s%s", rc->req->accel_prefix,
			     upload_id);
		rc->resp->status = 200;
		goto out;
	}
	if (uploads_path(rc->env->cfg->upload_dir, upload_id, path, sizeof path) != 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		log_error("upload %s has a record but no file", upload_id);
		http_response_reset(rc->resp);
		http_header(rc->resp, "X-Request-Id", rc->req->request_id);
		http_error(rc->resp, 500, "internal_error", "the stored file is missing", NULL);
		goto out;
	}
	http_file(rc->resp, 200, fd, (long long)size->valuedouble);
out:
	cJSON_Delete(meta);
}

void upload_ops_list(req_ctx *rc)
{
	const char *params[1] = {rc->path_id};

	reply_call_json(rc, DB_STMT_LIST_UPLOADS, params, 200);
}
