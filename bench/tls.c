/* tls.c — client-side TLS after STARTTLS (RFC 6120 §5), over GnuTLS in
 * non-blocking mode on the connection's own socket. */
#include "bench/tls.h"
#include "bench/bench.h"

#include <string.h>

/* A record holds at most 16 KiB of plaintext; bigger sends only make the
 * repeat-after-EAGAIN rule harder to keep. */
#define TLS_SEND_MAX 16384

static gnutls_certificate_credentials_t cred;
static char last_error[128];

static void note(const char *what, int rc)
{
	snprintf(last_error, sizeof(last_error), "%s: %s", what, gnutls_strerror(rc));
}

const char *tls_last_error(void)
{
	return last_error[0] ? last_error : "TLS error";
}

int tls_global_init(void)
{
	int rc = gnutls_certificate_allocate_credentials(&cred);
	if (rc < 0) {
		bench_say("gnutls_certificate_allocate_credentials: %s", gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

int tls_begin(struct client *c)
{
	int rc = gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
	if (rc < 0) {
		note("gnutls_init", rc);
		c->tls = NULL;
		return -1;
	}
	if ((rc = gnutls_set_default_priority(c->tls)) < 0 ||
	    (rc = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, cred)) < 0 ||
	    (rc = gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, opt.host, strlen(opt.host))) < 0) {
		note("TLS session setup", rc);
		tls_end(c);
		return -1;
	}
	gnutls_transport_set_int(c->tls, c->fd);
	c->tls_again = 0;
	return 0;
}

int tls_handshake(struct client *c)
{
	int rc = gnutls_handshake(c->tls);
	if (rc == GNUTLS_E_SUCCESS)
		return TLS_DONE;
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(rc))
		return TLS_AGAIN;
	note("TLS handshake", rc);
	return TLS_ERROR;
}

bool tls_wants_write(const struct client *c)
{
	return c->tls && gnutls_record_get_direction(c->tls) == 1;
}

ssize_t tls_recv(struct client *c, char *p, size_t cap)
{
	ssize_t rc = gnutls_record_recv(c->tls, p, cap);
	if (rc >= 0)
		return rc;
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
		return TLS_AGAIN;
	if (rc == GNUTLS_E_PREMATURE_TERMINATION)
		return 0; /* closed without close_notify: an end of stream to us */
	if (!gnutls_error_is_fatal((int)rc))
		return TLS_AGAIN; /* e.g. a TLS 1.3 ticket or key update */
	note("TLS receive", (int)rc);
	return TLS_ERROR;
}

ssize_t tls_send(struct client *c, const char *p, size_t n)
{
	/* After GNUTLS_E_AGAIN the same call must be repeated: same length,
	 * even if more bytes were queued meanwhile. */
	if (c->tls_again)
		n = c->tls_again;
	else if (n > TLS_SEND_MAX)
		n = TLS_SEND_MAX;
	ssize_t rc = gnutls_record_send(c->tls, p, n);
	if (rc >= 0) {
		c->tls_again = 0;
		return rc;
	}
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
		c->tls_again = (uint32_t)n;
		return TLS_AGAIN;
	}
	note("TLS send", (int)rc);
	return TLS_ERROR;
}

size_t tls_pending(const struct client *c)
{
	return c->tls ? gnutls_record_check_pending(c->tls) : 0;
}

void tls_end(struct client *c)
{
	if (c->tls)
		gnutls_deinit(c->tls);
	c->tls = NULL;
	c->tls_again = 0;
}
