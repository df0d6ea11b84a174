/* upload_ops: the handlers of an attempt's uploads (upload with its nginx
 * pre-check, download, list). Owns the order validate -> store the file
 * -> record it, and removing the file when the record is refused; the
 * file store itself is uploads'. */
#ifndef ATT_UPLOAD_OPS_H
#define ATT_UPLOAD_OPS_H

#include "handler.h"

void upload_ops_upload(req_ctx *rc);
void upload_ops_download(req_ctx *rc);
void upload_ops_list(req_ctx *rc);

#endif
