/* xmppctl.c — the operator's command line to a running xmppd, through the
 * master's control socket (path from the config, or -s):
 *   xmppctl [--json] (-c FILE | -s SOCKET) COMMAND [ARGS]
 * Exit status 0 on success; otherwise 1 with a one-line reason on stderr
 * (with --json, also {"ok":false,"error":"..."} on stdout).  With --json the
 * data of a command is one JSON document on stdout ({"ok":true} when it has
 * none). */
#include "lib/cfg.h"
#include "lib/xs.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: xmppctl [--json] (-c FILE | -s SOCKET) COMMAND [ARGS]\n"
	           "  -c FILE    the server's configuration (for its control socket)\n"
	           "  -s SOCKET  the control socket itself\n"
	           "  --json     machine-readable output (one JSON document)\n"
	           "commands:\n"
	           "  register USER HOST PASSWORD   create an account\n"
	           "  unregister USER HOST          delete an account (its data goes, its\n"
	           "                                sessions end)\n"
	           "  passwd USER HOST PASSWORD     set a new password\n"
	           "  users HOST                    list the accounts of a host\n"
	           "  sessions                      list the sessions (JID, worker, connection,\n"
	           "                                priority, presence, since)\n"
	           "  routes                        list the domain table (domain, kind, module\n"
	           "                                or worker and connection)\n"
	           "  kick JID                      end a session (full JID) or all of an\n"
	           "                                account's (bare JID)\n"
	           "  loglevel LEVEL                error, warning, info or debug, in every process\n"
	           "  reload                        re-read the configuration (as SIGHUP)\n"
	           "  status                        is it running, uptime, workers, sessions\n"
	           "  stats                         router and per-worker counters\n"
	           "  trace JID on|off              log every stage of a user's stanzas\n");
}

static void print_error(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "%s\n", line);
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return XS_ERROR;
		}
		p += n;
		len -= (size_t)n;
	}
	return XS_OK;
}

static bool json;

/* The reason of a failure, on stderr (and as JSON on stdout with --json). */
static void fail(const char *reason)
{
	fprintf(stderr, "xmppctl: %s\n", reason);
	if (!json)
		return;
	fputs("{\"ok\":false,\"error\":\"", stdout);
	for (const char *p = reason; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			printf("\\u%04x", (unsigned char)*p);
		else
			putchar(*p);
	}
	fputs("\"}\n", stdout);
}

int main(int argc, char **argv)
{
	const char *path = NULL, *sock = NULL;
	static const struct option longopts[] = { { "json", no_argument, NULL, 'j' },
		                                      { "help", no_argument, NULL, 'h' },
		                                      { NULL, 0, NULL, 0 } };
	int opt;
	while ((opt = getopt_long(argc, argv, "+c:s:hj", longopts, NULL)) != -1) {
		if (opt == 'c') {
			path = optarg;
		} else if (opt == 's') {
			sock = optarg;
		} else if (opt == 'j') {
			json = true;
		} else if (opt == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 1;
		}
	}
	if ((path == NULL && sock == NULL) || optind >= argc) {
		usage(stderr);
		return 1;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (sock) {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	} else {
		struct cfg cfg;
		if (cfg_load(path, &cfg, print_error, NULL) != XS_OK) {
			char msg[600];
			snprintf(msg, sizeof(msg), "%s: configuration not valid%s", path,
			         strcmp(argv[optind], "reload") == 0 ? "; nothing was reloaded" : "");
			fail(msg);
			return 1;
		}
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cfg.control_socket);
		cfg_free(&cfg);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		char msg[300];
		snprintf(msg, sizeof(msg), "cannot reach xmppd at %s: %s", sa.sun_path, strerror(errno));
		fail(msg);
		return 1;
	}
	if (json && send_all(fd, "--json", 7) != XS_OK) {
		fail("cannot write to the control socket");
		return 1;
	}
	/* Arguments travel NUL-separated so that any byte but NUL is allowed. */
	for (int i = optind; i < argc; i++) {
		if (send_all(fd, argv[i], strlen(argv[i]) + 1) != XS_OK) {
			fprintf(stderr, "xmppctl: write: %s\n", strerror(errno));
			return 1;
		}
	}
	shutdown(fd, SHUT_WR);
	char reply[65536];
	size_t len = 0;
	int status = 1;
	bool first = true, data = false;
	for (;;) {
		ssize_t n = read(fd, reply + len, sizeof(reply) - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		reply[len] = '\0';
		char *nl;
		while ((nl = strchr(reply, '\n')) != NULL) {
			*nl = '\0';
			if (first) {
				first = false;
				if (strcmp(reply, "ok") == 0)
					status = 0;
				else
					fail(strncmp(reply, "error: ", 7) == 0 ? reply + 7 : reply);
			} else {
				printf("%s\n", reply);
				data = true;
			}
			size_t used = (size_t)(nl - reply) + 1;
			memmove(reply, nl + 1, len - used + 1);
			len -= used;
		}
		if (len == sizeof(reply) - 1)
			len = 0; /* a line longer than the buffer: drop it */
	}
	close(fd);
	if (first)
		fail("no answer from xmppd");
	else if (json && status == 0 && !data)
		puts("{\"ok\":true}");
	return status;
}
