#!/usr/bin/env bash
# Speaks Latin-1, not UTF-8: its progress message, a log line and then its result (or, with
# $1 = fail, its stderr and exit 1) hold the byte 0xE9 ("é" in Latin-1), invalid in UTF-8.
printf '::progress 1/2 caf\xe9\n'
printf 'caf\xe9 on stdout\n'
if [ "${1:-}" = fail ]; then
  printf 'caf\xe9 failed\n' >&2
  exit 1
fi
printf '::result "caf\xe9"\n'
