/* subscription.c — the presence subscription state machine (subscription.h). */
#include "modules/roster/subscription.h"
#include "modules/roster/outbound.h"
#include "modules/roster/push.h"
#include "modules/roster/state.h"
#include "modules/roster/store.h"
#include "lib/dbkey.h"
#include "lib/log.h"

#include <string.h>

struct change {
	uint8_t sub, flags;
	bool route;            /* outbound: send it on */
	bool deliver;          /* inbound: deliver to the available resources */
	bool reply_subscribed; /* inbound subscribe answered for the user */
	bool send_presence;    /* the contact just got a subscription: tell it */
	bool send_unavailable; /* the contact just lost its subscription */
};

/* RFC 6121 Appendix A.2 (with §3.4 pre-approval). */
static void out_transition(enum stz_type t, uint8_t sub, uint8_t flags, struct change *c)
{
	*c = (struct change){ .sub = sub, .flags = flags };
	switch (t) {
	case STZ_T_SUBSCRIBE:
		c->route = true; /* even when subscribed: the contact re-answers (resync) */
		if (!(sub & SUB_TO))
			c->flags |= F_ASK | F_LISTED;
		break;
	case STZ_T_SUBSCRIBED:
		if (sub & SUB_FROM)
			break;
		if (flags & F_PENDING) {
			c->sub |= SUB_FROM;
			c->flags = (flags & ~(F_PENDING | F_APPROVED)) | F_LISTED;
			c->route = c->send_presence = true;
		} else {
			c->flags |= F_APPROVED | F_LISTED;
		}
		break;
	case STZ_T_UNSUBSCRIBE:
		c->route = true;
		c->sub &= (uint8_t)~SUB_TO;
		c->flags &= (uint8_t)~F_ASK;
		break;
	case STZ_T_UNSUBSCRIBED:
		if ((sub & SUB_FROM) || (flags & F_PENDING)) {
			c->route = true;
			c->send_unavailable = (sub & SUB_FROM) != 0;
			c->sub &= (uint8_t)~SUB_FROM;
			c->flags &= (uint8_t)~F_PENDING;
		} else {
			c->flags &= (uint8_t)~F_APPROVED; /* cancels a pre-approval, not routed */
		}
		break;
	default:
		break;
	}
}

/* RFC 6121 Appendix A.3 (with §3.4 pre-approval). */
static void in_transition(enum stz_type t, uint8_t sub, uint8_t flags, struct change *c)
{
	*c = (struct change){ .sub = sub, .flags = flags };
	switch (t) {
	case STZ_T_SUBSCRIBE:
		if (sub & SUB_FROM) {
			c->reply_subscribed = true;
		} else if (flags & F_APPROVED) {
			c->sub |= SUB_FROM;
			c->flags &= (uint8_t)~(F_APPROVED | F_PENDING);
			c->reply_subscribed = c->send_presence = true;
		} else if (!(flags & F_PENDING)) {
			c->flags |= F_PENDING;
			c->deliver = true;
		}
		break;
	case STZ_T_SUBSCRIBED:
		if (flags & F_ASK) {
			c->flags &= (uint8_t)~F_ASK;
			c->sub |= SUB_TO;
			c->deliver = true;
		}
		break;
	case STZ_T_UNSUBSCRIBE:
		if ((sub & SUB_FROM) || (flags & F_PENDING)) {
			c->deliver = true;
			c->send_unavailable = (sub & SUB_FROM) != 0;
			c->sub &= (uint8_t)~SUB_FROM;
			c->flags &= (uint8_t)~F_PENDING;
		}
		break;
	case STZ_T_UNSUBSCRIBED:
		if ((sub & SUB_TO) || (flags & F_ASK)) {
			c->deliver = true;
			c->sub &= (uint8_t)~SUB_TO;
			c->flags &= (uint8_t)~F_ASK;
		}
		break;
	default:
		break;
	}
}

