#!/usr/bin/env bash
# Coverage-guided fuzzing of waymark's parsers (cargo-fuzz + libFuzzer, AddressSanitizer); the
# targets and their invariants are in fuzz/ (see fuzz/README.md).
#
#   scripts/fuzz.sh short              build every target and run each for a few seconds (CI)
#   scripts/fuzz.sh long SECS [T...]   run each target (or the ones named) for SECS seconds
#   scripts/fuzz.sh build | seeds      only build the targets | only lay out the seed corpora
#
# cargo-fuzz is installed once under ~/.cache/waymark/cargo-fuzz. It needs nightly compiler
# features: a nightly toolchain is used where rustup has one, else the stable compiler with
# RUSTC_BOOTSTRAP=1. Seed corpora are built at run time from fixtures/ and ../shared/corpus
# into ~/.cache/waymark/fuzz/seeds (never committed); what the fuzzer finds accumulates in
# ~/.cache/waymark/fuzz/corpus, and a crashing input lands in fuzz/artifacts/<target>/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${WAYMARK_CACHE:-$HOME/.cache/waymark}
shared=${WAYMARK_SHARED:-$root/../shared}
cargo_fuzz=$cache/cargo-fuzz/bin/cargo-fuzz
work=$cache/fuzz

# Per-input bounds: a 1 KiB record (4 KiB document) must not need more than this memory
# (AddressSanitizer's quarantine is capped so that the RSS figure means the program's own use)
# or time; libFuzzer reports the input that exceeds them as a crash.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16:detect_leaks=1}
limits=(-rss_limit_mb=512 -malloc_limit_mb=128 -timeout=10)

targets() {
    sed -n 's/^name = "\(.*\)"$/\1/p' "$root/fuzz/Cargo.toml" | grep -v '^waymark-fuzz$'
}

max_len() {
    case $1 in
        record) echo 1024 ;;
        *) echo 4096 ;;
    esac
}

install() {
    [ -x "$cargo_fuzz" ] || cargo install cargo-fuzz --locked --root "$cache/cargo-fuzz"
    if rustup run nightly rustc --version >/dev/null 2>&1; then
        export RUSTUP_TOOLCHAIN=nightly
    else
        export RUSTC_BOOTSTRAP=1
    fi
}

# The instrumented build lives beside the main one, or in the cache (CI's fresh clones then
# rebuild only waymark-core and the targets, not every dependency).
target_dir() {
    echo "${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/fuzz}" | grep . || echo "$work/target"
}

fuzz() {
    (cd "$root" && "$cargo_fuzz" fuzz "$1" --debug-assertions --target-dir "$(target_dir)" "${@:2}")
}

# One seed file per input, named by its content so that repeats collapse.
seed() { # dir, file, and a header to put before the file's first 64 KiB (printf format)
    local tmp sum
    tmp=$(mktemp)
    { printf "${3:-}"; head -c "$((64 * 1024))" "$2"; } >"$tmp"
    sum=$(sha1sum "$tmp" | cut -c1-16)
    mv "$tmp" "$1/$sum"
}

documents() {
    find "$root/fixtures" -type f ! -name '*.expected.json' ! -name '*.md'
    if [ -d "$shared/corpus" ]; then
        find "$shared/corpus" -type f -size -2M ! -name 'LICENSE*' ! -name '*.md' ! -name CITATION
    fi
}

