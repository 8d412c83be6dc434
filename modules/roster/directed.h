/* directed.h — directed presence (RFC 6121 §4.6), tracked in memory: full
 * JID -> the JIDs it sent available presence to that its subscriptions do
 * not cover (at most 128 each); they get unavailable when the
 * session goes unavailable or ends.  A router restart forgets them. */
#ifndef XMPPD_MODULES_ROSTER_DIRECTED_H
#define XMPPD_MODULES_ROSTER_DIRECTED_H

#include "router/module.h"

#include <stdbool.h>

/* Unavailable (a copy of `src`, or a bare one when src is NULL) to every
 * directed presence recipient of `full`, but its contacts (subscription
 * from) when `contacts_told` (the broadcast just told them); forgets them
 * all. */
void directed_flush(const char *full, const struct stz *src, bool contacts_told);

/* HOOK_USER_SEND_PACKET: notes presence sent to one JID, or flushes on a
 * broadcast unavailable of a session that was never available. */
int directed_on_send(struct hook_args *a, void *arg);

/* HOOK_SESSION_CLOSED: the session's recipients get unavailable. */
int directed_on_closed(struct hook_args *a, void *arg);

/* Forgets everything (module stop). */
void directed_clear(void);

#endif
