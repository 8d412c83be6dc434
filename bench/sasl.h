/* sasl.h — the client side of SASL for the generator: PLAIN (RFC 4616) and
 * SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel binding.
 * The expensive part of SCRAM, PBKDF2, runs once per (user, salt,
 * iterations, hash): keycache.h keeps what it yields. */
#ifndef XMPPD_BENCH_SASL_H
#define XMPPD_BENCH_SASL_H

#include "bench/bench.h"
#include "bench/client.h"
#include "bench/xml.h"

#include <stddef.h>

/* Queues the <auth/> element for opt.mech.  0, or -1 with err filled. */
int sasl_auth(struct client *c, char *err, size_t errcap);
/* Answers a <challenge/> whose base64 text is b64.  0 or -1. */
int sasl_challenge(struct client *c, struct xml_str b64, char *err, size_t errcap);
/* Checks <success/> (the server's signature for SCRAM).  0 or -1. */
int sasl_success(struct client *c, struct xml_str b64, char *err, size_t errcap);
/* Releases the exchange's state (also after a failure). */
void sasl_end(struct client *c);
const char *mech_name(enum mech m);

#endif
