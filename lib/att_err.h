/* att_err: the service's one error enum, its text, and the detail message
 * a failing call may hand back (char **errmsg). Owns only the codes; HTTP
 * mapping lives in reply, SQL error codes in the SQL functions. */
#ifndef ATT_ERR_H
#define ATT_ERR_H

typedef enum att_err {
	ATT_OK = 0,
	ATT_ENOMEM,	  /* allocation failed */
	ATT_EINVAL,	  /* malformed input */
	ATT_ETOOBIG,	  /* input over a configured limit */
	ATT_EAUTH,	  /* authentication failed */
	ATT_ETIMEOUT,	  /* waited too long (pool acquire) */
	ATT_EUNAVAILABLE, /* database unreachable or breaker open */
	ATT_EDB,	  /* database answered with an error */
	ATT_EIO,	  /* read/write on a stream or file failed */
	ATT_ECONFIG	  /* bad configuration value */
} att_err;

/* Returns a static, human-readable text for err. Never NULL. */
const char *att_strerror(att_err err);

#define ATT_MUSTCHECK __attribute__((warn_unused_result))
#define ATT_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Replaces *errmsg, when errmsg is not NULL, with the formatted message
 * (at most 511 bytes; NULL if out of memory). The caller of the function
 * that set it frees it with free(). */
void att_errmsg_set(char **errmsg, const char *fmt, ...) ATT_PRINTF(2, 3);

#endif
