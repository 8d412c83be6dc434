/* register.c — In-Band Registration (XEP-0077): account creation before
 * authentication, password change and account removal after it.
 *
 * Before authentication (req->preauth_conn != 0; the worker forwards only
 * jabber:iq:register, after TLS when TLS is required):
 *   get  -> <instructions/><username/><password/> when registration is open
 *           for the stream's host (cfg `registration`, `host_config`),
 *           else service-unavailable (XEP-0077 §3.1: a host without in-band
 *           registration MUST answer that; Prosody does the same).
 *   set  <username/><password/> -> the account is created (SCRAM keys only).
 *        Refusals, in this order: registration closed -> service-unavailable;
 *        a username or password missing or empty -> not-acceptable (§3.1
 *        MUST); a username nodeprep refuses -> jid-malformed (RFC 6120
 *        §8.3.3.8; ejabberd says bad-request); a bare JID longer than an LMDB
 *        key -> not-acceptable with a text; the name taken -> conflict,
 *        whatever the password (§3.1: existence is decided first); a password
 *        shorter than min_password_length characters or longer than PASS_MAX
 *        bytes -> not-acceptable with a text; more than
 *        limits.registration_rate_per_ip accounts from one address within an
 *        hour -> resource-constraint (type wait), as ejabberd answers.
 *   set  <remove/> -> unexpected-request (§3.2: no 'from', not registered).
 * After authentication (from = the user's full JID):
 *   get  -> <registered/><username>NODE</username>.
 *   set  [<username>NODE</username>]<password>NEW</password> -> password
 *        changed (whatever `registration` says).  An empty password ->
 *        bad-request (§3.3: never a null password); another account's
 *        username -> bad-request; too short/long -> not-acceptable.
 *   set  <remove/> (its only child, §3.2 else bad-request) -> the account is
 *        deleted, HOOK_USER_REMOVED runs (other modules drop its data), the
 *        result is sent, then every session of the account is ended
 *        (MOD_KICK_REMOVED: the core sends the stream error).  No account ->
 *        registration-required.
 * Errors carry no copy of the request (§3.3: never the password back).
 * A <query/> with more than MAX_CHILDREN elements, markup inside <username/>
 * or <password/>, or a duplicate of either -> bad-request.  Data forms
 * (XEP-0004) are neither offered nor read.
 *
 * Options (config `modules: {register: {...}}`):
 *   min_password_length: N (1..PASS_MAX) [6]  Unicode characters
 * Rate limit: an in-memory ring of (address, time) of the last RATE_SLOTS
 * accounts created, in time order; an address is refused when it has
 * `registration_rate_per_ip` of them in the last RATE_WINDOW seconds (0: no
 * limit).  When more than RATE_SLOTS accounts are made within the window the
 * oldest records are forgotten first.  It is lost on a router restart.
 * Storage: none of its own; accounts live in the users table (lib/users.h). */
#include "router/module.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/scram.h"
#include "lib/users.h"
#include "lib/xmpp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define NS_REGISTER     "jabber:iq:register"
#define MAX_CHILDREN    32     /* element children of <query/> we look at */
#define USER_RAW_MAX    JID_PART_MAX
#define PASS_MAX        1023   /* bytes */
#define KEY_MAX         511    /* LMDB's key size: the users table is keyed by bare JID */
#define DEFAULT_MIN_PASS 6
#define PASSWD_SLOTS    1024
#define PASSWD_INTERVAL 10     /* seconds between two password changes of an account */
#define RATE_SLOTS      4096
#define RATE_WINDOW     3600   /* seconds */
#define MAX_KICKS       1024   /* sessions of one account ended on removal */

struct rate_rec {
	struct msg_ip ip;
	int64_t at;
};

struct pw_change {
	uint64_t key;        /* hash of the bare JID */
	int64_t at;
};

struct opts {
	unsigned min_pass;
};

static const struct cfgopt OPTS[] = {
	CFGOPT_UINT("min_password_length", struct opts, min_pass, DEFAULT_MIN_PASS, 1, PASS_MAX),
	CFGOPT_END
};

/* The module's state: its options and the in-memory rate and password records. */
static struct {
	struct mod_ctx *ctx;
	struct opts o;
	struct rate_rec rate[RATE_SLOTS];  /* a ring in time order */
	struct pw_change pw_recent[PASSWD_SLOTS]; /* last change per account hash */
	uint32_t rate_next;                /* where the next record goes */
	uint32_t rate_n;                   /* records in use */
} registration;

