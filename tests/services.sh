# Starts the services the many-machines tests use, each in a temporary directory on a free loopback port, and
# exports how to reach them: STUDIO_TEST_POSTGRES (an Npgsql connection string to the maintenance database) and
# STUDIO_TEST_REDIS (host:port). Source it, then call start_test_services; stop_test_services removes everything.
# PostgreSQL refuses to run as root: as root, the server runs as Debian's "postgres" user.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
STUDIO_SERVICES_DIR=""

free_port() {
  local port
  for port in $(seq "$1" $(($1 + 200))); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  return 1
}

as_service_user() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_test_services() {
  STUDIO_SERVICES_DIR=$(mktemp -d /tmp/studio-services-XXXXXX) || return 1
  chmod 755 "$STUDIO_SERVICES_DIR"
  local pg="$STUDIO_SERVICES_DIR/postgres"
  mkdir -p "$pg"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pg"
  local pg_port; pg_port=$(free_port 55432) || { echo "no free port for PostgreSQL"; return 1; }
  as_service_user "$PG_BIN/initdb" -D "$pg/data" -U postgres -A trust -E UTF8 >"$STUDIO_SERVICES_DIR/initdb.log" 2>&1 \
    || { echo "initdb failed:"; cat "$STUDIO_SERVICES_DIR/initdb.log"; return 1; }
  # fsync off: a test database need not survive a power cut, and the 2-core machine is shared.
  as_service_user "$PG_BIN/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -t 60 \
    -o "-p $pg_port -k $pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=300" start >/dev/null \
    || { echo "PostgreSQL did not start:"; cat "$pg/server.log"; return 1; }
  export STUDIO_TEST_POSTGRES="Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=postgres"

  local redis_port; redis_port=$(free_port 56379) || { echo "no free port for Redis"; return 1; }
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$STUDIO_SERVICES_DIR" --pidfile "$STUDIO_SERVICES_DIR/redis.pid" --logfile "$STUDIO_SERVICES_DIR/redis.log" \
    || { echo "Redis did not start"; return 1; }
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export STUDIO_TEST_REDIS="127.0.0.1:$redis_port"
  echo "== test services: PostgreSQL on 127.0.0.1:$pg_port, Redis on $STUDIO_TEST_REDIS ($STUDIO_SERVICES_DIR)"
}

stop_test_services() {
  [ -n "$STUDIO_SERVICES_DIR" ] && [ -d "$STUDIO_SERVICES_DIR" ] || return 0
  if [ -f "$STUDIO_SERVICES_DIR/postgres/data/postmaster.pid" ]; then
    as_service_user "$PG_BIN/pg_ctl" -D "$STUDIO_SERVICES_DIR/postgres/data" -m immediate -w -t 30 stop >/dev/null 2>&1
  fi
  if [ -f "$STUDIO_SERVICES_DIR/redis.pid" ]; then kill "$(cat "$STUDIO_SERVICES_DIR/redis.pid")" 2>/dev/null; fi
  rm -rf "$STUDIO_SERVICES_DIR"
  STUDIO_SERVICES_DIR=""
}
