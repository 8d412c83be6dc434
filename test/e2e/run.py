#!/usr/bin/python3
"""xmppd end-to-end tests.

    XMPPD_BUILD=build /usr/bin/python3 test/e2e/run.py [NAME-SUBSTRING ...]

Each test starts its own xmppd (free port, temporary directory), drives it with
slixmpp or raw sockets, and stops it.  One PASS/FAIL line per test, then
"e2e: N passed, M failed"; the exit status is non-zero if any test failed.
The temporary directory (config, data, run, xmppd.log) of a failed test is kept.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import test_ctl  # noqa: E402,F401
import test_login  # noqa: E402,F401
import test_services  # noqa: E402,F401
import test_routing  # noqa: E402,F401
import test_chat  # noqa: E402,F401
import test_raw  # noqa: E402,F401
import test_conflict  # noqa: E402,F401
import test_limits  # noqa: E402,F401
import test_tls_load  # noqa: E402,F401
import test_tls  # noqa: E402,F401
import test_crash  # noqa: E402,F401
import test_lifecycle  # noqa: E402,F401
import test_config  # noqa: E402,F401

if __name__ == '__main__':
    sys.exit(harness.main(sys.argv[1:]))
