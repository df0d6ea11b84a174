/* att_err: text for the service's error codes. */
#include "att_err.h"

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
