/* directed.c — directed presence (directed.h): a hash table of the full
 * JIDs that sent some, each with its recipients. */
#include "modules/roster/directed.h"
#include "modules/roster/outbound.h"
#include "modules/roster/store.h"
#include "lib/jid.h"
#include "lib/log.h"

#include <stdlib.h>
#include <string.h>

#define DIRECTED_MAX 128                        /* directed presence targets per session */
#define DIR_BUCKETS  1024

struct dsess { /* directed presence of one full JID */
	struct dsess *next;
	char *full;
	char **to;
	uint32_t n, cap;
};

static struct dsess *sessions[DIR_BUCKETS];

static uint32_t dir_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h % DIR_BUCKETS;
}

static struct dsess **dir_find(const char *full)
{
	struct dsess **pp = &sessions[dir_hash(full)];
	while (*pp && strcmp((*pp)->full, full) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void dsess_free(struct dsess *d)
{
	for (uint32_t i = 0; i < d->n; i++)
		free(d->to[i]);
	free(d->to);
	free(d->full);
	free(d);
}

static void dir_add(const char *full, const char *to)
{
	struct dsess **pp = dir_find(full);
	struct dsess *d = *pp;
	if (d == NULL) {
		d = calloc(1, sizeof(*d));
		if (d == NULL || (d->full = strdup(full)) == NULL) {
			free(d);
			return;
		}
		*pp = d;
	}
	for (uint32_t i = 0; i < d->n; i++)
		if (strcmp(d->to[i], to) == 0)
			return;
	if (d->n >= DIRECTED_MAX) {
		log_debug("roster: %s sent directed presence to more than %d JIDs; %s not tracked",
		          full, DIRECTED_MAX, to);
		return;
	}
	if (d->n == d->cap) {
		uint32_t cap = d->cap ? d->cap * 2 : 4;
		char **n = realloc(d->to, cap * sizeof(*n));
		if (n == NULL)
			return;
		d->to = n;
		d->cap = cap;
	}
	char *copy = strdup(to);
	if (copy)
		d->to[d->n++] = copy;
}

static void dir_del(const char *full, const char *to)
{
	struct dsess **pp = dir_find(full);
	struct dsess *d = *pp;
	if (d == NULL)
		return;
	for (uint32_t i = 0; i < d->n; i++) {
		if (strcmp(d->to[i], to) == 0) {
			free(d->to[i]);
			d->to[i] = d->to[--d->n];
			break;
		}
	}
	if (d->n == 0) {
		*pp = d->next;
		dsess_free(d);
	}
}

void directed_flush(const char *full, const struct stz *src, bool contacts_told)
{
	struct dsess **pp = dir_find(full);
	struct dsess *d = *pp;
	if (d == NULL)
		return;
	*pp = d->next;
	size_t flen = strlen(full), fbl = jid_bare_len(full);
	for (uint32_t i = 0; i < d->n; i++) {
		size_t tl = strlen(d->to[i]);
		if (contacts_told &&
		    (roster_lookup_sub(mod_db_read(), full, fbl, d->to[i], jid_bare_len(d->to[i])) & SUB_FROM))
			continue;
		presence_route(src, full, flen, d->to[i], tl, "unavailable");
	}
	dsess_free(d);
}

int directed_on_send(struct hook_args *a, void *arg)
{
	(void)arg;
	const struct stz *s = a->stz;
	if (s == NULL || s->h->kind != STZ_PRESENCE || a->jid == NULL)
		return XS_PASS;
	uint8_t t = s->h->type;
	if (t != STZ_T_NONE && t != STZ_T_UNAVAILABLE)
		return XS_PASS;
	/* RFC 6121 §4.6.4: a broadcast unavailable reaches everyone it sent
	 * directed presence to, also from a session that was never available
	 * (for which the core runs no broadcast). */
	if (!stz_has_to(s)) {
		struct mod_session ms; /* not from a connection a newer one replaced */
		if (t == STZ_T_UNAVAILABLE && mod_session(a->jid, &ms) == XS_OK &&
		    ms.conn == s->h->conn && !ms.available)
			directed_flush(a->jid, s, false);
		return XS_PASS;
	}
	const char *full = a->jid, *to = stz_to(s);
	size_t fbl = jid_bare_len(full), tbl = jid_bare_len(to);
	if (roster_same(full, fbl, to, tbl))
		return XS_PASS; /* the account's own resources */
	if (t == STZ_T_UNAVAILABLE) {
		dir_del(full, to);
		return XS_PASS;
	}
	/* Contacts too: a session that is not available reaches them only so,
	 * and they must see it go (dir_flush spares them after a broadcast). */
	dir_add(full, to);
	return XS_PASS;
}

int directed_on_closed(struct hook_args *a, void *arg)
{
	(void)arg;
	if (a->jid) /* a session that was available was flushed by its broadcast */
		directed_flush(a->jid, NULL, false);
	return XS_PASS;
}

void directed_clear(void)
{
	for (size_t i = 0; i < DIR_BUCKETS; i++) {
		while (sessions[i]) {
			struct dsess *d = sessions[i];
			sessions[i] = d->next;
			dsess_free(d);
		}
	}
}
