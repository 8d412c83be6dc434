/* msg.h — every message type that crosses a ring or a socket between xmppd
 * processes, with its layout.  The receiver checks each size before reading;
 * a process that breaks this protocol is our own bug, logged loudly.
 *
 * Up ring (worker -> router), down ring (router -> worker): record types are
 * the ring's record type; payloads start 8-byte aligned.
 * Master -> worker and master <-> router: SOCK_SEQPACKET datagrams, one
 * struct per datagram, carrying at most one file descriptor. */
#ifndef XMPPD_LIB_MSG_H
#define XMPPD_LIB_MSG_H

#include <stdint.h>
#include <sys/socket.h>

enum msg_type {
	/* up ring */
	MSG_UP_STANZA = 1,    /* a stz encoding (lib/stz.h); hdr.conn = source connection */
	MSG_UP_BIND = 2,      /* struct msg_bind: settle a resource for a connection */
	MSG_UP_CLOSED = 3,    /* struct msg_closed: a connection that sent MSG_UP_BIND ended */
	MSG_UP_PREAUTH = 4,   /* struct msg_preauth, then a stz encoding: an IQ from a
	                       * connection that has not authenticated (no 'from') */
	MSG_UP_ROUTE_ADD = 5, /* struct msg_route: stanzas for a domain go to this
	                       * connection (a component, an outbound s2s stream).
	                       * The router drops a connection's routes when its
	                       * MSG_UP_CLOSED comes, and a worker sends that only
	                       * for a connection marked routed (workers/conn.c
	                       * c->routed): a protocol that adds routes must mark
	                       * its connection routed, or its routes outlive it
	                       * (until its worker dies) */
	MSG_UP_ROUTE_DEL = 6, /* struct msg_route: that connection no longer takes them */
	/* down ring */
	MSG_DOWN_DELIVER = 16, /* struct msg_deliver, then the stz encoding */
	MSG_DOWN_BOUND = 17,   /* struct msg_bound: answer to MSG_UP_BIND */
	MSG_DOWN_KICK = 18,    /* struct msg_kick: close a connection with a stream error */
	MSG_DOWN_TRACE = 19,   /* struct msg_trace: trace a connection's stanzas, or stop */
	/* sockets */
	MSG_SOCK_CONN = 32,        /* master -> worker, + fd: struct msg_conn */
	MSG_SOCK_CTL_CLIENT = 33,  /* master -> router, + fd: a control-socket client */
	MSG_SOCK_WORKER_DIED = 34, /* master -> router: struct msg_worker_died */
	MSG_SOCK_CLOSED = 35,      /* worker -> master: struct msg_peer, a connection ended */
	MSG_SOCK_AUTH_ABUSE = 36,  /* worker -> master: struct msg_peer, block that address */
	MSG_SOCK_RELOAD = 37,      /* master -> child: struct msg_ctl, re-read the config file */
	MSG_SOCK_RELOAD_DONE = 38, /* child -> master: struct msg_ctl, status = XS_OK/XS_ERROR */
	MSG_SOCK_RELOAD_REQ = 39,  /* router -> master: struct msg_ctl, `xmppctl reload` */
	MSG_SOCK_RELOAD_RESULT = 40, /* master -> router: struct msg_ctl, status + one line */
	MSG_SOCK_LOGLEVEL = 41,    /* router -> master -> every child: struct msg_ctl,
	                            * status = the new enum log_level */
	MSG_SOCK_ROUTER_READY = 42, /* router -> master: struct msg_ctl, modules loaded */
};

/* A router that cannot load its modules exits with this status: a
 * configuration problem no restart cures, so the master stops. */
#define ROUTER_EXIT_CONFIG 3

/* Control messages between the processes (reload, log level). */
struct msg_ctl {
	uint32_t type;
	int32_t status;
	char text[248];        /* NUL-terminated; RELOAD_RESULT: what happened */
};

/* An address without its port: what per-address limits count. */
struct msg_ip {
	uint8_t family;        /* AF_INET or AF_INET6 */
	uint8_t addr[16];
};

struct msg_peer {
	uint32_t type;         /* MSG_SOCK_CLOSED or MSG_SOCK_AUTH_ABUSE */
	struct msg_ip ip;
};

/* Connection ids are unique across workers and worker restarts:
 * worker index (8 bits) | worker generation (16) | slot (24) | slot reuse (16). */
static inline uint64_t conn_id_make(unsigned worker, unsigned gen, unsigned slot, unsigned reuse)
{
	return ((uint64_t)(worker & 0xff) << 56) | ((uint64_t)(gen & 0xffff) << 40) |
	       ((uint64_t)(slot & 0xffffff) << 16) | (uint64_t)(reuse & 0xffff);
}
static inline unsigned conn_id_worker(uint64_t id) { return (unsigned)(id >> 56); }
static inline unsigned conn_id_gen(uint64_t id) { return (unsigned)(id >> 40) & 0xffff; }
static inline unsigned conn_id_slot(uint64_t id) { return (unsigned)(id >> 16) & 0xffffff; }

