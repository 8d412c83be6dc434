/* iq.c — jabber:iq:roster: get, set and remove (iq.h). */
#include "modules/roster/iq.h"
#include "modules/roster/outbound.h"
#include "modules/roster/push.h"
#include "modules/roster/state.h"
#include "modules/roster/store.h"
#include "lib/dbkey.h"
#include "lib/jid.h"
#include "lib/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int roster_get(struct iq_req *req, const char *owner, size_t olen)
{
	const struct stz *s = req->stz;
	mod_session_flags(stz_from(s), MOD_SESS_ROSTER, 0);
	const char *cver = stz_attr(s, req->payload, "ver");
	struct dbkey ok;
	MDB_txn *t = mod_db_read();
	MDB_cursor *cur;
	if (t == NULL || dbkey_owner(&ok, owner, olen) != XS_OK ||
	    mdb_cursor_open(t, roster_state.dbi, &cur) != 0)
		return mod_iq_error(req, "internal-server-error");
	MDB_val k = dbkey_val(&ok), v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	struct roster_meta m = { 0 };
	if (rc == 0 && dbkey_in_range(&k, &ok) && !dbkey_is_entry(&k, &ok)) {
		if (roster_meta_decode(v.mv_data, v.mv_size, &m) != XS_OK)
			log_warn("roster: the roster meta record of %s is corrupt", owner);
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	char ver[24];
	roster_ver_text(&m, ver, sizeof(ver));
	if (cver && strcmp(cver, ver) == 0) { /* §2.6.3: up to date, changes come as pushes */
		mdb_cursor_close(cur);
		return mod_iq_result_empty(req);
	}
	struct stz_builder *b = mod_iq_result_begin(req);
	int brc = stz_b_openz(b, "query", NS_ROSTER);
	if (brc == XS_OK)
		brc = stz_b_attrz(b, "ver", ver);
	for (; brc == XS_OK && rc == 0 && dbkey_is_entry(&k, &ok);
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct roster_item it;
		if (roster_item_decode(v.mv_data, v.mv_size, &it) != XS_OK) {
			log_warn("roster: a corrupt roster record of %s skipped", owner);
			continue;
		}
		if (it.flags & F_LISTED)
			brc = roster_put_item(b, &it, false);
	}
	mdb_cursor_close(cur);
	if (brc == XS_OK)
		brc = stz_b_close(b);
	if (brc != XS_OK) {
		log_warn("roster: the roster of %s does not fit in one stanza", owner);
		return mod_iq_error_ext(req, "resource-constraint", "cancel", NULL, NULL,
		                        "the roster is too large to send");
	}
	return mod_iq_result_send(req);
}

/* The element's text (its first text child) and its length. */
static const char *text_of(const struct stz *s, uint32_t node, size_t *len)
{
	for (uint32_t c = stz_first_child(s, node); c != 0; c = stz_next_sibling(s, node, c)) {
		if (s->nodes[c].is_text) {
			*len = s->nodes[c].name.len;
			return stz_str(s, s->nodes[c].name);
		}
	}
	*len = 0;
	return "";
}

/* Packs the <group/>s of `item` as stored (u16 length + bytes each).
 * NULL with *cond set when the request breaks a rule of §2.3.3. */
static uint8_t *groups_pack(const struct stz *s, uint32_t item, size_t *len, uint16_t *count,
                            const char **cond)
{
	size_t cap = 1, n = 0;
	uint16_t k = 0;
	uint8_t *out = malloc(cap);
	*cond = "internal-server-error";
	if (out == NULL)
		return NULL;
	for (uint32_t c = stz_first_child(s, item); c != 0; c = stz_next_sibling(s, item, c)) {
		if (!stz_node_is(s, c, "group", NS_ROSTER))
			continue;
		size_t gl;
		const char *g = text_of(s, c, &gl);
		if (gl == 0 || gl > roster_state.opts.max_group || k >= roster_state.opts.max_groups) {
			*cond = "not-acceptable";
			goto fail;
		}
		const uint8_t *p = out;
		for (uint16_t i = 0; i < k; i++) {
			size_t l = roster_rd16(p);
			if (roster_same((const char *)p + 2, l, g, gl)) {
				*cond = "bad-request";
				goto fail;
			}
			p += 2 + l;
		}
		if (n + 2 + gl > cap) {
			size_t ncap = (n + 2 + gl) * 2;
			uint8_t *bigger = realloc(out, ncap);
			if (bigger == NULL)
				goto fail;
			out = bigger;
			cap = ncap;
		}
		roster_wr16(out + n, (uint16_t)gl);
		memcpy(out + n + 2, g, gl);
		n += 2 + gl;
		k++;
	}
	*len = n;
	*count = k;
	return out;
fail:
	free(out);
	return NULL;
}

static int roster_remove(struct iq_req *req, const char *owner, size_t olen, const char *contact,
                         size_t clen)
{
	MDB_txn *txn;
	struct roster_pair p;
	if (mod_db_begin(&txn) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	if (roster_pair_load(&p, txn, owner, olen, contact, clen) != XS_OK) {
		mod_db_end(txn, false);
		return mod_iq_error(req, "internal-server-error");
	}
	if (!roster_listed(&p.old, p.exists)) {
		mod_db_end(txn, false);
		return mod_iq_error(req, "item-not-found");
	}
	uint8_t sub = p.old.sub, flags = p.old.flags;
	struct roster_item gone = { .jid = contact, .jid_len = clen };
	int rc = roster_pair_store(&p, &gone, true);
	if (mod_db_end(txn, rc == XS_OK) != XS_OK || rc != XS_OK) {
		roster_pair_done(&p);
		return mod_iq_error(req, "internal-server-error");
	}
	/* §2.5.2: the contact learns the subscriptions are cancelled. */
	if ((sub & SUB_TO) || (flags & F_ASK))
		presence_route_sub(owner, contact, clen, NULL, STZ_T_UNSUBSCRIBE);
	if ((sub & SUB_FROM) || (flags & F_PENDING))
		presence_route_sub(owner, contact, clen, NULL, STZ_T_UNSUBSCRIBED);
	if (sub & SUB_FROM)
		presence_send_all(owner, contact, clen, true);
	roster_push(owner, &gone, true, &p.meta);
	roster_pair_done(&p);
	return mod_iq_result_empty(req);
}

static int roster_set(struct iq_req *req, const char *owner, size_t olen)
{
	const struct stz *s = req->stz;
	uint32_t item = 0, nitems = 0;
	for (uint32_t c = stz_first_child(s, req->payload); c != 0;
	     c = stz_next_sibling(s, req->payload, c)) {
		if (stz_node_is(s, c, "item", NS_ROSTER)) {
			item = c;
			nitems++;
		}
	}
	if (nitems != 1)
		return mod_iq_error(req, "bad-request");
	const char *jattr = stz_attr(s, item, "jid");
	struct jid *j = malloc(sizeof(*j));
	if (j == NULL)
		return mod_iq_error(req, "internal-server-error");
	char contact[BARE_MAX + 1];
	int clen = -1;
	if (jattr && jid_parse(jattr, strlen(jattr), j) == XS_OK && j->resource[0] == '\0')
		clen = jid_bare(j, contact, sizeof(contact));
	free(j);
	if (clen <= 0)
		return mod_iq_error(req, "bad-request");
	const char *sa = stz_attr(s, item, "subscription");
	if (sa && strcmp(sa, "remove") == 0)
		return roster_remove(req, owner, olen, contact, (size_t)clen);

	const char *name = stz_attr(s, item, "name");
	size_t nlen = name ? strlen(name) : 0;
	if (nlen > roster_state.opts.max_name)
		return mod_iq_error(req, "not-acceptable");
	size_t glen;
	uint16_t ngroups;
	const char *cond;
	uint8_t *groups = groups_pack(s, item, &glen, &ngroups, &cond);
	if (groups == NULL)
		return mod_iq_error(req, cond);

	MDB_txn *txn;
	struct roster_pair p;
	if (mod_db_begin(&txn) != XS_OK) {
		free(groups);
		return mod_iq_error(req, "internal-server-error");
	}
	if (roster_pair_load(&p, txn, owner, olen, contact, (size_t)clen) != XS_OK) {
		mod_db_end(txn, false);
		free(groups);
		return mod_iq_error(req, "internal-server-error");
	}
	struct roster_item nw = p.old;
	nw.flags |= F_LISTED;
	nw.name = name;
	nw.name_len = nlen;
	nw.groups = groups;
	nw.groups_len = glen;
	nw.ngroups = ngroups;
	if (roster_creates_listed(&p, &nw) && p.meta.items >= roster_state.opts.max_items) {
		mod_db_end(txn, false);
		free(groups);
		char text[64];
		snprintf(text, sizeof(text), "the roster is full (%" PRIu32 " items)",
		         roster_state.opts.max_items);
		return mod_iq_error_ext(req, "resource-constraint", "cancel", NULL, NULL, text);
	}
	int rc = roster_pair_store(&p, &nw, true);
	free(groups);
	if (mod_db_end(txn, rc == XS_OK) != XS_OK || rc != XS_OK) {
		roster_pair_done(&p);
		return mod_iq_error(req, "internal-server-error");
	}
	roster_push(owner, &p.nw, false, &p.meta);
	roster_pair_done(&p);
	return mod_iq_result_empty(req);
}

int roster_iq(struct iq_req *req, void *arg)
{
	(void)arg;
	const struct stz *s = req->stz;
	if (req->preauth_conn != 0)
		return XS_PASS;
	const char *from = stz_from(s);
	size_t olen = jid_bare_len(from);
	char owner[BARE_MAX + 1];
	if (olen == 0 || olen > BARE_MAX)
		return mod_iq_error(req, "bad-request");
	memcpy(owner, from, olen);
	owner[olen] = '\0';
	/* §2.3.3: only the account itself reads or changes its roster. */
	if (stz_has_to(s) && strcmp(stz_to(s), owner) != 0)
		return mod_iq_error(req, "forbidden");
	if (!stz_node_is(s, req->payload, "query", NS_ROSTER))
		return mod_iq_error(req, "bad-request");
	if (s->h->type == STZ_T_GET)
		return roster_get(req, owner, olen);
	if (s->h->type == STZ_T_SET)
		return roster_set(req, owner, olen);
	return mod_iq_error(req, "bad-request");
}
