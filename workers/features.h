/* features.h — the stream-feature registry (RFC 6120 §4.3.2).
 *
 * A protocol keeps one feature set; providers register into it once per
 * process (the protocol's init), in the order their elements are offered.
 * Each says at which stages of the stream it may be offered, which router
 * module it needs loaded (NULL: none; the worker cannot see modules, so it
 * reads the config's module list), a predicate on the connection (NULL:
 * always), and the function that appends its element(s).  The protocol asks
 * the set for <stream:features/> at the stage its stream is in, and never
 * names a feature or a module itself.  Stream management (XEP-0198)
 * registers here next. */
#ifndef XMPPD_WORKERS_FEATURES_H
#define XMPPD_WORKERS_FEATURES_H

#include "workers/conn.h"

#include <stdbool.h>

/* Stages of a stream, as bits: a stream may be in more than one (before
 * TLS and before authentication, when TLS is optional). */
enum feature_stage {
	FEATURE_BEFORE_TLS  = 1 << 0, /* not encrypted yet, TLS may be negotiated */
	FEATURE_BEFORE_AUTH = 1 << 1, /* authentication may happen on this stream */
	FEATURE_AFTER_AUTH  = 1 << 2, /* the stream restarted after authentication */
};

struct feature {
	const char *name;            /* for logs and tests */
	unsigned stages;             /* enum feature_stage bits */
	const char *module;          /* a router module it needs loaded; NULL: none */
	bool (*offered)(struct conn *c);
	void (*append)(struct conn *c);
};

#define FEATURES_MAX 16

struct feature_set {
	const struct feature *list[FEATURES_MAX];
	unsigned n;
};

/* Adds a provider after those already there.  XS_OK, or XS_ERROR (logged)
 * when the set is full. */
int features_register(struct feature_set *fs, const struct feature *f);
/* Whether the router module a provider needs is loaded (true when it
 * needs none): what the protocol asks before serving that feature's
 * requests. */
bool features_module_ready(const struct feature *f);
/* Writes <stream:features>…</stream:features> with every provider offered
 * at one of `stages`. */
void features_write(const struct feature_set *fs, struct conn *c, unsigned stages);

#endif