#define MSG_JID_MAX 3071 /* JID_MAX of lib/jid.h */

struct msg_bind {
	uint64_t conn;
	uint16_t bare_len;     /* prepared bare JID */
	uint16_t res_len;      /* prepared requested resource; 0: the router makes one */
	uint32_t flags;        /* enum msg_bind_flag */
	char data[];           /* bare JID, NUL, resource, NUL */
};

enum msg_bind_flag {
	MSG_BIND_ANONYMOUS = 1, /* authenticated with SASL ANONYMOUS (no account behind it) */
};

enum msg_bind_status { BIND_OK = 0, BIND_FAILED = 1 };

struct msg_bound {
	uint64_t conn;
	uint32_t status;       /* enum msg_bind_status */
	uint32_t jid_len;
	char jid[];            /* the full JID, NUL-terminated */
};

struct msg_preauth {
	uint64_t conn;
	struct msg_ip ip;      /* the peer, for per-address limits */
	uint8_t host;          /* index in cfg->hosts of the stream's host */
	uint8_t pad[6];
	/* then the stz encoding, 8-byte aligned */
};
_Static_assert(sizeof(struct msg_preauth) % 8 == 0, "the encoding after it stays aligned");

/* MSG_UP_CLOSED is also sent for a connection that added routes (it never
 * bound: jid_len 0) when it is marked routed (see MSG_UP_ROUTE_ADD): its
 * routes go with it. */
struct msg_closed {
	uint64_t conn;
	uint32_t jid_len;
	uint32_t pad;
	char jid[];            /* full JID the connection was bound to, "" if none */
};

enum msg_kick_reason {
	KICK_CONFLICT = 1,     /* conflict: replaced by a new connection */
	KICK_SHUTDOWN = 2,     /* system-shutdown */
	KICK_POLICY = 3,       /* policy-violation */
	KICK_REMOVED = 4,      /* not-authorized: the account was deleted */
	KICK_ADMIN = 5,        /* policy-violation: ended by an administrator */
};

struct msg_kick {
	uint64_t conn;
	uint32_t reason;       /* enum msg_kick_reason */
	uint32_t pad;
};

struct msg_trace {
	uint64_t conn;
	uint32_t on;           /* 1: trace, 0: stop */
	uint32_t pad;
};

/* One record per worker for a delivery to any number of its connections:
 * the stanza is written once, and with MSG_DELIVER_STAMP_TO each recipient
 * gets its own 'to' (the full JID its connection is bound to) while the
 * rest of the bytes are serialised once (group chat, pubsub notifications). */
enum msg_deliver_flag {
	MSG_DELIVER_STAMP_TO = 1,
};

struct msg_deliver {
	uint32_t nconns;       /* >= 1 */
	uint32_t flags;        /* enum msg_deliver_flag */
	uint64_t conns[];      /* then the stz encoding, 8-byte aligned */
};

/* Where a domain's stanzas go: the sessions env's domain table (lib/db.h
 * struct route_rec) holds one of these per domain. */
enum route_kind {
	ROUTE_LOCAL = 1,       /* a host of this server: its sessions and accounts */
	ROUTE_SERVICE = 2,     /* a service module in the router (vjud.HOST, conference.HOST) */
	ROUTE_COMPONENT = 3,   /* an external component's connection */
	ROUTE_REMOTE = 4,      /* a remote server: the outbound stream's connection, or
	                        * connecting (conn 0) */
};

/* MSG_UP_ROUTE_ADD / MSG_UP_ROUTE_DEL.  conn belongs to the sending worker;
 * kind is ROUTE_COMPONENT or ROUTE_REMOTE (the others are the router's own);
 * a domain already routed elsewhere is replaced by an ADD only when it is a
 * connection's route too (never a local host or a service).  A DEL removes
 * the route only while it still names conn. */
struct msg_route {
	uint64_t conn;
	uint32_t kind;         /* enum route_kind */
	uint16_t domain_len;   /* the prepared domain, at most MSG_ROUTE_DOMAIN_MAX bytes */
	uint16_t pad;
	char domain[];         /* domain_len bytes, then NUL */
};

/* A domain is a key of the LMDB table: at most 511 bytes (DNS names are 253). */
#define MSG_ROUTE_DOMAIN_MAX 511

struct msg_conn {
	uint32_t type;         /* MSG_SOCK_CONN */
	uint32_t listener;     /* index in cfg->listen */
	struct sockaddr_storage peer;
	uint32_t peer_len;
};

struct msg_worker_died {
	uint32_t type;         /* MSG_SOCK_WORKER_DIED */
	uint32_t worker;
	uint32_t generation;   /* the generation that died */
};

struct msg_ctl_client {
	uint32_t type;         /* MSG_SOCK_CTL_CLIENT */
};

#endif
