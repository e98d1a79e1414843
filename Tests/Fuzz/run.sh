#!/usr/bin/env bash
# Coverage-guided fuzzing of the decoders that read untrusted bytes (issue 17): AMQP frames and
# commands, field tables, the link in both directions, store records, definitions documents. Targets:
# Sources/BrokerFuzz/FuzzTargets.swift.
#
#   Tests/Fuzz/run.sh replay              every corpus input and crash reproducer, once, through
#                                         the ordinary debug build (a regression test)
#   Tests/Fuzz/run.sh fuzz SECONDS [T…]   libFuzzer (-sanitize=fuzzer, in .build-fuzz) for SECONDS
#                                         per target; inputs that find new coverage are added to
#                                         Tests/Fuzz/corpus/T, crashes written to Tests/Fuzz/crashes/T
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGETS=(frames field-table link store definitions)
mode=${1:-replay}
case "$mode" in
    replay)
        swift build --product broker-fuzz
        for target in "${TARGETS[@]}"; do
            mkdir -p "Tests/Fuzz/crashes/$target"
            find "Tests/Fuzz/corpus/$target" "Tests/Fuzz/crashes/$target" -type f -print0 \
                | xargs -0 --no-run-if-empty .build/debug/broker-fuzz "$target"
        done
        ;;
    fuzz)
        seconds=${2:?usage: $0 fuzz SECONDS [TARGET…]}
        shift 2
        [ $# -gt 0 ] && TARGETS=("$@")
        # -Xswiftc reaches the dashboard's build-plugin tool too, whose link then fails with
        # libFuzzer's main ("link command failed", a gold internal error): harmless, the tool is
        # not part of broker-fuzz and the build goes on.
        swift build -c release --scratch-path .build-fuzz --product broker-fuzz \
            -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
        for target in "${TARGETS[@]}"; do
            mkdir -p "Tests/Fuzz/crashes/$target"
            echo "-- $target: $seconds s"
            BROKER_FUZZ_TARGET=$target .build-fuzz/release/broker-fuzz -max_total_time="$seconds" -max_len=8192 \
                -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="Tests/Fuzz/crashes/$target/" \
                "Tests/Fuzz/corpus/$target" 2>&1 | grep -E "^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+ +DONE)|ERROR|SUMMARY|Test unit written" || true
            # A crash leaves a reproducer and fails the run.
            if [ -n "$(ls -A "Tests/Fuzz/crashes/$target")" ]; then
                echo "fuzzing $target found a crash: Tests/Fuzz/crashes/$target" >&2
                exit 1
            fi
        done
        ;;
    *) echo "usage: $0 replay | fuzz SECONDS [TARGET…]" >&2; exit 2 ;;
esac
