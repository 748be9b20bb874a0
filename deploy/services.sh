#!/usr/bin/env bash
# Makes sure the MariaDB and Redis that `make run` and `make test` use answer on 127.0.0.1:3306
# and 127.0.0.1:6379, MariaDB to a real query over TCP with the credentials the service uses.
#
# - Both answer: nothing to do.
# - As root with apt-get (Debian, Ubuntu): installs what is missing (mariadb-server,
#   redis-server), starts what is stopped and, where root cannot log in over TCP without a
#   password (a fresh mariadb-server lets root in over the unix socket only), creates the
#   MariaDB user "jobs" with a generated password, written to local.env (git-ignored), which
#   make run and make test read.
# - Otherwise (not root, or no apt-get): stops at once and prints the commands to run.
# A MariaDB or Redis that already answers is never stopped, restarted or reconfigured.
#
# Environment: JOBS_LOCAL_ENV (the credentials file; default local.env in the repository),
# JOBS_SERVICES_WAIT (seconds a started server has to answer; default 30) and
# JOBS_SERVICES_INIT (systemd or other; default: systemd if it is running).
set -euo pipefail

root_dir=$(cd "$(dirname "$0")/.." && pwd)
local_env=${JOBS_LOCAL_ENV:-$root_dir/local.env}
wait_seconds=${JOBS_SERVICES_WAIT:-30}
init=${JOBS_SERVICES_INIT:-$([ -d /run/systemd/system ] && echo systemd || echo other)}
service_user=jobs

have() { command -v "$1" >/dev/null 2>&1; }
sql_client() { command -v mariadb || command -v mysql || true; }
mariadbd_path() { command -v mariadbd || command -v mysqld || true; }

# The credentials the service uses: the user this script created (local.env), else root
# without a password (what the shipped etc/jobs.yaml and the tests assume).
db_user=root db_password=
if [ -f "$local_env" ]; then
  # shellcheck source=/dev/null
  . "$local_env"
  credentials=${JOBS_MYSQL_DSN%%@*}
  db_user=${credentials%%:*} db_password=${credentials#*:}
fi

# check_mysql sets mysql to ok, denied (the server answers but refuses the credentials) or
# down. A real query, not mariadb-admin ping, which exits 0 on "Access denied".
check_mysql() {
  local client
  client=$(sql_client)
  if [ -z "$client" ]; then mysql=down mysql_error="no MariaDB client (mariadb) installed"; return; fi
  if mysql_error=$(MYSQL_PWD=$db_password timeout 10 "$client" --no-defaults --protocol=tcp -h127.0.0.1 \
    -P3306 -u"$db_user" --connect-timeout=3 -N -e 'SELECT 1' 2>&1); then
    mysql=ok
  elif [[ $mysql_error == *"Access denied"* ]]; then
    mysql=denied
  else
    mysql=down
  fi
}

# check_redis sets redis to ok, noauth (it answers but wants a password) or down.
check_redis() {
  local out=
  if have redis-cli; then out=$(timeout 10 redis-cli -h 127.0.0.1 -p 6379 ping 2>&1 || true); fi
  case $out in
    PONG) redis=ok ;;
    *NOAUTH* | *WRONGPASS* | *"Authentication required"*) redis=noauth ;;
    *) redis=down ;;
  esac
}

check_mysql
check_redis
if [ "$mysql" = ok ] && [ "$redis" = ok ]; then exit 0; fi

if [ "$redis" = noauth ]; then
  echo "Redis on 127.0.0.1:6379 wants a password: set Redis.Password (or JOBS_REDIS_PASSWORD) for" \
    "the service, and TEST_REDIS_ADDR to a Redis without one for the tests" >&2
  exit 1
fi

# What has to happen: packages to install, servers to start, a MariaDB user to create.
packages=()
if [ "$mysql" = down ]; then
  if [ -z "$(mariadbd_path)" ]; then packages+=(mariadb-server)
  elif [ -z "$(sql_client)" ]; then packages+=(mariadb-client)
  fi
fi
if [ "$redis" = down ]; then
  if ! have redis-server; then packages+=(redis-server)
  elif ! have redis-cli; then packages+=(redis-tools)
  fi
fi

new_password() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

user_sql() {
  local pw=$1 sql= host
  for host in localhost 127.0.0.1; do
    sql+="CREATE USER IF NOT EXISTS '$service_user'@'$host' IDENTIFIED BY '$pw'; "
    sql+="ALTER USER '$service_user'@'$host' IDENTIFIED BY '$pw'; "
    sql+="GRANT ALL PRIVILEGES ON \`jobs%\`.* TO '$service_user'@'$host'; "
  done
  printf '%s' "$sql"
}

# write_local_env records the service's MariaDB user for make run (JOBS_MYSQL_DSN, read by the
# service's config) and make test (TEST_MYSQL_DSN), readable by whoever ran sudo only.
write_local_env() {
  local pw=$1
  (
    umask 077
    cat >"$local_env" <<EOF
# Written by deploy/services.sh: root cannot log in to the local MariaDB over TCP without a
# password, so the service uses the MariaDB user $service_user. make run and make test read this file.
JOBS_MYSQL_DSN='$service_user:$pw@tcp(127.0.0.1:3306)/jobs'
TEST_MYSQL_DSN='$service_user:$pw@tcp(127.0.0.1:3306)/'
EOF
  )
  if [ -n "${SUDO_UID:-}" ]; then chown "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$local_env"; fi
  db_user=$service_user db_password=$pw
}