seeds() {
    rm -rf "$work/seeds"
    local t
    for t in $(targets); do mkdir -p "$work/seeds/$t" "$work/corpus/$t"; done
    local doc
    while IFS= read -r doc; do
        for t in $(targets); do
            case $t in
                audit_*) seed "$work/seeds/$t" "$doc" ;;
                scan) seed "$work/seeds/scan" "$doc" '\0' ;;
                # Header: line limit, head kept, read-size seed (2 bytes), restart cut.
                lines)
                    seed "$work/seeds/lines" "$doc" '\004\377\001\000\200'
                    seed "$work/seeds/lines" "$doc" '\240\010\007\000\100'
                    ;;
                lineage) case $doc in *.json) seed "$work/seeds/lineage" "$doc" ;; esac ;;
            esac
        done
    done < <(documents)
    # Records: the seed systems' formats as the simulator writes them (when the binary is
    # built), in runs of a few lines, under a few headers (configuration, sources, Kafka).
    local bin=${WAYMARK_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/waymark}
    local sim=$work/simulated.log
    if [ -x "$bin" ] && "$bin" simulate -o "$sim" --flows 40 --seed 7 --noise 0.1 2>/dev/null; then
        # The JSON records one by one for the scanner (the first hundred), each text record
        # with its system's pattern for the fast matcher.
        local n=0 line
        while IFS= read -r line && [ $n -lt 100 ]; do
            printf '%s' "$line" >"$work/one"
            case $line in
                '{'*) seed "$work/seeds/json_flat" "$work/one" ;;
                *' CMF: '*) seed "$work/seeds/pattern" "$work/one" '(?P<timestamp>\\S+) CMF: (?P<checkpoint_id>\\S+) - (?P<status>\\w+) \\(ID: (?P<correlation_id>[^)]+)\\)$\0' ;;
                *' BCIS: '*) seed "$work/seeds/pattern" "$work/one" '(?P<timestamp>\\S+) BCIS: (?P<checkpoint_id>\\S+) - (?P<status>\\w+) \\(ID: (?P<correlation_id>[^)]+)\\)(?: - (?P<failure_reason>.*))?$\0' ;;
            esac
            n=$((n + 1))
        done <"$sim"
        rm -f "$work/one"
        split -l 12 "$sim" "$work/sim-part-"
        local part header
        for part in "$work"/sim-part-*; do
            for header in '\0' '\003' '\036' '\377'; do
                seed "$work/seeds/record" "$part" "$header"
            done
        done
        rm -f "$work"/sim-part-* "$sim"
    else
        echo "fuzz: no waymark binary at $bin; record seeds from the documents only" >&2
    fi
    for doc in "$shared/formats.md" "$shared/seeds/004_7f70848ac1eec3ef.txt"; do
        if [ -f "$doc" ]; then seed "$work/seeds/record" "$doc" '\0'; fi
    done
    # OpenLineage RunEvents as clients post them (START, COMPLETE with statistics, FAIL with
    # an error facet, ABORT of a child run), and framer inputs with CRLF and long lines.
    local ev=$work/event.json kind
    for kind in START COMPLETE FAIL ABORT RUNNING; do
        printf '{"eventType":"%s","eventTime":"2025-05-04T10:30:00.5Z","run":{"runId":"0190-ab-%s","facets":{"errorMessage":{"message":"relation \\"orders\\" does not exist","programmingLanguage":"SQL"},"parent":{"run":{"runId":"p-1"},"job":{"namespace":"airflow","name":"dag.task"}}}},"job":{"namespace":"dbt","name":"shop.orders","facets":{"jobType":{"integration":"DBT","jobType":"JOB","processingType":"BATCH"}}},"inputs":[{"namespace":"duckdb","name":"raw.orders","inputFacets":{"inputStatistics":{"rowCount":120}}}],"outputs":[{"namespace":"duckdb","name":"main.orders","outputFacets":{"outputStatistics":{"rowCount":118}}}],"producer":"https://github.com/OpenLineage/OpenLineage","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"}\n' "$kind" "$kind" >"$ev"
        seed "$work/seeds/lineage" "$ev"
    done
    printf 'a\r\nbb\n\r\n\nccc\r\n%s\nlast' "$(head -c 300 /dev/zero | tr '\0' x)" >"$ev"
    seed "$work/seeds/lines" "$ev" '\020\003\011\000\177'
    seed "$work/seeds/lines" "$ev" '\007\377\012\000\377'
    rm -f "$ev"
    local toml
    for toml in "$root"/crates/waymark-core/src/config/*.toml; do
        seed "$work/seeds/config" "$toml"
    done
    printf '[ingest]\nmax_line_bytes = 100\n\n[[system]]\nname = "x"\nformat = "regex"\nmatch = { regex = "^X" }\npattern = %s\n' \
        "'^X (?P<timestamp>\\S+) (?P<checkpoint_id>\\S+) (?P<status>\\w+) (?P<correlation_id>\\S+)$'" \
        >"$work/user.toml"
    seed "$work/seeds/config" "$work/user.toml"
    for t in $(targets); do
        echo "fuzz: $t: $(find "$work/seeds/$t" -type f | wc -l) seeds" >&2
    done
}

build() {
    fuzz build
}

run() { # corpus folder, seconds, targets...: every target runs; the status says whether all passed
    local corpus=$1 secs=$2 t failed=()
    shift 2
    for t in "$@"; do
        echo "fuzz: $t for ${secs}s" >&2
        mkdir -p "$root/fuzz/artifacts/$t"
        local status=0
        mkdir -p "$corpus/$t"
        # The binary `build` made, run as `cargo fuzz run` would (without its rebuild check,
        # a second or two per target).
        "$(target_dir)/$(rustc -vV | sed -n 's/^host: //p')/release/$t" \
            "$corpus/$t" "$work/seeds/$t" "${limits[@]}" \
            -max_len="$(max_len "$t")" -max_total_time="$secs" -print_final_stats=1 \
            -artifact_prefix="$root/fuzz/artifacts/$t/" >"$work/$t.log" 2>&1 || status=$?
        grep -E '^stat::number_of_executed_units|^Done|^SUMMARY|panicked at' "$work/$t.log" >&2 || true
        if [ "$status" -ne 0 ]; then
            echo "fuzz: $t failed (exit $status); the log is $work/$t.log" >&2
            grep -v '^ *[0-9]*: \|^ *at ' "$work/$t.log" | tail -25 >&2
            failed+=("$t")
        fi
    done
    if [ ${#failed[@]} -gt 0 ]; then
        echo "fuzz: failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
        return 1
    fi
}

cmd=${1:-short}
install
mkdir -p "$work"
case $cmd in
    build) build ;;
    seeds) seeds ;;
    short)
        started=$SECONDS
        build
        seeds
        built=$SECONDS
        mapfile -t all < <(targets)
        # From the seeds alone, so that the time does not grow with what long runs found.
        rm -rf "$work/short-corpus"
        run "$work/short-corpus" "${WAYMARK_FUZZ_SECS:-3}" "${all[@]}"
        echo "fuzz: ${#all[@]} targets run in $((SECONDS - built)) s (build and seeds $((built - started)) s)" >&2
        ;;
    long)
        build
        seeds
        secs=${2:?seconds per target}
        shift 2
        if [ $# -eq 0 ]; then mapfile -t all < <(targets); else all=("$@"); fi
        run "$work/corpus" "$secs" "${all[@]}"
        ;;
    *)
        echo "usage: $0 short | long SECS [TARGET...] | build | seeds" >&2
        exit 2
        ;;
esac
