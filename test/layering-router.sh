#!/bin/sh
# layering-router.sh — the files of a directory (router/ by default) call
# each other without a cycle: from the objects' symbol tables (nm), file A
# depends on file B when A uses a function or variable B defines; the
# graph must sort topologically (tsort).  A file's own symbols and those of
# other directories (lib/, shm/) do not count.
#     test/layering-router.sh [BUILD_DIR] [DIR]
set -eu
build=${1:-build}
dir=${2:-router}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for o in "$build/$dir"/*.o; do
	[ -e "$o" ] || { echo "layering: no objects in $build/$dir (build first)"; exit 1; }
	f=$(basename "$o" .o)
	nm "$o" | awk -v f="$f" '
		NF == 3 && $2 ~ /^[TDBRC]$/ { print "D", $3, f }
		NF == 2 && $1 == "U"        { print "U", $2, f }'
	n=$((n + 1))
done > "$tmp/syms"
awk '$1 == "D" { def[$2] = $3 }
     $1 == "U" { use[NR] = $3 " " $2 }
     END { for (i in use) { split(use[i], p, " ");
                           if ((p[2] in def) && def[p[2]] != p[1]) print p[1], def[p[2]] } }' \
	"$tmp/syms" | sort -u > "$tmp/edges"
if ! tsort "$tmp/edges" > /dev/null 2> "$tmp/err"; then
	echo "layering: the files of $dir/ call each other in a circle:"
	cat "$tmp/err"
	echo "dependencies (file -> file it calls):"
	sed 's/^/  /' "$tmp/edges"
	exit 1
fi
echo "layering: $dir/: $n files, $(wc -l < "$tmp/edges") dependencies, no cycle"