start_mariadb_cmds() {
  if [ "$init" = systemd ]; then echo "systemctl start mariadb"; return; fi
  # Debian's package makes the system user mysql, which its systemd unit runs mariadbd as
  # (its config does not say so: started by hand, mariadbd must be told). Its socket and pid
  # file go in /run/mysqld, a tmpfs.
  local as_mysql=
  if id mysql >/dev/null 2>&1; then
    echo "install -d -o mysql -g mysql /run/mysqld"
    as_mysql=" -- --user=mysql"
  fi
  echo "start-stop-daemon --start --oknodo --background --exec $(mariadbd_path)$as_mysql"
}
start_redis_cmd() {
  if [ "$init" = systemd ]; then echo "systemctl start redis-server"; return; fi
  echo "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"
}

# advise prints the commands that set up what is missing, then exits: this script does not
# do it itself when not root or without apt-get.
advise() {
  local sudo= step
  [ "$(id -u)" = 0 ] || sudo="sudo "
  echo "MariaDB ($mysql) or Redis ($redis) is not ready on 127.0.0.1:3306 / 127.0.0.1:6379." >&2
  if [ -n "$sudo" ] && have apt-get; then
    echo "This script sets everything up when run as root:" >&2
    echo "  sudo ./deploy/services.sh" >&2
    echo "or by hand:" >&2
  else
    echo "Run:" >&2
  fi
  if [ ${#packages[@]} -gt 0 ]; then
    if have apt-get; then
      echo "  ${sudo}apt-get update && ${sudo}apt-get install -y ${packages[*]}" >&2
    elif have brew; then
      echo "  brew install mariadb redis && brew services start mariadb && brew services start redis" >&2
    elif have dnf; then
      echo "  ${sudo}dnf install -y mariadb-server redis && ${sudo}systemctl start mariadb redis" >&2
    else
      echo "  (install MariaDB and Redis with this system's package manager, then start both)" >&2
    fi
  fi
  if [ "$mysql" = down ] && [ -n "$(mariadbd_path)" ]; then
    while read -r step; do echo "  $sudo$step" >&2; done < <(start_mariadb_cmds)
  fi
  if [ "$redis" = down ] && have redis-server; then echo "  $(start_redis_cmd)" >&2; fi
  if [ "$mysql" = denied ]; then
    local pw=$db_password
    if [ "$db_user" = root ]; then pw=$(new_password); write_local_env "$pw"; fi
    echo "  ${sudo}mariadb -e \"$(user_sql "$pw")\"" >&2
    echo "(the MariaDB user $service_user, whose password is in $local_env: make run and make test use it;" >&2
    echo " MariaDB said: $mysql_error)" >&2
  fi
  echo "then run make run again." >&2
  exit 1
}

if [ "$(id -u)" != 0 ]; then advise; fi
if [ ${#packages[@]} -gt 0 ]; then
  if ! have apt-get; then advise; fi
  echo "installing ${packages[*]} from Debian's packages"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
  # The packages' scripts may have started the servers (they do under systemd).
  check_mysql
  check_redis
fi

if [ "$mysql" = down ]; then
  echo "starting MariaDB on 127.0.0.1:3306"
  while read -r step; do eval "$step"; done < <(start_mariadb_cmds)
fi
if [ "$redis" = down ]; then
  echo "starting Redis on 127.0.0.1:6379"
  eval "$(start_redis_cmd)" >/dev/null
fi

deadline=$((SECONDS + wait_seconds))
while :; do
  check_mysql
  check_redis
  if [ "$mysql" != down ] && [ "$redis" != down ]; then break; fi
  if [ $SECONDS -ge $deadline ]; then break; fi
  sleep 0.5
done

if [ "$mysql" = denied ]; then
  echo "root cannot log in to MariaDB over TCP without a password: creating the MariaDB user $service_user"
  pw=$db_password
  if [ "$db_user" = root ]; then pw=$(new_password); fi
  client=$(sql_client)
  # Over the unix socket, where a fresh mariadb-server lets root in.
  if ! out=$(timeout 10 "$client" --no-defaults -uroot -e "$(user_sql "$pw")" 2>&1); then
    echo "could not create the MariaDB user $service_user as root over the unix socket: $out" >&2
    advise
  fi
  write_local_env "$pw"
  echo "wrote its password to $local_env (make run and make test read it)"
  check_mysql
fi

status=0
if [ "$mysql" != ok ]; then
  echo "MariaDB is not answering on 127.0.0.1:3306 as $db_user: $mysql_error" >&2
  status=1
fi
if [ "$redis" != ok ]; then
  echo "Redis is not answering on 127.0.0.1:6379" >&2
  status=1
fi
exit $status
