/* conn.h — a connection inside a worker, of any protocol and transport,
 * and the services the loop and the protocols share to act on it: its
 * output queue and flush, STARTTLS, closing (with a few seconds for the
 * last output to drain), and the lists the loop drains each iteration
 * (connections with input to read, with output to flush, closed, dead).
 *
 * conn.c calls a protocol only through c->proto (proto.h) and a transport
 * only through c->tp.ops (transport.h); it never calls worker.c. */
#ifndef XMPPD_WORKERS_CONN_H
#define XMPPD_WORKERS_CONN_H

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/msg.h"
#include "lib/stz.h"
#include "workers/proto.h"
#include "workers/transport.h"

#include <stdbool.h>
#include <stdint.h>

struct conn {
	int tag;                 /* first: tells epoll callers what this is */
	int fd;                  /* -1 once the socket is closed */
	uint64_t id;             /* lib/msg.h conn_id_make: worker, generation, slot */
	uint32_t slot;
	bool dirty;              /* on the flush list */
	bool want_out;           /* EPOLLOUT registered */
	bool handshaking;        /* the transport's handshake runs: no application data */
	bool secure;             /* TLS established */
	bool closed;             /* conn_close ran: nothing more is read or written */
	bool lingering;          /* closed; its last output drains until linger_until */
	bool overflowed;         /* over the output bound: only the stream error goes */
	bool routed;             /* the router knows it: it hears when it closes */
	bool established;        /* a session: no authentication deadline, keepalives */
	bool trace;              /* its user is traced (xmppctl trace): log every stage */
	bool shaped;             /* on the loop's list of connections waiting for shaper tokens */
	uint32_t linger_until;   /* worker clock (s) */
	uint32_t born;           /* worker clock (s) when it arrived */
	uint32_t last_io;        /* worker clock (s) of the last byte either way */
	struct msg_ip ip;        /* the peer's address, for per-address limits */
	int64_t tokens;          /* shaper: bytes it may still read now */
	uint64_t tokens_ms;      /* worker clock (ms) of the last refill */
	const struct cfg_listen *lst; /* the listener it came in on */
	const struct proto *proto;
	struct transport tp;
	struct buf out;
	char *jid;               /* the address the router knows it by (full JID once bound) */
	char peer[64];           /* "address:port", for logs */
};

/* Once per process, before the first connection: the epoll set the
 * connections are in. */
void conn_init(int epfd);

/* Queues bytes for the peer (flushed at the end of the loop iteration).
 * XS_ERROR when the connection is closed or went over its output bound
 * (the protocol's stream_error then ran). */
int conn_write(struct conn *c, const char *data, size_t len);
int conn_writez(struct conn *c, const char *s);
/* Serialises a stanza against the protocol's stream namespace. */
int conn_write_stz(struct conn *c, const struct stz *s);

/* A stanza from the router for one or more connections of this worker
 * (struct msg_deliver).  With several recipients, or a 'to' stamped per
 * recipient, the bytes are made once (struct stz_wire) and copied to each;
 * a lone recipient without stamping gets them serialised straight into its
 * output. */
struct conn_delivery {
	const struct stz *s;
	bool stamp_to;           /* MSG_DELIVER_STAMP_TO: each gets to= its c->jid */
	bool shared;             /* more than one recipient */
	const char *made_for;    /* the stream namespace the shared bytes are made for */
};
int conn_deliver(struct conn *c, struct conn_delivery *d);

/* Writes queued output now; XS_OK when all of it went out. */
int conn_flush_now(struct conn *c);
/* The socket is writable (EPOLLOUT): writes what is queued; closes the
 * connection when it broke. */
void conn_writable(struct conn *c);
/* Starts TLS on a connection (after <proceed/>, or at once for direct
 * TLS): the handshake runs from the next read.  XS_OK or XS_ERROR. */
int conn_start_tls(struct conn *c);
/* One step of the transport's handshake, when the socket is ready. */
void conn_handshake(struct conn *c);

/* Ends the connection: the router is told (when it knew it) and the
 * master too, nothing more is read or written; what the socket does not
 * take now gets a few seconds to drain. */
void conn_close(struct conn *c);
/* A lingering connection's socket is ready (or broke): drains, and closes
 * the socket once empty. */
void conn_linger_event(struct conn *c, bool broken);
/* Closes the sockets of lingering connections past their time. */
void conn_linger_sweep(uint32_t now);

/* Connections by id, for lists that outlive a connection's memory;
 * id_list_push: XS_OK, or XS_ERROR (no memory; the list is unchanged). */
struct id_list {
	uint64_t *v;
	size_t n, cap;
};
int id_list_push(struct id_list *l, uint64_t id);

/* The loop's lists.  conn_want_read: there may be input to read (it is read
 * once per iteration, so one busy peer cannot starve the others). */
void conn_want_read(struct conn *c);
/* Hands the ids of connections to read over to the caller, who frees them. */
uint64_t *conn_take_readable(size_t *n);
size_t conn_readable_count(void);
/* Flushes every connection with queued output. */
void conn_flush_dirty(void);
/* Room for n closed connections at once, so that conn_close never needs
 * memory to hand a connection's slot back: the worker calls it with its
 * slot table's new size before the table grows, and on XS_ERROR
 * (allocation) does not grow it. */
int conn_reserve_closed(size_t n);
/* Connections closed since the last call (their slots are free to reuse);
 * valid until the next call or conn_reserve_closed. */
struct conn **conn_take_closed(size_t *n);
/* Frees the connections whose sockets were closed (after the slots of
 * closed connections were released). */
void conn_reap(void);
/* Frees a connection that never went through conn_close (a hand-off that
 * failed half-way): its transport, buffers, then the protocol's state. */
void conn_free(struct conn *c);

#endif
