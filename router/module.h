/* module.h — the plugin API: what a module (a modules/NAME.so) sees of the router.
 *
 * A module exports exactly one symbol, `xmppd_module`, a struct xmppd_module
 * with the ABI version it was built for.  The router dlopens it, checks the
 * ABI, fills the module's options struct from its table (below) and calls
 * init() once; init registers hooks, IQ handlers and disco features through
 * the functions below (which the xmppd binary exports).  A module never
 * blocks: no blocking I/O, no sleeping.  Handlers run in the router process,
 * one at a time.
 *
 * Results: hooks return XS_PASS (continue the chain), XS_DONE (stop the
 * chain, the stanza goes on) or XS_DROP (stop, the stanza is dropped).  An
 * IQ handler answers exactly once: it returns what the answering function
 * returned (mod_iq_result_send, mod_iq_error*: always XS_DONE, also when
 * the answer could not be sent and became internal-server-error), or
 * XS_PASS without having answered, to decline (the client then gets
 * service-unavailable).  An IQ answered once is never answered again by the
 * core, whatever the handler returns. */
#ifndef XMPPD_ROUTER_MODULE_H
#define XMPPD_ROUTER_MODULE_H

#include "lib/cfg.h"
#include "lib/cfgopt.h"
#include "lib/msg.h"
#include "lib/stz.h"
#include "lib/xs.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#define XMPPD_MODULE_ABI 5

struct mod_ctx; /* one per loaded module; opaque */

/* Options: a module declares the keys of its map in the config's `modules:`
 * as a table (lib/cfgopt.h: name, type, default, range, the field of its
 * struct, whether a reload applies it), with the struct they fill.  The
 * router parses them, range-checks them, rejects unknown keys and reports
 * each error with the file, line, column and key; `xmppd -t` and the
 * master's start and reload check them the same way, into a scratch copy.
 * The module reads its struct; it never sees the YAML.
 *   - at start, *conf holds the options before init() runs;
 *   - on a reload that validates, *conf holds the new values (options marked
 *     `restart` keep theirs, logged) before reload(ctx, old) runs with the
 *     previous ones, to act on a change; a reload returning XS_ERROR puts the
 *     old values back.  No reload(): the new values are simply in place;
 *   - strings in *conf are the router's: freed after stop(). */
struct xmppd_module {
	uint32_t abi;            /* XMPPD_MODULE_ABI */
	const char *name;
	int (*init)(struct mod_ctx *ctx);                                /* XS_OK/XS_ERROR */
	/* May be NULL; old_conf is NULL for a module without options. */
	int (*reload)(struct mod_ctx *ctx, const void *old_conf);
	void (*stop)(struct mod_ctx *ctx);                               /* may be NULL */
	const struct cfgopt *opts;   /* ended by CFGOPT_END; NULL: the module takes none */
	void *conf;                  /* the struct the options fill (the module's own) */
	size_t conf_size;
	/* Rules between options, after the table's: report with cfgopt_error
	 * (cfgopt_given tells what the file gave); may adjust conf.  XS_OK or
	 * XS_ERROR.  May be NULL. */
	int (*opts_check)(void *conf, struct cfgopt_run *run);
};

/* Every hook chain there is; run in ascending priority order.  "host" in
 * struct hook_args is the local host concerned (hooks registered for one
 * host only see its events). */
