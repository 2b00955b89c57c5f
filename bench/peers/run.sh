#!/usr/bin/env bash
# Builds the peers bench in release and runs it: one Markdown table on stdout,
# progress on stderr. See README.md.
#
#   bench/peers/run.sh                      # call, cast, 8 callers, start, stop, idle bytes
#   bench/peers/run.sh --scale              # the same, then many-servers and million-server
#   bench/peers/run.sh --iters 10000 --reps 3 --contestants tokio,gensrv
#   bench/peers/run.sh --help               # every option
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --quiet
exec cargo run --release --quiet -- "$@"
