/* client.h — the client protocol's state of one connection (RFC 6120
 * client-to-server streams), shared by its files: c2s.c (the stream,
 * binding, validation), sasl.c (authentication), c2s_features.c (the
 * stream features it offers). */
#ifndef XMPPD_WORKERS_CLIENT_H
#define XMPPD_WORKERS_CLIENT_H

#include "workers/conn.h"
#include "workers/features.h"
#include "workers/stream.h"
#include "workers/xmlstream.h"

#include <stdbool.h>
#include <stdint.h>

/* Where a client stream is; closing is conn->closed. */
enum client_phase {
	CLIENT_OPENING,          /* waiting for the stream header */
	CLIENT_AUTHENTICATING,   /* stream open, SASL not done (TLS, registration) */
	CLIENT_AUTHENTICATED,    /* SASL done: the restarted stream, then a bind request */
	CLIENT_BINDING,          /* bind sent to the router, its answer awaited */
	CLIENT_BOUND,            /* a session: stanzas flow to the router */
};

struct sasl;
struct held;

struct client {
	struct conn conn;        /* first: the generic connection */
	struct xmlstream *xs;
	const char *host;        /* one of cfg->hosts, from the stream header */
	char *user;              /* prepared node after SASL */
	char *bind_id;           /* id of the bind IQ awaiting the router */
	struct sasl *sasl;       /* during authentication only */
	struct held *held;       /* stanzas pipelined behind the bind request */
	unsigned nheld;
	enum client_phase phase;
	struct stream_head head;
	bool anonymous;          /* authenticated with SASL ANONYMOUS */
	uint8_t auth_failures;
	uint8_t preauth_iqs;     /* IQs sent before authenticating (registration) */
};

static inline struct client *client_of(struct conn *c)
{
	return (struct client *)c;
}

/* c2s_features.c: the providers the client protocol registers, in the
 * order they are offered, and what the stream needs to know of TLS. */
extern const struct feature client_feature_starttls;
extern const struct feature client_feature_register;
extern const struct feature client_feature_bind;
extern const struct feature client_feature_session;
extern const struct feature client_feature_roster;
/* STARTTLS may be negotiated on this stream / must be before anything else. */
bool client_tls_offered(const struct conn *c);
bool client_tls_required(const struct conn *c);

/* sasl.c: mechanisms.  sasl_handle takes an element of the SASL namespace
 * and answers it. */
enum sasl_result {
	SASL_CONTINUE,           /* in progress, or failed with <failure/> (may retry) */
	SASL_SUCCESS,            /* <success/> sent; client->user is set */
	SASL_ABUSE,              /* too many failed authentications: end the stream */
	SASL_ERROR,              /* internal error: end the stream */
};
extern const struct feature client_feature_sasl;
enum sasl_result sasl_handle(struct client *cl, const struct stz *s);
void sasl_free(struct client *cl);

#endif
