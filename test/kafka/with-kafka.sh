#!/usr/bin/env bash
# Usage: test/kafka/with-kafka.sh CMD [ARGS...]
#
# Starts a real single-node Apache Kafka broker (KRaft, combined
# broker+controller) from jars resolved out of Maven Central, with five
# listeners on loopback (PLAINTEXT, SASL_PLAINTEXT, SSL, SASL_SSL, and GSSAPI:
# SASL_PLAINTEXT with Kerberos against a KDC on loopback, Apache Kerby's, see
# test/kafka/kdc) and Kafka's StandardAuthorizer, runs CMD with these
# variables exported, then stops the broker and the KDC:
#
#   FERRY_TEST_KAFKA             PLAINTEXT bootstrap, e.g. 127.0.0.1:40123
#   FERRY_TEST_KAFKA_SASL        SASL_PLAINTEXT bootstrap (PLAIN, SCRAM-SHA-256,
#                                SCRAM-SHA-512; authentication required)
#   FERRY_TEST_KAFKA_SSL         SSL bootstrap (TLS server auth only; the
#                                certificate is for 127.0.0.1 and localhost)
#   FERRY_TEST_KAFKA_GSSAPI      SASL_PLAINTEXT bootstrap with Kerberos (GSSAPI
#                                only; the broker is kafka/127.0.0.1@FERRY.TEST)
#                                against a KDC on loopback (Apache Kerby)
#   FERRY_TEST_KRB5_CONF         its krb5.conf (realm FERRY.TEST, TCP only)
#   FERRY_TEST_KRB5_REALM        FERRY.TEST
#   FERRY_TEST_KRB5_PRINCIPAL    the clients' principal, ferry@FERRY.TEST (User:ferry,
#                                a super user)
#   FERRY_TEST_KRB5_KEYTAB       its keytab
#   FERRY_TEST_KRB5_WRONG_KEYTAB a keytab of that principal with keys the KDC no
#                                longer has
#   FERRY_TEST_KRB5_GONE_KEYTAB  the keytab of gone@FERRY.TEST, a principal the
#                                KDC no longer knows
#   FERRY_TEST_KRB5_TICKET_LIFETIME  seconds tickets live (60; the GSSAPI
#                                listener re-authenticates connections every 20 s)
#   FERRY_TEST_KAFKA_SASL_SSL    SASL_SSL bootstrap (PLAIN, SCRAM-SHA-256,
#                                SCRAM-SHA-512 over TLS that requires a client
#                                certificate signed by the CA: the keystores)
#   FERRY_TEST_KAFKA_CA          PEM file of the per-run CA that signed them
#   FERRY_TEST_KAFKA_USER        SASL user for all three mechanisms: ferry, a
#                                super user (as is User:ANONYMOUS, the principal
#                                of the PLAINTEXT and SSL listeners)
#   FERRY_TEST_KAFKA_PASSWORD    its password: ferry-secret
#   FERRY_TEST_KAFKA_ACL_USER    a second SASL user (all three mechanisms) with
#                                no ACLs, so the authorizer denies it everything
#                                (TOPIC_AUTHORIZATION_FAILED, ...): alice
#   FERRY_TEST_KAFKA_ACL_PASSWORD  its password: alice-secret-<random per run>
#   FERRY_TEST_KAFKA_STORES      directory of the Java client stores made by
#                                keytool (the CA's directory):
#                                client.truststore.jks, client.truststore.p12
#                                (the CA, trusted), client.keystore.jks,
#                                client.keystore.p12 (alias client: a client key
#                                and certificate signed by the CA, with the CA
#                                as chain), client.keystore.pem (the same key
#                                and chain as unencrypted PEM)
#   FERRY_TEST_KAFKA_STORE_PASSWORD  password of the four stores and of their
#                                key: test1234 (as in Flink's documentation)
#   FERRY_TEST_KAFKA_LOG         the broker's log file
#   FERRY_TEST_KAFKA_CLASSPATH   "<libs>/*", to run Kafka's own CLI tools, e.g.
#                                java -cp "$FERRY_TEST_KAFKA_CLASSPATH" org.apache.kafka.tools.TopicCommand ...
#   FERRY_TEST_KAFKA_PID_FILE    file holding the broker process's pid (rewritten
#                                by FERRY_TEST_KAFKA_RESTART), e.g. to read its
#                                CPU time from /proc/PID/stat
#
# Exits with CMD's exit status (128+N if interrupted by signal N).
#
# Optional environment:
#   FERRY_CACHE_DIR                 jar cache + kafka-last.log (default <repo>/.cache)
#   FERRY_TEST_KAFKA_HEAP_OPTS      broker heap (default "-Xms256m -Xmx1g")
#   FERRY_TEST_KAFKA_START_TIMEOUT  seconds to wait for the broker (default 90)
#   FERRY_TEST_KAFKA_CDS=0          don't use/create JVM class-data-sharing archives
set -euo pipefail

