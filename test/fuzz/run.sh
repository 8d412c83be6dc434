#!/bin/sh
# run.sh BUILD_DIR SECONDS|replay NAME... — the fuzzing runs of fuzz.mk.
#
# libFuzzer writes a line per new input; each run's output goes to
# BUILD_DIR/NAME.log and one summary line per harness is printed, with the
# end of the log when a harness fails.  A run works on a copy of its corpus
# (the repository keeps only seeds and regression inputs, not the thousands
# of files a run adds).  `replay` runs each corpus file once, without
# fuzzing.  The exit status is 1 when any harness failed.
set -u
b=$1
secs=$2
shift 2

# fuzz_stz's seeds are encodings the builder itself made: the stanzas of
# fuzz_xmlstream's corpus, regenerated each time so they follow the layout.
seed_stz() {
	rm -rf "$b/seeds/fuzz_stz"
	mkdir -p "$b/seeds/fuzz_stz"
	XMPPD_FUZZ_STZ_OUT="$b/seeds/fuzz_stz" "$b/fuzz_xmlstream" \
		test/fuzz/corpus/fuzz_xmlstream/* >"$b/seeds.log" 2>&1
}

# One line from libFuzzer's final statistics and its last status line.
summary() {
	awk -v name="$1" -v verdict="$2" '
		/^stat::number_of_executed_units:/ { execs = $2 }
		/^stat::average_exec_per_sec:/ { rate = $2 }
		/ cov: / { for (i = 1; i < NF; i++) {
			if ($i == "cov:") cov = $(i + 1)
			if ($i == "ft:") ft = $(i + 1)
			if ($i == "corp:") corp = $(i + 1) } }
		END { printf "%-15s %-6s %10s execs (%s/s)  cov %s  ft %s  corpus %s  crashes %d\n",
			name, verdict, execs, rate, cov, ft, corp, verdict == "ok" ? 0 : 1 }
	' "$3"
}

failed=0
for h in "$@"; do
	[ "$h" = fuzz_stz ] && { [ "$secs" = replay ] || seed_stz || echo "fuzz_stz: no generated seeds (see $b/seeds.log)"; }
	log=$b/$h.log
	dict=
	[ -f "test/fuzz/$h.dict" ] && dict=-dict=test/fuzz/$h.dict
	if [ "$secs" = replay ]; then
		"$b/$h" test/fuzz/corpus/"$h"/* >"$log" 2>&1
		rc=$?
		n=$(ls test/fuzz/corpus/"$h" | wc -l)
		if [ $rc -eq 0 ]; then
			printf '%-15s ok     %d corpus files\n' "$h" "$n"
		else
			printf '%-15s FAILED\n' "$h"
		fi
	else
		corpus=$b/corpus/$h
		rm -rf "$corpus"
		mkdir -p "$corpus"
		cp test/fuzz/corpus/"$h"/* "$corpus"/
		[ -d "$b/seeds/$h" ] && cp "$b/seeds/$h"/* "$corpus"/ 2>/dev/null
		# shellcheck disable=SC2086 # $dict is one word or none
		"$b/$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 -artifact_prefix="$b/$h-" $dict "$corpus" >"$log" 2>&1
		rc=$?
		if [ $rc -eq 0 ]; then
			summary "$h" ok "$log"
		else
			summary "$h" FAILED "$log"
		fi
	fi
	if [ $rc -ne 0 ]; then
		failed=1
		echo "---- last lines of $log"
		tail -n 40 "$log"
		echo "----"
	fi
done
exit $failed
