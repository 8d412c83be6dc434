/* search.c — jabber:iq:search on a directory domain (search.h). */
#include "modules/vcard/search.h"
#include "modules/vcard/fields.h"
#include "modules/vcard/query.h"
#include "modules/vcard/state.h"
#include "modules/vcard/summary.h"
#include "lib/xmpp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int b_field(struct stz_builder *b, const char *type, const char *var, const char *label)
{
	int rc = stz_b_openz(b, "field", NS_XDATA);
	if (rc == XS_OK && type)
		rc = stz_b_attrz(b, "type", type);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "var", var);
	if (rc == XS_OK && label)
		rc = stz_b_attrz(b, "label", label);
	return rc;
}

static const char INSTRUCTIONS[] =
	"Fill in one or more fields to search for users of this server. "
	"Add * to the end of a field to match values that start with it.";

static int search_form(struct iq_req *req, const struct vjud *vj)
{
	struct stz_builder *b = mod_iq_result_begin(req);
	int rc = stz_b_openz(b, "query", NS_SEARCH);
	if (rc == XS_OK)
		rc = xmpp_b_text_elem(b, "instructions", NS_SEARCH, INSTRUCTIONS, strlen(INSTRUCTIONS));
	for (int f = 1; rc == XS_OK && f < F_END; f++)
		if (VCARD_FIELDS[f].legacy && (rc = stz_b_openz(b, VCARD_FIELDS[f].legacy, NS_SEARCH)) == XS_OK)
			rc = stz_b_close(b);
	if (rc == XS_OK)
		rc = stz_b_openz(b, "x", NS_XDATA);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "type", "form");
	char title[300];
	snprintf(title, sizeof(title), "Search users in %s", vj->domain);
	if (rc == XS_OK)
		rc = xmpp_b_text_elem(b, "title", NS_XDATA, title, strlen(title));
	if (rc == XS_OK)
		rc = xmpp_b_text_elem(b, "instructions", NS_XDATA, INSTRUCTIONS, strlen(INSTRUCTIONS));
	if (rc == XS_OK)
		rc = b_field(b, "hidden", "FORM_TYPE", NULL);
	if (rc == XS_OK)
		rc = xmpp_b_text_elem(b, "value", NS_XDATA, NS_SEARCH, strlen(NS_SEARCH));
	if (rc == XS_OK)
		rc = stz_b_close(b);
	for (int f = 1; rc == XS_OK && f < F_END; f++)
		if ((rc = b_field(b, "text-single", VCARD_FIELDS[f].var, VCARD_FIELDS[f].label)) == XS_OK)
			rc = stz_b_close(b);
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

/* Bytes a builder holds so far (its encoding is a little larger). */
static size_t built_bytes(const struct stz_builder *b)
{
	return (size_t)b->nnodes * sizeof(struct stz_node) +
	       (size_t)b->nattrs * sizeof(struct stz_attr) + b->pool_len;
}

static int item_legacy(struct stz_builder *b, const char *jid, const struct summary *sm)
{
	int rc = stz_b_openz(b, "item", NS_SEARCH);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "jid", jid);
	for (int f = 1; rc == XS_OK && f < F_END; f++) {
		if (VCARD_FIELDS[f].legacy == NULL)
			continue;
		const struct sval *v = summary_first(sm, f);
		rc = xmpp_b_text_elem(b, VCARD_FIELDS[f].legacy, NS_SEARCH, v ? v->p : "", v ? v->len : 0);
	}
	if (rc == XS_OK)
		rc = stz_b_close(b);
	return rc;
}

