#!/usr/bin/env bash
# Ignores SIGTERM, starts a child that ignores it too, writes both pids to the file named
# by $1, and sleeps: only SIGKILL to the whole process group ends it.
trap '' TERM
sleep 300 &
echo "$$ $!" > "$1.tmp" && mv "$1.tmp" "$1"
echo "::progress 0/1 sleeping"
wait
