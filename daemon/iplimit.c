/* iplimit.c — per-address connection limits in the master: an open-
 * addressing table keyed by address, each entry with a count per worker,
 * a token bucket for the connection rate and a block deadline. */
#include "daemon/iplimit.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <stdio.h>
#include <time.h>

struct entry {
	bool used;
	struct msg_ip ip;
	uint32_t total;
	uint32_t *per_worker;     /* [nworkers] */
	double tokens;            /* connections still allowed this minute */
	double stamp;             /* when the bucket was last filled */
	double blocked_until;
};

static struct {
	struct entry *tab;
	size_t cap, used;
	unsigned nworkers;
} I;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t hash_ip(const struct msg_ip *ip)
{
	uint64_t h = 1469598103934665603ull ^ ip->family; /* FNV-1a */
	for (size_t i = 0; i < sizeof(ip->addr); i++)
		h = (h ^ ip->addr[i]) * 1099511628211ull;
	return h;
}

static bool same(const struct msg_ip *a, const struct msg_ip *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

int iplimit_init(unsigned nworkers)
{
	I.nworkers = nworkers;
	I.cap = 1024;
	I.tab = calloc(I.cap, sizeof(*I.tab));
	return I.tab ? XS_OK : XS_ERROR;
}

static void entry_clear(struct entry *e)
{
	free(e->per_worker);
	memset(e, 0, sizeof(*e));
}

void iplimit_free(void)
{
	for (size_t i = 0; i < I.cap; i++)
		if (I.tab[i].used)
			entry_clear(&I.tab[i]);
	free(I.tab);
	memset(&I, 0, sizeof(I));
}

static struct entry *find(const struct msg_ip *ip)
{
	for (size_t i = hash_ip(ip) & (I.cap - 1), n = 0; n < I.cap; i = (i + 1) & (I.cap - 1), n++) {
		if (!I.tab[i].used)
			return NULL;
		if (same(&I.tab[i].ip, ip))
			return &I.tab[i];
	}
	return NULL;
}

static void rehash(size_t cap);

static struct entry *get(const struct msg_ip *ip)
{
	struct entry *e = find(ip);
	if (e)
		return e;
	if ((I.used + 1) * 2 > I.cap)
		rehash(I.cap * 2);
	size_t i = hash_ip(ip) & (I.cap - 1);
	while (I.tab[i].used)
		i = (i + 1) & (I.cap - 1);
	e = &I.tab[i];
	e->per_worker = calloc(I.nworkers, sizeof(*e->per_worker));
	if (e->per_worker == NULL)
		return NULL;
	e->used = true;
	e->ip = *ip;
	e->tokens = -1; /* filled on first use */
	I.used++;
	return e;
}

static void rehash(size_t cap)
{
	struct entry *old = I.tab;
	size_t ocap = I.cap;
	struct entry *tab = calloc(cap, sizeof(*tab));
	if (tab == NULL)
		return; /* keep the old table: it still works, just fuller */
	I.tab = tab;
	I.cap = cap;
	for (size_t i = 0; i < ocap; i++) {
		if (!old[i].used)
			continue;
		size_t j = hash_ip(&old[i].ip) & (cap - 1);
		while (tab[j].used)
			j = (j + 1) & (cap - 1);
		tab[j] = old[i];
	}
	free(old);
}

bool iplimit_admit(const struct cfg_limits *l, const struct msg_ip *ip, const char **why)
{
	struct entry *e = get(ip);
	if (e == NULL)
		return true; /* out of memory: do not punish the client for it */
	double now = now_s();
	if (e->blocked_until > now) {
		*why = "blocked after failed authentications";
		return false;
	}
	if (l->max_connections_per_ip && e->total >= l->max_connections_per_ip) {
		*why = "too many connections from this address";
		return false;
	}
	if (l->connection_rate_per_ip) {
		double cap = l->connection_rate_per_ip;
		if (e->tokens < 0)
			e->tokens = cap;
		else
			e->tokens += (now - e->stamp) * cap / 60.0;
		if (e->tokens > cap)
			e->tokens = cap;
		e->stamp = now;
		if (e->tokens < 1) {
			*why = "too many new connections from this address";
			return false;
		}
		e->tokens -= 1;
	}
	return true;
}

void iplimit_opened(const struct msg_ip *ip, unsigned w)
{
	struct entry *e = get(ip);
	if (e && w < I.nworkers) {
		e->per_worker[w]++;
		e->total++;
	}
}

void iplimit_closed(const struct msg_ip *ip, unsigned w)
{
	struct entry *e = find(ip);
	if (e && w < I.nworkers && e->per_worker[w] > 0) {
		e->per_worker[w]--;
		e->total--;
	}
}

void iplimit_block(const struct msg_ip *ip, unsigned seconds)
{
	struct entry *e = get(ip);
	if (e && seconds)
		e->blocked_until = now_s() + seconds;
}

void iplimit_worker_gone(unsigned w)
{
	for (size_t i = 0; i < I.cap && w < I.nworkers; i++) {
		struct entry *e = &I.tab[i];
		if (!e->used)
			continue;
		e->total -= e->per_worker[w];
		e->per_worker[w] = 0;
	}
}

void iplimit_sweep(const struct cfg_limits *l)
{
	double now = now_s();
	bool any = false;
	for (size_t i = 0; i < I.cap; i++) {
		struct entry *e = &I.tab[i];
		/* An entry with nothing open, nothing blocked and a full bucket
		 * holds no information. */
		double full = l->connection_rate_per_ip;
		double tokens = e->tokens + (now - e->stamp) * full / 60.0;
		if (e->used && e->total == 0 && e->blocked_until <= now && (full == 0 || tokens >= full)) {
			entry_clear(e);
			I.used--;
			any = true;
		}
	}
	if (any)
		rehash(I.cap); /* removing from linear probing needs a rebuild */
}

const char *iplimit_str(const struct msg_ip *ip, char *buf, size_t cap)
{
	if (inet_ntop(ip->family == AF_INET6 ? AF_INET6 : AF_INET, ip->addr, buf, (socklen_t)cap) == NULL)
		snprintf(buf, cap, "?");
	return buf;
}