/* What a <query/> carried. */
struct reg_form {
	bool has_user, has_pass, has_remove;
	unsigned nelems;
	char user[USER_RAW_MAX + 1];
	size_t ulen;
	char pass[PASS_MAX + 1];
	size_t plen;
	bool pass_long;                    /* over PASS_MAX bytes: refused after the name */
};

enum form_status { FORM_OK = 0, FORM_BAD, FORM_USER_LONG, FORM_PASS_LONG };

/* ---- replies (each returns XS_DONE: the IQ is answered) */

/* An error without a copy of the request, which may hold a password
 * (XEP-0077 §3.3 asks not to send it back; nothing is gained by echoing it
 * in the other cases). */
static int reply_error(struct iq_req *req, const char *cond, const char *text)
{
	return mod_iq_error_private(req, cond, text);
}

/* The empty result handed straight to the requesting connection rather than
 * routed: a routed stanza's delivery is queued behind kicks issued after it
 * (router/route.c), and the result must reach the client before the stream
 * error that ends its session. */
static int reply_to_conn(struct iq_req *req)
{
	uint64_t conn = req->stz->h->conn;
	struct stz_builder *b = mod_iq_result_begin(req);
	if (conn == 0)
		return mod_iq_result_send(req);
	while (stz_b_depth(b) > 0)
		if (stz_b_close(b) != XS_OK)
			break;
	if (mod_deliver_built(&conn, 1, b) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return XS_DONE;
}

static int text_elem(struct stz_builder *b, const char *name, const char *text)
{
	return xmpp_b_text_elem(b, name, NS_REGISTER, text, text ? strlen(text) : 0);
}

/* ---- reading the request */

/* The text of element n (its text children joined) into out; FORM_BAD when
 * it holds markup, `too_long` past cap - 1 bytes. */
static enum form_status elem_text(const struct stz *s, uint32_t n, char *out, size_t cap,
                                  size_t *len, enum form_status too_long)
{
	size_t l = 0;
	for (uint32_t c = stz_first_child(s, n); c; c = stz_next_sibling(s, n, c)) {
		const struct stz_node *nd = &s->nodes[c];
		if (!nd->is_text)
			return FORM_BAD;
		if (nd->name.len >= cap - l)
			return too_long;
		memcpy(out + l, stz_str(s, nd->name), nd->name.len);
		l += nd->name.len;
	}
	out[l] = '\0';
	if (memchr(out, '\0', l) != NULL)
		return FORM_BAD;
	*len = l;
	return FORM_OK;
}

static enum form_status read_form(const struct stz *s, uint32_t q, struct reg_form *f)
{
	f->has_user = f->has_pass = f->has_remove = f->pass_long = false;
	f->nelems = 0;
	f->user[0] = f->pass[0] = '\0';
	f->ulen = f->plen = 0;
	for (uint32_t c = stz_first_child(s, q); c; c = stz_next_sibling(s, q, c)) {
		if (s->nodes[c].is_text)
			continue;
		if (++f->nelems > MAX_CHILDREN)
			return FORM_BAD;
		enum form_status st = FORM_OK;
		if (stz_node_is(s, c, "username", NS_REGISTER)) {
			if (f->has_user)
				return FORM_BAD;
			f->has_user = true;
			st = elem_text(s, c, f->user, sizeof(f->user), &f->ulen, FORM_USER_LONG);
		} else if (stz_node_is(s, c, "password", NS_REGISTER)) {
			if (f->has_pass)
				return FORM_BAD;
			f->has_pass = true;
			st = elem_text(s, c, f->pass, sizeof(f->pass), &f->plen, FORM_PASS_LONG);
			/* Judged with the password policy, once the name is known
			 * to be free (XEP-0077 §3.1: a taken name is a conflict). */
			if (st == FORM_PASS_LONG) {
				f->pass_long = true;
				f->plen = 0;
				st = FORM_OK;
			}
		} else if (stz_node_is(s, c, "remove", NS_REGISTER)) {
			f->has_remove = true;
		}
		/* Other fields (<email/>, a data form) were not asked for: ignored. */
		if (st != FORM_OK)
			return st;
	}
	return FORM_OK;
}

static int form_refusal(struct iq_req *req, enum form_status st)
{
	switch (st) {
	case FORM_USER_LONG:
		return reply_error(req, "not-acceptable", "The username is too long");
	default:
		return reply_error(req, "bad-request", NULL);
	}
}

static size_t utf8_chars(const char *p, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)p[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* XS_OK when the password is acceptable, else answers and returns XS_DONE. */
static int check_password(struct iq_req *req, const struct reg_form *f)
{
	if (f->pass_long)
		return reply_error(req, "not-acceptable", "The password is too long");
	if (utf8_chars(f->pass, f->plen) < registration.o.min_pass)
		return reply_error(req, "not-acceptable", "The password is too short");
	return XS_OK;
}

/* ---- the per-address rate of account creation */

static bool ip_equal(const struct msg_ip *a, const struct msg_ip *b)
{
	if (a->family != b->family)
		return false;
	size_t n = a->family == AF_INET ? 4 : sizeof(a->addr);
	return memcmp(a->addr, b->addr, n) == 0;
}

static unsigned rate_count(const struct msg_ip *ip, int64_t now)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < registration.rate_n; i++) {
		const struct rate_rec *r = &registration.rate[i];
		if (now - r->at < RATE_WINDOW && ip_equal(&r->ip, ip))
			n++;
	}
	return n;
}

