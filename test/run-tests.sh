#!/usr/bin/env bash
# Runs the Go, Python and Java test suites against the real Kafka broker that
# test/kafka/with-kafka.sh started (FERRY_TEST_KAFKA), through a ferry server
# this script starts and stops. Every suite runs even when an earlier one
# failed; the exit status is non-zero when any failed.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${FERRY_TEST_KAFKA:?run me through test/kafka/with-kafka.sh}"
work=$(mktemp -d)
ferry_log=${FERRY_CACHE_DIR:-.cache}/ferry-test.log
mkdir -p "$(dirname "$ferry_log")"

# Clients may name the harness's listeners and files, nothing else.
allow=()
for var in FERRY_TEST_KAFKA FERRY_TEST_KAFKA_SASL FERRY_TEST_KAFKA_SSL FERRY_TEST_KAFKA_SASL_SSL; do
  [[ -n "${!var:-}" ]] && allow+=(--allow-bootstrap "${!var}")
done
[[ -n "${FERRY_TEST_KAFKA_CA:-}" ]] && allow+=(--allow-file-dir "$(dirname "$FERRY_TEST_KAFKA_CA")")
bin/ferry serve --listen 127.0.0.1:0 --kafka "$FERRY_TEST_KAFKA" --addr-file "$work/addr" \
  "${allow[@]}" --log-level warn >"$ferry_log" 2>&1 &
ferry_pid=$!
stop_ferry() {
  kill -TERM "$ferry_pid" 2>/dev/null || true
  wait "$ferry_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap stop_ferry EXIT

# Wait until ferry listens and its health check says Kafka is reachable.
for _ in $(seq 1 300); do
  if [[ -s $work/addr ]] && .cache/bin/grpcurl -plaintext "$(cat "$work/addr")" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING; then
    break
  fi
  kill -0 "$ferry_pid" 2>/dev/null || { echo "ferry exited; log: $ferry_log"; cat "$ferry_log"; exit 1; }
  sleep 0.1
done
FERRY_ADDR=$(cat "$work/addr")
export FERRY_ADDR
# The client suites that start ferry processes of their own use this binary.
FERRY_BIN=$(pwd)/bin/ferry
export FERRY_BIN
echo "ferry: serving on $FERRY_ADDR for the Python and Java suites (log: $ferry_log)"

passed=0 failed=0 failures=()
suite() {
  local name=$1; shift
  echo "=== $name: $*"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); echo "=== $name: ok ($((SECONDS - start))s)"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "=== $name: FAILED ($((SECONDS - start))s)"
  fi
}
suite go go test -race -count=1 ./...
suite python .venv/bin/pytest -q clients/python/tests
suite java mvn -q -B -f clients/java verify
suite grpcurl .venv/bin/python test/grpcurl_readme.py

if ((failed > 0)); then
  echo "failed suites: ${failures[*]} (ferry log: $ferry_log, broker log: ${FERRY_TEST_KAFKA_LOG:-?})"
fi
echo "suites: $passed passed, $failed failed"
((failed == 0))
