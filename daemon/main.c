/* main.c — xmppd command line: `xmppd -c FILE` runs the server in the
 * foreground, `xmppd -d -c FILE` in the background (exiting 0 once it
 * serves, 1 if it could not start), `xmppd -t -c FILE` checks a
 * configuration and exits 0 or 1. */
#include "daemon/master.h"
#include "lib/log.h"
#include "lib/xs.h"
#include "router/router.h"
#include "workers/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: xmppd [-t] [-d] [-p PIDFILE] -c FILE\n"
	           "  -c FILE     configuration file (YAML)\n"
	           "  -d          run in the background (daemon); exit 0 once serving\n"
	           "  -p PIDFILE  write the master's pid there (overrides 'pidfile')\n"
	           "  -t          check the configuration and exit (0: valid, 1: not)\n"
	           "  -h          this help\n");
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

/* Detaches from the terminal: fork, setsid, fork; the first process waits
 * for the daemon's readiness byte and exits with its verdict.  Returns the
 * write end of that pipe in the daemon (-1 on failure). */
static int daemonize(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) == -1) {
		perror("xmppd: pipe");
		return -1;
	}
	pid_t pid = fork();
	if (pid == -1) {
		perror("xmppd: fork");
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		char c = '0';
		ssize_t n;
		do
			n = read(p[0], &c, 1);
		while (n == -1 && errno == EINTR);
		if (n != 1 || c != '1') {
			fprintf(stderr, "xmppd: the server did not start (see its log)\n");
			_exit(1);
		}
		_exit(0);
	}
	close(p[0]);
	if (setsid() == -1)
		_exit(1);
	pid = fork();
	if (pid == -1)
		_exit(1);
	if (pid > 0)
		_exit(0); /* the daemon is no session leader: no terminal comes back */
	umask(027);
	int null = open("/dev/null", O_RDWR);
	if (null == -1)
		_exit(1);
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	dup2(null, STDERR_FILENO);
	if (null > STDERR_FILENO)
		close(null);
	return p[1];
}

int main(int argc, char **argv)
{
	const char *path = NULL, *pidfile = NULL;
	bool check = false, background = false;
	int opt;
	while ((opt = getopt(argc, argv, "c:dp:th")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			background = true;
			break;
		case 'p':
			pidfile = optarg;
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
	/* Module options too: every module is opened and checks its own. */
	if (plugins_check(&cfg) != XS_OK) {
		fprintf(stderr, "xmppd: %s: configuration not valid\n", path);
		cfg_free(&cfg);
		return 1;
	}
	if (check) {
		printf("xmppd: %s: configuration OK\n", path);
		cfg_free(&cfg);
		return 0;
	}
	if (pidfile) {
		free(cfg.pidfile);
		cfg.pidfile = strdup(pidfile);
	}
	log_set_level(cfg.loglevel);
	enum log_target target = cfg.log_target;
	if (background && target == LOG_TO_STDERR) {
		fprintf(stderr, "xmppd: running in the background with log: stderr; logging to "
		                "syslog instead\n");
		target = LOG_TO_SYSLOG;
	}
	if (log_open(target, cfg.log_file) != XS_OK) {
		fprintf(stderr, "xmppd: log file %s: %s\n", cfg.log_file, strerror(errno));
		cfg_free(&cfg);
		return 1;
	}
	int ready = -1;
	if (background && (ready = daemonize()) == -1) {
		cfg_free(&cfg);
		return 1;
	}
	int rc = master_run(&cfg, ready);
	cfg_free(&cfg);
	return rc;
}
