/* module.h — the plugin API: what a module (a modules/NAME.so) sees of the router.
 *
 * A module exports exactly one symbol, `xmppd_module`, a struct xmppd_module
 * with the ABI version it was built for.  The router dlopens it, checks the
 * ABI and calls init() once with its options from the config; init registers
 * hooks, IQ handlers and disco features through the functions below (which
 * the xmppd binary exports).  A module never blocks: no blocking I/O, no
 * sleeping.  Handlers run in the router process, one at a time.
 *
 * Results: hooks return XS_PASS (continue the chain), XS_DONE (stop the
 * chain, the stanza goes on) or XS_DROP (stop, the stanza is dropped); IQ
 * handlers return XS_DONE when they answered and XS_PASS when they decline
 * (the client then gets service-unavailable). */
#ifndef XMPPD_ROUTER_MODULE_H
#define XMPPD_ROUTER_MODULE_H

#include "lib/cfg.h"
#include "lib/stz.h"
#include "lib/xs.h"

#include <stdint.h>

#define XMPPD_MODULE_ABI 1

struct mod_ctx; /* one per loaded module; opaque */

struct xmppd_module {
	uint32_t abi;            /* XMPPD_MODULE_ABI */
	const char *name;
	int (*init)(struct mod_ctx *ctx, const struct cfg_node *opts);   /* XS_OK/XS_ERROR */
	int (*reload)(struct mod_ctx *ctx, const struct cfg_node *opts); /* may be NULL */
	void (*stop)(struct mod_ctx *ctx);                               /* may be NULL */
};

/* Every hook chain there is; run in ascending priority order. */
enum hook_id {
	HOOK_USER_SEND_PACKET,     /* a stanza a local user sent, before routing */
	HOOK_USER_RECEIVE_PACKET,  /* a stanza about to be delivered to a local user */
	HOOK_FILTER_PACKET,        /* every stanza the router routes */
	HOOK_PRESENCE_PROBE,
	HOOK_SESSION_OPENED,       /* stz = NULL, jid = the new full JID */
	HOOK_SESSION_CLOSED,       /* stz = NULL, jid = the full JID that left */
	HOOK_ROSTER_GET,
	HOOK_DISCO_INFO,           /* out = the <query/> being built: add children */
	HOOK_DISCO_ITEMS,
	HOOK_OFFLINE_MESSAGE,      /* a message for a user with no available resource */
	HOOK_COUNT
};

struct hook_args {
	const struct stz *stz;     /* the stanza, when there is one */
	const char *host;          /* the local host concerned */
	const char *jid;           /* the session concerned, when there is one */
	struct stz_builder *out;   /* for hooks that contribute to a reply */
};

typedef int hook_fn(struct hook_args *args, void *arg);

/* host NULL: every host.  XS_OK or XS_ERROR. */
int mod_hook_add(struct mod_ctx *ctx, enum hook_id hook, const char *host, int priority,
                 hook_fn *fn, void *arg);

struct iq_req {
	const struct stz *stz;     /* the IQ (type get or set) */
	const char *host;          /* the local host it was addressed to */
	uint32_t payload;          /* node index of its payload element */
};

typedef int iq_fn(struct iq_req *req, void *arg);

/* Handles IQs of namespace `ns` addressed to the server or to a local bare
 * JID (host NULL: every host).  XS_OK, XS_ERROR (a duplicate). */
int mod_iq_add(struct mod_ctx *ctx, const char *host, const char *ns, iq_fn *fn, void *arg);

/* Announces a feature in disco#info (host NULL: every host). */
int mod_feature_add(struct mod_ctx *ctx, const char *host, const char *var);
/* The features of a host, in registration order; returns how many. */
size_t mod_features(const char *host, const char **out, size_t max);

/* Replies: a builder holding <iq type='result' to from id> already open;
 * add the payload (or nothing) and call mod_iq_result_send. */
struct stz_builder *mod_iq_result_begin(struct iq_req *req);
int mod_iq_result_send(struct iq_req *req);
/* Answers the IQ with a stanza error (RFC 6120 §8.3 condition name). */
int mod_iq_error(struct iq_req *req, const char *condition);
/* Routes a complete stanza built by the module, as if the server sent it. */
int mod_route(struct stz_builder *b);
/* Runs a hook chain (for modules offering extension points, e.g. disco). */
int mod_hook_run(enum hook_id hook, struct hook_args *args);

const char *mod_name(const struct mod_ctx *ctx);

#endif
