/* tls.h — STARTTLS for the generator's clients (GnuTLS, non-blocking).
 *
 * The server's certificate is not verified: this is a load generator
 * talking to a server under test, often with a self-signed certificate,
 * and never a client anyone should trust. */
#ifndef XMPPD_BENCH_TLS_H
#define XMPPD_BENCH_TLS_H

#include "bench/client.h"

#include <stddef.h>
#include <sys/types.h>

enum { TLS_DONE = 0, TLS_ERROR = -1, TLS_AGAIN = -2 };

/* Once per process, before the first tls_begin().  0 or -1. */
int tls_global_init(void);
/* Starts a client session on c->fd; 0 or -1. */
int tls_begin(struct client *c);
/* TLS_DONE, TLS_AGAIN (wait for the socket) or TLS_ERROR. */
int tls_handshake(struct client *c);
/* Whether the handshake waits to write (else to read). */
bool tls_wants_write(const struct client *c);
/* Bytes (> 0), 0 at the peer's end of stream, TLS_AGAIN or TLS_ERROR. */
ssize_t tls_recv(struct client *c, char *p, size_t cap);
ssize_t tls_send(struct client *c, const char *p, size_t n);
/* Decrypted bytes GnuTLS holds that epoll cannot see. */
size_t tls_pending(const struct client *c);
void tls_end(struct client *c);
const char *tls_last_error(void);

#endif
