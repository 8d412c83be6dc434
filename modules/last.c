/* last.c — Last Activity (XEP-0012).
 *
 * <iq type='get'><query xmlns='jabber:iq:last'/></iq>
 *   to the server:        seconds = the router's uptime (XEP-0012 §5).
 *   to an account's bare JID (or without 'to': the sender's own account),
 *   XEP-0012 §4 (offline user query):
 *     no such account (neither registered nor a live SASL ANONYMOUS session)
 *                                              -> service-unavailable (RFC 6121 §8.5.1)
 *     requester is neither the account nor subscribed to its presence
 *     (mod_subscription(owner, requester) is not from/both) -> forbidden (auth)
 *     the account has an available resource   -> seconds='0'
 *     else seconds since its last session ended, with the status text of
 *     its last unavailable presence; never seen -> item-not-found
 *   type set -> not-allowed (the namespace is get-only; ejabberd answers the same).
 * Queries to a full JID go to that client (the core routes them).
 *
 * Recording: when an unavailable presence (sent by the client or made by the
 * core when a session ended) leaves the account without available resources,
 * (now, its <status/>) is stored; when a session ends and none of the
 * account's remaining sessions is available, the time is moved to now and
 * the status kept.  An account's removal deletes its record.  Only registered
 * accounts are recorded: the account of a SASL ANONYMOUS session exists
 * while a session lasts (queries about it are answered like any other), and
 * nothing of it is kept after.
 *
 * Options: none.
 *
 * Storage, table "last" (lib/dbkey.h): the account's key O (SHA-256 of the
 * bare JID, so any JID fits the LMDB key limit) -> struct last_hdr (time) +
 * the status text (no NUL). */
#include "router/module.h"
#include "lib/dbkey.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/xmpp.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_LAST     "jabber:iq:last"
#define REC_VERSION 1

struct last_hdr {
	uint32_t version;
	uint32_t status_len;
	int64_t stamp;        /* unix time the account's last session ended */
};

static struct {
	MDB_dbi dbi;
} M;

/* ---- storage */

/* XS_OK with *hdr and *status (pointing into the txn, not NUL-terminated),
 * XS_PASS when there is no record, XS_ERROR. */
static int rec_get(MDB_txn *t, const struct dbkey *owner, struct last_hdr *hdr,
                   const char **status)
{
	MDB_val k = dbkey_val(owner), v;
	int e = mdb_get(t, M.dbi, &k, &v);
	if (e == MDB_NOTFOUND)
		return XS_PASS;
	if (e != 0) {
		log_error("last: mdb_get: %s", mdb_strerror(e));
		return XS_ERROR;
	}
	if (v.mv_size < sizeof(*hdr))
		return XS_ERROR;
	memcpy(hdr, v.mv_data, sizeof(*hdr));
	if (hdr->version != REC_VERSION || hdr->status_len != v.mv_size - sizeof(*hdr))
		return XS_ERROR;
	*status = (const char *)v.mv_data + sizeof(*hdr);
	return XS_OK;
}

static int rec_put(MDB_txn *t, const struct dbkey *owner, int64_t stamp, const char *status,
                   size_t len)
{
	struct last_hdr hdr = { .version = REC_VERSION, .status_len = (uint32_t)len, .stamp = stamp };
	MDB_val k = dbkey_val(owner), v = { sizeof(hdr) + len, NULL };
	int e = mdb_put(t, M.dbi, &k, &v, MDB_RESERVE);
	if (e != 0) {
		log_error("last: mdb_put: %s", mdb_strerror(e));
		return XS_ERROR;
	}
	memcpy(v.mv_data, &hdr, sizeof(hdr));
	memcpy((char *)v.mv_data + sizeof(hdr), status, len);
	return XS_OK;
}

/* ---- sessions */

struct avail {
	const char *except; /* a full JID not to count (the one going away) */
	bool any;
};

static bool avail_visit(const struct mod_session *s, void *arg)
{
	struct avail *a = arg;
	if (s->available && (a->except == NULL || strcmp(s->full, a->except) != 0)) {
		a->any = true;
		return false;
	}
	return true;
}

static bool any_available(const char *bare, const char *except)
{
	struct avail a = { .except = except, .any = false };
	mod_sessions(bare, avail_visit, &a);
	return a.any;
}

/* ---- recording */

static int on_presence(struct hook_args *a, void *arg)
{
	(void)arg;
	const struct stz *s = a->stz;
	if (s == NULL || a->jid == NULL || s->h->type != STZ_T_UNAVAILABLE)
		return XS_PASS;
	char bare[JID_MAX + 1];
	int blen = jid_bare_copy(a->jid, bare, sizeof(bare));
	if (blen < 0 || any_available(bare, a->jid) || mod_account_exists(bare) != XS_OK)
		return XS_PASS;
	uint32_t st = stz_child(s, 0, "status", STZ_NS_CLIENT);
	const char *status = st ? stz_text(s, st) : "";
	struct dbkey owner;
	MDB_txn *t;
	if (dbkey_owner(&owner, bare, (size_t)blen) != XS_OK || mod_db_begin(&t) != XS_OK)
		return XS_PASS;
	mod_db_end(t, rec_put(t, &owner, mod_now(), status, strlen(status)) == XS_OK);
	return XS_PASS;
}

