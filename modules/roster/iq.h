/* iq.h — jabber:iq:roster (RFC 6121 §2, versioning §2.6).
 *
 * Answered only for the account itself: no 'to' or to = the sender's bare
 * JID, else <forbidden/> (§2.3.3; a get is treated the same).  get: every
 * item on the roster with 'ver' (§2.6), or an empty result when the
 * client's 'ver' is current (§2.6.3); the session becomes an "interested
 * resource" (MOD_SESS_ROSTER) that gets roster pushes.  A roster too big
 * for one stanza (the router's builder bound, 4 x max_stanza_size) is
 * answered resource-constraint (cancel), never cut short.
 * set (§2.3.3): not exactly one <item/>, or a 'jid' that is not a valid bare
 * JID: bad-request; duplicate groups: bad-request; an empty group, a group
 * or name longer than the limits, more groups than max_groups:
 * not-acceptable.  'subscription' values other than "remove", 'ask' and
 * 'approved' in a set are ignored (§2.1.2.5: the server MUST ignore them).
 * A set that would add an item past max_items gets <resource-constraint/>
 * of type cancel: §2.3.3 names no condition for a full roster, the server
 * lacks room for it (RFC 6120 §8.3.3.18) and retrying cannot help.
 * remove (§2.5.2): unsubscribe and/or unsubscribed to the contact as the
 * state demands (and unavailable from the user's available resources when
 * the contact was subscribed); an item not on the roster: item-not-found
 * (§2.5.3).  Every change is pushed (push.h). */
#ifndef XMPPD_MODULES_ROSTER_IQ_H
#define XMPPD_MODULES_ROSTER_IQ_H

#include "router/module.h"

/* The IQ handler of jabber:iq:roster (declines requests before binding). */
int roster_iq(struct iq_req *req, void *arg);

#endif