enum hook_id {
	HOOK_USER_SEND_PACKET,     /* a stanza a local user sent, before routing (jid = from) */
	HOOK_USER_RECEIVE_PACKET,  /* a stanza about to be delivered to local sessions: once per
	                            * delivery, jid = its 'to', conns/nconns = the sessions; with
	                            * mod_deliver_each, once per recipient, jid = its full JID,
	                            * conns = its one connection (XS_DROP drops that one) */
	HOOK_FILTER_PACKET,        /* every stanza the router routes (XS_DROP: dropped) */
	HOOK_PRESENCE_PROBE,       /* a probe to a local bare JID (jid); handlers answer it */
	HOOK_SESSION_OPENED,       /* stz = NULL, jid = the new full JID */
	HOOK_SESSION_CLOSED,       /* stz = NULL, jid = the full JID that left; runs
	                            * after HOOK_PRESENCE_BROADCAST of its unavailable */
	HOOK_ROSTER_GET,           /* query: jid = owner bare, peer = contact bare; a handler
	                            * sets result to enum mod_sub and returns XS_DONE */
	HOOK_DISCO_INFO,           /* out = the <query/> being built: add children */
	HOOK_DISCO_ITEMS,
	HOOK_OFFLINE_MESSAGE,      /* a message for a local account with no resource that takes
	                            * it (jid = bare); XS_DONE: stored, XS_DROP: refused and
	                            * answered, XS_PASS: the core bounces service-unavailable */
	HOOK_PRESENCE_BROADCAST,   /* stz = a local user's own presence (no 'to', type none or
	                            * unavailable, from = full JID = jid).  The core has already
	                            * updated the session and told the account's own resources;
	                            * handlers tell contacts.  initial: the resource just became
	                            * available.  Also run with an unavailable presence the core
	                            * made when a session ended for any reason. */
	HOOK_SUBSCRIPTION_OUT,     /* stz = subscribe/subscribed/unsubscribe/unsubscribed a local
	                            * user sent (jid = the user's bare JID, peer = to, bare).
	                            * XS_DROP: handled (the module routed what must go out). */
	HOOK_SUBSCRIPTION_IN,      /* the same four types addressed to a local account (jid =
	                            * its bare JID, peer = from, bare).  XS_DROP: handled;
	                            * XS_PASS: the core delivers it to the available resources. */
	HOOK_MESSAGE_DELIVERED,    /* a message was just handed to sessions of a local account:
	                            * jid = its bare JID, conns/nconns = those sessions */
	HOOK_USER_REMOVED,         /* jid = the bare JID of an account just deleted, or of SASL
	                            * ANONYMOUS sessions once the last one ended: drop its data
	                            * (in mod_db transactions of this batch) */
	HOOK_COUNT
};

/* Subscription states (RFC 6121 §2.1.2.5), as HOOK_ROSTER_GET answers them. */
enum mod_sub { MOD_SUB_NONE = 0, MOD_SUB_TO = 1, MOD_SUB_FROM = 2, MOD_SUB_BOTH = 3 };

struct hook_args {
	const struct stz *stz;     /* the stanza, when there is one */
	const char *host;          /* the local host concerned */
	const char *jid;           /* the session or account concerned, when there is one */
	const char *peer;          /* the other party (see each hook) */
	struct stz_builder *out;   /* for hooks that contribute to a reply */
	const uint64_t *conns;     /* HOOK_MESSAGE_DELIVERED, HOOK_USER_RECEIVE_PACKET */
	uint32_t nconns;
	bool initial;              /* HOOK_PRESENCE_BROADCAST */
	int result;                /* for query hooks */
};

typedef int hook_fn(struct hook_args *args, void *arg);

/* host NULL: every host.  XS_OK or XS_ERROR. */
int mod_hook_add(struct mod_ctx *ctx, enum hook_id hook, const char *host, int priority,
                 hook_fn *fn, void *arg);
/* Runs a hook chain (for modules offering extension points, e.g. disco). */
int mod_hook_run(enum hook_id hook, struct hook_args *args);
/* HOOK_ROSTER_GET: the subscription of `peer` in `owner`'s roster. */
enum mod_sub mod_subscription(const char *owner_bare, const char *peer_bare);

/* ---- IQ handlers */

struct iq_req {
	const struct stz *stz;     /* the IQ (type get or set) */
	const char *host;          /* the local host (or service domain) it was addressed to */
	uint32_t payload;          /* node index of its payload element */
	uint64_t preauth_conn;     /* != 0: from a connection not yet authenticated (no 'from';
	                            * only namespaces the worker lets through: jabber:iq:register) */
	const struct msg_ip *ip;   /* with preauth_conn: the peer's address */
	bool answered;             /* set by the answering functions below */
};

typedef int iq_fn(struct iq_req *req, void *arg);

/* Handles IQs of namespace `ns` addressed to the server, a service domain or
 * a local bare JID (host NULL: every local host; a service domain must be
 * named).  XS_OK, XS_ERROR (a duplicate). */
int mod_iq_add(struct mod_ctx *ctx, const char *host, const char *ns, iq_fn *fn, void *arg);

/* Announces a feature in disco#info (host NULL: every host). */
int mod_feature_add(struct mod_ctx *ctx, const char *host, const char *var);
/* The features of a host, in registration order; returns how many. */
size_t mod_features(const char *host, const char **out, size_t max);

/* Replies: a builder holding <iq type='result' to from id> already open;
 * add the payload (or nothing) and call mod_iq_result_send, which closes
 * what is open and sends it (when that fails: internal-server-error).  Both
 * also work for pre-authentication requests (the reply goes to the
 * connection).  The answering functions return XS_DONE, for the handler to
 * return; a failure is logged, never answered twice. */
