#!/bin/sh
# run_fuzzers.sh: runs every libFuzzer harness of tests/fuzz for a short,
# fixed time on a copy of its seed corpus, under AddressSanitizer and
# UndefinedBehaviorSanitizer, and fails on any crash, leak, UB report,
# timeout or out-of-memory. Builds nothing: the harnesses come from
# `./configure --enable-fuzzers CC=clang && make` (docs/FUZZING.md).
#
# Environment:
#   FUZZ_BIN_DIR       where the fuzz_* binaries are
#                      (default: $abs_top_builddir/tests/fuzz, else ./tests/fuzz)
#   FUZZ_SECONDS       seconds per harness (default 20)
#   FUZZ_HARNESSES     which harnesses (default: all eight)
#   FUZZ_ARTIFACT_DIR  where crashing inputs are kept
#                      (default: $FUZZ_BIN_DIR/artifacts)
#   FUZZ_KEEP_CORPUS   a directory: the grown corpora are copied there
#
# An automake test: exits 77 (SKIP) with the reason when the harnesses are
# not built. Prints per harness the executions and the coverage, then
# "N passed, N failed".
set -u

here=$(cd "$(dirname "$0")" && pwd)
corpus_root=$here/corpus
bin_dir=${FUZZ_BIN_DIR:-${abs_top_builddir:-.}/tests/fuzz}
seconds=${FUZZ_SECONDS:-20}
harnesses=${FUZZ_HARNESSES:-fuzz_query fuzz_jwt fuzz_json fuzz_bodies fuzz_filename fuzz_config fuzz_fcgi fuzz_jwks}
artifact_dir=${FUZZ_ARTIFACT_DIR:-$bin_dir/artifacts}

missing=
for h in $harnesses; do
	[ -x "$bin_dir/$h" ] || missing="$missing $h"
done
if [ -n "$missing" ]; then
	echo "run_fuzzers: SKIP: not built in $bin_dir:$missing" \
	     "(configure with --enable-fuzzers CC=clang; see docs/FUZZING.md)"
	exit 77
fi
case $seconds in
'' | *[!0-9]*)
	echo "run_fuzzers: FUZZ_SECONDS must be a whole number of seconds" >&2
	exit 99
	;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/run_fuzzers.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# Leaks count as failures; UBSan reports stop the run (the library may be
# built with recoverable checks); sanitizer reports carry stack traces.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1:allocator_may_return_null=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS UBSAN_OPTIONS

passed=0
failed=0
for h in $harnesses; do
	dir=$work/$h
	mkdir -p "$dir/corpus" "$dir/artifacts"
	if [ -d "$corpus_root/$h" ]; then
		cp "$corpus_root/$h"/* "$dir/corpus/" 2>/dev/null
	fi
	seeds=$(find "$dir/corpus" -type f | wc -l)
	"$bin_dir/$h" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
		-print_final_stats=1 -error_exitcode=1 -timeout_exitcode=1 \
		-artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$dir/log" | tail -n 1)
	size=$(find "$dir/corpus" -type f | wc -l)
	artifacts=$(ls "$dir/artifacts")
	summary="executions=${execs:-?} exec/s=${rate:-?} ${cov:-cov: ?} corpus=$seeds->$size"
	if [ "$rc" -eq 0 ] && [ -z "$artifacts" ]; then
		passed=$((passed + 1))
		echo "PASS $h: $summary"
	else
		failed=$((failed + 1))
		echo "FAIL $h (exit $rc): $summary"
		mkdir -p "$artifact_dir"
		for a in $artifacts; do
			cp "$dir/artifacts/$a" "$artifact_dir/$h-$a"
			echo "  input kept: $artifact_dir/$h-$a"
			echo "  reproduce:  $bin_dir/$h $artifact_dir/$h-$a"
		done
		# The report: the harness's own message, the sanitizer's or libFuzzer's.
		grep -n -E '^fuzz_[a-z]+: |ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|^SUMMARY:|^    #[0-9] ' \
			"$dir/log" | head -n 30 | sed 's/^/  | /'
	fi
	if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then
		mkdir -p "$FUZZ_KEEP_CORPUS/$h" && cp "$dir/corpus"/* "$FUZZ_KEEP_CORPUS/$h/" 2>/dev/null
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
