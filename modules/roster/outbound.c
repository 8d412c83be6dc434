/* outbound.c — presence stanzas sent on an account's behalf (outbound.h). */
#include "modules/roster/outbound.h"
#include "modules/roster/state.h"
#include "lib/log.h"
#include "router/module.h"

#include <string.h>

int presence_build(struct stz_builder *b, const struct stz *src, const char *from, size_t flen,
                   const char *to, size_t tlen, const char *type)
{
	int rc = stz_b_openz(b, "presence", STZ_NS_CLIENT);
	if (rc == XS_OK)
		rc = stz_b_attr(b, "from", 4, "", 0, from, flen);
	if (rc == XS_OK)
		rc = stz_b_attr(b, "to", 2, "", 0, to, tlen);
	if (rc == XS_OK && type)
		rc = stz_b_attrz(b, "type", type);
	if (src) {
		const struct stz_node *n = &src->nodes[0];
		for (uint32_t a = n->attr_first; rc == XS_OK && a < n->attr_first + n->nattrs; a++) {
			const struct stz_attr *at = &src->attrs[a];
			const char *name = stz_str(src, at->name);
			if (at->ns.len == 0 && (strcmp(name, "from") == 0 || strcmp(name, "to") == 0 ||
			                        (type && strcmp(name, "type") == 0)))
				continue;
			rc = stz_b_attr(b, name, at->name.len, stz_str(src, at->ns), at->ns.len,
			                stz_str(src, at->value), at->value.len);
		}
		for (uint32_t c = stz_first_child(src, 0); rc == XS_OK && c != 0;
		     c = stz_next_sibling(src, 0, c))
			rc = stz_b_copy(b, src, c);
	}
	if (rc == XS_OK)
		rc = stz_b_close(b);
	return rc;
}

void presence_route(const struct stz *src, const char *from, size_t flen, const char *to,
                    size_t tlen, const char *type)
{
	struct stz_builder *b = mod_builder(roster_state.ctx);
	if (presence_build(b, src, from, flen, to, tlen, type) != XS_OK || mod_route(b) != XS_OK)
		log_warn("roster: cannot send presence from %.*s to %.*s", (int)flen, from, (int)tlen, to);
}

/* Presence of each available resource of an account to `to`: its last
 * presence, or unavailable. */
struct fwd {
	const char *to;
	size_t tlen;
	bool unavailable;
};

static bool fwd_visit(const struct mod_session *s, void *arg)
{
	const struct fwd *f = arg;
	if (!s->available)
		return true;
	if (f->unavailable) {
		presence_route(NULL, s->full, strlen(s->full), f->to, f->tlen, "unavailable");
		return true;
	}
	struct stz last;
	if (mod_session_presence(s->full, &last) == XS_OK)
		presence_route(&last, s->full, strlen(s->full), f->to, f->tlen, NULL);
	return true;
}

void presence_send_all(const char *owner, const char *to, size_t tlen, bool unavailable)
{
	struct fwd f = { .to = to, .tlen = tlen, .unavailable = unavailable };
	if (mod_sessions(owner, fwd_visit, &f) != XS_OK)
		log_warn("roster: cannot list the sessions of %s", owner);
}

void presence_route_sub(const char *owner, const char *peer, size_t plen, const struct stz *src,
                        enum stz_type t)
{
	presence_route(src, owner, strlen(owner), peer, plen, stz_type_name(t));
}