struct stz_builder *mod_iq_result_begin(struct iq_req *req);
int mod_iq_result_send(struct iq_req *req);
/* An empty result: begin and send. */
int mod_iq_result_empty(struct iq_req *req);
/* Answers the IQ with a stanza error (RFC 6120 §8.3 condition name), with a
 * human-readable text (NULL: none). */
int mod_iq_error(struct iq_req *req, const char *condition);
int mod_iq_error_text(struct iq_req *req, const char *condition, const char *text);
/* The same with an application condition element <app xmlns='app_ns'/>, an
 * error type other than the condition's usual one and a text (each NULL:
 * none, the usual type). */
int mod_iq_error_ext(struct iq_req *req, const char *condition, const char *type,
                     const char *app, const char *app_ns, const char *text);
/* mod_iq_error with a text, without a copy of the request in the error (a
 * request that may hold a password). */
int mod_iq_error_private(struct iq_req *req, const char *condition, const char *text);

/* ---- routing.  Stanzas a module routes, delivers or kicks are queued and
 * handled once its handler returned (no re-entrance into modules), in the
 * order it asked for them and before work queued earlier by others (as
 * direct calls would).  When the batch wrote to the data env, deliveries
 * wait until it is on disk.  While a traced stanza is handled, what a module
 * builds carries its trace id. */

/* Routes a complete stanza built by the module, as if the server sent it. */
int mod_route(struct stz_builder *b);
int mod_route_stz(const struct stz *s);
/* Bounces an error for s (when RFC 6120 allows one), from s's 'to'. */
int mod_bounce(const struct stz *s, const char *condition);
/* The same with a type other than the usual (NULL: usual), an application
 * condition <app xmlns='app_ns'/> (NULL: none) and a text (NULL: none). */
int mod_bounce_ext(const struct stz *s, const char *condition, const char *type,
                   const char *app, const char *app_ns, const char *text);
/* Hands a stanza straight to sessions (no routing; user_receive_packet hooks
 * run; 'to' as built). */
int mod_deliver(const uint64_t *conns, uint32_t n, const struct stz *s);
int mod_deliver_built(const uint64_t *conns, uint32_t n, struct stz_builder *b);
/* One stanza to many sessions, each getting its own 'to' (the full JID its
 * connection is bound to; 's' 'to' is replaced): the stanza crosses each
 * worker's ring once (group chat, pubsub notifications).  The caller names
 * each recipient's full JID, so no lookup is made: HOOK_USER_RECEIVE_PACKET
 * runs per recipient with it (XS_DROP drops that recipient only). */
struct mod_recipient {
	uint64_t conn;
	const char *full;
};
int mod_deliver_each(const struct mod_recipient *to, uint32_t n, const struct stz *s);
int mod_deliver_each_built(const struct mod_recipient *to, uint32_t n, struct stz_builder *b);
/* Ends a session with a stream error (after what was queued for it). */
enum mod_kick_reason { MOD_KICK_REMOVED = 1, MOD_KICK_ADMIN = 2 };
int mod_kick(const char *full, enum mod_kick_reason why);
/* A builder for the module's own stanzas (reset by this call; valid until
 * the module's handler returns). */
struct stz_builder *mod_builder(struct mod_ctx *ctx);

/* ---- sessions (read from the session table; flags writable) */

/* Per-session flags a module may set (they survive a router restart). */
enum mod_sess_flag {
	MOD_SESS_ROSTER = 1,       /* requested the roster: gets roster pushes */
	MOD_SESS_CARBONS = 2,      /* enabled message carbons */
	MOD_SESS_ANONYMOUS = 0x80, /* SASL ANONYMOUS (set by the core; modules cannot change it) */
};

struct mod_session {
	const char *full;
	uint64_t conn;
	int64_t since;
	int32_t priority;
	bool available;
	uint8_t flags;             /* enum mod_sess_flag */
};

typedef bool mod_session_fn(const struct mod_session *s, void *arg); /* false: stop */
/* Visits the sessions of a bare JID.  XS_OK or XS_ERROR. */
int mod_sessions(const char *bare, mod_session_fn *fn, void *arg);
/* One session; XS_OK, XS_PASS (none). */
int mod_session(const char *full, struct mod_session *out);
/* The last available presence a session sent (XS_PASS: none); valid until the
 * next call. */
int mod_session_presence(const char *full, struct stz *out);
int mod_session_flags(const char *full, uint8_t set, uint8_t clear);

/* ---- the data env (durable).  Tables are opened in init.  All writes of a
 * drain batch go into one transaction committed (fsync) at its end; a module
 * writes inside a child transaction so a failure undoes only its own work:
 *     MDB_txn *t; if (mod_db_begin(&t) != XS_OK) ...; mdb_put(t, ...);
 *     mod_db_end(t, ok);   (commits into the batch if ok, else aborts)
 * mod_db_read() is for reads: the open child, else the batch transaction. */