static void rate_note(const struct msg_ip *ip, int64_t now)
{
	registration.rate[registration.rate_next].ip = *ip;
	registration.rate[registration.rate_next].at = now;
	registration.rate_next = (registration.rate_next + 1) % RATE_SLOTS;
	if (registration.rate_n < RATE_SLOTS)
		registration.rate_n++;
}

static const char *ip_text(const struct msg_ip *ip, char *out, size_t cap)
{
	int af = ip->family == AF_INET ? AF_INET : AF_INET6;
	if (ip->family != AF_INET && ip->family != AF_INET6)
		return "?";
	return inet_ntop(af, ip->addr, out, (socklen_t)cap) ? out : "?";
}

/* ---- before authentication: account creation */

static int fields_form(struct iq_req *req)
{
	struct stz_builder *b = mod_iq_result_begin(req);
	int rc = stz_b_openz(b, "query", NS_REGISTER);
	if (rc == XS_OK)
		rc = text_elem(b, "instructions",
		               "Choose a username and password to register with this server.");
	if (rc == XS_OK)
		rc = text_elem(b, "username", NULL);
	if (rc == XS_OK)
		rc = text_elem(b, "password", NULL);
	if (rc != XS_OK)
		return reply_error(req, "internal-server-error", NULL);
	return mod_iq_result_send(req);
}

/* Adds the account; XS_OK, XS_PASS when the name is taken, XS_ERROR. */
static int add_account(const char *bare, const struct reg_form *f)
{
	struct scram_creds cr;
	if (scram_creds_make(f->pass, f->plen, mod_scram_iterations(), &cr) != XS_OK)
		return XS_ERROR;
	MDB_txn *t;
	if (mod_db_begin(&t) != XS_OK) {
		explicit_bzero(&cr, sizeof(cr));
		return XS_ERROR;
	}
	int rc = users_add(mod_data_db(), t, bare, &cr);
	explicit_bzero(&cr, sizeof(cr));
	if (mod_db_end(t, rc == XS_OK) != XS_OK && rc == XS_OK)
		rc = XS_ERROR;
	return rc;
}

static int create(struct iq_req *req, const struct reg_form *f)
{
	static const struct msg_ip unknown_ip;
	const struct msg_ip *ip = req->ip ? req->ip : &unknown_ip;
	if (!f->has_user || f->ulen == 0 || !f->has_pass || (f->plen == 0 && !f->pass_long))
		return reply_error(req, "not-acceptable", "A username and a password are required");
	char node[JID_PART_MAX + 1];
	if (jid_nodeprep(f->user, f->ulen, node, sizeof(node)) != XS_OK || node[0] == '\0')
		return reply_error(req, "jid-malformed", "The username is not a valid JID localpart");
	char bare[JID_MAX + 1];
	if (strlen(node) + 1 + strlen(req->host) > KEY_MAX)
		return reply_error(req, "not-acceptable", "The username is too long");
	snprintf(bare, sizeof(bare), "%s@%s", node, req->host);
	/* Existence first (XEP-0077 §3.1: a taken name is a conflict, whatever
	 * the password), and before the key derivation, which costs. */
	struct scram_creds old;
	MDB_txn *rd = mod_db_read();
	int rc = rd ? users_get(mod_data_db(), rd, bare, &old) : XS_ERROR;
	explicit_bzero(&old, sizeof(old));
	if (rc == XS_OK)
		return reply_error(req, "conflict", NULL);
	if (rc == XS_ERROR)
		return reply_error(req, "internal-server-error", NULL);
	rc = check_password(req, f);
	if (rc != XS_OK)
		return rc;

	int64_t now = mod_now();
	unsigned limit = mod_registration_rate();
	char ipbuf[INET6_ADDRSTRLEN];
	if (limit > 0 && rate_count(ip, now) >= limit) {
		static struct log_limit refused = { .what = "in-band registrations refused by the "
		                                            "per-address rate" };
		log_limited(&refused, LOG_LVL_INFO, "in-band registration of %s refused: %u accounts "
		            "from %s within an hour", bare, limit, ip_text(ip, ipbuf, sizeof(ipbuf)));
		return reply_error(req, "resource-constraint",
		                   "Too many accounts were created from your address; try later");
	}
	rc = add_account(bare, f);
	if (rc == XS_PASS)
		return reply_error(req, "conflict", NULL);
	if (rc != XS_OK)
		return reply_error(req, "internal-server-error", NULL);
	rate_note(ip, now);
	log_info("registered %s in-band from %s", bare, ip_text(ip, ipbuf, sizeof(ipbuf)));
	return mod_iq_result_empty(req);
}