static bool is_sub_type(enum stz_type t)
{
	return t == STZ_T_SUBSCRIBE || t == STZ_T_SUBSCRIBED || t == STZ_T_UNSUBSCRIBE ||
	       t == STZ_T_UNSUBSCRIBED;
}

/* The record after a change: a stored request only while pending in. */
static struct roster_item apply(const struct roster_pair *p, const struct change *c)
{
	struct roster_item nw = p->old;
	nw.sub = c->sub;
	nw.flags = c->flags;
	if (!(nw.flags & F_PENDING)) {
		nw.req = NULL;
		nw.req_len = 0;
	}
	return nw;
}

/* Ends txn, having stored nw when the subscription state changed, and
 * pushes what the roster shows of it.  XS_OK, or XS_ERROR (p is done). */
static int commit(MDB_txn *txn, struct roster_pair *p, const struct roster_item *nw,
                  const char *owner)
{
	if (nw->sub == p->old.sub && nw->flags == p->old.flags) {
		mod_db_end(txn, false);
		return XS_OK;
	}
	bool vis = roster_visible_changed(&p->old, p->exists, nw, roster_item_alive(nw));
	int rc = roster_pair_store(p, nw, vis);
	if (mod_db_end(txn, rc == XS_OK) != XS_OK || rc != XS_OK) {
		roster_pair_done(p);
		return XS_ERROR;
	}
	roster_push_change(owner, p, vis);
	return XS_OK;
}

/* The presence a subscription change sends the contact (§3.1.5, §3.2.2, §3.3.3). */
static void presence_after(const struct change *c, const char *owner, const char *peer,
                           size_t plen)
{
	if (c->send_presence)
		presence_send_all(owner, peer, plen, false);
	if (c->send_unavailable)
		presence_send_all(owner, peer, plen, true);
}

/* A registered account, or one of live SASL ANONYMOUS sessions (its roster
 * goes when the last of them ends: HOOK_USER_REMOVED). */
static bool account_exists(const char *bare)
{
	enum mod_account kind;
	return mod_account(bare, &kind) == XS_OK && kind != MOD_ACCOUNT_NONE;
}

/* The start of a subscription hook (a->jid the owner, a->peer the contact):
 * the pair loaded in a new child transaction *txn, the transition of its
 * state the stanza makes (Appendix A.2 outbound, A.3 inbound) in *c and the
 * record it leads to in *nw.  XS_OK; XS_PASS for a stanza that is not about
 * subscriptions; XS_DROP when the stanza is dropped (to oneself, an inbound
 * one to no such account, a database failure). */
static int sub_begin(const struct hook_args *a, bool inbound, MDB_txn **txn,
                     struct roster_pair *p, struct change *c, struct roster_item *nw)
{
	const struct stz *s = a->stz;
	const char *owner = a->jid, *peer = a->peer;
	if (s == NULL || owner == NULL || peer == NULL || !is_sub_type((enum stz_type)s->h->type))
		return XS_PASS;
	size_t olen = strlen(owner), plen = strlen(peer);
	if (plen == 0 || roster_same(owner, olen, peer, plen))
		return XS_DROP; /* no subscription to oneself */
	if (mod_db_begin(txn) != XS_OK)
		return XS_DROP;
	/* RFC 6121 §8.5.1: subscription stanzas to no such user are ignored. */
	if ((inbound && !account_exists(owner)) ||
	    roster_pair_load(p, *txn, owner, olen, peer, plen) != XS_OK) {
		mod_db_end(*txn, false);
		return XS_DROP;
	}
	enum stz_type t = (enum stz_type)s->h->type;
	if (inbound)
		in_transition(t, p->old.sub, p->old.flags, c);
	else
		out_transition(t, p->old.sub, p->old.flags, c);
	*nw = apply(p, c);
	return XS_OK;
}

