/* xmppctl.c — the operator's command line to a running xmppd, through the
 * master's control socket (path from the config):
 *   xmppctl -c FILE register USER HOST PASSWORD | unregister USER HOST |
 *                   users HOST | sessions
 * Exit status 0 on success; otherwise 1 with a one-line reason on stderr. */
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
	fprintf(f, "usage: xmppctl -c FILE COMMAND [ARGS]\n"
	           "commands:\n"
	           "  register USER HOST PASSWORD   create an account\n"
	           "  unregister USER HOST          delete an account (its sessions end)\n"
	           "  users HOST                    list the accounts of a host\n"
	           "  sessions                      list the sessions (JID, worker, connection,\n"
	           "                                priority, presence, since)\n");
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

int main(int argc, char **argv)
{
	const char *path = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "+c:h")) != -1) {
		if (opt == 'c') {
			path = optarg;
		} else if (opt == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 1;
		}
	}
	if (path == NULL || optind >= argc) {
		usage(stderr);
		return 1;
	}
	struct cfg cfg;
	if (cfg_load(path, &cfg, print_error, NULL) != XS_OK) {
		fprintf(stderr, "xmppctl: %s: configuration not valid\n", path);
		return 1;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cfg.control_socket);
	cfg_free(&cfg);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		fprintf(stderr, "xmppctl: cannot reach xmppd at %s: %s\n", sa.sun_path, strerror(errno));
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
	bool first = true;
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
					fprintf(stderr, "xmppctl: %s\n", strncmp(reply, "error: ", 7) == 0
					                                 ? reply + 7 : reply);
			} else {
				printf("%s\n", reply);
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
		fprintf(stderr, "xmppctl: no answer from xmppd\n");
	return status;
}
