/* tls.c — GnuTLS server sessions for the worker. */
#include "workers/tls.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <errno.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct tls_conn {
	gnutls_session_t s;
	/* What ended a read that had already returned bytes (0: end of stream,
	 * or an errno), given on the next read: HELD_NONE when nothing is held. */
	int held_end;
};

#define HELD_NONE (-1)

/* Records without application data (a TLS 1.3 KeyUpdate, a warning alert)
 * one read takes before it hands the connection back to the loop: a peer
 * that sends nothing else cannot keep the worker to itself. */
#define QUIET_RECORDS_MAX 64

static struct {
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	gnutls_datum_t ticket_key;
	uint8_t ticket_buf[TLS_TICKET_KEY_LEN];
	bool ready;
} T;

/* The key of a combined PEM is in the same file; otherwise in FILE.key. */
static const char *key_file_for(const char *cert, char *buf, size_t cap)
{
	FILE *f = fopen(cert, "r");
	if (f == NULL)
		return cert;
	char line[256];
	bool has_key = false;
	while (!has_key && fgets(line, sizeof(line), f))
		has_key = strstr(line, "PRIVATE KEY-----") != NULL;
	fclose(f);
	if (has_key)
		return cert;
	snprintf(buf, cap, "%s.key", cert);
	return buf;
}

/* Each certificate of a PEM chain file: the first one is the server's. */
static int check_validity(const char *path, char *err, size_t errlen)
{
	gnutls_datum_t data;
	if (gnutls_load_file(path, &data) < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return XS_ERROR;
	}
	gnutls_x509_crt_t *list = NULL;
	unsigned n = 0;
	int rc = gnutls_x509_crt_list_import2(&list, &n, &data, GNUTLS_X509_FMT_PEM, 0);
	gnutls_free(data.data);
	if (rc < 0 || n == 0) {
		snprintf(err, errlen, "%s: no certificate: %s", path, rc < 0 ? gnutls_strerror(rc) : "empty");
		return XS_ERROR;
	}
	time_t now = time(NULL);
	int result = XS_OK;
	time_t until = gnutls_x509_crt_get_expiration_time(list[0]);
	time_t from = gnutls_x509_crt_get_activation_time(list[0]);
	if (until != (time_t)-1 && until < now) {
		char when[32];
		strftime(when, sizeof(when), "%Y-%m-%d", gmtime(&until));
		snprintf(err, errlen, "%s: certificate expired on %s", path, when);
		result = XS_ERROR;
	} else if (from != (time_t)-1 && from > now) {
		snprintf(err, errlen, "%s: certificate not valid yet", path);
		result = XS_ERROR;
	}
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(list[i]);
	gnutls_free(list);
	return result;
}

static int load_certs(const struct cfg *cfg, gnutls_certificate_credentials_t cred, char *err,
                      size_t errlen)
{
	for (size_t i = 0; i < cfg->ncertfiles; i++) {
		const char *cert = cfg->certfiles[i];
		char kbuf[4096];
		const char *key = key_file_for(cert, kbuf, sizeof(kbuf));
		if (access(cert, R_OK) == -1) {
			snprintf(err, errlen, "certfiles: %s: %s", cert, strerror(errno));
			return XS_ERROR;
		}
		if (access(key, R_OK) == -1) {
			snprintf(err, errlen, "certfiles: %s: no private key in it, and %s: %s", cert, key,
			         strerror(errno));
			return XS_ERROR;
		}
		if (check_validity(cert, err, errlen) != XS_OK)
			return XS_ERROR;
		int rc = gnutls_certificate_set_x509_key_file2(cred, cert, key, GNUTLS_X509_FMT_PEM,
		                                               NULL, 0);
		if (rc < 0) {
			snprintf(err, errlen, "certfiles: %s: %s", cert,
			         rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH
			         ? "the private key does not match the certificate" : gnutls_strerror(rc));
			return XS_ERROR;
		}
	}
	return XS_OK;
}

