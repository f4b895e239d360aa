#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers at 127.0.0.1:5432 with trust authentication for
# loopback connections, a superuser role `root` and a database `test`: what the store's
# PostgreSQL contract tests use (crates/clearance-store/tests/contract.rs, server URL
# CLEARANCE_TEST_POSTGRES, by default postgres://root@127.0.0.1:5432/test).
#
# Run it (`bash scripts/postgres.sh`) or source it (`. scripts/postgres.sh`, which also exports
# CLEARANCE_TEST_POSTGRES when unset). Idempotent, and quick when the server is already up:
# then it only checks that `test` answers as root. Otherwise, as root on Debian: installs
# postgresql and postgresql-client if missing, creates a cluster if there is none, puts trust
# rules for 127.0.0.1 and ::1 at the top of pg_hba.conf, starts (or reloads) the cluster, and
# creates the role and the database. Trust on loopback is for a test machine only.

clearance_postgres_up() {
  local host=127.0.0.1 port=5432 db=test role=root
  local marker="# clearance: trust on loopback (scripts/postgres.sh)"
  local say="scripts/postgres.sh:"

  _cpg_answers() {
    pg_isready -q -h "$host" -p "$port" 2>/dev/null &&
      psql -h "$host" -p "$port" -U "$role" -d "$db" -XtAc 'SELECT 1' >/dev/null 2>&1
  }

  if command -v pg_isready >/dev/null 2>&1 && command -v psql >/dev/null 2>&1 && _cpg_answers; then
    echo "$say PostgreSQL answers at $host:$port (database $db as $role)"
    return 0
  fi

  if ! command -v pg_lsclusters >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
    echo "$say installing PostgreSQL (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || return 1
    apt-get install -y -qq postgresql postgresql-client >/dev/null || return 1
  fi

  # The cluster on our port, else the first one; a new one when there is none.
  # (Each `|| true`: this may be sourced by a `set -e` script, and nothing found is no error.)
  local version="" cluster="" cport="" status=""
  read -r version cluster cport status _ < <(pg_lsclusters -h 2>/dev/null | awk -v p="$port" '$3 == p' | head -n1) || true
  if [ -z "$version" ]; then
    read -r version cluster cport status _ < <(pg_lsclusters -h 2>/dev/null | head -n1) || true
  fi
  if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n1) || true
    if [ -z "$version" ]; then
      echo "$say no PostgreSQL server binaries under /usr/lib/postgresql" >&2
      return 1
    fi
    echo "$say creating cluster $version/main on port $port"
    pg_createcluster "$version" main --port "$port" >/dev/null || return 1
    read -r version cluster cport status _ < <(pg_lsclusters -h | awk -v p="$port" '$3 == p' | head -n1) || true
  fi
  if [ "$cport" != "$port" ]; then
    echo "$say cluster $version/$cluster listens on port ${cport:-?}, not $port; fix its postgresql.conf" >&2
    return 1
  fi

  local hba="/etc/postgresql/$version/$cluster/pg_hba.conf"
  local hba_changed=no
  if [ -f "$hba" ] && ! grep -qF "$marker" "$hba"; then
    echo "$say trust for $host and ::1 in $hba"
    local tmp
    tmp=$(mktemp) || return 1
    {
      echo "$marker"
      echo "host    all             all             127.0.0.1/32            trust"
      echo "host    all             all             ::1/128                 trust"
      cat "$hba"
    } >"$tmp" && cat "$tmp" >"$hba" && rm -f "$tmp" || return 1
    hba_changed=yes
  fi

  if [ "$status" = "online" ]; then
    if [ "$hba_changed" = yes ]; then
      pg_ctlcluster "$version" "$cluster" reload || return 1
    fi
  else
    echo "$say starting cluster $version/$cluster"
    pg_ctlcluster "$version" "$cluster" start || return 1
  fi

  local waited=0
  until pg_isready -q -h "$host" -p "$port"; do
    if [ "$waited" -ge 30 ]; then
      echo "$say PostgreSQL did not come up at $host:$port within 30 s" >&2
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done

  # Through loopback trust as the bootstrap superuser.
  local admin=(psql -h "$host" -p "$port" -U postgres -d postgres -XtAq -v ON_ERROR_STOP=1)
  if [ "$("${admin[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" != 1 ]; then
    echo "$say creating superuser $role"
    "${admin[@]}" -c "CREATE ROLE $role SUPERUSER LOGIN" || return 1
  fi
  if [ "$("${admin[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
    echo "$say creating database $db"
    "${admin[@]}" -c "CREATE DATABASE $db OWNER $role" || return 1
  fi

  if ! _cpg_answers; then
    echo "$say PostgreSQL is up but $role cannot reach $db at $host:$port" >&2
    return 1
  fi
  echo "$say PostgreSQL answers at $host:$port (database $db as $role)"
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  export CLEARANCE_TEST_POSTGRES="${CLEARANCE_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test}"
  clearance_postgres_up
  return $?
else
  clearance_postgres_up
  exit $?
fi
