/* token_memo: remembers tokens that passed verification, so that a token
 * sent again (clients send the same one on every request) costs a compare
 * instead of two base64 decodes, two JSON parses and a signature check.
 * An entry is the whole token, a 32-byte tag naming what it was checked
 * with (the caller's: secret, keys, rules), and a fixed-size value the
 * caller gives (what the check found). Shared by threads: entries in sets
 * of two picked by a hash of the token (a token evicts the less recently
 * used of its set), each set behind one of a few dozen mutexes. Owns the
 * entries and the hit counts; what a value means is the caller's. */
#ifndef ATT_TOKEN_MEMO_H
#define ATT_TOKEN_MEMO_H

#include <stddef.h>

#include "att_err.h"

#define TOKEN_MEMO_TAG_LEN 32	  /* SHA-256 */
#define TOKEN_MEMO_MAX_TOKEN 1024 /* an RS256 token of a 2048-bit key is ~600 bytes */
#define TOKEN_MEMO_MAX_VALUE 256

typedef struct token_memo token_memo;

/* A memo of slots entries (rounded up to an even number) whose values are
 * value_size bytes (at most TOKEN_MEMO_MAX_VALUE). The caller frees *out
 * with token_memo_free(). */
att_err token_memo_create(size_t slots, size_t value_size, token_memo **out) ATT_MUSTCHECK;

/* Frees the memo. Accepts NULL. */
void token_memo_free(token_memo *m);

/* Copies the value remembered for (token, tag) into value and returns 1,
 * or returns 0 if there is none. Counts a hit or a miss. NULL m: 0. */
int token_memo_find(token_memo *m, const char *token, size_t len, const unsigned char *tag,
		    void *value);

/* Remembers value for (token, tag); a token longer than
 * TOKEN_MEMO_MAX_TOKEN is not remembered. NULL m: nothing. */
void token_memo_store(token_memo *m, const char *token, size_t len, const unsigned char *tag,
		      const void *value);

/* Forgets every entry. NULL m: nothing. */
void token_memo_clear(token_memo *m);

/* Finds that found an entry, and that did not, since the memo was made. */
void token_memo_stats(const token_memo *m, unsigned long long *hits, unsigned long long *misses);

#endif