static int item_form(struct stz_builder *b, const char *jid, const struct summary *sm)
{
	int rc = stz_b_openz(b, "item", NS_XDATA);
	if (rc == XS_OK && (rc = b_field(b, NULL, "jid", NULL)) == XS_OK &&
	    (rc = xmpp_b_text_elem(b, "value", NS_XDATA, jid, strlen(jid))) == XS_OK)
		rc = stz_b_close(b);
	for (int f = F_FN; rc == XS_OK && f < F_END; f++) {
		const struct sval *v = summary_first(sm, f);
		if ((rc = b_field(b, NULL, VCARD_FIELDS[f].var, NULL)) == XS_OK &&
		    (rc = xmpp_b_text_elem(b, "value", NS_XDATA, v ? v->p : "", v ? v->len : 0)) == XS_OK)
			rc = stz_b_close(b);
	}
	if (rc == XS_OK)
		rc = stz_b_close(b);
	return rc;
}

static int result_form_head(struct stz_builder *b, const struct vjud *vj)
{
	char title[300];
	snprintf(title, sizeof(title), "Search results for %s", vj->domain);
	int rc = stz_b_openz(b, "x", NS_XDATA);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "type", "result");
	if (rc == XS_OK)
		rc = xmpp_b_text_elem(b, "title", NS_XDATA, title, strlen(title));
	if (rc == XS_OK && (rc = b_field(b, "hidden", "FORM_TYPE", NULL)) == XS_OK &&
	    (rc = xmpp_b_text_elem(b, "value", NS_XDATA, NS_SEARCH, strlen(NS_SEARCH))) == XS_OK)
		rc = stz_b_close(b);
	if (rc == XS_OK)
		rc = stz_b_openz(b, "reported", NS_XDATA);
	if (rc == XS_OK && (rc = b_field(b, "jid-single", "jid", "Jabber ID")) == XS_OK)
		rc = stz_b_close(b);
	for (int f = F_FN; rc == XS_OK && f < F_END; f++)
		if ((rc = b_field(b, "text-single", VCARD_FIELDS[f].var, VCARD_FIELDS[f].label)) == XS_OK)
			rc = stz_b_close(b);
	if (rc == XS_OK)
		rc = stz_b_close(b);
	return rc;
}

static int search_reply(struct iq_req *req, const struct vjud *vj, const struct query *q,
                        const struct results *r)
{
	size_t budget = mod_max_stanza_size();
	budget = budget > 8192 ? budget - 8192 : budget / 2;
	struct stz_builder *b = mod_iq_result_begin(req);
	int rc = stz_b_openz(b, "query", NS_SEARCH);
	if (rc == XS_OK && q->form)
		rc = result_form_head(b, vj);
	MDB_txn *t = mod_db_read();
	for (size_t i = 0; rc == XS_OK && i < r->n && built_bytes(b) < budget; i++) {
		struct summary sm;
		if (t == NULL || summary_get(t, r->jids[i], &sm, false) != XS_OK)
			continue;
		rc = q->form ? item_form(b, r->jids[i], &sm) : item_legacy(b, r->jids[i], &sm);
	}
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

int search_iq(struct iq_req *req, void *arg)
{
	const struct vjud *vj = arg;
	const struct stz *s = req->stz;
	if (!stz_node_is(s, req->payload, "query", NS_SEARCH))
		return mod_iq_error(req, "bad-request");
	if (s->h->type == STZ_T_GET)
		return search_form(req, vj);
	static struct query q;
	bool bad;
	const char *err = query_parse(s, req->payload, &q, &bad);
	if (bad)
		return mod_iq_error_text(req, "bad-request", "expected a data form of type submit");
	if (err)
		return mod_iq_error_text(req, "not-acceptable", err);
	struct results r = { .max = vcard_state.opts.matches };
	if (q.n > 0 || vcard_state.opts.allow_return_all) {
		r.jids = calloc(r.max, sizeof(*r.jids));
		if (r.jids == NULL || query_run(&q, vj->host, &r) != XS_OK) {
			query_results_free(&r);
			return mod_iq_error(req, "internal-server-error");
		}
	}
	int out = search_reply(req, vj, &q, &r);
	query_results_free(&r);
	return out;
}
