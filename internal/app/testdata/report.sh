#!/usr/bin/env bash
# A command function speaking the line protocol: it logs each argument on its own line
# (so tests see exactly what arrived), a line on stderr, two progress lines, and a result
# built from its environment and stdin.
set -euo pipefail
stdin=$(cat)
for arg in "$@"; do
  echo "arg: $arg"
done
echo "warming up" >&2
echo "::progress 1/2 half way"
echo "::progress 2/2 all done"
printf '::result {"argc":%d,"jobId":"%s","attempt":%s,"params":%s,"stdin":%s,"pwd":"%s","secret":"%s"}\n' \
  "$#" "$JOB_ID" "$JOB_ATTEMPT" "$JOB_PARAMS" "$stdin" "$(basename "$PWD")" "${SECRET:-}"
