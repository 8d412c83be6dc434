/* worker.h — a C2S worker process: owns its client connections end to end
 * (XML stream, SASL, binding, validation, from-stamping) and exchanges
 * stanzas with the router through its up and down rings. */
#ifndef XMPPD_WORKERS_WORKER_H
#define XMPPD_WORKERS_WORKER_H

#include "lib/cfg.h"
#include "shm/shm.h"
#include "workers/tls.h"

#include <stdint.h>

struct worker_args {
	const struct cfg *cfg;
	struct shm_segment *seg;
	unsigned index;
	unsigned generation;
	int sock;       /* SOCK_SEQPACKET from the master: connections arrive here */
	int up_efd;     /* wakes the router */
	int down_efd;   /* wakes this worker */
	uint8_t secret[32]; /* the server secret (fake SCRAM credentials) */
	uint8_t ticket_key[TLS_TICKET_KEY_LEN]; /* TLS session tickets, shared by all workers */
};

/* Runs the worker until the master goes away; returns the exit status. */
int worker_main(const struct worker_args *a);

#endif
