/* subscription.h — presence subscriptions (RFC 6121 §3 and Appendix A, with
 * pre-approval §3.4).
 *
 * Subscriptions follow the tables of Appendix A (outbound A.2, inbound
 * A.3).  Outbound subscription stanzas leave stamped with the user's bare
 * JID.  A subscribed sent without a pending inbound request pre-approves
 * (§3.4), an unsubscribed then cancels it; an inbound subscribe from a
 * pre-approved or already subscribed contact is answered with subscribed
 * and not delivered.  A pending inbound request is stored (its stanza, at
 * most REQ_MAX bytes, else a bare subscribe is made again) and delivered
 * anew to every resource that sends initial presence until the user answers
 * (broadcast.h).  Whenever a contact loses its subscription to the user, it
 * gets unavailable from the user's available resources (§3.2.2, §3.3.3).
 * A subscription that would put a contact on a full roster (max_items) is
 * bounced with resource-constraint; pending inbound requests past max_items
 * are dropped.  Subscription stanzas to oneself, and inbound ones to no
 * such account (§8.5.1), are dropped.  Every change visible in the roster
 * is pushed (push.h).  An account deleted sends unsubscribe/unsubscribed to
 * its contacts and loses its roster. */
#ifndef XMPPD_MODULES_ROSTER_SUBSCRIPTION_H
#define XMPPD_MODULES_ROSTER_SUBSCRIPTION_H

#include "router/module.h"

/* HOOK_SUBSCRIPTION_OUT (a->jid the user's bare JID, a->peer the contact). */
int subscription_on_out(struct hook_args *a, void *arg);

/* HOOK_SUBSCRIPTION_IN (a->jid the local account, a->peer the sender):
 * XS_PASS when the stanza is to be delivered to the account. */
int subscription_on_in(struct hook_args *a, void *arg);

/* HOOK_USER_REMOVED: contacts are told, the roster is deleted. */
int subscription_on_user_removed(struct hook_args *a, void *arg);

#endif
