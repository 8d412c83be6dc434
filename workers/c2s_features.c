/* c2s_features.c — the stream features of the client protocol, except
 * SASL's (sasl.c): STARTTLS, in-band registration, resource binding, the
 * legacy session, roster versioning and pre-approval. */
#include "workers/client.h"
#include "workers/ctx.h"
#include "workers/tls.h"
#include "lib/xmpp.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"

bool client_tls_offered(const struct conn *c)
{
	return !c->secure && c->lst->starttls != CFG_STARTTLS_OFF && tls_available();
}

bool client_tls_required(const struct conn *c)
{
	return !c->secure && c->lst->starttls == CFG_STARTTLS_REQUIRED;
}

static bool starttls_offered(struct conn *c)
{
	return client_tls_offered(c);
}

static void starttls_append(struct conn *c)
{
	conn_writez(c, client_tls_required(c) ? "<starttls xmlns='" NS_TLS "'><required/></starttls>"
	                                      : "<starttls xmlns='" NS_TLS "'/>");
}

const struct feature client_feature_starttls = {
	.name = "starttls",
	.stages = FEATURE_BEFORE_TLS,
	.offered = starttls_offered,
	.append = starttls_append,
};

/* XEP-0077 before authentication: where the host allows it. */
static bool register_offered(struct conn *c)
{
	return cfg_registration_open(worker.cfg, client_of(c)->host);
}

static void register_append(struct conn *c)
{
	conn_writez(c, "<register xmlns='http://jabber.org/features/iq-register'/>");
}

const struct feature client_feature_register = {
	.name = "register",
	.stages = FEATURE_BEFORE_AUTH,
	.module = "register",
	.offered = register_offered,
	.append = register_append,
};

static void bind_append(struct conn *c)
{
	conn_writez(c, "<bind xmlns='" NS_BIND "'/>");
}

const struct feature client_feature_bind = {
	.name = "bind",
	.stages = FEATURE_AFTER_AUTH,
	.append = bind_append,
};

/* RFC 3921's session, optional since RFC 6121 (answered by c2s.c). */
static void session_append(struct conn *c)
{
	conn_writez(c, "<session xmlns='" NS_SESSION "'><optional/></session>");
}

const struct feature client_feature_session = {
	.name = "session",
	.stages = FEATURE_AFTER_AUTH,
	.append = session_append,
};

/* RFC 6121 §2.6 roster versioning and §3.4 pre-approval. */
static void roster_append(struct conn *c)
{
	conn_writez(c, "<ver xmlns='urn:xmpp:features:rosterver'/>"
	               "<sub xmlns='urn:xmpp:features:pre-approval'/>");
}

const struct feature client_feature_roster = {
	.name = "rosterver",
	.stages = FEATURE_AFTER_AUTH,
	.module = "roster",
	.append = roster_append,
};