static int on_session_closed(struct hook_args *a, void *arg)
{
	(void)arg;
	if (a->jid == NULL)
		return XS_PASS;
	char bare[JID_MAX + 1];
	int blen = jid_bare_copy(a->jid, bare, sizeof(bare));
	if (blen < 0 || any_available(bare, a->jid) || mod_account_exists(bare) != XS_OK)
		return XS_PASS;
	struct dbkey owner;
	MDB_txn *t;
	if (dbkey_owner(&owner, bare, (size_t)blen) != XS_OK || mod_db_begin(&t) != XS_OK)
		return XS_PASS;
	struct last_hdr hdr;
	const char *status = "";
	int rc = rec_get(t, &owner, &hdr, &status);
	size_t len = rc == XS_OK ? hdr.status_len : 0;
	char *copy = NULL;
	if (len > 0 && (copy = malloc(len)) != NULL) /* the put may move the old value */
		memcpy(copy, status, len);
	else
		len = 0;
	mod_db_end(t, rc != XS_ERROR && rec_put(t, &owner, mod_now(), copy ? copy : "", len) == XS_OK);
	free(copy);
	return XS_PASS;
}

static int on_user_removed(struct hook_args *a, void *arg)
{
	(void)arg;
	struct dbkey owner;
	MDB_txn *t;
	if (a->jid == NULL || dbkey_owner(&owner, a->jid, strlen(a->jid)) != XS_OK ||
	    mod_db_begin(&t) != XS_OK)
		return XS_PASS;
	MDB_val k = dbkey_val(&owner);
	int e = mdb_del(t, M.dbi, &k, NULL);
	if (e != 0 && e != MDB_NOTFOUND)
		log_error("last: removing the record of %s: %s", a->jid, mdb_strerror(e));
	mod_db_end(t, e == 0 || e == MDB_NOTFOUND);
	return XS_PASS;
}

static int reply(struct iq_req *req, int64_t seconds, const char *status, size_t len)
{
	char num[24];
	snprintf(num, sizeof(num), "%" PRId64, seconds < 0 ? 0 : seconds);
	struct stz_builder *b = mod_iq_result_begin(req);
	if (stz_b_openz(b, "query", NS_LAST) != XS_OK || stz_b_attrz(b, "seconds", num) != XS_OK ||
	    (len > 0 && stz_b_text(b, status, len) != XS_OK) || stz_b_close(b) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

static bool allowed(const char *owner, const char *requester)
{
	if (strcmp(owner, requester) == 0)
		return true;
	enum mod_sub sub = mod_subscription(owner, requester);
	return sub == MOD_SUB_FROM || sub == MOD_SUB_BOTH;
}

static int user_query(struct iq_req *req, const char *owner)
{
	enum mod_account kind;
	if (mod_account(owner, &kind) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	if (kind == MOD_ACCOUNT_NONE)
		return mod_iq_error(req, "service-unavailable");
	char requester[JID_MAX + 1];
	if (jid_bare_copy(stz_from(req->stz), requester, sizeof(requester)) < 0 ||
	    !allowed(owner, requester))
		return mod_iq_error(req, "forbidden");
	if (any_available(owner, NULL))
		return reply(req, 0, "", 0);
	struct dbkey key;
	struct last_hdr hdr;
	const char *status = NULL;
	if (dbkey_owner(&key, owner, strlen(owner)) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	int rc = rec_get(mod_db_read(), &key, &hdr, &status);
	if (rc == XS_PASS)
		return mod_iq_error(req, "item-not-found");
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return reply(req, mod_now() - hdr.stamp, status, hdr.status_len);
}

static int on_last(struct iq_req *req, void *arg)
{
	(void)arg;
	const struct stz *s = req->stz;
	if (s->h->type != STZ_T_GET)
		return mod_iq_error(req, "not-allowed");
	const char *to = stz_to(s);
	if (*to != '\0' && strchr(to, '@') == NULL)
		return reply(req, mod_uptime(), "", 0);
	/* An account; no 'to': the sender's own (RFC 6120 §10.3.3). */
	char owner[JID_MAX + 1];
	if (jid_bare_copy(*to != '\0' ? to : stz_from(s), owner, sizeof(owner)) < 0)
		return mod_iq_error(req, "jid-malformed");
	return user_query(req, owner);
}

static int last_init(struct mod_ctx *ctx)
{
	if (mod_db_table(ctx, "last", MDB_CREATE, &M.dbi) != XS_OK ||
	    mod_iq_add(ctx, NULL, NS_LAST, on_last, NULL) != XS_OK ||
	    mod_hook_add(ctx, HOOK_PRESENCE_BROADCAST, NULL, 60, on_presence, NULL) != XS_OK ||
	    mod_hook_add(ctx, HOOK_SESSION_CLOSED, NULL, 60, on_session_closed, NULL) != XS_OK ||
	    mod_hook_add(ctx, HOOK_USER_REMOVED, NULL, 60, on_user_removed, NULL) != XS_OK ||
	    mod_feature_add(ctx, NULL, NS_LAST) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "last",
	.init = last_init,
};
