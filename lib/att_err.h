/* att_err: the service's one error enum and its text.
 * Owns only the codes; HTTP mapping lives in http, SQL error codes in attempt_ops. */
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

#endif
