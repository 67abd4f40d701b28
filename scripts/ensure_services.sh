#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1 for the test suite: start them if they are
# installed but stopped; otherwise say what to install and fail.
set -u
pg_ok() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_ok() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG || (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }

if ! pg_ok; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "PostgreSQL is stopped: starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_ok && break; sleep 1; done
  fi
  pg_ok || { echo "PostgreSQL is not running on 127.0.0.1:5432 and could not be started. Install it (Debian: apt-get install postgresql) with trust auth for user postgres, or set DATABASE_URL." >&2; exit 1; }
fi

if ! redis_ok; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "Redis is stopped: starting it"
    mkdir -p var/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir "$PWD/var/redis" --logfile "$PWD/var/redis/redis.log" || true
    for _ in $(seq 1 30); do redis_ok && break; sleep 1; done
  fi
  redis_ok || { echo "Redis is not running on 127.0.0.1:6379 and could not be started. Install it (Debian: apt-get install redis-server), or set REDIS_URL." >&2; exit 1; }
fi
echo "PostgreSQL and Redis are up"
