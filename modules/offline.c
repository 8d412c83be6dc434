/* offline.c — offline message storage (XEP-0160), durable, with delivery
 * stamps (XEP-0203) and the storage hints of XEP-0334.
 *
 * A message for a local account with no resource that takes it
 * (HOOK_OFFLINE_MESSAGE) is stored when it is of type normal or chat and
 * carries something worth keeping (a body, a subject, or any payload other
 * than chat states, hints and a thread); <no-store/> keeps it out, <store/>
 * lets in one that has only chat states.  Headline, groupchat and error
 * messages are never stored.  What is not stored is left to the core
 * (service-unavailable to the sender, nothing for a headline).  A message for
 * an account that does not exist is left to the core too.
 *
 * When the account's queue is full (max_messages, or max_bytes of stanzas)
 * the sender gets <resource-constraint/> (type wait) with a text, as ejabberd
 * answers for a full offline queue: the recipient exists and the condition is
 * temporary (it clears when the recipient logs in), which service-unavailable
 * would not say.  max_bytes also bounds what one login receives at once: the
 * router queues at most 64 MiB for a worker and drops the rest.
 *
 * The first available presence with a priority >= 0 (RFC 6121 §8.5.2.1.1,
 * XEP-0160 §3) gets every stored message, oldest first, each with
 * <delay xmlns='urn:xmpp:delay' from=HOST stamp=ARRIVAL/>; then they are
 * deleted in the same child transaction.  An account's removal deletes them.
 *
 * Options (modules: {offline: {...}}):
 *   max_messages: 1..1000000          [1000]      stored messages per account
 *   max_bytes: 65536..33554432        [16777216]  their encoded size per account
 *
 * Storage, table "offline", keys as lib/dbkey.h lays them out (O = SHA-256 of
 * the bare JID, so any JID fits the LMDB key limit and one account's
 * messages are one ordered range; the item is the sequence, always inline):
 *   O (32 bytes)              -> struct off_meta (count, bytes, next sequence)
 *   O + sequence (8 bytes BE) -> struct off_hdr (arrival time) + the stanza's
 *                                stz encoding as it arrived */
#include "router/module.h"
#include "lib/dbkey.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/users.h"
#include "lib/xmpp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_DELAY       "urn:xmpp:delay"
#define NS_HINTS       "urn:xmpp:hints"
#define NS_CHATSTATES  "http://jabber.org/protocol/chatstates"
#define FEATURE        "msgoffline"

#define SEQ_LEN        8
#define REC_VERSION    1
#define MAX_MESSAGES_DEFAULT 1000
#define MAX_MESSAGES_LIMIT   1000000
#define MAX_BYTES_DEFAULT    (16u << 20)
#define MAX_BYTES_MIN        65536
#define MAX_BYTES_LIMIT      (32u << 20) /* half the router's queue for one worker */

struct off_meta {
	uint32_t version;
	uint32_t count;      /* messages stored now */
	uint64_t bytes;      /* their stz encodings */
	uint64_t next_seq;   /* sequence of the next message */
};

struct off_hdr {
	uint32_t version;
	uint32_t pad;
	int64_t stamp;       /* arrival, unix time */
};

struct limits {
	uint32_t max_messages;
	uint32_t max_bytes;
};

static const struct cfgopt OPTS[] = {
	CFGOPT_UINT("max_messages", struct limits, max_messages, MAX_MESSAGES_DEFAULT, 1,
	            MAX_MESSAGES_LIMIT),
	CFGOPT_UINT("max_bytes", struct limits, max_bytes, MAX_BYTES_DEFAULT, MAX_BYTES_MIN,
	            MAX_BYTES_LIMIT),
	CFGOPT_END
};

static struct {
	struct mod_ctx *ctx;
	MDB_dbi dbi;
	struct limits lim;
} M;

/* ---- keys */

/* The key of message seq: big-endian, so the range is in arrival order. */
static int msg_key(struct dbkey *key, const struct dbkey *owner, uint64_t seq)
{
	uint8_t be[SEQ_LEN];
	for (int i = 0; i < SEQ_LEN; i++)
		be[i] = (uint8_t)(seq >> (56 - 8 * i));
	return dbkey_item(key, owner, be, sizeof(be));
}

