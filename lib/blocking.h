/* blocking: lets a thread say that it is about to wait for other threads'
 * work rather than run (a write waiting for the batch that carries it), so
 * that whatever schedules the thread may run another meanwhile. The
 * scheduler (fcgi_server) installs per-thread hooks; elsewhere - tests,
 * plain CGI, the housekeeping thread - the calls do nothing. Owns only
 * that per-thread hand-off. */
#ifndef ATT_BLOCKING_H
#define ATT_BLOCKING_H

typedef struct blocking_hooks {
	void (*begin)(void *arg); /* the thread stops counting as running */
	void (*end)(void *arg);	  /* it runs again */
	void *arg;
} blocking_hooks;

/* Installs hooks for the calling thread (NULL: none). hooks must outlive
 * the thread's use of them. */
void blocking_set_hooks(const blocking_hooks *hooks);

/* Brackets a wait for other threads. Each begin is followed by one end. */
void blocking_begin(void);
void blocking_end(void);

#endif