# Everything is inside { ... } so bash parses the whole file before running
# any of it: editing this script cannot break runs that are in progress.
{
readonly KAFKA_VERSION=4.1.1

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo_root=$(cd -- "$script_dir/../.." && pwd -P)
cache_dir=${FERRY_CACHE_DIR:-$repo_root/.cache}
kafka_home=$cache_dir/kafka-$KAFKA_VERSION
libs=$kafka_home/libs
heap_opts=${FERRY_TEST_KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}
start_timeout=${FERRY_TEST_KAFKA_START_TIMEOUT:-90}
use_cds=${FERRY_TEST_KAFKA_CDS:-1}
cds_dir=$kafka_home/cds
java_bin=java
if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  java_bin=$JAVA_HOME/bin/java
fi

say() { printf 'kafka: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# Microseconds since the epoch ($EPOCHREALTIME is bash 5+; any decimal sign).
now_us() {
  local t=${EPOCHREALTIME:-}
  t=${t//[!0-9]/}
  if [[ -n "$t" ]]; then printf '%s' "$((10#$t))"; else printf '%s000000' "$(date +%s)"; fi
}
# Seconds since $1 (from now_us), one decimal.
since() { local d=$(($(now_us) - $1)); printf '%d.%d' $((d / 1000000)) $((d % 1000000 / 100000)); }

if [[ $# -lt 1 ]]; then
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
  exit 2
fi
command -v "$java_bin" >/dev/null || die "java not found (Java 17+ is required)"
command -v python3 >/dev/null || die "python3 not found"
command -v openssl >/dev/null || die "openssl not found (needed for the SSL listener's certificate)"
keytool_bin=keytool
if [[ -x "$(dirname -- "$(command -v "$java_bin")")/keytool" ]]; then
  keytool_bin=$(dirname -- "$(command -v "$java_bin")")/keytool
fi
command -v "$keytool_bin" >/dev/null || die "keytool not found (needed for the client's JKS and PKCS12 stores)"
# Closed stdin (not just /dev/null) would break `<&0` below.
{ : <&0; } 2>/dev/null || exec </dev/null

# --- 1. Kafka jars, resolved once into the cache ---------------------------
# The marker holds the pom's checksum, so editing pom.xml re-resolves.
pom=$script_dir/pom.xml
marker=$libs/.complete
pom_sum=$(cksum <"$pom")
if [[ "$(cat "$marker" 2>/dev/null || true)" != "$pom_sum" ]]; then
  mkdir -p "$kafka_home"
  # Serialize concurrent first runs (parallel CI jobs sharing a cache).
  if command -v flock >/dev/null; then
    exec 9>"$kafka_home/.lock"
    flock 9
  fi
  if [[ "$(cat "$marker" 2>/dev/null || true)" != "$pom_sum" ]]; then
    command -v mvn >/dev/null || die "mvn not found (needed once to fetch the Kafka $KAFKA_VERSION jars)"
    say "resolving Kafka $KAFKA_VERSION jars from Maven Central into $libs ..."
    t0=$(now_us)
    staging=$(mktemp -d "$kafka_home/libs.tmp.XXXXXX")
    chmod 755 "$staging"
    if ! mvn -q -B -f "$pom" dependency:copy-dependencies \
      -DoutputDirectory="$staging" -DincludeScope=runtime \
      </dev/null >"$staging.mvn.log" 2>&1; then
      tail -n 40 "$staging.mvn.log" >&2 || true
      rm -rf "$staging"
      die "mvn dependency:copy-dependencies failed (full output: $staging.mvn.log)"
    fi
    rm -f "$staging.mvn.log"
    shopt -s nullglob
    jars=("$staging"/*.jar)
    shopt -u nullglob
    [[ -e "$staging/kafka_2.13-$KAFKA_VERSION.jar" && -e "$staging/kafka-tools-$KAFKA_VERSION.jar" ]] ||
      die "mvn did not produce the Kafka jars in $staging"
    rm -rf "$libs" "$cds_dir"
    mv "$staging" "$libs"
    printf '%s\n' "$pom_sum" >"$marker"
    say "resolved ${#jars[@]} jars in $(since "$t0")s"
  fi
  if command -v flock >/dev/null; then exec 9>&-; fi
fi
classpath="$libs/*"

# The KDC (Apache Kerby, test/kafka/kdc): its jars and TestKdc compiled once
# into the cache, keyed by the checksum of its pom and source.
kdc_home=$cache_dir/kerby-2.0.3
kdc_sum=$(cat "$script_dir/kdc/pom.xml" "$script_dir/kdc/TestKdc.java" | cksum)
if [[ "$(cat "$kdc_home/.complete" 2>/dev/null || true)" != "$kdc_sum" ]]; then
  mkdir -p "$kdc_home"
  if command -v flock >/dev/null; then
    exec 9>"$kdc_home/.lock"
    flock 9
  fi
  if [[ "$(cat "$kdc_home/.complete" 2>/dev/null || true)" != "$kdc_sum" ]]; then
    command -v mvn >/dev/null || die "mvn not found (needed once to fetch Apache Kerby's jars)"
    javac_bin=javac
    [[ -x "$(dirname -- "$(command -v "$java_bin")")/javac" ]] && javac_bin=$(dirname -- "$(command -v "$java_bin")")/javac
    command -v "$javac_bin" >/dev/null || die "javac not found (needed once to compile test/kafka/kdc/TestKdc.java)"
    say "resolving Apache Kerby jars into $kdc_home ..."
    staging=$(mktemp -d "$kdc_home/tmp.XXXXXX")
    chmod 755 "$staging"
    if ! mvn -q -B -f "$script_dir/kdc/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$staging/libs" -DincludeScope=runtime </dev/null >"$staging.log" 2>&1 ||
      ! "$javac_bin" -cp "$staging/libs/*" -d "$staging/classes" "$script_dir/kdc/TestKdc.java" >>"$staging.log" 2>&1; then
      tail -n 40 "$staging.log" >&2 || true
      rm -rf "$staging"
      die "resolving or compiling the test KDC failed (full output: $staging.log)"
    fi
    rm -f "$staging.log"
    rm -rf "$kdc_home/libs" "$kdc_home/classes"
    mv "$staging/libs" "$staging/classes" "$kdc_home/"
    rm -rf "$staging"
    printf '%s\n' "$kdc_sum" >"$kdc_home/.complete"
  fi
  if command -v flock >/dev/null; then exec 9>&-; fi
fi

# --- 2. cleanup: runs on every exit path ------------------------------------
tmp=
broker_pid=
broker_killed=
broker_cds_new=
watchdog_pid=
helper_pid=
stores_pid=
kdc_pid=
cmd_pid=
signal_name=

# True if pid exists and has not exited (an unreaped zombie counts as exited).
is_running() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n "$st" && $st != Z* ]]
}

# Note: no `wait` in here. Inside a trap, bash 5.2's `wait PID` can block
# forever when PID died from the same Ctrl-C that triggered the trap (seen in
# testing), so children are polled instead and left for the kernel to reap.
stop_pid() { # pid grace_seconds signal; returns 1 if SIGKILL was needed
  local pid=$1 grace=$2 sig=$3 i
  [[ -n "$pid" ]] && is_running "$pid" || return 0
  kill -s "$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    is_running "$pid" || return 0
    sleep 0.1
  done
  say "pid $pid did not stop within ${grace}s after SIG$sig; sending SIGKILL"
  kill -s KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    is_running "$pid" || break
    sleep 0.1
  done
  return 1
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  set +e
  # Interrupted while CMD runs: pass the signal on, then give it time to exit.
  if [[ -n "$cmd_pid" ]]; then
    stop_pid "$cmd_pid" 10 "${signal_name:-TERM}"
  fi
  [[ -n "$helper_pid" ]] && stop_pid "$helper_pid" 1 TERM
  [[ -n "$stores_pid" ]] && stop_pid "$stores_pid" 5 TERM
  [[ -n "$watchdog_pid" ]] && kill -s KILL "$watchdog_pid" 2>/dev/null
  if [[ -n "$tmp" && -s "$tmp/broker.pid" ]]; then
    broker_pid=$(cat "$tmp/broker.pid") # it may have been restarted
  fi
  if [[ -n "$broker_pid" ]]; then
    stop_pid "$broker_pid" 20 TERM || broker_killed=1
  fi
  [[ -n "$kdc_pid" ]] && stop_pid "$kdc_pid" 5 TERM
  # First run: the broker JVM dumped its class-data-sharing archive on exit.
  if [[ -n "$broker_cds_new" && -s "$broker_cds_new" && -z "$broker_killed" ]]; then
    mv -f "$broker_cds_new" "$cds_dir/broker-$cds_gen.jsa"
  fi
  [[ -n "$broker_cds_new" ]] && rm -f "$broker_cds_new"
  if [[ -n "$tmp" && -d "$tmp" ]]; then
    if [[ -f "$tmp/kafka.log" ]]; then
      mkdir -p "$cache_dir" && cp -f "$tmp/kafka.log" "$cache_dir/kafka-last.log"
    fi
    if [[ $rc -eq 0 ]]; then
      rm -rf "$tmp"
    else
      rm -rf "$tmp/data"
      say "exit status $rc; broker log kept at $tmp/kafka.log (copy: $cache_dir/kafka-last.log)"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'signal_name=INT; exit 130' INT
trap 'signal_name=TERM; exit 143' TERM
trap 'signal_name=HUP; exit 129' HUP

# --- 3. configure, format and start the broker ------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-kafka.XXXXXX")
log_file=$tmp/kafka.log
: >"$log_file"

# Same JVM flags as Kafka's bin/kafka-run-class.sh, plus a modest heap.
# shellcheck disable=SC2206 # heap_opts is a list of flags on purpose
jvm_opts=($heap_opts -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
  -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$script_dir/log4j2.properties"
  -Dkafka.logs.dir="$tmp"
  -Djava.security.krb5.conf="$tmp/krb/krb5.conf"
  # Kafka turns the PEM key into an in-memory PKCS12 key entry, which the JDK
  # protects with 10000 PBKDF2 rounds (twice, ~0.25 s in a cold JVM): 1 will do.
  -Dkeystore.pkcs12.keyPbeIterationCount=1)

# A Kafka Uuid (what `kafka.tools.StorageTool random-uuid` prints: 16 random
# bytes, URL-safe base64 without padding, never starting with '-', not the
# zero/metadata-topic ids). Done in python to save a ~1s JVM start.
new_cluster_id() {
  python3 -c '
import base64, os
while True:
    b = os.urandom(16)
    s = base64.urlsafe_b64encode(b).decode().rstrip("=")
    if not s.startswith("-") and b not in (bytes(16), bytes(15) + b"\x01"):
        print(s)
        break'
}

# JVM class-data-sharing (AppCDS): the first run of each JVM (format tool,
# broker) dumps the classes it loaded into $cds_dir/NAME-$cds_gen.jsa at exit;
# later runs map that archive, which cuts their startup by roughly a third.
# Bump cds_gen when the broker starts loading other classes (new listener
# types, ...) so that existing caches dump fresh archives; older generations
# are deleted then.
readonly cds_gen=4 # 4: GSSAPI listener; 2: SASL_PLAINTEXT + SSL listeners, SCRAM at format time; 3: SASL_SSL, authorizer
# cds_opt NAME -> sets cds_opt (an -XX option, or empty) and cds_new.
cds_opt() {
  cds_opt=
  cds_new=
  [[ $use_cds == 1 ]] || return 0
  if [[ -s "$cds_dir/$1-$cds_gen.jsa" ]]; then
    cds_opt=-XX:SharedArchiveFile=$cds_dir/$1-$cds_gen.jsa
  elif mkdir -p "$cds_dir" 2>/dev/null; then
    rm -f "$cds_dir/$1.jsa" "$cds_dir/$1"-[0-9]*.jsa
    cds_new=$cds_dir/$1-$cds_gen.jsa.$$.tmp
    cds_opt=-XX:ArchiveClassesAtExit=$cds_new
  fi
}
# The JVM silently runs without an archive it cannot use (other JDK, ...) and
# logs a warning; drop such an archive so the next run recreates it.
cds_check() { # NAME
  if [[ -z "$cds_new" && -n "$cds_opt" ]] &&
    grep -F '][cds' "$log_file" 2>/dev/null | grep -qF "$1-$cds_gen.jsa"; then
    rm -f "$cds_dir/$1-$cds_gen.jsa"
  fi
}

free_ports() { # prints six distinct free loopback ports
  python3 -c '
import socket
ss = [socket.socket() for _ in range(6)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))
for s in ss:
    s.close()'
}

# Per-run TLS material in $tmp/tls: a throwaway CA (its key is deleted once it
# has signed), an EC P-256 server certificate for IP 127.0.0.1 and DNS
# localhost, and an EC P-256 client certificate (CN=ferry-test-client) for the
# SASL_SSL listener's required client authentication. The broker reads key +
# chain from one PEM file; make_stores turns the client's into Java stores.
sign_cert() { # name subject: $d/name.key and $d/name.pem, signed by the CA
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/$1.key" &&
    openssl req -new -key "$d/$1.key" -subj "$2" -out "$d/$1.csr" &&
    openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
      -set_serial "0x$(openssl rand -hex 8)" -days 2 -sha256 -extfile "$d/$1.ext" -out "$d/$1.pem"
}
make_certs() {
  local d=$tmp/tls
  mkdir -p "$d"
  printf '%s\n' 'basicConstraints=critical,CA:FALSE' \
    'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=serverAuth' 'subjectAltName=IP:127.0.0.1,DNS:localhost' >"$d/server.ext"
  printf '%s\n' 'basicConstraints=critical,CA:FALSE' \
    'keyUsage=critical,digitalSignature' 'extendedKeyUsage=clientAuth' >"$d/client.ext"
  if ! {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/ca.key" &&
      openssl req -x509 -new -key "$d/ca.key" -subj "/CN=ferry test CA $$" -days 2 -sha256 \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        -out "$d/ca.pem" &&
      sign_cert server /CN=127.0.0.1 && sign_cert client /CN=ferry-test-client
  } </dev/null >"$d/openssl.log" 2>&1; then
    cat "$d/openssl.log" >&2
    die "openssl failed to make the test certificates"
  fi
  cat "$d/server.key" "$d/server.pem" "$d/ca.pem" >"$d/server-keystore.pem"
  cat "$d/client.key" "$d/client.pem" "$d/ca.pem" >"$d/client.keystore.pem"
  rm -f "$d/ca.key" "$d/server.key" "$d/client.key" "$d"/*.csr "$d"/*.ext "$d/openssl.log"
}

readonly store_password=test1234 # the password in Flink's documentation

# The Java client stores, in the CA's directory, made by keytool as a Java
# user would: truststores holding the CA as a trusted certificate, keystores
# holding the client's key entry (alias client). Four short JVMs, run in
# parallel, while the broker starts (see stores_pid).
make_stores() {
  local d=$tmp/tls
  local kt=("$keytool_bin" -J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC -noprompt)
  # openssl packs the PEM key and chain for keytool -importkeystore.
  openssl pkcs12 -export -in "$d/client.keystore.pem" -name client \
    -passout "pass:$store_password" -out "$d/client.openssl.p12" || return 1
  local t pids=() rc=0
  for t in JKS PKCS12; do
    local ext=${t,,}
    [[ $t == PKCS12 ]] && ext=p12
    "${kt[@]}" -importcert -alias ca -file "$d/ca.pem" -storetype "$t" \
      -keystore "$d/client.truststore.$ext" -storepass "$store_password" &
    pids+=($!)
    "${kt[@]}" -importkeystore -srckeystore "$d/client.openssl.p12" -srcstoretype PKCS12 \
      -srcstorepass "$store_password" -destkeystore "$d/client.keystore.$ext" -deststoretype "$t" \
      -deststorepass "$store_password" -destkeypass "$store_password" &
    pids+=($!)
  done
  for t in "${pids[@]}"; do wait "$t" || rc=1; done
  rm -f "$d/client.openssl.p12"
  return "$rc"
}

readonly sasl_user=ferry sasl_password=ferry-secret
# The user without ACLs; a fresh password each run.
readonly acl_user=alice acl_password=alice-secret-$(openssl rand -hex 6)

write_config() { # port controller_port sasl_port ssl_port sasl_ssl_port gssapi_port
  local l
  cat >"$tmp/server.properties" <<EOF
# Single-node KRaft test broker written by test/kafka/with-kafka.sh
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$1,CONTROLLER://127.0.0.1:$2,SASL_PLAINTEXT://127.0.0.1:$3,SSL://127.0.0.1:$4,SASL_SSL://127.0.0.1:$5,GSSAPI://127.0.0.1:$6
advertised.listeners=PLAINTEXT://127.0.0.1:$1,SASL_PLAINTEXT://127.0.0.1:$3,SSL://127.0.0.1:$4,SASL_SSL://127.0.0.1:$5,GSSAPI://127.0.0.1:$6
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,GSSAPI:SASL_PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.voters=1@127.0.0.1:$2
log.dirs=$tmp/data

# Kafka's own authorization. Super users: User:ANONYMOUS (the principal of
# PLAINTEXT, SSL without client auth and the CONTROLLER listener: the broker
# itself, the tests' admin clients and Kafka's CLI tools) and the SASL user
# $sasl_user (on SASL_SSL too: a SASL listener's principal is the SASL user,
# not the client certificate). $acl_user has no ACL, and no ACL found means
# denied.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:$sasl_user
EOF
  # SASL_PLAINTEXT and SASL_SSL: PLAIN users come from the JAAS config; the
  # SCRAM credentials were written into the metadata log by \`StorageTool
  # format --add-scram\`.
  for l in sasl_plaintext sasl_ssl; do
    cat >>"$tmp/server.properties" <<EOF

listener.name.$l.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.$l.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$sasl_user="$sasl_password" user_$acl_user="$acl_password";
listener.name.$l.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.$l.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  done
  cat >>"$tmp/server.properties" <<EOF

# GSSAPI: SASL_PLAINTEXT with Kerberos only, the broker's principal from the
# test KDC's keytab. Connections re-authenticate every 20 s (the session
# lifetime also ends with the client's ticket), so sessions longer than a
# ticket's lifetime need ticket renewal.
listener.name.gssapi.sasl.enabled.mechanisms=GSSAPI
listener.name.gssapi.sasl.kerberos.service.name=kafka
listener.name.gssapi.gssapi.sasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true keyTab="$tmp/krb/broker.keytab" principal="$krb_broker";
listener.name.gssapi.connections.max.reauth.ms=20000

# SSL: server authentication only. (The truststore is unused with
# client.auth=none; naming the CA spares parsing the JDK's cacerts.)
listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$tmp/tls/server-keystore.pem
listener.name.ssl.ssl.truststore.type=PEM
listener.name.ssl.ssl.truststore.location=$tmp/tls/ca.pem
listener.name.ssl.ssl.client.auth=none

# SASL_SSL: TLS with required client authentication (a SASL_SSL listener
# honours only the listener-prefixed ssl.client.auth, KIP-684).
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$tmp/tls/server-keystore.pem
listener.name.sasl_ssl.ssl.truststore.type=PEM
listener.name.sasl_ssl.ssl.truststore.location=$tmp/tls/ca.pem
listener.name.sasl_ssl.ssl.client.auth=required

# Single node: every internal topic has exactly one replica.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tests create their topics explicitly.
num.partitions=1
auto.create.topics.enable=false

# Fast, light test broker: no initial rebalance delay; __consumer_offsets
# (created on first group use) gets 1 partition instead of 50; 16 MiB instead
# of 128 MiB of heap for the log cleaner. The transaction coordinator and
# transaction.version (2, Kafka 4's default) are deliberately left at their
# defaults.
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=1
share.coordinator.state.topic.num.partitions=1
log.cleaner.dedupe.buffer.size=16777216
# Abort timed-out transactions within a second instead of ten, so that tests
# of expired transactions (DATA_LOSS) need not wait. Transaction semantics
# are unchanged.
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
EOF
}

# Wait until a Metadata request (v4) on the PLAINTEXT listener returns at
# least one live broker (KRaft brokers only list themselves once unfenced),
# then until the other listeners' ports accept TCP connections.
# Exit status: 0 ready, 2 broker process gone, 3 timeout (last error printed).
wait_ready() { # port pid timeout_seconds [other_port...]
  python3 -c '
import os, signal, socket, struct, sys, time
signal.signal(signal.SIGINT, signal.SIG_DFL)
port, pid, deadline = int(sys.argv[1]), int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
others = [int(p) for p in sys.argv[4:]]

def alive():
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False

def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return buf

client = b"ferry-with-kafka"
# header v1: api_key=3 (Metadata), api_version=4, correlation_id, client_id
# body v4: topics=[] (none), allow_auto_topic_creation=false
req = struct.pack(">hhih", 3, 4, 1, len(client)) + client + struct.pack(">ib", 0, 0)
last = "no attempt yet"
while True:
    if not alive():
        sys.exit(2)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(struct.pack(">i", len(req)) + req)
            size, = struct.unpack(">i", recv_exact(s, 4))
            corr, throttle, brokers = struct.unpack(">iii", recv_exact(s, size)[:12])
            if corr == 1 and brokers > 0:
                while others:
                    with socket.create_connection(("127.0.0.1", others[0]), timeout=1):
                        others.pop(0)
                sys.exit(0)
            last = "metadata response lists no live broker yet"
    except (OSError, struct.error) as e:
        last = "%s: %s" % (type(e).__name__, e)
    if time.monotonic() > deadline:
        print(last)
        sys.exit(3)
    time.sleep(0.05)' "$@"
}

log_tail() {
  say "----- last 40 lines of $log_file -----"
  tail -n 40 "$log_file" >&2 || true
  say "----- end of broker log ($log_file) -----"
}

readonly krb_realm=FERRY.TEST krb_lifetime=60
readonly krb_broker=kafka/127.0.0.1@$krb_realm krb_client=$sasl_user@$krb_realm

# The KDC (TestKdc) on loopback; it writes the keytabs, then "ready". The
# krb5.conf is for both the broker JVM and Go's gokrb5 (TCP only).
start_kdc() {
  local kdc_port
  read -r kdc_port _ < <(free_ports)
  mkdir -p "$tmp/krb"
  printf '%s\n' '[libdefaults]' "  default_realm = $krb_realm" '  udp_preference_limit = 1' \
    '  dns_lookup_kdc = false' '  dns_lookup_realm = false' '' '[realms]' \
    "  $krb_realm = {" "    kdc = 127.0.0.1:$kdc_port" '  }' >"$tmp/krb/krb5.conf"
  "$java_bin" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx128m \
    -cp "$kdc_home/classes:$kdc_home/libs/*" TestKdc "$tmp/krb" "$krb_realm" "$kdc_port" "$krb_lifetime" \
    "$krb_broker" "$krb_client" </dev/null >"$tmp/kdc.log" 2>&1 &
  kdc_pid=$!
}
wait_kdc() {
  local i
  for ((i = 0; i < 300; i++)); do
    [[ -e "$tmp/krb/ready" ]] && return 0
    is_running "$kdc_pid" || break
    sleep 0.1
  done
  cat "$tmp/kdc.log" >&2
  die "the test KDC did not start (log above)"
}

t_start=$(now_us)
start_kdc
make_certs
# The stores are for clients only: keytool runs while the broker starts.
make_stores </dev/null >"$tmp/stores.log" 2>&1 &
stores_pid=$!
port=
for attempt in 1 2 3; do
  read -r port controller_port sasl_port ssl_port sasl_ssl_port gssapi_port < <(free_ports)
  rm -rf "$tmp/data"
  write_config "$port" "$controller_port" "$sasl_port" "$ssl_port" "$sasl_ssl_port" "$gssapi_port"
  printf '===== attempt %d: PLAINTEXT 127.0.0.1:%s CONTROLLER 127.0.0.1:%s SASL_PLAINTEXT 127.0.0.1:%s SSL 127.0.0.1:%s SASL_SSL 127.0.0.1:%s GSSAPI 127.0.0.1:%s\n' \
    "$attempt" "$port" "$controller_port" "$sasl_port" "$ssl_port" "$sasl_ssl_port" "$gssapi_port" >>"$log_file"

  # Short-lived JVM: C1 only and the serial GC start fastest.
  cds_opt format
  if ! "$java_bin" ${cds_opt:+"$cds_opt"} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$script_dir/log4j2.properties" -Dferry.kafka.log.level=WARN \
    -cp "$classpath" kafka.tools.StorageTool format \
    -t "$(new_cluster_id)" -c "$tmp/server.properties" \
    --add-scram "SCRAM-SHA-256=[name=$sasl_user,password=$sasl_password]" \
    --add-scram "SCRAM-SHA-512=[name=$sasl_user,password=$sasl_password]" \
    --add-scram "SCRAM-SHA-256=[name=$acl_user,password=$acl_password]" \
    --add-scram "SCRAM-SHA-512=[name=$acl_user,password=$acl_password]" \
    </dev/null >>"$log_file" 2>&1; then
    [[ -n "$cds_new" ]] && rm -f "$cds_new"
    log_tail
    die "kafka.tools.StorageTool format failed"
  fi
  if [[ -n "$cds_new" ]]; then
    if [[ -s "$cds_new" ]]; then mv -f "$cds_new" "$cds_dir/format-$cds_gen.jsa"; else rm -f "$cds_new"; fi
  fi
  cds_check format

  wait_kdc
  cds_opt broker
  broker_cds_new=$cds_new
  "$java_bin" ${cds_opt:+"$cds_opt"} "${jvm_opts[@]}" -cp "$classpath" \
    kafka.Kafka "$tmp/server.properties" </dev/null >>"$log_file" 2>&1 &
  broker_pid=$!
  disown "$broker_pid" # polled, never waited for (see stop_pid); no job notices
  # $FERRY_TEST_KAFKA_RESTART replaces the broker process; whoever stops the
  # broker reads its pid from here.
  printf '%s\n' "$broker_pid" >"$tmp/broker.pid"

  # If this script gets SIGKILLed its trap cannot run; don't leak the broker.
  # Ignores INT/TERM/HUP so it outlives whatever kills this script's process
  # group; cleanup() SIGKILLs it.
  (
    trap '' INT TERM HUP
    while kill -0 $$ 2>/dev/null; do sleep 1; done
    pid=$(cat "$tmp/broker.pid" 2>/dev/null || echo "$broker_pid")
    kill -s TERM "$pid" 2>/dev/null
    sleep 20
    kill -s KILL "$pid" 2>/dev/null
  ) </dev/null >/dev/null 2>&1 &
  watchdog_pid=$!
  disown "$watchdog_pid"

  # In the background so that a SIGTERM to this script is handled at once.
  wait_ready "$port" "$broker_pid" "$start_timeout" "$sasl_port" "$ssl_port" "$sasl_ssl_port" "$gssapi_port" >"$tmp/wait.out" </dev/null &
  helper_pid=$!
  ready=0
  wait "$helper_pid" || ready=$?
  helper_pid=
  case $ready in
  0)
    cds_check broker
    break
    ;;
  2)
    broker_pid=
    [[ -n "$broker_cds_new" ]] && rm -f "$broker_cds_new"
    broker_cds_new=
    kill -s KILL "$watchdog_pid" 2>/dev/null || true
    watchdog_pid=
    if [[ $attempt -lt 3 ]] && grep -q 'Address already in use' "$log_file"; then
      say "port clash on 127.0.0.1:$port/$controller_port, retrying with new ports"
      continue
    fi
    log_tail
    die "broker process exited during startup (see $log_file)"
    ;;
  *)
    log_tail
    die "broker not ready on 127.0.0.1:$port after ${start_timeout}s ($(cat "$tmp/wait.out" 2>/dev/null)); log: $log_file"
    ;;
  esac
done
rm -f "$tmp/wait.out"
stores_rc=0
wait "$stores_pid" || stores_rc=$?
stores_pid=
if [[ $stores_rc -ne 0 ]]; then
  cat "$tmp/stores.log" >&2
  die "keytool failed to make the client stores"
fi
rm -f "$tmp/stores.log"

say "Apache Kafka $KAFKA_VERSION up on 127.0.0.1:$port (SASL_PLAINTEXT :$sasl_port, SSL :$ssl_port, SASL_SSL :$sasl_ssl_port, GSSAPI :$gssapi_port) in $(since "$t_start")s (log: $log_file)"

# A script that restarts the broker on the same ports and data (for crash
# tests that restart Kafka too): SIGTERM, wait, start again, wait until the
# PLAINTEXT port accepts connections.
{
  echo '#!/usr/bin/env bash'
  echo '# Restarts the ferry test broker on the same ports and data.'
  echo 'set -euo pipefail'
  printf 'pid_file=%q\nport=%q\n' "$tmp/broker.pid" "$port"
  echo 'pid=$(cat "$pid_file")'
  echo 'kill -s TERM "$pid" 2>/dev/null || true'
  echo 'for ((i = 0; i < 300; i++)); do st=$(ps -o stat= -p "$pid" 2>/dev/null) || break; [[ $st == Z* ]] && break; sleep 0.1; done'
  echo 'kill -s KILL "$pid" 2>/dev/null || true'
  printf '%q ' "$java_bin" "${jvm_opts[@]}" -cp "$classpath" kafka.Kafka "$tmp/server.properties"
  printf '</dev/null >>%q 2>&1 &\n' "$log_file"
  echo 'echo $! >"$pid_file"'
  echo 'for ((i = 0; i < 600; i++)); do if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then exit 0; fi; sleep 0.1; done'
  echo 'echo "kafka restart: the broker does not listen on 127.0.0.1:$port after 60 s" >&2'
  echo 'exit 1'
} >"$tmp/restart.sh"
chmod +x "$tmp/restart.sh"

# --- 4. run the command -------------------------------------------------------
export FERRY_TEST_KAFKA=127.0.0.1:$port
export FERRY_TEST_KAFKA_SASL=127.0.0.1:$sasl_port
export FERRY_TEST_KAFKA_SSL=127.0.0.1:$ssl_port
export FERRY_TEST_KAFKA_SASL_SSL=127.0.0.1:$sasl_ssl_port
export FERRY_TEST_KAFKA_GSSAPI=127.0.0.1:$gssapi_port
export FERRY_TEST_KRB5_CONF=$tmp/krb/krb5.conf
export FERRY_TEST_KRB5_REALM=$krb_realm
export FERRY_TEST_KRB5_PRINCIPAL=$krb_client
export FERRY_TEST_KRB5_KEYTAB=$tmp/krb/client.keytab
export FERRY_TEST_KRB5_WRONG_KEYTAB=$tmp/krb/wrong.keytab
export FERRY_TEST_KRB5_GONE_KEYTAB=$tmp/krb/gone.keytab
export FERRY_TEST_KRB5_TICKET_LIFETIME=$krb_lifetime
export FERRY_TEST_KAFKA_CA=$tmp/tls/ca.pem
export FERRY_TEST_KAFKA_USER=$sasl_user
export FERRY_TEST_KAFKA_PASSWORD=$sasl_password
export FERRY_TEST_KAFKA_ACL_USER=$acl_user
export FERRY_TEST_KAFKA_ACL_PASSWORD=$acl_password
export FERRY_TEST_KAFKA_STORES=$tmp/tls
export FERRY_TEST_KAFKA_STORE_PASSWORD=$store_password
export FERRY_TEST_KAFKA_LOG=$log_file
export FERRY_TEST_KAFKA_CLASSPATH=$classpath
export FERRY_TEST_KAFKA_RESTART=$tmp/restart.sh
export FERRY_TEST_KAFKA_PID_FILE=$tmp/broker.pid

# Run CMD as a child (not exec) so the EXIT trap still stops the broker. It runs
# in the background + `wait` so a signal to this script is acted on at once;
# stdin is passed through explicitly and SIGINT/SIGQUIT are un-ignored (bash
# ignores them in background jobs of non-interactive shells).
rc=0
(
  trap - INT QUIT TERM HUP
  exec "$@"
) <&0 &
cmd_pid=$!
wait "$cmd_pid" || rc=$?
cmd_pid=
exit "$rc"
}
