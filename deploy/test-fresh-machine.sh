#!/usr/bin/env bash
# The "two commands on a fresh machine" test, for real: debootstraps a clean Debian bookworm
# root into a temporary folder and, inside it and in a network namespace of its own (so its
# MariaDB and Redis never meet the host's on 3306 and 6379), runs what make run runs:
# deploy/services.sh (which has to install, start and configure MariaDB and Redis) and then
# the service built by deploy/build.sh. It checks /readyz, runs a job, and checks that a second
# services.sh run changes nothing. Run by make test-fresh, as root; it takes minutes (it
# downloads Debian and about 100 MB of packages), so make test does not run it.
#
# The namespace has no network but its loopback. apt inside it reaches Debian's mirror through
# http_proxy=127.0.0.1:3142, which socat carries over a unix socket to the host's side.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
[ "$(id -u)" = 0 ] || { echo "make test-fresh needs root (debootstrap, chroot, network namespaces)" >&2; exit 1; }

suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mirror_host=${mirror#http://}
mirror_host=${mirror_host%%/*}
missing=()
for tool in debootstrap socat curl; do command -v $tool >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

work=$(mktemp -d /var/tmp/jobs-fresh.XXXXXX)
root=$work/root
ns=jobs-fresh-$$
bridge=
holder=
cleanup() {
  # Everything started in the namespaces (MariaDB, Redis, the service, socat) was started here.
  [ -z "$holder" ] || kill -9 "$holder" 2>/dev/null || true
  if ip netns pids "$ns" >/dev/null 2>&1; then
    for pid in $(ip netns pids "$ns"); do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 50); do [ -z "$(ip netns pids "$ns")" ] && break; sleep 0.2; done
    for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns"
  fi
  [ -z "$bridge" ] || kill "$bridge" 2>/dev/null || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# A pristine debootstrap is kept as a tarball for the next run (debootstrap takes minutes);
# JOBS_FRESH_REBUILD=1 makes a new one.
cache=${JOBS_FRESH_CACHE:-/var/tmp/jobs-fresh-$suite-minbase.tar}
if [ -f "$cache" ] && [ -z "${JOBS_FRESH_REBUILD:-}" ]; then
  step "unpack the untouched $suite root debootstrapped before ($cache)"
  mkdir "$root" && tar -xf "$cache" -C "$root"
else
  step "debootstrap $suite (minbase) into $root"
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
  tar -cf "$cache.tmp" -C "$root" . && mv "$cache.tmp" "$cache"
fi

step "copy the project (tracked files) and the binary of deploy/build.sh"
mkdir -p "$root/srv/jobs"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$root/srv/jobs"
./deploy/build.sh "$root/srv/jobs/bin/jobs"
rm -f "$root/srv/jobs/local.env"

step "network namespace $ns, apt bridge to $mirror_host"
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
socat UNIX-LISTEN:"$work/apt.sock",fork TCP:"$mirror_host":80 &
bridge=$!
ip netns exec "$ns" socat TCP-LISTEN:3142,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:"$work/apt.sock" &

# The fresh machine's processes live in a PID namespace of their own too (start-stop-daemon
# must not mistake the host's mariadbd for its own), held by a sleep that is its init: killing
# it ends them all. Its mount namespace has /proc and /dev mounted in the root.
ip netns exec "$ns" unshare --pid --fork --mount --propagation private bash -c \
  'mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" && exec sleep infinity' "$root" 2>/dev/null &
holder=
for _ in $(seq 1 50); do
  for pid in $(ip netns pids "$ns"); do [ "$(cat /proc/"$pid"/comm)" = sleep ] && holder=$pid; done
  [ -n "$holder" ] && break
  sleep 0.1
done
[ -n "$holder" ] || fail "the namespace's init did not start"

# in_ns runs a command in the namespace, in the host's file system (its curl, say).
in_ns() { ip netns exec "$ns" "$@"; }
# in_root runs a bash command line as root inside the fresh Debian, with a clean environment.
in_root() {
  nsenter -t "$holder" -n -p -m -- chroot "$root" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    http_proxy=http://127.0.0.1:3142 bash -c "$1"
}

step "the fresh root has neither MariaDB nor Redis"
in_root 'command -v mariadbd || command -v redis-server || command -v mariadb' && fail "the fresh root has them already"
in_ns bash -c '! (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null' ||
  fail "something listens on 3306 or 6379 in the new namespace"

step "deploy/services.sh on the fresh machine (make run's set-up)"
in_root 'cd /srv/jobs && ./deploy/services.sh' >"$work/services-1.log" 2>&1 ||
  { rc=$?; tail -30 "$work/services-1.log"; fail "services.sh exited $rc"; }
grep -E '^(installing|starting|root cannot|wrote)' "$work/services-1.log" || true
grep -q 'installing mariadb-server redis-server' "$work/services-1.log" || fail "services.sh did not install both packages"

step "MariaDB refuses root over TCP, so services.sh made the user jobs (local.env)"
in_root 'mariadb --no-defaults --protocol=tcp -h127.0.0.1 -uroot -e "SELECT 1"' >/dev/null 2>&1 &&
  fail "root logs in over TCP without a password: the user branch was not exercised"
[ -f "$root/srv/jobs/local.env" ] || fail "no local.env"
[ "$(stat -c %a "$root/srv/jobs/local.env")" = 600 ] || fail "local.env is readable by others"
in_root 'cd /srv/jobs && . ./local.env && u=${JOBS_MYSQL_DSN%%@*} &&
  MYSQL_PWD=${u#*:} mariadb --no-defaults --protocol=tcp -h127.0.0.1 -ujobs -N -e "SELECT CURRENT_USER()"'

step "the service, started as make run starts it, answers /readyz and runs a job"
in_root 'cd /srv/jobs && [ ! -f local.env ] || { . ./local.env; export JOBS_MYSQL_DSN; }
  exec ./bin/jobs -f etc/jobs.yaml' >"$work/service.log" 2>&1 &
ready=
for _ in $(seq 1 120); do
  if ready=$(in_ns curl -s -m 2 http://127.0.0.1:8888/readyz) && [[ $ready == *'"code":0'* ]]; then break; fi
  ready=
  sleep 0.5
done
[ -n "$ready" ] || { tail -20 "$work/service.log"; fail "/readyz never answered 200"; }
echo "/readyz: $ready"
token=$("$root/srv/jobs/bin/jobs" token -f "$repo/etc/jobs.yaml" -tenant fresh -actor test)
job=$(in_ns curl -s -m 5 -H "Authorization: Bearer $token" -X POST http://127.0.0.1:8888/api/v1/jobs \
  -d '{"functionId": "echo", "params": {"fresh": "machine"}}')
id=$(sed -E 's/.*"id":"([^"]+)".*/\1/' <<<"$job")
result=$(in_ns curl -s -m 15 -H "Authorization: Bearer $token" "http://127.0.0.1:8888/api/v1/jobs/$id/result?wait=10")
echo "result: $result"
[[ $result == *'"status":"completed"'* && $result == *'"fresh":"machine"'* ]] || fail "the echo job did not complete"

step "a second services.sh run finds everything up and changes nothing"
before=$(sha256sum "$root/srv/jobs/local.env")
out=$(in_root 'cd /srv/jobs && ./deploy/services.sh' 2>&1) || fail "second run: $out"
[ -z "$out" ] || fail "second run did something: $out"
[ "$before" = "$(sha256sum "$root/srv/jobs/local.env")" ] || fail "second run rewrote local.env"

step "fresh-machine test passed"