/* Whether a loaded certificate names the host (a warning when none does). */
static bool host_covered(const struct cfg *cfg, const char *host)
{
	for (size_t i = 0; i < cfg->ncertfiles; i++) {
		gnutls_datum_t data;
		if (gnutls_load_file(cfg->certfiles[i], &data) < 0)
			continue;
		gnutls_x509_crt_t crt;
		bool ok = false;
		if (gnutls_x509_crt_init(&crt) == 0) {
			if (gnutls_x509_crt_import(crt, &data, GNUTLS_X509_FMT_PEM) == 0)
				ok = gnutls_x509_crt_check_hostname2(crt, host, 0) != 0;
			gnutls_x509_crt_deinit(crt);
		}
		gnutls_free(data.data);
		if (ok)
			return true;
	}
	return false;
}

int tls_check_config(const struct cfg *cfg, char *err, size_t errlen)
{
	gnutls_certificate_credentials_t cred;
	if (gnutls_certificate_allocate_credentials(&cred) < 0) {
		snprintf(err, errlen, "cannot allocate TLS credentials");
		return XS_ERROR;
	}
	int rc = load_certs(cfg, cred, err, errlen);
	gnutls_certificate_free_credentials(cred);
	if (rc != XS_OK)
		return rc;
	gnutls_priority_t prio;
	const char *where = NULL;
	int prc = gnutls_priority_init(&prio, cfg->tls_priority, &where);
	if (prc < 0) {
		snprintf(err, errlen, "tls_priority: %s at '%.40s'", gnutls_strerror(prc),
		         where ? where : "");
		return XS_ERROR;
	}
	gnutls_priority_deinit(prio);
	bool tls_wanted = false;
	for (size_t i = 0; i < cfg->nlisten; i++)
		tls_wanted = tls_wanted || cfg->listen[i].tls ||
		             cfg->listen[i].starttls == CFG_STARTTLS_REQUIRED;
	if (tls_wanted && cfg->ncertfiles == 0) {
		snprintf(err, errlen, "a listener requires TLS (tls: true or starttls: required) "
		                      "but certfiles names no certificate");
		return XS_ERROR;
	}
	for (size_t h = 0; h < cfg->nhosts && cfg->ncertfiles > 0; h++)
		if (!host_covered(cfg, cfg->hosts[h]))
			log_warn("no certificate in certfiles names host %s: clients will refuse it",
			         cfg->hosts[h]);
	return XS_OK;
}

int tls_init(const struct cfg *cfg, const uint8_t ticket_key[TLS_TICKET_KEY_LEN])
{
	memcpy(T.ticket_buf, ticket_key, TLS_TICKET_KEY_LEN);
	T.ticket_key.data = T.ticket_buf;
	T.ticket_key.size = TLS_TICKET_KEY_LEN;
	if (cfg->ncertfiles == 0)
		return XS_OK; /* TLS not configured: plain listeners only */
	char err[512];
	if (gnutls_certificate_allocate_credentials(&T.cred) < 0)
		return XS_ERROR;
	if (load_certs(cfg, T.cred, err, sizeof(err)) != XS_OK) {
		log_error("%s", err);
		return XS_ERROR;
	}
	if (gnutls_priority_init(&T.prio, cfg->tls_priority, NULL) < 0) {
		log_error("tls_priority '%s' refused by GnuTLS", cfg->tls_priority);
		return XS_ERROR;
	}
	T.ready = true;
	return XS_OK;
}

/* Credentials and priorities replaced by a reload: sessions made with them
 * still use them, so they live until the process ends. */
static struct old_creds {
	struct old_creds *next;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
} *retired;

int tls_reload(const struct cfg *cfg)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_priority_t prio = NULL;
	char err[512];
	if (cfg->ncertfiles > 0) {
		if (gnutls_certificate_allocate_credentials(&cred) < 0)
			return XS_ERROR;
		if (load_certs(cfg, cred, err, sizeof(err)) != XS_OK) {
			log_error("reload: %s; TLS keeps the old certificates", err);
			gnutls_certificate_free_credentials(cred);
			return XS_ERROR;
		}
		if (gnutls_priority_init(&prio, cfg->tls_priority, NULL) < 0) {
			log_error("reload: tls_priority '%s' refused by GnuTLS", cfg->tls_priority);
			gnutls_certificate_free_credentials(cred);
			return XS_ERROR;
		}
	}
	if (T.cred || T.prio) {
		struct old_creds *o = malloc(sizeof(*o));
		if (o == NULL) {
			if (cred)
				gnutls_certificate_free_credentials(cred);
			if (prio)
				gnutls_priority_deinit(prio);
			return XS_ERROR;
		}
		*o = (struct old_creds){ .next = retired, .cred = T.cred, .prio = T.prio };
		retired = o;
	}
	T.cred = cred;
	T.prio = prio;
	T.ready = cred != NULL && T.ticket_key.data != NULL;
	return XS_OK;
}

