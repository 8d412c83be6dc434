/* conn.h — a client connection inside a worker, and what the worker offers
 * the protocol code (c2s.c, sasl.c) to act on it. */
#ifndef XMPPD_WORKERS_CONN_H
#define XMPPD_WORKERS_CONN_H

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/db.h"
#include "lib/msg.h"
#include "lib/stz.h"
#include "shm/shm.h"
#include "workers/xmlstream.h"

#include <stdbool.h>
#include <stdint.h>

enum c2s_state {
	C2S_OPENING,    /* waiting for the stream header */
	C2S_AUTH,       /* stream open, SASL not done */
	C2S_AUTHED,     /* SASL done, waiting for the restarted stream / bind */
	C2S_BINDING,    /* bind sent to the router */
	C2S_BOUND,      /* session: stanzas flow to the router */
	C2S_CLOSING,    /* closing: nothing more is read */
};

struct sasl;
struct held;
struct tls_conn;

struct conn {
	int tag;                 /* first: tells epoll callers what this is */
	int fd;
	uint64_t id;
	uint32_t slot;
	enum c2s_state state;
	bool header_sent;        /* our stream header went out */
	bool dirty;              /* output waiting for the end-of-loop flush */
	bool want_out;           /* EPOLLOUT registered */
	bool bind_sent;          /* the router knows this connection */
	bool handshaking;        /* TLS handshake in progress: no XML yet */
	bool secure;             /* TLS established */
	bool hs_want_write;      /* the handshake waits for writability */
	uint8_t auth_failures;
	uint8_t preauth_iqs;     /* IQs sent before authenticating (registration) */
	bool trace;              /* its user is traced (xmppctl trace): log every stage */
	bool anonymous;          /* authenticated with SASL ANONYMOUS */
	bool overflowed;         /* over the output bound: only the stream error goes */
	bool lingering;          /* closed; its last output drains until linger_until */
	uint32_t linger_until;   /* worker clock (s) */
	struct msg_ip ip;        /* the peer's address, for per-address limits */
	uint32_t born;           /* worker clock (s) when it arrived */
	uint32_t last_io;        /* worker clock (s) of the last byte either way */
	int64_t tokens;          /* shaper: bytes it may still send now */
	uint64_t tokens_ms;      /* worker clock (ms) of the last refill */
	const struct cfg_listen *lst; /* the listener it came in on */
	struct tls_conn *tls;    /* NULL for plain TCP */
	struct xmlstream *xs;
	struct buf out;
	const char *host;        /* one of cfg->hosts */
	char *user;              /* prepared node after SASL */
	char *jid;               /* full JID once bound */
	char *pending_id;        /* id of the bind IQ awaiting the router */
	struct sasl *sasl;       /* during authentication only */
	struct held *held;       /* stanzas pipelined behind the bind request */
	unsigned nheld;
	char stream_id[17];
	char peer[64];
};

/* The worker's services (worker.c). */
struct worker_ctx {
	const struct cfg *cfg;
	struct db data;          /* read-only: users */
	MDB_txn *rtxn;           /* reset between uses */
	unsigned index;
	uint8_t scram_secret[32];
	char *scratch;           /* aligned buffer to encode one stanza */
	size_t scratch_cap;
	struct stz_builder reply;/* answers the worker writes itself */
	struct shm_segment *seg; /* for the trace table */
	uint64_t trace_next;     /* stanza trace ids of this worker */
};

extern struct worker_ctx W;

/* Queues bytes for the client (flushed at the end of the loop iteration). */
int conn_write(struct conn *c, const char *data, size_t len);
int conn_writez(struct conn *c, const char *s);
/* Serialises a stanza to the client. */
int conn_write_stz(struct conn *c, const struct stz *s);
/* Ends the connection: the router is told, nothing more is written or read;
 * what the socket does not take now gets a few seconds to drain. */
void conn_close(struct conn *c);
/* Writes queued output now; XS_OK when all of it went out. */
int conn_flush_now(struct conn *c);
/* Starts TLS on a connection (after <proceed/>, or at once for direct TLS).
 * XS_OK or XS_ERROR. */
int conn_start_tls(struct conn *c);
/* Sends a record to the router (queued in order when the ring is full). */
int worker_up(uint16_t type, const void *data, uint32_t len);
/* Encodes the builder into the scratch buffer and views it.  XS_OK/XS_ERROR. */
int worker_encode(struct stz_builder *b, uint64_t conn, struct stz *out);
/* Too many failed authentications: the master blocks the address, the
 * stream ends with policy-violation. */
void worker_auth_abuse(struct conn *c);

/* Tracing: the id for a traced connection's next stanza. */
uint64_t worker_trace_id(void);

/* Counters of the worker's shm stats. */
void worker_stat_sessions(int delta);
void worker_stat_stanza_in(void);
/* A read transaction on the data env, valid until worker_rtxn_done(). */
MDB_txn *worker_rtxn(void);
void worker_rtxn_done(void);

/* c2s.c: the stream protocol. */
struct conn *c2s_new(int fd);
void c2s_input(struct conn *c, const char *data, size_t len);
void c2s_bound(struct conn *c, uint32_t status, const char *jid);
void c2s_kick(struct conn *c, uint32_t reason);
/* Sends a stream error, closes the stream and the connection. */
void c2s_stream_error(struct conn *c, const char *condition, const char *text);
void c2s_free(struct conn *c);

/* sasl.c: mechanisms.  sasl_features appends <mechanisms/>; sasl_handle takes
 * an element of the SASL namespace and answers it; on success it sets
 * c->user and returns XS_DONE, XS_OK while in progress, XS_ERROR when the
 * connection must close (an error was sent). */
void sasl_features(struct conn *c);
int sasl_handle(struct conn *c, const struct stz *s);
void sasl_free(struct conn *c);

#endif
