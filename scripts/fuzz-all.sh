#!/usr/bin/env bash
# Runs every cargo-fuzz target of the repository, one at a time, for N seconds each (default 300),
# and prints a table: fuzz dir, target, seconds, executions, executions per second, final corpus
# (inputs/bytes), result. Each target's -max_len is set by max_len_of below.
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

# Longest input per target, sized to the input type: a little over the parser's own bound where
# it has one (so the bound itself is exercised), else a few times the largest seed.
max_len_of() {
    case "$1" in
        hcid | addr_spec | alias | ehbox | peppol) echo 1024 ;;  # addressing::MAX_INPUT_LEN = 512
        checkpoint | seal | journal_entry) echo 4096 ;;
        import_* | identity_sdjwt | envelope | verify_lote | config) echo 16384 ;;
        identity_mdoc | journal_export) echo 65536 ;;
        *) echo 1048576 ;;  # trusted-list XML and snapshots: real lists are hundreds of KiB
    esac
}

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
            -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
            -max_len="$(max_len_of "$target")") \
            >"$log" 2>&1
        rc=$?
        took=$(($(date +%s) - start))
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
        corpus=$(grep -o 'corp: [0-9]*/[0-9a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2)
        if [ "$rc" -eq 0 ]; then
            result="ok"
        else
            result="FAILED (exit $rc, see $log)"
            status=1
        fi
        rows+=("$(printf '%-12s %-16s %6s %12s %8s %12s  %s' "$crate" "$target" "$took" "${execs:-?}" \
            "$((${execs:-0} / (took > 0 ? took : 1)))" "${corpus:-?}" "$result")")
    done
done

printf '%-12s %-16s %6s %12s %8s %12s  %s\n' "fuzz dir" "target" "secs" "execs" "exec/s" "corpus" "result"
printf '%s\n' "${rows[@]}"
exit "$status"