void tls_done(void)
{
	if (T.cred)
		gnutls_certificate_free_credentials(T.cred);
	if (T.prio)
		gnutls_priority_deinit(T.prio);
	while (retired) {
		struct old_creds *o = retired;
		retired = o->next;
		if (o->cred)
			gnutls_certificate_free_credentials(o->cred);
		if (o->prio)
			gnutls_priority_deinit(o->prio);
		free(o);
	}
	explicit_bzero(T.ticket_buf, sizeof(T.ticket_buf));
	memset(&T, 0, sizeof(T));
}

bool tls_available(void)
{
	return T.ready;
}

static struct tls_conn *tls_conn_new(int fd)
{
	if (!T.ready)
		return NULL;
	struct tls_conn *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->held_end = HELD_NONE;
	int rc = gnutls_init(&t->s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (rc == 0)
		rc = gnutls_priority_set(t->s, T.prio);
	if (rc == 0)
		rc = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, T.cred);
	if (rc == 0)
		rc = gnutls_session_ticket_enable_server(t->s, &T.ticket_key);
	if (rc != 0) {
		log_error("TLS session: %s", gnutls_strerror(rc));
		if (t->s)
			gnutls_deinit(t->s);
		free(t);
		return NULL;
	}
	gnutls_certificate_server_set_request(t->s, GNUTLS_CERT_IGNORE);
	gnutls_transport_set_int(t->s, fd);
	gnutls_handshake_set_timeout(t->s, 0); /* the worker's own timers bound it */
	return t;
}

static void tls_conn_free(void *state)
{
	struct tls_conn *t = state;
	if (t == NULL)
		return;
	gnutls_deinit(t->s);
	free(t);
}

static void tls_bye(void *state, int fd)
{
	(void)fd;
	struct tls_conn *t = state;
	(void)gnutls_bye(t->s, GNUTLS_SHUT_WR); /* non-blocking: one try */
}

static int tls_handshake(void *state, bool *want_write)
{
	struct tls_conn *t = state;
	int rc = gnutls_handshake(t->s);
	if (rc == 0)
		return XS_OK;
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
		*want_write = gnutls_record_get_direction(t->s) == 1;
		return XS_AGAIN;
	}
	if (!gnutls_error_is_fatal(rc)) {
		*want_write = false;
		return XS_AGAIN; /* a warning alert: carry on */
	}
	log_debug("TLS handshake: %s", gnutls_strerror(rc));
	return XS_ERROR;
}

/* Whether the socket still holds something for GnuTLS: bytes, the end of
 * the stream or an error; only EAGAIN says it is empty. */
