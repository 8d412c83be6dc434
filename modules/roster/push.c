/* push.c — roster items as clients see them: the <item/> element and
 * roster pushes (push.h). */
#include "modules/roster/push.h"
#include "modules/roster/state.h"
#include "lib/log.h"
#include "router/module.h"

#include <gnutls/crypto.h>
#include <stdio.h>
#include <string.h>

static uint64_t id_seq; /* ids of pushes when the random source fails */

static void make_id(char *out, size_t cap)
{
	uint8_t r[8];
	if (gnutls_rnd(GNUTLS_RND_NONCE, r, sizeof(r)) != 0)
		memcpy(r, &id_seq, sizeof(r));
	id_seq++;
	snprintf(out, cap, "push-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
	         r[5], r[6], r[7]);
}

int roster_put_item(struct stz_builder *b, const struct roster_item *it, bool remove)
{
	static const char *const subs[] = { "none", "to", "from", "both" };
	int rc = stz_b_openz(b, "item", NS_ROSTER);
	if (rc == XS_OK)
		rc = stz_b_attr(b, "jid", 3, "", 0, it->jid, it->jid_len);
	if (rc == XS_OK && !remove && it->name_len)
		rc = stz_b_attr(b, "name", 4, "", 0, it->name, it->name_len);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "subscription", remove ? "remove" : subs[it->sub & 3]);
	if (rc == XS_OK && !remove && (it->flags & F_ASK))
		rc = stz_b_attrz(b, "ask", "subscribe");
	if (rc == XS_OK && !remove && (it->flags & F_APPROVED))
		rc = stz_b_attrz(b, "approved", "true");
	struct roster_giter g = roster_groups(it);
	const char *gs;
	size_t gl;
	while (rc == XS_OK && !remove && roster_group_next(&g, &gs, &gl)) {
		rc = stz_b_openz(b, "group", NS_ROSTER);
		if (rc == XS_OK)
			rc = stz_b_text(b, gs, gl);
		if (rc == XS_OK)
			rc = stz_b_close(b);
	}
	if (rc == XS_OK)
		rc = stz_b_close(b);
	return rc;
}

struct push {
	const struct roster_item *it;
	bool remove;
	char ver[24];
};

static bool push_visit(const struct mod_session *s, void *arg)
{
	const struct push *p = arg;
	if (!(s->flags & MOD_SESS_ROSTER))
		return true;
	char id[40];
	make_id(id, sizeof(id));
	struct stz_builder *b = mod_builder(roster_state.ctx);
	int rc = stz_b_openz(b, "iq", STZ_NS_CLIENT);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "type", "set");
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "to", s->full);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "id", id);
	if (rc == XS_OK)
		rc = stz_b_openz(b, "query", NS_ROSTER);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "ver", p->ver);
	if (rc == XS_OK)
		rc = roster_put_item(b, p->it, p->remove);
	if (rc == XS_OK)
		rc = stz_b_close(b);
	if (rc == XS_OK)
		rc = stz_b_close(b);
	if (rc != XS_OK || mod_deliver_built(&s->conn, 1, b) != XS_OK)
		log_warn("roster: cannot push a roster item to %s", s->full);
	return true;
}

void roster_push(const char *owner, const struct roster_item *it, bool remove,
                 const struct roster_meta *m)
{
	struct push p = { .it = it, .remove = remove };
	roster_ver_text(m, p.ver, sizeof(p.ver));
	if (mod_sessions(owner, push_visit, &p) != XS_OK)
		log_warn("roster: cannot list the sessions of %s for a roster push", owner);
}

void roster_push_change(const char *owner, struct roster_pair *p, bool vis)
{
	if (!vis)
		return;
	if (roster_listed(&p->nw, p->nw_exists)) {
		roster_push(owner, &p->nw, false, &p->meta);
	} else {
		struct roster_item gone = { .jid = p->contact, .jid_len = p->clen };
		roster_push(owner, &gone, true, &p->meta);
	}
}
