#!/usr/bin/env bash
# Starts the local MariaDB and Redis that the service and its tests use, if they are not
# already answering. Safe to run again: a running service is left alone.
set -euo pipefail

mysql_up() { mariadb-admin --protocol=tcp -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! mysql_up; then
  echo "starting MariaDB on 127.0.0.1:3306"
  start-stop-daemon --start --oknodo --background --exec "$(command -v mariadbd)"
fi
if ! redis_up; then
  echo "starting Redis on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
fi
for _ in $(seq 1 60); do
  mysql_up && redis_up && exit 0
  sleep 0.5
done
mysql_up || echo "MariaDB is not answering on 127.0.0.1:3306 (user root, empty password)" >&2
redis_up || echo "Redis is not answering on 127.0.0.1:6379" >&2
exit 1