static int preauth(struct iq_req *req)
{
	const struct stz *s = req->stz;
	if (stz_has_to(s) && strcmp(stz_to(s), req->host) != 0)
		return reply_error(req, "service-unavailable", NULL);
	if (!mod_registration_open(req->host))
		return reply_error(req, "service-unavailable",
		                   "In-band registration is closed on this server");
	if (s->h->type == STZ_T_GET)
		return fields_form(req);
	struct reg_form f;
	enum form_status st = read_form(s, req->payload, &f);
	int rc;
	if (st != FORM_OK)
		rc = form_refusal(req, st);
	else if (f.has_remove)
		rc = reply_error(req, "unexpected-request", "Authenticate first to cancel an account");
	else
		rc = create(req, &f);
	explicit_bzero(f.pass, sizeof(f.pass));
	return rc;
}

/* ---- after authentication: password change and removal */

struct kick_list {
	char *full[MAX_KICKS];
	size_t n;
	bool failed;
};

static bool collect(const struct mod_session *ms, void *arg)
{
	struct kick_list *k = arg;
	if (k->n == MAX_KICKS)
		return false;
	k->full[k->n] = strdup(ms->full);
	if (k->full[k->n] == NULL) {
		k->failed = true;
		return false;
	}
	k->n++;
	return true;
}

static void kick_all(const char *bare)
{
	struct kick_list *k = calloc(1, sizeof(*k));
	if (k == NULL) {
		log_error("register: out of memory ending the sessions of %s", bare);
		return;
	}
	if (mod_sessions(bare, collect, k) != XS_OK || k->failed)
		log_error("register: could not list every session of removed account %s", bare);
	for (size_t i = 0; i < k->n; i++) {
		if (mod_kick(k->full[i], MOD_KICK_REMOVED) != XS_OK)
			log_error("register: could not end session %s of removed account", k->full[i]);
		free(k->full[i]);
	}
	free(k);
}

/* Ends t, the child transaction of a change to an existing account (rc: how
 * the change went); XS_OK when it is on disk, else the answered error's result. */
static int end_account_change(struct iq_req *req, MDB_txn *t, int rc)
{
	if (mod_db_end(t, rc == XS_OK) != XS_OK && rc == XS_OK)
		rc = XS_ERROR;
	if (rc == XS_PASS)
		return reply_error(req, "registration-required", NULL);
	if (rc != XS_OK)
		return reply_error(req, "internal-server-error", NULL);
	return XS_OK;
}

static int cancel(struct iq_req *req, const struct reg_form *f, const char *bare)
{
	if (f->nelems != 1)
		return reply_error(req, "bad-request", "<remove/> must be the only element");
	MDB_txn *t;
	if (mod_db_begin(&t) != XS_OK)
		return reply_error(req, "internal-server-error", NULL);
	int rc = end_account_change(req, t, users_del(mod_data_db(), t, bare));
	if (rc != XS_OK)
		return rc;
	struct hook_args a = { .host = req->host, .jid = bare };
	mod_hook_run(HOOK_USER_REMOVED, &a);
	log_info("account %s removed in-band", bare);
	rc = reply_to_conn(req);
	kick_all(bare);
	return rc;
}

