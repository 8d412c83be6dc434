/* proto.h — what a connection's bytes mean: the client protocol (c2s.c,
 * jabber:client) today; an external component (jabber:component:accept)
 * and server-to-server streams (jabber:server) next.  The listener's
 * `module:` picks one (proto_for_listener).
 *
 * A protocol embeds struct conn as the first member of its own per-
 * connection state, so the loop and the services (conn.h) hold a plain
 * struct conn and the protocol gets its state back with a cast.  The loop
 * calls a protocol only through this table; a protocol calls the services
 * below it (conn.h, stream.h, up.h, ctx.h), which reach it again only
 * through this table too: no file of workers/ calls back into its caller
 * (test/layering.sh checks it).
 *
 *  - init: once per worker process, before the first connection (stream
 *    features are registered there);
 *  - new: a zeroed connection of this protocol, its struct conn unset but
 *    for what the protocol owns; NULL when out of memory;
 *  - input: bytes read from the transport;
 *  - deliver: a stanza from the router for this connection; the protocol
 *    decides whether its state lets it through and writes it with
 *    conn_deliver;
 *  - bound: the router's answer to a bind request (enum bind_status);
 *  - kick: the router ends the session (enum kick_reason, lib/msg.h);
 *  - stream_error: the worker ends the stream with this error (RFC 6120
 *    §4.9.3), e.g. resource-constraint for a client that does not read,
 *    connection-timeout for one that did not establish a session in time;
 *  - free: releases the protocol's state and the memory new() gave, after
 *    the services released theirs (conn_free). */
#ifndef XMPPD_WORKERS_PROTO_H
#define XMPPD_WORKERS_PROTO_H

#include "lib/cfg.h"

#include <stddef.h>
#include <stdint.h>

struct conn;
struct conn_delivery;

struct proto {
	const char *name;        /* as in the listener's module: */
	const char *stream_ns;   /* the stream's default namespace */
	void (*init)(void);
	struct conn *(*new)(void);
	void (*input)(struct conn *c, const char *data, size_t len);
	void (*deliver)(struct conn *c, struct conn_delivery *d);
	void (*bound)(struct conn *c, uint32_t status, const char *jid);
	void (*kick)(struct conn *c, uint32_t reason);
	void (*stream_error)(struct conn *c, const char *condition, const char *text);
	void (*free)(struct conn *c);
};

/* The protocols, by listener module (proto.c). */
extern const struct proto proto_client;   /* c2s.c */

/* The protocol of a listener; NULL for a module no protocol serves. */
const struct proto *proto_for_listener(const struct cfg_listen *l);
/* Runs every protocol's init. */
void proto_init_all(void);

#endif
