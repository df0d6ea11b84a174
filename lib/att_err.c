/* att_err: text for the service's error codes, detail messages. */
#include "att_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *att_strerror(att_err err)
{
	switch (err) {
	case ATT_OK:
		return "success";
	case ATT_ENOMEM:
		return "out of memory";
	case ATT_EINVAL:
		return "invalid input";
	case ATT_ETOOBIG:
		return "input too large";
	case ATT_EAUTH:
		return "authentication failed";
	case ATT_ETIMEOUT:
		return "timed out";
	case ATT_EUNAVAILABLE:
		return "service unavailable";
	case ATT_EDB:
		return "database error";
	case ATT_EIO:
		return "input/output error";
	case ATT_ECONFIG:
		return "invalid configuration";
	}
	return "unknown error";
}

void att_errmsg_set(char **errmsg, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	if (errmsg == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	free(*errmsg);
	*errmsg = strdup(text);
}
