/* route.h — the routing core (router/route.c): where a stanza goes (RFC 6120
 * §10, RFC 6121 §8), deliveries to connections, bounced errors, and the work
 * queue that keeps module code from being re-entered.
 *
 * Everything the router routes passes route_stanza(): stanzas of local users
 * (from the up rings, `from` stamped by the worker) and stanzas the router
 * or its modules make.  The destination domain is looked up in the domain
 * table (router/routes.h): a local host, a service module, a connection
 * (component, remote server), or nothing (remote-server-not-found, as
 * before there were routes). */
#ifndef XMPPD_ROUTER_ROUTE_H
#define XMPPD_ROUTER_ROUTE_H

#include "router/module.h"

#include <stdbool.h>
#include <stdint.h>

/* Routes a stanza that entered the router (from a user, or made here).
 * Called while another stanza is being routed (from a hook or a handler),
 * the stanza is copied and queued: it is routed after the current one, so
 * module code is never re-entered. */
void route_stanza(const struct stz *s);
/* Routes s at once, inside route_enter/route_leave (a user's stanza after
 * its send hooks): no copy. */
void route_now(const struct stz *s);
/* Encodes and routes a stanza built by the router or a module. */
int route_built(struct stz_builder *b);
/* Encodes and hands a built stanza to connections (route_deliver). */
int route_deliver_built(const uint64_t *conns, uint32_t n, struct stz_builder *b);
/* Sends a stanza to sessions (grouped per worker, one record each) after
 * HOOK_USER_RECEIVE_PACKET (once, jid = s's 'to'); queued behind routed
 * stanzas in the same way. */
void route_deliver(const uint64_t *conns, uint32_t n, const struct stz *s);
/* Sends a stanza to each recipient with its own 'to' (the worker stamps
 * each connection's bound JID: MSG_DELIVER_STAMP_TO), one record per
 * worker; HOOK_USER_RECEIVE_PACKET runs per recipient (jid = its full JID,
 * conns = its connection) and XS_DROP drops that one only. */
void route_deliver_each(const struct mod_recipient *to, uint32_t n, const struct stz *s);
int route_deliver_each_built(const struct mod_recipient *to, uint32_t n, struct stz_builder *b);
/* Ends a connection with a stream error, after what is queued for it. */
void route_kick(uint64_t conn, uint32_t reason);
/* A stanza from a connection that has not authenticated (jabber:iq:register). */
void route_preauth(const struct stz *s, const char *host, const struct msg_ip *ip);
/* Bounces an error for s (when RFC 6120 allows one); to the connection when
 * s came from one that has not authenticated. */
void route_error(const struct stz *s, const char *condition);
/* The same with another type (NULL: usual), an application condition and a
 * text (NULL: none).  XS_OK, XS_PASS (no error allowed), XS_ERROR. */
int route_error_ext(const struct stz *s, const char *condition, const char *type,
                    const char *app, const char *app_ns, const char *text);
/* route_error_ext without a copy of s's children (they may hold a password). */
int route_error_private(const struct stz *s, const char *condition, const char *text);
/* Routes a built stanza, or hands it to preauth_conn when that is not 0. */
int route_send(struct stz_builder *b, uint64_t preauth_conn);
/* Work done outside route_stanza that may run hooks (a stanza's user_send
 * hooks, ctl commands, timers) is bracketed by these: what hooks route
 * meanwhile is queued and runs at route_leave. */
void route_enter(void);
void route_leave(void);
/* An account was deleted: HOOK_USER_REMOVED. */
void route_user_removed(const char *bare);
/* A session ended (close, kick, worker death): table, hooks, presence. */
void route_session_gone(const char *full, uint64_t conn);

#endif
