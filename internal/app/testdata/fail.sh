#!/usr/bin/env bash
# Writes 30 lines to stderr and exits 3: the job's error carries the last of them.
echo "about to fail"
for i in $(seq 1 30); do
  echo "err line $i" >&2
done
exit 3
