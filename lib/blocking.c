/* blocking: one thread-local pointer to the scheduler's hooks. */
#include "blocking.h"

#include <stddef.h>

static _Thread_local const blocking_hooks *thread_hooks;

void blocking_set_hooks(const blocking_hooks *hooks)
{
	thread_hooks = hooks;
}

void blocking_begin(void)
{
	if (thread_hooks != NULL)
		thread_hooks->begin(thread_hooks->arg);
}

void blocking_end(void)
{
	if (thread_hooks != NULL)
		thread_hooks->end(thread_hooks->arg);
}
