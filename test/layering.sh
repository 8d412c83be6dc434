#!/bin/sh
# layering.sh — fails when the files of one folder call each other in a circle.
#
#   test/layering.sh DIR [BUILD]      e.g. test/layering.sh workers build
#
# Reads the objects BUILD/DIR/*.o (BUILD defaults to $B or "build"): a file
# depends on another when it uses (nm: U) a symbol the other defines (T, D,
# B, R, C...).  Calls through a function pointer leave no symbol behind, so
# an interface table (a protocol's or a transport's ops) is how a lower file
# reaches a higher one without a cycle.  Prints every cycle found (one
# strongly connected component per line) and exits 1; exits 0 when the
# dependency graph has none.
set -eu

dir=${1:?usage: layering.sh DIR [BUILD]}
build=${2:-${B:-build}}
objdir=$build/${dir%/}

set -- "$objdir"/*.o
if [ ! -e "$1" ]; then
	echo "layering: no objects in $objdir (build first)" >&2
	exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One line per symbol: "def FILE SYMBOL" or "use FILE SYMBOL".
for o in "$@"; do
	f=$(basename "$o" .o)
	nm "$o" | awk -v f="$f" '
		NF == 2 && $1 == "U" { print "use", f, $2; next }
		NF == 3 && $2 ~ /^[TDBRCGSVWi]$/ { print "def", f, $3 }
	'
done > "$tmp/syms"

# Edges FROM TO (FROM uses what TO defines), without self-edges.
awk '
	$1 == "def" { def[$3] = $2; next }
	$1 == "use" { use[++n] = $2 " " $3 }
	END {
		for (i = 1; i <= n; i++) {
			split(use[i], u, " ")
			if ((u[2] in def) && def[u[2]] != u[1])
				print u[1], def[u[2]]
		}
	}
' "$tmp/syms" | sort -u > "$tmp/edges"

# Strongly connected components (Tarjan): any with two files or more is a
# cycle.
awk '
	{ adj[$1] = adj[$1] " " $2; node[$1]; node[$2] }
	function connect(v,    ws, k, w, c, nw, size) {
		index_of[v] = low[v] = ++counter
		stack[++sp] = v; on[v] = 1
		nw = split(adj[v], ws, " ")
		for (k = 1; k <= nw; k++) {
			w = ws[k]
			if (!(w in index_of)) {
				connect(w)
				if (low[w] < low[v]) low[v] = low[w]
			} else if (on[w] && index_of[w] < low[v]) {
				low[v] = index_of[w]
			}
		}
		if (low[v] == index_of[v]) {
			c = ""; size = 0
			do { w = stack[sp--]; on[w] = 0; c = c " " w; size++ } while (w != v)
			if (size > 1) { print "cycle:" c; found = 1 }
		}
	}
	END {
		for (v in node) if (!(v in index_of)) connect(v)
		exit found ? 1 : 0
	}
' "$tmp/edges" > "$tmp/cycles" || {
	echo "layering: $dir: files that call each other in a circle:" >&2
	cat "$tmp/cycles" >&2
	echo "edges (file -> file it uses):" >&2
	sed 's/^/  /' "$tmp/edges" >&2
	exit 1
}
echo "layering: $dir: $(wc -l < "$tmp/edges") dependencies between $# files, no cycle"
