#!/usr/bin/python3
"""xmppd end-to-end tests.

    XMPPD_BUILD=build /usr/bin/python3 test/e2e/run.py [NAME-SUBSTRING ...]

Each test starts its own xmppd (free port, temporary directory), drives it with
slixmpp, aioxmpp or raw sockets, and stops it.  One PASS/FAIL line per test, then
"e2e: N passed, M failed"; the exit status is non-zero if any test failed.
The temporary directory (config, data, run, xmppd.log) of a failed test is kept.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

# Every test_*.py next to this file registers its tests on import.
for _name in sorted(os.listdir(os.path.dirname(os.path.abspath(__file__)))):
    if _name.startswith('test_') and _name.endswith('.py'):
        __import__(_name[:-3])

if __name__ == '__main__':
    sys.exit(harness.main(sys.argv[1:]))