int mod_db_table(struct mod_ctx *ctx, const char *name, unsigned flags, MDB_dbi *out);
int mod_db_begin(MDB_txn **child);
int mod_db_end(MDB_txn *child, bool ok);   /* XS_OK when committed */
MDB_txn *mod_db_read(void);
/* The accounts table (lib/users.h). */
struct db *mod_data_db(void);
/* Whether a bare JID is a registered account: XS_OK, XS_PASS (no: e.g. a SASL
 * ANONYMOUS session, whose data nothing would ever remove), XS_ERROR. */
int mod_account_exists(const char *bare);
/* What a local bare JID is: a registered account, the account of live SASL
 * ANONYMOUS sessions (it exists while one lasts: it answers like any account,
 * keeps nothing), or nothing.  XS_OK with *out set, or XS_ERROR. */
enum mod_account { MOD_ACCOUNT_NONE = 0, MOD_ACCOUNT_REGISTERED, MOD_ACCOUNT_ANONYMOUS };
int mod_account(const char *bare, enum mod_account *out);

/* ---- service domains (conference.HOST, vjud.HOST ...) */

/* Stanzas to `domain` (and any JID at it) go to fn; when fn returns XS_PASS
 * an IQ request goes to the IQ table with host = domain, else the core
 * answers service-unavailable.  `name` is listed in the parent host's
 * disco#items.  The domain's route (a service of this module) is in the
 * domain table (xmppctl routes) until the router stops.  XS_OK, or XS_ERROR
 * (the domain has a route already, e.g. a host: logged). */
typedef int domain_fn(const struct stz *s, void *arg);
int mod_domain_add(struct mod_ctx *ctx, const char *domain, const char *parent_host,
                   const char *name, domain_fn *fn, void *arg);
/* The service domains under a host: visits (domain, name). */
typedef void mod_domain_visit(const char *domain, const char *name, void *arg);
void mod_domains(const char *host, mod_domain_visit *fn, void *arg);

/* ---- timers (resumption timeouts, room self-pings, idle closes, expiry).
 *
 * fn(id, arg) runs in the router's loop, between two batches of stanzas,
 * like a hook: what it routes, delivers or kicks is queued and handled once
 * it returns; it must not block.  delay_ms from now, then every period_ms
 * (0: once).  A periodic timer is re-armed before its callback runs (it may
 * cancel itself there); one that is late fires once, not in a burst.
 * Thousands of timers are cheap (a heap: O(log n) to add, cancel, fire).
 * Every timer of a module is cancelled when it stops.  A reload function
 * re-arms what it needs with its new options: the timers armed before it
 * was called are cancelled once it returned XS_OK, those it armed itself
 * stay; when it refuses (XS_ERROR: the module keeps its old options) no
 * timer is cancelled, so it must cancel any it armed before refusing.  A
 * module without reload keeps its timers.  mod_timer_add returns the timer's id
 * (never 0), or 0 when it could not be set (logged).  mod_timer_cancel:
 * XS_OK, or XS_PASS when that id is not one of the module's pending timers
 * (fired, cancelled). */
typedef void mod_timer_fn(uint64_t id, void *arg);
uint64_t mod_timer_add(struct mod_ctx *ctx, uint32_t delay_ms, uint32_t period_ms,
                       mod_timer_fn *fn, void *arg);
int mod_timer_cancel(struct mod_ctx *ctx, uint64_t id);

/* ---- misc */
const char *mod_name(const struct mod_ctx *ctx);
bool mod_is_local_host(const char *domain);

/* ---- server settings (lib/cfg_settings.c), as the router runs them */
/* The local hosts, in the config's order; returns how many. */
size_t mod_hosts(const char *const **out);
/* Whether in-band registration is open on a local host (host_config, else
 * the top-level registration). */
bool mod_registration_open(const char *host);
/* limits.registration_rate_per_ip: accounts made in-band from one address in
 * an hour (0: no limit). */
unsigned mod_registration_rate(void);
/* PBKDF2 iterations of new SCRAM credentials. */
unsigned mod_scram_iterations(void);
/* The largest stanza a client may send, and the largest stanza encoding the
 * router builds (a builder's bound). */
size_t mod_max_stanza_size(void);
size_t mod_max_encoded(void);

/* Seconds since the epoch, and since the router started. */
int64_t mod_now(void);
int64_t mod_uptime(void);

#endif
