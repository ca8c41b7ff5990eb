#!/usr/bin/env bash
# Instructions per message of the classifier (masking and diagnosis included), counted by
# valgrind: unlike a timing, the count does not drift with the machine's load, so two builds can
# be compared one after the other. Loading (file, pack, secret rules) is measured apart and taken
# off.
#
#   cargo build --release --example profile_classify
#   bash benches/instructions.sh [STREAM.jsonl] [MESSAGES] [BINARY ...]
#
# STREAM defaults to target/bench-streams/helpdesk.jsonl (made by `cargo bench --bench
# classify`), MESSAGES to 20000 (its first lines), BINARY to the example just built; give two
# binaries (an old build copied aside, then the new one) to compare them on the same lines.
set -euo pipefail
stream=${1:-target/bench-streams/helpdesk.jsonl}
n=${2:-20000}
shift $(( $# < 2 ? $# : 2 ))
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(target/release/examples/profile_classify)
command -v valgrind > /dev/null || { echo "instructions.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
[ -f "$stream" ] || { echo "instructions.sh: no $stream; run cargo bench --bench classify, or give a stream" >&2; exit 1; }
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
head -n "$n" "$stream" > "$lines"
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
for bin in "${bins[@]}"; do
  loading=$(count "$bin" "$lines" 0)
  total=$(count "$bin" "$lines" 1)
  echo "$bin: $(( (total - loading) / n )) instructions/message over $n messages of $stream"
done