static bool is_msg(const MDB_val *k, const struct dbkey *owner)
{
	return k->mv_size == DBKEY_OWNER_LEN + SEQ_LEN && dbkey_in_range(k, owner);
}

/* The account's meta record; XS_PASS when there is none. */
static int meta_get(MDB_txn *t, const struct dbkey *owner, struct off_meta *out)
{
	MDB_val k = dbkey_val(owner), v;
	int rc = mdb_get(t, M.dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return XS_PASS;
	if (rc != 0) {
		log_error("offline: mdb_get meta: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	if (v.mv_size != sizeof(*out)) {
		log_error("offline: meta record of %zu bytes, expected %zu", v.mv_size, sizeof(*out));
		return XS_ERROR;
	}
	memcpy(out, v.mv_data, sizeof(*out));
	return out->version == REC_VERSION ? XS_OK : XS_ERROR;
}

/* ---- what is stored (XEP-0160 §3, XEP-0334) */

/* Payload other than chat states, hints, a thread or delay stamps. */
static bool has_content(const struct stz *s)
{
	for (uint32_t c = stz_first_child(s, 0); c; c = stz_next_sibling(s, 0, c)) {
		if (s->nodes[c].is_text)
			continue;
		const char *ns = stz_str(s, s->nodes[c].ns);
		const char *name = stz_str(s, s->nodes[c].name);
		if (strcmp(ns, NS_CHATSTATES) == 0 || strcmp(ns, NS_HINTS) == 0 ||
		    strcmp(ns, NS_DELAY) == 0)
			continue;
		if (strcmp(ns, STZ_NS_CLIENT) == 0 && strcmp(name, "thread") == 0)
			continue;
		return true;
	}
	return false;
}

static bool storable(const struct stz *s)
{
	uint8_t t = s->h->type;
	if (t != STZ_T_NONE && t != STZ_T_NORMAL && t != STZ_T_CHAT)
		return false;
	if (stz_child(s, 0, "no-store", NS_HINTS))
		return false;
	if (stz_child(s, 0, "store", NS_HINTS))
		return true;
	return has_content(s);
}

/* ---- storing */

static int store(MDB_txn *t, const struct dbkey *owner, const struct stz *s, bool *full)
{
	struct off_meta meta = { .version = REC_VERSION, .count = 0, .bytes = 0, .next_seq = 1 };
	int rc = meta_get(t, owner, &meta);
	if (rc == XS_ERROR)
		return XS_ERROR;
	*full = meta.count >= M.lim.max_messages || meta.bytes + s->h->size > M.lim.max_bytes;
	if (*full)
		return XS_OK;
	struct dbkey key;
	if (msg_key(&key, owner, meta.next_seq) != XS_OK)
		return XS_ERROR;
	struct off_hdr hdr = { .version = REC_VERSION, .stamp = mod_now() };
	MDB_val k = dbkey_val(&key), v = { sizeof(hdr) + s->h->size, NULL };
	int e = mdb_put(t, M.dbi, &k, &v, MDB_RESERVE);
	if (e != 0) {
		log_error("offline: mdb_put message: %s", mdb_strerror(e));
		return XS_ERROR;
	}
	memcpy(v.mv_data, &hdr, sizeof(hdr));
	memcpy((char *)v.mv_data + sizeof(hdr), s->h, s->h->size);
	meta.count++;
	meta.bytes += s->h->size;
	meta.next_seq++;
	MDB_val mk = dbkey_val(owner), mv = { sizeof(meta), &meta };
	if ((e = mdb_put(t, M.dbi, &mk, &mv, 0)) != 0) {
		log_error("offline: mdb_put meta: %s", mdb_strerror(e));
		return XS_ERROR;
	}
	return XS_OK;
}

static int on_offline_message(struct hook_args *a, void *arg)
{
	(void)arg;
	const struct stz *s = a->stz;
	if (s == NULL || a->jid == NULL || !storable(s))
		return XS_PASS;
	struct scram_creds creds;
	int rc = users_get(mod_data_db(), mod_db_read(), a->jid, &creds);
	if (rc == XS_PASS)
		return XS_PASS; /* no such account: the core answers service-unavailable */
	struct dbkey owner;
	if (rc != XS_OK || dbkey_owner(&owner, a->jid, strlen(a->jid)) != XS_OK) {
		mod_bounce(s, "internal-server-error");
		return XS_DROP;
	}
	MDB_txn *t;
	if (mod_db_begin(&t) != XS_OK) {
		mod_bounce(s, "internal-server-error");
		return XS_DROP;
	}
	bool full = false;
	rc = store(t, &owner, s, &full);
	bool wrote = rc == XS_OK && !full;
	if (mod_db_end(t, wrote) != XS_OK && wrote)
		rc = XS_ERROR;
	if (rc != XS_OK) {
		mod_bounce(s, "internal-server-error");
		return XS_DROP;
	}
	if (full) {
		static struct log_limit refused = { .what = "offline: messages refused by full queues" };
		log_limited(&refused, LOG_LVL_INFO, "offline: queue of %s is full (%u messages, %u "
		            "bytes at most); message from %s refused", a->jid, M.lim.max_messages,
		            M.lim.max_bytes, stz_from(s));
		mod_bounce_ext(s, "resource-constraint", NULL, NULL, NULL,
		               "The recipient's offline message queue is full");
		return XS_DROP;
	}
	return XS_DONE;
}

/* ---- delivery */

/* Copy of the stored stanza with a <delay/> appended to it. */
static int build_delayed(struct stz_builder *b, const struct stz *s, const char *host,
                         int64_t stamp)
{
	const struct stz_node *root = &s->nodes[0];
	if (stz_b_open(b, stz_str(s, root->name), root->name.len, stz_str(s, root->ns),
	               root->ns.len) != XS_OK)
		return XS_ERROR;
	for (uint32_t i = root->attr_first; i < root->attr_first + root->nattrs; i++) {
		const struct stz_attr *at = &s->attrs[i];
		if (stz_b_attr(b, stz_str(s, at->name), at->name.len, stz_str(s, at->ns), at->ns.len,
		               stz_str(s, at->value), at->value.len) != XS_OK)
			return XS_ERROR;
	}
	for (uint32_t c = stz_first_child(s, 0); c; c = stz_next_sibling(s, 0, c))
		if (stz_b_copy(b, s, c) != XS_OK)
			return XS_ERROR;
	char when[32];
	time_t tt = (time_t)stamp;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return XS_ERROR;
	if (stz_b_openz(b, "delay", NS_DELAY) != XS_OK || stz_b_attrz(b, "from", host) != XS_OK ||
	    stz_b_attrz(b, "stamp", when) != XS_OK || stz_b_close(b) != XS_OK)
		return XS_ERROR;
	return stz_b_close(b);
}

/* Hands one stored record to the session; XS_ERROR only for a record that
 * cannot be read (it is dropped with a log line, not kept forever). */
static int deliver_one(uint64_t conn, const char *host, const MDB_val *v)
{
	struct off_hdr hdr;
	if (v->mv_size <= sizeof(hdr)) {
		log_error("offline: stored record of %zu bytes is too short", v->mv_size);
		return XS_ERROR;
	}
	memcpy(&hdr, v->mv_data, sizeof(hdr));
	size_t n = v->mv_size - sizeof(hdr);
	/* LMDB values are not 8-byte aligned; stz_view() wants them to be. */
	void *mem = aligned_alloc(8, (n + 7) & ~(size_t)7);
	if (mem == NULL) {
		log_error("offline: out of memory for a stored message of %zu bytes", n);
		return XS_ERROR;
	}
	memcpy(mem, (const char *)v->mv_data + sizeof(hdr), n);
	struct stz s;
	int rc = XS_ERROR;
	if (hdr.version != REC_VERSION || stz_view(&s, mem, n) != XS_OK) {
		log_error("offline: a stored message does not decode; dropped");
	} else {
		struct stz_builder *b = mod_builder(M.ctx);
		if (build_delayed(b, &s, host, hdr.stamp) == XS_OK)
			rc = mod_deliver_built(&conn, 1, b);
		else /* too big for one more element: deliver it as it came */
			rc = mod_deliver(&conn, 1, &s);
	}
	free(mem);
	return rc;
}

/* Delivers and deletes every message of the account, in one child txn. */
static int flush(const struct dbkey *owner, uint64_t conn, const char *host, const char *full)
{
	MDB_txn *t;
	if (mod_db_begin(&t) != XS_OK)
		return XS_ERROR;
	MDB_cursor *cur;
	int e = mdb_cursor_open(t, M.dbi, &cur);
	if (e != 0) {
		log_error("offline: mdb_cursor_open: %s", mdb_strerror(e));
		mod_db_end(t, false);
		return XS_ERROR;
	}
	struct dbkey first;
	if (msg_key(&first, owner, 0) != XS_OK) {
		mdb_cursor_close(cur);
		mod_db_end(t, false);
		return XS_ERROR;
	}
	MDB_val k = dbkey_val(&first), v;
	uint32_t sent = 0, bad = 0;
	e = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (e == 0 && is_msg(&k, owner)) {
		if (deliver_one(conn, host, &v) == XS_OK)
			sent++;
		else
			bad++;
		/* After a delete, MDB_NEXT gives the record that followed it. */
		if ((e = mdb_cursor_del(cur, 0)) == 0)
			e = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (e != 0 && e != MDB_NOTFOUND) {
		log_error("offline: reading the queue of %s: %s", full, mdb_strerror(e));
		mdb_cursor_close(cur);
		mod_db_end(t, false);
		return XS_ERROR;
	}
	mdb_cursor_close(cur);
	MDB_val mk = dbkey_val(owner);
	e = mdb_del(t, M.dbi, &mk, NULL);
	if (e != 0 && e != MDB_NOTFOUND) {
		log_error("offline: mdb_del meta: %s", mdb_strerror(e));
		mod_db_end(t, false);
		return XS_ERROR;
	}
	if (mod_db_end(t, true) != XS_OK)
		return XS_ERROR;
	log_debug("offline: %u stored message(s) delivered to %s%s", sent, full,
	          bad ? " (some unreadable ones dropped)" : "");
	return XS_OK;
}

static int on_presence(struct hook_args *a, void *arg)
{
	(void)arg;
	const struct stz *s = a->stz;
	if (s == NULL || a->jid == NULL || s->h->type != STZ_T_NONE ||
	    xmpp_presence_priority(s) < 0)
		return XS_PASS;
	char bare[JID_MAX + 1];
	int blen = jid_bare_copy(a->jid, bare, sizeof(bare));
	struct dbkey owner;
	struct off_meta meta;
	if (blen < 0 || dbkey_owner(&owner, bare, (size_t)blen) != XS_OK ||
	    meta_get(mod_db_read(), &owner, &meta) != XS_OK || meta.count == 0)
		return XS_PASS;
	struct mod_session sess;
	if (mod_session(a->jid, &sess) != XS_OK)
		return XS_PASS;
	const char *host = a->host ? a->host : bare + strcspn(bare, "@") + 1;
	if (flush(&owner, sess.conn, host, a->jid) != XS_OK)
		log_warn("offline: stored messages of %s not delivered; kept", bare);
	return XS_PASS;
}

/* ---- account removal */

static int on_user_removed(struct hook_args *a, void *arg)
{
	(void)arg;
	struct dbkey owner;
	if (a->jid == NULL || dbkey_owner(&owner, a->jid, strlen(a->jid)) != XS_OK)
		return XS_PASS;
	MDB_txn *t;
	if (mod_db_begin(&t) != XS_OK)
		return XS_PASS;
	bool ok = dbkey_range_delete(t, M.dbi, &owner, NULL, NULL, NULL) == XS_OK;
	if (!ok)
		log_error("offline: removing the queue of %s failed", a->jid);
	mod_db_end(t, ok);
	return XS_PASS;
}

/* ---- module */

static int offline_init(struct mod_ctx *ctx)
{
	M.ctx = ctx;
	if (mod_db_table(ctx, "offline", MDB_CREATE, &M.dbi) != XS_OK ||
	    mod_hook_add(ctx, HOOK_OFFLINE_MESSAGE, NULL, 50, on_offline_message, NULL) != XS_OK ||
	    mod_hook_add(ctx, HOOK_PRESENCE_BROADCAST, NULL, 50, on_presence, NULL) != XS_OK ||
	    mod_hook_add(ctx, HOOK_USER_REMOVED, NULL, 50, on_user_removed, NULL) != XS_OK ||
	    mod_feature_add(ctx, NULL, FEATURE) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "offline",
	.init = offline_init,
	.opts = OPTS,
	.conf = &M.lim,
	.conf_size = sizeof(M.lim),
};
