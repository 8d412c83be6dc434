/* broadcast.h — presence to contacts (RFC 6121 §4): the broadcast of an
 * account's presence and the answers to probes.
 *
 * Broadcast: a resource's presence goes to every contact with a
 * subscription from the account; its initial presence also probes every
 * contact it is subscribed to (a local one is answered at once) and gets
 * anew every pending inbound subscription request (its stored stanza, or a
 * bare subscribe) until the user answers; its unavailable also reaches the
 * JIDs it sent directed presence to (directed.h).  The account's own
 * resources are the core's business.
 * Probes (§4.3.2): a probe of an account is answered with the presence of
 * its available resources when the prober may see it (subscription from, or
 * the account itself). */
#ifndef XMPPD_MODULES_ROSTER_BROADCAST_H
#define XMPPD_MODULES_ROSTER_BROADCAST_H

#include "router/module.h"

/* HOOK_PRESENCE_BROADCAST (a->jid the sender's full JID). */
int broadcast_on_presence(struct hook_args *a, void *arg);

/* HOOK_PRESENCE_PROBE (a->jid the probed bare JID); XS_DONE. */
int broadcast_on_probe(struct hook_args *a, void *arg);

#endif
