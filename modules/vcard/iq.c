/* iq.c — vcard-temp (iq.h). */
#include "modules/vcard/iq.h"
#include "modules/vcard/fields.h"
#include "modules/vcard/state.h"
#include "modules/vcard/store.h"
#include "modules/vcard/summary.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/xmpp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct stz_builder vb; /* copies of vCards being stored, bounded by max_size */

int vcard_reply_plain(struct iq_req *req, const char *fn, const char *desc)
{
	struct stz_builder *b = mod_iq_result_begin(req);
	int rc = stz_b_openz(b, "vCard", NS_VCARD);
	if (fn && rc == XS_OK) {
		if (stz_b_openz(b, "FN", NS_VCARD) != XS_OK || stz_b_text(b, fn, strlen(fn)) != XS_OK ||
		    stz_b_close(b) != XS_OK || stz_b_openz(b, "DESC", NS_VCARD) != XS_OK ||
		    stz_b_text(b, desc, strlen(desc)) != XS_OK || stz_b_close(b) != XS_OK)
			rc = XS_ERROR;
	}
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

static int vcard_get(struct iq_req *req, const char *target, bool own)
{
	if (strlen(target) > KEY_MAX) /* no account has a longer JID */
		return mod_iq_error(req, "service-unavailable");
	MDB_txn *t = mod_db_read();
	if (t == NULL)
		return mod_iq_error(req, "internal-server-error");
	MDB_val k = { strlen(target), (void *)target }, v;
	int rc = mdb_get(t, vcard_state.vcard, &k, &v);
	if (rc == MDB_NOTFOUND && own) /* also a session without an account (anonymous) */
		return vcard_reply_plain(req, NULL, NULL);
	if (rc == MDB_NOTFOUND) { /* an account without a vCard, or no account */
		enum mod_account kind;
		if (mod_account(target, &kind) != XS_OK)
			return mod_iq_error(req, "internal-server-error");
		if (kind == MOD_ACCOUNT_NONE)
			return mod_iq_error(req, "service-unavailable");
		return vcard_reply_plain(req, NULL, NULL);
	}
	if (rc != 0) {
		log_error("vcard: reading the vCard of %s: %s", target, mdb_strerror(rc));
		return mod_iq_error(req, "internal-server-error");
	}
	/* LMDB values are not 8-byte aligned: view a copy. */
	void *mem = malloc(v.mv_size ? v.mv_size : 1);
	if (mem == NULL)
		return mod_iq_error(req, "internal-server-error");
	memcpy(mem, v.mv_data, v.mv_size);
	struct stz stored;
	int out;
	if (stz_view(&stored, mem, v.mv_size) != XS_OK) {
		log_warn("vcard: the stored vCard of %s is corrupt", target);
		out = mod_iq_error(req, "internal-server-error");
	} else {
		struct stz_builder *b = mod_iq_result_begin(req);
		if (stz_b_copy(b, &stored, 0) != XS_OK)
			out = mod_iq_error(req, "internal-server-error");
		else
			out = mod_iq_result_send(req);
	}
	free(mem);
	return out;
}

static int vcard_set(struct iq_req *req, const char *self)
{
	const struct stz *s = req->stz;
	if (!stz_node_is(s, req->payload, "vCard", NS_VCARD))
		return mod_iq_error(req, "bad-request");
	if (strlen(self) > KEY_MAX || strchr(self, '@') == NULL)
		return mod_iq_error(req, "not-allowed");
	/* A session without an account (SASL ANONYMOUS) has nothing to keep a
	 * vCard under, and no removal would ever drop it. */
	int u = mod_account_exists(self);
	if (u == XS_PASS)
		return mod_iq_error_text(req, "not-allowed", "vCards are kept for registered accounts only");
	if (u != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	bool empty = true;
	for (uint32_t c = stz_first_child(s, req->payload); c && empty;
	     c = stz_next_sibling(s, req->payload, c))
		empty = s->nodes[c].is_text;

	void *blob = NULL;
	size_t len = 0;
	if (!empty) {
		stz_b_reset(&vb);
		if (stz_b_copy(&vb, s, req->payload) == XS_OK)
			len = stz_b_size(&vb);
		if (len == 0 || len > vcard_state.opts.max_size) {
			char text[96];
			snprintf(text, sizeof(text), "vCard too large: at most %zu bytes (encoded)",
			         vcard_state.opts.max_size);
			return mod_iq_error_text(req, "not-acceptable", text);
		}
		blob = malloc(len);
		if (blob == NULL)
			return mod_iq_error(req, "internal-server-error");
		stz_b_write(&vb, blob, 0);
	}
	static struct summary sm;
	static struct sum_text st;
	summary_from_vcard(s, req->payload, &sm, &st);

	MDB_txn *t;
	int rc = mod_db_begin(&t);
	if (rc == XS_OK) {
		rc = empty ? vcard_remove(t, self) : vcard_store(t, self, blob, len, &sm);
		if (mod_db_end(t, rc == XS_OK) != XS_OK)
			rc = XS_ERROR;
	}
	free(blob);
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_empty(req);
}

int vcard_iq(struct iq_req *req, void *arg)
{
	(void)arg;
	const struct stz *s = req->stz;
	const char *from = stz_from(s);
	if (req->preauth_conn != 0 || from[0] == '\0')
		return mod_iq_error(req, "not-authorized");
	char self[KEY_MAX + 2];
	size_t blen = jid_bare_len(from);
	if (blen > KEY_MAX) /* not an account of ours: reads only */
		blen = KEY_MAX + 1;
	memcpy(self, from, blen);
	self[blen] = '\0';

	static struct jid to;
	const char *target = self;
	char tbuf[2 * JID_PART_MAX + 2];
	bool to_server = false;
	if (stz_has_to(s)) {
		if (jid_parse(stz_to(s), s->h->to.len, &to) != XS_OK)
			return mod_iq_error(req, "jid-malformed");
		to.resource[0] = '\0';
		if (jid_bare(&to, tbuf, sizeof(tbuf)) < 0)
			return mod_iq_error(req, "jid-malformed");
		target = tbuf;
		to_server = to.node[0] == '\0';
	}
	bool own = strcmp(target, self) == 0;
	if (s->h->type == STZ_T_SET)
		return own ? vcard_set(req, self) : mod_iq_error(req, "forbidden");
	if (!stz_node_is(s, req->payload, "vCard", NS_VCARD))
		return mod_iq_error(req, "bad-request");
	if (to_server)
		return vcard_reply_plain(req, NULL, NULL);
	return vcard_get(req, target, own);
}



int vcard_on_user_removed(struct hook_args *a, void *arg)
{
	(void)arg;
	if (a->jid == NULL || strlen(a->jid) > KEY_MAX)
		return XS_PASS;
	MDB_txn *t;
	if (mod_db_begin(&t) != XS_OK)
		return XS_PASS;
	int rc = vcard_remove(t, a->jid);
	if (mod_db_end(t, rc == XS_OK) != XS_OK)
		log_error("vcard: could not remove the vCard of deleted account %s", a->jid);
	return XS_PASS;
}

int vcard_on_disco_info(struct hook_args *a, void *arg)
{
	(void)arg;
	if (a->jid == NULL || a->out == NULL)
		return XS_PASS;
	if (stz_b_openz(a->out, "feature", NS_DISCO_INFO) == XS_OK &&
	    stz_b_attrz(a->out, "var", NS_VCARD) == XS_OK)
		stz_b_close(a->out);
	return XS_PASS;
}

void vcard_iq_limit(size_t max_size)
{
	stz_b_free(&vb);
	stz_b_init(&vb, max_size);
}

void vcard_iq_free(void)
{
	stz_b_free(&vb);
}
