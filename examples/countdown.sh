#!/usr/bin/env bash
# An example command function (etc/jobs.yaml, function "countdown"; README, "Command
# functions"). Arguments come from the job's params through argv templates:
#
#   countdown.sh NAME STEPS
#
# It counts STEPS seconds down, reporting progress on stdout with the line protocol,
# writes ordinary lines (they become log events), and prints its result as one JSON line.
# The job also arrives as JOB_ID / JOB_PARAMS in the environment and as JSON on stdin.
set -euo pipefail

name=$1
steps=$2
if ! [[ $steps =~ ^[0-9]+$ ]] || ((steps > 600)); then
  echo "steps must be a whole number from 0 to 600, not '$steps'" >&2
  exit 2
fi

echo "job $JOB_ID (attempt $JOB_ATTEMPT) counting down $steps for $name"
for ((i = 1; i <= steps; i++)); do
  sleep 1
  echo "::progress $i/$steps $((steps - i)) to go"
done

# JSON-escape the name for the result line.
escaped=${name//\\/\\\\}
escaped=${escaped//\"/\\\"}
echo "::result {\"greeting\": \"hello $escaped\", \"steps\": $steps}"
