/* fill: the large texts the end-to-end tests and tools send, built from a
 * template: fill_at replaces the template's first '@' with n copies of a
 * character; fill_big_save is the ~1 MB save body (answers and auto-save
 * data of part bytes each) that check_api and flood use. */
#ifndef E2E_FILL_H
#define E2E_FILL_H

#include <stddef.h>

/* tmpl with its first '@' (if any) replaced by n copies of c; malloc'd,
 * NULL when out of memory. */
char *fill_at(const char *tmpl, char c, size_t n);

/* {"answers":{"essay":"a..."},"auto_save_data":{"draft":"b..."}} with part
 * of each letter; malloc'd, NULL when out of memory. */
char *fill_big_save(size_t part);

#endif