static bool socket_has_more(int fd)
{
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return !(n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

/* One record's application data.  GnuTLS answers AGAIN after taking a
 * record that carried none (a TLS 1.3 post-handshake message, a KeyUpdate)
 * although the next records may sit in the socket, where edge-triggered
 * epoll will not report them again: it is asked again until its AGAIN
 * comes with an empty socket.  *quiet counts such records against
 * QUIET_RECORDS_MAX; past it, -1 with EINTR: more waits, ask on the next
 * round (transport.h). */
static ssize_t read_record(struct tls_conn *t, int fd, void *buf, size_t len, int *quiet)
{
	for (;;) {
		ssize_t n = gnutls_record_recv(t->s, buf, len);
		if (n >= 0)
			return n;
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			if (gnutls_record_check_pending(t->s) == 0 && !socket_has_more(fd)) {
				errno = EAGAIN;
				return -1;
			}
		} else if (n == GNUTLS_E_PREMATURE_TERMINATION) {
			return 0;
		} else if (n != GNUTLS_E_REHANDSHAKE && gnutls_error_is_fatal((int)n)) {
			log_debug("TLS read: %s", gnutls_strerror((int)n));
			errno = EPROTO;
			return -1;
		} /* else: renegotiation is not offered; warnings are ignored */
		if (++*quiet >= QUIET_RECORDS_MAX) {
			errno = EINTR;
			return -1;
		}
	}
}

/* Reads records until the buffer is full or the socket is empty, so a
 * short read means what it means for plain TCP.  What stops it after some
 * bytes (the end of the stream, an error, EINTR when QUIET_RECORDS_MAX ran
 * out) is held for the next call, and counted by tls_pending meanwhile, so
 * the worker asks again. */
static ssize_t tls_read(void *state, int fd, void *buf, size_t len)
{
	struct tls_conn *t = state;
	if (t->held_end != HELD_NONE) {
		int end = t->held_end;
		t->held_end = HELD_NONE;
		if (end == 0)
			return 0;
		errno = end;
		return -1;
	}
	size_t got = 0;
	int quiet = 0;
	while (got < len) {
		ssize_t n = read_record(t, fd, (char *)buf + got, len - got, &quiet);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (got == 0)
			return n;
		if (n == 0 || errno != EAGAIN)
			t->held_end = n == 0 ? 0 : errno;
		break;
	}
	return (ssize_t)got;
}

static ssize_t tls_write(void *state, int fd, const void *buf, size_t len)
{
	(void)fd;
	struct tls_conn *t = state;
	ssize_t n = gnutls_record_send(t->s, buf, len);
	if (n >= 0)
		return n;
	if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
		errno = EAGAIN;
		return -1;
	}
	log_debug("TLS write: %s", gnutls_strerror((int)n));
	errno = EPIPE;
	return -1;
}

static size_t tls_pending(void *state)
{
	struct tls_conn *t = state;
	return gnutls_record_check_pending(t->s) + (t->held_end != HELD_NONE);
}

static int tls_channel_binding(void *state, const char *type, uint8_t **out, size_t *len)
{
	struct tls_conn *t = state;
	gnutls_channel_binding_t cb;
	if (strcmp(type, "tls-exporter") == 0)
		cb = GNUTLS_CB_TLS_EXPORTER;
	else if (strcmp(type, "tls-server-end-point") == 0)
		cb = GNUTLS_CB_TLS_SERVER_END_POINT;
	else if (strcmp(type, "tls-unique") == 0 &&
	         gnutls_protocol_get_version(t->s) <= GNUTLS_TLS1_2 &&
	         gnutls_session_ext_master_secret_status(t->s))
		cb = GNUTLS_CB_TLS_UNIQUE;
	else
		return XS_ERROR;
	gnutls_datum_t d;
	if (gnutls_session_channel_binding(t->s, cb, &d) < 0)
		return XS_ERROR;
	*out = malloc(d.size ? d.size : 1);
	if (*out == NULL) {
		gnutls_free(d.data);
		return XS_ERROR;
	}
	memcpy(*out, d.data, d.size);
	*len = d.size;
	gnutls_free(d.data);
	return XS_OK;
}

static const char *tls_describe(void *state, char *buf, size_t cap)
{
	struct tls_conn *t = state;
	const char *v = gnutls_protocol_get_name(gnutls_protocol_get_version(t->s));
	const char *c = gnutls_cipher_get_name(gnutls_cipher_get(t->s));
	snprintf(buf, cap, "%s/%s%s", v ? v : "?", c ? c : "?",
	         gnutls_session_is_resumed(t->s) ? " resumed" : "");
	return buf;
}

static const struct transport_ops transport_tls = {
	.name = "tls",
	.read = tls_read,
	.write = tls_write,
	.pending = tls_pending,
	.handshake = tls_handshake,
	.shutdown = tls_bye,
	.free = tls_conn_free,
	.channel_binding = tls_channel_binding,
	.describe = tls_describe,
};

int tls_transport_start(struct transport *t, int fd)
{
	struct tls_conn *c = tls_conn_new(fd);
	if (c == NULL)
		return XS_ERROR;
	t->ops = &transport_tls;
	t->state = c;
	return XS_OK;
}
