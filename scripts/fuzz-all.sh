#!/usr/bin/env bash
# Runs every cargo-fuzz target of the repository, one at a time, for N seconds each (default 300),
# and prints a table: fuzz dir, target, seconds, executions, result.
#
#   scripts/fuzz-all.sh [SECONDS] [TARGET...]      # no TARGET: every target of every fuzz dir
#
# cargo-fuzz needs a nightly compiler; on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks the
# nightly flags it passes (the sanitizer runtimes ship with std for x86_64 Linux). Set
# FUZZ_SANITIZER=none to build without AddressSanitizer. New inputs go to a scratch corpus under
# target/fuzz-work/<target> (the checked-in seeds in <fuzz dir>/corpus/<target> are read only);
# keep a minimised subset with `cargo fuzz cmin`. A crash leaves its input in
# <fuzz dir>/artifacts/<target>/: fix it, then check the input in under
# <fuzz dir>/corpus/<target>/regressions/ so the replay tests (`cargo test`) keep it fixed.
set -uo pipefail

secs="${1:-300}"
shift || true
only=("$@")
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${FUZZ_WORK:-$root/target/fuzz-work}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz || exit 2
mkdir -p "$work"

rows=()
status=0
for crate in trust-lists bridge; do
    dir="$root/$crate"
    [ -d "$dir/fuzz" ] || continue
    built=no
    for target in $(cd "$dir" && cargo fuzz list); do
        if [ "${#only[@]}" -gt 0 ] && [[ ! " ${only[*]} " =~ " $target " ]]; then
            continue
        fi
        if [ "$built" = no ]; then
            # Build once per fuzz dir, so the seconds column measures fuzzing, not compiling.
            (cd "$dir" && nice -n 19 cargo fuzz build -s "$sanitizer") || { status=2; break; }
            built=yes
        fi
        mkdir -p "$work/$target"
        log="$work/$target.log"
        start=$(date +%s)
        (cd "$dir" && nice -n 19 cargo fuzz run -s "$sanitizer" "$target" \
            "$work/$target" "fuzz/corpus/$target" -- \
            -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048) \
            >"$log" 2>&1
        rc=$?
        took=$(($(date +%s) - start))
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
        if [ "$rc" -eq 0 ]; then
            result="ok"
        else
            result="FAILED (exit $rc, see $log)"
            status=1
        fi
        rows+=("$(printf '%-12s %-16s %6s %12s  %s' "$crate" "$target" "$took" "${execs:-?}" "$result")")
    done
done

printf '%-12s %-16s %6s %12s  %s\n' "fuzz dir" "target" "secs" "execs" "result"
printf '%s\n' "${rows[@]}"
exit "$status"
