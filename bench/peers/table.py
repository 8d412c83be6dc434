#!/usr/bin/python3
"""table.py RAW HEADER SERVER... — the comparison table of bench/compare.sh.

RAW has one line per (server, scenario): server, scenario, status, then the
generator's TSV columns named by HEADER (a line "#header<TAB>..." switches
the columns for the lines after it).  For each scenario every figure that
some server filled is shown, with the ratio xmppd / best peer where a
figure has a better direction.
"""
import math
import sys

# column -> (label, direction): +1 higher is better, -1 lower is better,
# 0 shown without a ratio.  Columns not listed are shown as information.
METRICS = [
    ("ok", "sessions ok", 0),
    ("fail", "sessions failed", 0),
    ("logins_per_s", "logins/s", +1),
    ("login_p50_ms", "login p50 ms", -1),
    ("login_p99_ms", "login p99 ms", -1),
    ("rss_per_conn_b", "RSS bytes/session", -1),
    ("pss_per_conn_b", "PSS bytes/session", -1),
    ("rss_base_kb", "RSS KiB before", 0),
    ("pss_base_kb", "PSS KiB before", 0),
    ("rss_kb", "RSS KiB loaded", 0),
    ("pss_kb", "PSS KiB loaded", 0),
    ("delivered", "messages delivered", 0),
    ("delivered_per_s", "delivered/s", +1),
    ("open_sent", "open-loop sent", 0),
    ("open_recv", "open-loop received", 0),
    ("lat_p50_ms", "latency p50 ms", -1),
    ("lat_p99_ms", "latency p99 ms", -1),
    ("lat_p999_ms", "latency p99.9 ms", -1),
    ("srv_us_per_msg", "server CPU µs/msg", -1),
    ("srv_cpu_s", "server CPU s", 0),
    ("gen_cpu_s", "generator CPU s", 0),
    ("elapsed_s", "elapsed s", 0),
]
# the run's parameters, printed in the results file's header instead
SKIP = {"label", "scenario", "server", "users", "conc", "mech", "window",
        "duration_s", "rate", "host", "port"}


def num(v):
    if v is None or v in ("", "-"):
        return None
    try:
        x = float(v)
    except ValueError:
        return None
    return None if math.isnan(x) else x


def fmt(x):
    if x is None:
        return "-"
    a = abs(x)
    if a >= 1000 or x == int(x) and a >= 10:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def main():
    raw, header, servers = sys.argv[1], sys.argv[2], sys.argv[3:]
    cols = header.split("\t") if header else []
    data = {}      # (scenario, server) -> {column: value}
    status = {}    # (scenario, server) -> status
    scenarios = []
    with open(raw) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#header\t"):
                cols = line.split("\t")[1:]
                continue
            parts = line.split("\t")
            if len(parts) < 3:
                continue
            srv, sc, st = parts[0], parts[1], parts[2]
            if sc not in scenarios:
                scenarios.append(sc)
            status[(sc, srv)] = st
            data[(sc, srv)] = dict(zip(cols, parts[3:]))

    # the generator's order (compare.sh runs idle first, on a fresh server)
    canon = ["echo", "login", "idle", "msg", "fanout"]

    def order(sc):
        base, _, size = sc.partition("-")
        rank = canon.index(base) if base in canon else len(canon)
        return (rank, int(size) if size.isdigit() else 0)
    scenarios.sort(key=order)

    # scenarios run once, not per server (echo: the machine's ceiling) get
    # their value in the first server column
    others = sorted({s for (_, s) in status} - set(servers))
    peers = [s for s in servers if s != "xmppd"]
    ours = "xmppd" in servers
    head = ["scenario", "figure"] + servers
    if ours and peers:
        head += ["best peer", "xmppd/best"]
    rows = []
    once = set()
    for sc in scenarios:
        if not any((sc, s) in status for s in servers):
            once.add(sc)
            for o in others:
                if (sc, o) in status:
                    status[(sc, servers[0])] = f"{status[(sc, o)]} ({o})"
                    data[(sc, servers[0])] = data.get((sc, o), {})
                    break
        st_row = [sc, "status"] + [status.get((sc, s), "-") for s in servers]
        if ours and peers:
            st_row += ["", ""]
        rows.append(st_row)
        known = [m[0] for m in METRICS]
        extra = [c for c in cols if c not in known and c not in SKIP]
        for col, label, direction in METRICS + [(c, c, 0) for c in extra]:
            vals = {s: num(data.get((sc, s), {}).get(col)) for s in servers}
            if all(v is None for v in vals.values()):
                continue
            row = ["", label] + [fmt(vals[s]) for s in servers]
            if ours and peers and sc in once:
                row += ["", ""]
            elif ours and peers:
                pv = [(vals[p], p) for p in peers if vals[p] is not None]
                if direction and pv and vals["xmppd"] is not None:
                    best, who = (max(pv) if direction > 0 else min(pv))
                    if best > 0:
                        r = vals["xmppd"] / best
                        good = r >= 1 if direction > 0 else r <= 1
                        row += [who, f"{r:.2f} {'better' if good else 'worse'}"]
                    else:
                        row += [who, "-"]
                else:
                    row += ["", ""]
            rows.append(row)
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]

    def line(r):
        out = []
        for i, c in enumerate(r):
            out.append(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]))
        return "  ".join(out).rstrip()

    print(line(head))
    print("  ".join("-" * w for w in widths))
    prev = None
    for r in rows:
        if r[0] and prev is not None:
            print()
        print(line(r))
        prev = r
    if ours and peers:
        print()
        print("xmppd/best: xmppd's figure divided by the best peer's; 'better' means")
        print("xmppd wins on that figure (higher is better for rates, lower for")
        print("latency, memory and CPU).")


if __name__ == "__main__":
    main()
