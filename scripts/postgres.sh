#!/usr/bin/env bash
# Install (Debian's package) and start PostgreSQL on 127.0.0.1:5432 with role/database "tl".
# Idempotent. Prints the SQLAlchemy URL on its last line.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq postgresql >/dev/null
fi
ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | grep -q "^$ver main"; then
  pg_createcluster "$ver" main >/dev/null
fi
pg_ctlcluster "$ver" main start 2>/dev/null || true
for _ in $(seq 1 30); do
  su postgres -c "pg_isready -q -h 127.0.0.1 -p 5432" && break
  sleep 1
done
su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='tl'\"" | grep -q 1 \
  || su postgres -c "psql -q -c \"CREATE USER tl PASSWORD 'tl' CREATEDB\""
su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='tl'\"" | grep -q 1 \
  || su postgres -c "createdb -O tl tl"
# the tests drop the scratch databases they make WITH (FORCE): an autovacuum worker still connected
# to one is a backend of no role, which only pg_signal_backend may end
su postgres -c "psql -q -c 'GRANT pg_signal_backend TO tl'" >/dev/null
echo "postgresql+psycopg://tl:tl@127.0.0.1:5432/tl"
