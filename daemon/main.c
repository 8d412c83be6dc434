/* main.c — xmppd command line: `xmppd -c FILE` runs the server in the
 * foreground, `xmppd -t -c FILE` checks a configuration and exits 0 or 1. */
#include "daemon/master.h"
#include "lib/log.h"
#include "lib/xs.h"
#include "workers/tls.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: xmppd [-t] -c FILE\n"
	           "  -c FILE  configuration file (YAML)\n"
	           "  -t       check the configuration and exit (0: valid, 1: not)\n"
	           "  -h       this help\n");
}

static void print_error(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "%s\n", line);
}

/* Descriptors 0-2 must exist before anything else is opened: a database
 * file that became fd 2 would be corrupted by the first stray message. */
static int sane_stdio(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1)
			continue;
		int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
		if (n == -1)
			return XS_ERROR;
		if (n != fd) {
			dup2(n, fd);
			close(n);
		}
	}
	return XS_OK;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	bool check = false;
	int opt;
	while ((opt = getopt(argc, argv, "c:th")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 1;
	}
	if (sane_stdio() != XS_OK)
		return 1;
	log_set_role("master");
	struct cfg cfg;
	if (cfg_load(path, &cfg, print_error, NULL) != XS_OK) {
		fprintf(stderr, "xmppd: %s: configuration not valid\n", path);
		return 1;
	}
	/* Certificates are part of the configuration: a missing, unreadable,
	 * expired or mismatched one stops the start, with its name. */
	char err[1024];
	if (tls_check_config(&cfg, err, sizeof(err)) != XS_OK) {
		fprintf(stderr, "%s: %s\n", path, err);
		fprintf(stderr, "xmppd: %s: configuration not valid\n", path);
		cfg_free(&cfg);
		return 1;
	}
	if (check) {
		printf("xmppd: %s: configuration OK\n", path);
		cfg_free(&cfg);
		return 0;
	}
	log_set_level(cfg.loglevel);
	int rc = master_run(&cfg);
	cfg_free(&cfg);
	return rc;
}
