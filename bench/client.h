/* client.h — one simulated XMPP client and the event loop that drives them.
 *
 * A client connects, opens the stream, optionally negotiates STARTTLS,
 * authenticates (PLAIN or SCRAM), restarts the stream, binds a resource,
 * sends initial presence and is "online" when the server answers the ping
 * sent after that presence.  It answers the server's IQ get/set itself and
 * hands every other stanza to the scenario through struct client_hooks.
 * A "raw" client (the echo scenario) skips the negotiation: it is online
 * as soon as its own stream header comes back.
 *
 * Everything runs in one thread around one epoll instance (net.c): output
 * is queued per connection and written once per loop round, so a burst of
 * stanzas to one peer costs one write(). */
#ifndef XMPPD_BENCH_CLIENT_H
#define XMPPD_BENCH_CLIENT_H

#include "bench/xml.h"
#include "lib/buf.h"

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stdint.h>

enum cl_state {
	CL_IDLE = 0,   /* no connection */
	CL_CONNECTING, /* non-blocking connect() in progress */
	CL_FEATURES,   /* header sent, waiting for the stream features */
	CL_STARTTLS,   /* <starttls/> sent, waiting for <proceed/> */
	CL_HANDSHAKE,  /* TLS handshake in progress */
	CL_AUTH,       /* SASL exchange */
	CL_BIND,       /* bind IQ sent */
	CL_PING,       /* presence and ping sent, waiting for the ping answer */
	CL_ONLINE,
	CL_LEAVING,    /* </stream:stream> sent, waiting for the server's */
};

enum cl_down {
	DOWN_LOGIN_FAILED, /* never got online */
	DOWN_DROPPED,      /* was online, lost the connection unasked */
	DOWN_LEFT,         /* client_logout() finished (or timed out) */
};

struct sasl_client;

struct client {
	int fd;
	uint32_t gen;         /* connection number: tells a reused fd apart */
	uint32_t tls_again;   /* bytes of a TLS send to repeat after EAGAIN */
	uint8_t state;        /* enum cl_state */
	bool raw;             /* echo mode: no XMPP negotiation */
	bool secured;         /* TLS is up on this stream */
	bool authed;          /* SASL succeeded: the next features are for binding */
	bool dirty;           /* on the flush list */
	bool pollout;         /* EPOLLOUT is requested */
	bool in_pending;      /* on the timeout list */
	unsigned user;        /* user number: "user<user>" */
	struct buf out;       /* bytes not yet written */
	struct buf in;        /* an incomplete element carried to the next read */
	struct xml_scan xs;
	struct sasl_client *sasl;
	gnutls_session_t tls;
	int64_t t_start;      /* connect() time */
	int64_t t_step;       /* end of the previous login step (--verbose) */
	int64_t t_deadline;   /* login or logout deadline */
	struct client *pprev, *pnext; /* timeout list */
	struct client *dnext;         /* flush list */
	/* Scenario data. */
	struct client *peer;
	uint64_t sent, recvd;
	uint64_t count;
};

/* Called from inside a loop round.  A hook may send on any client, log one
 * out or abort one, but must not client_start() one: a restarted
 * connection could receive events meant for the old one later in the same
 * round.  Restart after net_poll() returns. */
struct client_hooks {
	void (*online)(struct client *c);
	void (*down)(struct client *c, enum cl_down why);
	void (*message)(struct client *c, struct xml_str el);
	void (*presence)(struct client *c, struct xml_str el);
	/* IQ results and errors the login steps did not ask for. */
	void (*iq)(struct client *c, struct xml_str el);
};

/* Login bookkeeping shared by every scenario. */
struct client_stats {
	unsigned inflight;   /* started and not yet online or failed */
	unsigned online;     /* online now */
	unsigned ok, failed, dropped;
	int64_t first_start, last_online;
	struct samples *login_lat; /* ns from connect() to online, when set */
};

extern struct client_hooks client_hooks;
extern struct client_stats client_stats;

/* With --verbose: the login steps' latency percentiles, on stderr. */
void client_print_steps(void);
/* Starts connecting and logging in; the outcome arrives through the hooks. */
void client_start(struct client *c);
/* Queues bytes; they are written at the end of the loop round. */
void client_send(struct client *c, const char *p, size_t n);
void client_sendz(struct client *c, const char *z);
/* Leaves politely: unavailable presence and </stream:stream>, then waits
 * (bounded) for the server to close. */
void client_logout(struct client *c);
/* Tears the connection down now; `err` is NULL for a planned close. */
void client_abort(struct client *c, const char *err);
/* "user17@localhost". */
void client_bare_jid(const struct client *c, char *out, size_t cap);

/* Called by net.c. */
void client_connected(struct client *c);
void client_input(struct client *c, const char *data, size_t len);
void client_eof(struct client *c, const char *why);
void client_timeout(struct client *c);
void client_tls_ready(struct client *c);

/* net.c: the event loop. */
int net_init(void);
/* Non-blocking connect to opt.addr:opt.port; 0, or -1 with errno. */
int net_connect(struct client *c);
void net_close(struct client *c);
void net_mark_dirty(struct client *c);
void net_pending_add(struct client *c, int64_t deadline);
void net_pending_del(struct client *c);
/* One round: wait up to timeout_ms for events, handle them, write what is
 * queued, expire deadlines. */
void net_poll(int timeout_ms);
/* Rounds until done(arg) or until `until` (ns) or the overall deadline;
 * true when done. */
bool net_run_until(bool (*done)(void *), void *arg, int64_t until);

#endif