static int change_password(struct iq_req *req, const struct reg_form *f, const struct jid *j,
                           const char *bare)
{
	if (!f->has_pass || (f->plen == 0 && !f->pass_long))
		return reply_error(req, "bad-request", "A new password is required");
	if (f->has_user) {
		char node[JID_PART_MAX + 1];
		if (jid_nodeprep(f->user, f->ulen, node, sizeof(node)) != XS_OK ||
		    strcmp(node, j->node) != 0)
			return reply_error(req, "bad-request", "Only your own password can be changed");
	}
	int rc = check_password(req, f);
	if (rc != XS_OK)
		return rc;
	/* Deriving keys costs the router milliseconds: one change per account
	 * every PASSWD_INTERVAL seconds. */
	uint64_t h = 1469598103934665603ULL; /* FNV-1a of the bare JID */
	for (const char *p = bare; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	struct pw_change *pc = &registration.pw_recent[h % PASSWD_SLOTS];
	int64_t now = mod_now();
	if (pc->key == h && now - pc->at < PASSWD_INTERVAL)
		return reply_error(req, "resource-constraint",
		                   "Password changes are limited to one every 10 seconds");
	pc->key = h;
	pc->at = now;
	struct scram_creds cr;
	if (scram_creds_make(f->pass, f->plen, mod_scram_iterations(), &cr) != XS_OK)
		return reply_error(req, "internal-server-error", NULL);
	MDB_txn *t;
	if (mod_db_begin(&t) != XS_OK) {
		explicit_bzero(&cr, sizeof(cr));
		return reply_error(req, "internal-server-error", NULL);
	}
	rc = users_replace(mod_data_db(), t, bare, &cr);
	explicit_bzero(&cr, sizeof(cr));
	rc = end_account_change(req, t, rc);
	if (rc != XS_OK)
		return rc;
	log_info("password of %s changed in-band", bare);
	return mod_iq_result_empty(req);
}

static int registered(struct iq_req *req, const struct jid *j)
{
	struct stz_builder *b = mod_iq_result_begin(req);
	int rc = stz_b_openz(b, "query", NS_REGISTER);
	if (rc == XS_OK)
		rc = text_elem(b, "registered", NULL);
	if (rc == XS_OK)
		rc = text_elem(b, "username", j->node);
	if (rc != XS_OK)
		return reply_error(req, "internal-server-error", NULL);
	return mod_iq_result_send(req);
}

static int authed(struct iq_req *req)
{
	const struct stz *s = req->stz;
	struct jid *j = malloc(sizeof(*j));
	if (j == NULL)
		return reply_error(req, "internal-server-error", NULL);
	char bare[JID_MAX + 1];
	int rc;
	if (jid_parse(stz_from(s), s->h->from.len, j) != XS_OK || j->node[0] == '\0' ||
	    jid_bare(j, bare, sizeof(bare)) < 0 || strcmp(j->domain, req->host) != 0) {
		rc = reply_error(req, "service-unavailable", NULL);
		goto out;
	}
	/* Only the account's own server (or its own bare JID) answers for it. */
	if (stz_has_to(s) && strcmp(stz_to(s), req->host) != 0 && strcmp(stz_to(s), bare) != 0) {
		rc = reply_error(req, "service-unavailable", NULL);
		goto out;
	}
	if (s->h->type == STZ_T_GET) {
		rc = registered(req, j);
		goto out;
	}
	struct reg_form f;
	enum form_status st = read_form(s, req->payload, &f);
	if (st != FORM_OK)
		rc = form_refusal(req, st);
	else if (f.has_remove)
		rc = cancel(req, &f, bare);
	else
		rc = change_password(req, &f, j, bare);
	explicit_bzero(f.pass, sizeof(f.pass));
out:
	free(j);
	return rc;
}

static int on_register(struct iq_req *req, void *arg)
{
	(void)arg;
	if (!stz_node_is(req->stz, req->payload, "query", NS_REGISTER))
		return reply_error(req, "bad-request", NULL);
	return req->preauth_conn ? preauth(req) : authed(req);
}

static int register_init(struct mod_ctx *ctx)
{
	registration.ctx = ctx;
	registration.rate_n = registration.rate_next = 0;
	if (mod_iq_add(ctx, NULL, NS_REGISTER, on_register, NULL) != XS_OK)
		return XS_ERROR;
	return mod_feature_add(ctx, NULL, NS_REGISTER);
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "register",
	.init = register_init,
	.opts = OPTS,
	.conf = &registration.o,
	.conf_size = sizeof(registration.o),
};