int subscription_on_out(struct hook_args *a, void *arg)
{
	(void)arg;
	MDB_txn *txn;
	struct roster_pair p;
	struct change c;
	struct roster_item nw;
	int rc = sub_begin(a, false, &txn, &p, &c, &nw);
	if (rc != XS_OK)
		return rc;
	const struct stz *s = a->stz;
	const char *owner = a->jid, *peer = a->peer;
	size_t plen = p.clen;
	if (roster_creates_listed(&p, &nw) && p.meta.items >= roster_state.opts.max_items) {
		mod_db_end(txn, false);
		mod_bounce_ext(s, "resource-constraint", "cancel", NULL, NULL, "the roster is full");
		return XS_DROP;
	}
	if (commit(txn, &p, &nw, owner) != XS_OK)
		return XS_DROP;
	if (c.route)
		presence_route_sub(owner, peer, plen, s, (enum stz_type)s->h->type);
	presence_after(&c, owner, peer, plen);
	roster_pair_done(&p);
	return XS_DROP;
}

int subscription_on_in(struct hook_args *a, void *arg)
{
	(void)arg;
	MDB_txn *txn;
	struct roster_pair p;
	struct change c;
	struct roster_item nw;
	int rc = sub_begin(a, true, &txn, &p, &c, &nw);
	if (rc != XS_OK)
		return rc;
	const struct stz *s = a->stz;
	const char *owner = a->jid, *peer = a->peer;
	size_t plen = p.clen;
	if ((nw.flags & F_PENDING) && !(p.old.flags & F_PENDING)) {
		nw.req = (const uint8_t *)s->h;
		nw.req_len = s->h->size <= REQ_MAX ? s->h->size : 0;
		if (!p.exists && p.meta.hidden >= roster_state.opts.max_items) {
			log_info("roster: %s has too many pending subscription requests; one from %s dropped",
			         owner, peer);
			mod_db_end(txn, false);
			return XS_DROP;
		}
	}
	if (commit(txn, &p, &nw, owner) != XS_OK)
		return XS_DROP;
	if (c.reply_subscribed)
		presence_route_sub(owner, peer, plen, NULL, STZ_T_SUBSCRIBED);
	presence_after(&c, owner, peer, plen);
	roster_pair_done(&p);
	return c.deliver ? XS_PASS : XS_DROP;
}

/* Contacts learn that the subscriptions are gone (their rosters follow). */
static void removed_notify(const MDB_val *key, const MDB_val *v, void *arg)
{
	(void)key;
	const char *owner = arg;
	struct roster_item it;
	if (roster_item_decode(v->mv_data, v->mv_size, &it) != XS_OK)
		return;
	/* A contact that saw the account's presence sees it go (RFC 6121
	 * §3.2.2): its sessions end only after this hook. */
	if (it.sub & SUB_FROM)
		presence_send_all(owner, it.jid, it.jid_len, true);
	if ((it.sub & SUB_TO) || (it.flags & F_ASK))
		presence_route_sub(owner, it.jid, it.jid_len, NULL, STZ_T_UNSUBSCRIBE);
	if ((it.sub & SUB_FROM) || (it.flags & F_PENDING))
		presence_route_sub(owner, it.jid, it.jid_len, NULL, STZ_T_UNSUBSCRIBED);
}

int subscription_on_user_removed(struct hook_args *a, void *arg)
{
	(void)arg;
	const char *owner = a->jid;
	struct dbkey ok;
	MDB_txn *txn;
	if (owner == NULL || dbkey_owner(&ok, owner, strlen(owner)) != XS_OK ||
	    mod_db_begin(&txn) != XS_OK)
		return XS_PASS;
	size_t n = 0;
	bool good = dbkey_range_delete(txn, roster_state.dbi, &ok, removed_notify, (void *)owner,
	                               &n) == XS_OK;
	if (!good)
		log_error("roster: deleting the roster of %s failed", owner);
	/* Nothing deleted: nothing to commit. */
	if (mod_db_end(txn, good && n > 0) == XS_OK)
		log_info("roster: the roster of %s deleted (%zu records)", owner, n);
	return XS_PASS;
}
