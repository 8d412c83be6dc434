/* trace.h — the trace id of the work being done (router/trace.c).
 *
 * While a traced stanza is handled (xmppctl trace, the config's trace:
 * list), what it causes — hooks, deliveries, answers — is logged under its
 * id and carries it to the workers. */
#ifndef XMPPD_ROUTER_TRACE_H
#define XMPPD_ROUTER_TRACE_H

#include "lib/stz.h"

#include <stdint.h>

/* The trace id of the stanza being routed, 0 when it is not traced. */
uint64_t route_trace(void);
void route_trace_set(uint64_t id);
/* Starts (s: its id, see trace_of) or ends (NULL) the tracing context. */
void route_trace_begin(const struct stz *s);
/* The id a stanza is traced under: its own (set by the worker), a new one
 * when it concerns a traced account, or 0. */
uint64_t trace_of(const struct stz *s);

#endif
