# Shared helpers for the end-to-end tests: each test gets a fresh work folder
# and its own agent state, and drives the real obctl binary.
set -euo pipefail

: "${OBCTL:?OBCTL must point at the obctl binary}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d /tmp/obagent-e2e.XXXXXX)
export OBAGENT_STATE_DIR=$WORK/state
PASS_FILE=$WORK/passphrase
printf 'correct horse battery staple 42\n' > "$PASS_FILE"
MOUNTS=()
ENGINE_PID=""
SINK_PIDS=()

cleanup() {
  local m
  [ -z "$ENGINE_PID" ] || kill -9 "$ENGINE_PID" 2> /dev/null || true
  [ -z "${BACKEND:-}" ] || stop_vaultd_backend
  for m in "${SINK_PIDS[@]}"; do kill "$m" 2> /dev/null || true; done
  for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || true; done
  # A server the test stopped may still be closing files in $WORK: retry, and
  # never let the clean-up decide the test's result.
  rm -rf "$WORK" 2> /dev/null || { sleep 0.5 && rm -rf "$WORK"; } || true
}
trap cleanup EXIT

obctl() { "$OBCTL" "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# `CMD | has PATTERN`: grep that reads all of CMD's output. Never pipe into
# `grep -q` or `head` here: they stop reading at the first match or line, CMD
# dies of SIGPIPE when it writes again, and pipefail fails the line at random
# (test_cli_help failed a clean-clone CI run so: printf | grep -qxF). Take a
# first line with `sed -n 1p`. scripts/test.sh's "pipes" step enforces this.
has() { grep "$@" > /dev/null; }
pass() { echo "ok - $*"; }
# A free TCP port on loopback (other tests and people use the defaults).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# cbengine for this test's state folder, in the foreground, its output in
# $WORK/engine.log; returns once obctl reaches it over the local API.
start_engine() { # extra cbengine options...
  : "${CBENGINE:?CBENGINE must point at the cbengine binary}"
  "$CBENGINE" --foreground "$@" > "$WORK/engine.log" 2>&1 &
  ENGINE_PID=$!
  for _ in $(seq 1 200); do
    obctl engine status > /dev/null 2>&1 && return 0
    kill -0 "$ENGINE_PID" 2> /dev/null || { cat "$WORK/engine.log"; fail "cbengine exited at start"; }
    sleep 0.05
  done
  cat "$WORK/engine.log"
  fail "cbengine did not become ready"
}
# Stops it as the service manager does (SIGTERM); it must exit 0.
stop_engine() {
  local rc=0
  kill -TERM "$ENGINE_PID"
  wait "$ENGINE_PID" || rc=$?
  ENGINE_PID=""
  [ "$rc" = 0 ] || fail "cbengine exit code $rc after SIGTERM"
}

# expect_fail ID CMD...: CMD must exit non-zero and print the catalogue ID.
expect_fail() {
  local id=$1; shift
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [ "$rc" -ne 0 ] || fail "expected failure with [$id]: $*"
  grep -qF -- "$id" <<<"$out" || fail "expected [$id] in output of '$*', got: $out"
}

# A tree with the cases a backup agent must get right.
make_tricky_tree() {
  local d=$1
  mkdir -p "$d/sub/deeper" "$d/empty dir" "$d/ünïcödé 目录" "$d/ro"
  head -c 3000000 /dev/urandom > "$d/random.bin"
  python3 -c 'import sys; sys.stdout.write("line of text that compresses well\n" * 200000)' > "$d/text.txt"
  : > "$d/empty file"
  printf 'spaces' > "$d/name with  spaces"
  printf 'newline' > "$d/new"$'\n'"line"
  printf 'tab' > "$d/tab"$'\t'"name"
  printf 'utf8' > "$d/ünïcödé 目录/файл.txt"
  printf 'deep' > "$d/sub/deeper/file"
  cp "$d/random.bin" "$d/sub/copy-of-random.bin"
  ln -s ../random.bin "$d/sub/link-to-random"
  ln -s /nonexistent/target "$d/dangling link"
  ln -s "ünïcödé 目录" "$d/dirlink"
  ln "$d/sub/deeper/file" "$d/hardlink-to-deep"
  printf 'exec' > "$d/script.sh"; chmod 755 "$d/script.sh"
  printf 'secret' > "$d/private"; chmod 600 "$d/private"
  printf 'ro' > "$d/ro/readonly"; chmod 444 "$d/ro/readonly"
  chmod 555 "$d/ro"
  touch -h -d '2001-02-03 04:05:06.123456789' "$d/dangling link"
  touch -d '1999-12-31 23:59:59.987654321' "$d/text.txt" "$d/sub/deeper"
  touch -d '2010-01-01 00:00:00' "$d/empty dir"
}

# compare_trees [--owners] [--xattrs] A B [A2 B2 ...]: content and metadata (type, mode,
# mtime, symlink target, hard-link groups; owner and group with --owners;
# every extended attribute, ACLs and capabilities included, with --xattrs)
# must match, for each pair.
compare_trees() { python3 -B "$HERE/treecmp.py" "$@"; }

setup_vault() {
  obctl vault init --path "$WORK/vault" > /dev/null
  obctl register --vault "$WORK/vault" --passphrase-file "$PASS_FILE" > /dev/null
}

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# vaultd on a free port with the backend VAULT_BACKEND names (local, or
# azure: Azurite started here on AZ_PORT, container $1). Sets BACKEND, URL,
# VSTATE, ADMIN (obctl's admin options), AZ_DATA and VAULTD_ARGS; VPID once
# start_vaultd ran. stop_vaultd_backend ends both.
vaultd_backend() { # azure container
  BACKEND=${VAULT_BACKEND:-local}
  URL=http://127.0.0.1:$(free_port)
  VSTATE=$WORK/vaultd
  mkdir -p "$VSTATE"
  ADMIN=(--service "$URL" --admin-token-file "$VSTATE/admin.token")
  AZ_DATA=$WORK/azurite
  VAULTD_ARGS=(--listen "$URL" --state-dir "$VSTATE")
  VPID=
  if [ "$BACKEND" = azure ]; then
    AZ_PORT=$(free_port)
    bash "$HERE/../../scripts/azurite.sh" start "$AZ_DATA" "$AZ_PORT" > /dev/null
    # Azurite's well-known development account key.
    printf 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' > "$WORK/azkey"
    AZ_ENDPOINT=http://127.0.0.1:$AZ_PORT/devstoreaccount1
    AZ_CONTAINER=$1
    VAULTD_ARGS+=(--backend azure --azure-endpoint "$AZ_ENDPOINT"
      --azure-account devstoreaccount1 --azure-key-file "$WORK/azkey" --azure-container "$1")
  fi
}
# For tests of vaultd itself, without an agent: vault VAULT created and a
# machine NAME registered through vaultd's API (with a made-up wrapped
# key), holding the machine's lease for an hour. Sets TOKEN, AUTH (curl's
# header with the token), MID (machine id) and LEASE.
api_machine() { # VAULT NAME
  local admin=(-H "Authorization: Bearer $(cat "$VSTATE/admin.token")") register
  api_post /v1/vaults "{\"name\":\"$1\"}" "${admin[@]}" > /dev/null
  api_post "/v1/vaults/$1/credentials" '{}' "${admin[@]}" | json_field credentials > "$WORK/creds.xml"
  register=$(
    python3 - "$WORK/creds.xml" "$2" << 'PY'
import base64, json, os, sys
print(json.dumps({"credentials": open(sys.argv[1]).read(), "machine_name": sys.argv[2],
                  "wrapped_key": json.dumps({"version": 1, "key_id": os.urandom(16).hex(),
                      "kdf": {"algorithm": "scrypt", "n": 32768, "r": 8, "p": 1,
                              "salt": base64.b64encode(os.urandom(32)).decode()},
                      "wrapped": base64.b64encode(os.urandom(60)).decode()}),
                  "key_check": os.urandom(32).hex()}))
PY
  )
  TOKEN=$(api_post /v1/register "$register" | json_field token)
  AUTH=(-H "Authorization: Bearer $TOKEN")
  MID=$(curl -sf "${AUTH[@]}" "$URL/v1/machine" | json_field machine_id)
  LEASE=$(api_post /v1/lease '{"holder":"e2e","ttl_seconds":3600}' "${AUTH[@]}" | json_field lease_id)
}
# POST BODY to vaultd's PATH, with more curl options; the answer on stdout.
api_post() { curl -sf -X POST -H "Content-Type: application/json" "${@:3}" --data-binary "$2" "$URL$1"; } # PATH BODY [curl options...]
# Writes FILE as the machine's object KEY straight into the storage under
# vaultd (its data folder or the Azurite container), past vaultd's
# write-once check: a storage fault, as damage tests need it.
storage_put() { # MACHINE_ID KEY FILE
  if [ "$BACKEND" = azure ]; then
    python3 "$HERE/storage_put.py" azure "$AZ_ENDPOINT" devstoreaccount1 "$WORK/azkey" \
      "$AZ_CONTAINER" "machines/$1/$2" "$3" || fail "storage_put $2"
  else
    python3 "$HERE/storage_put.py" local "$VSTATE/data" "machines/$1/$2" "$3" || fail "storage_put $2"
  fi
}
# This machine's objects through vaultd's object API, as the machine sees
# them (TOKEN, URL: vaultd_machine). Writes take the machine's lease for the
# moment of the write, as a job does.
obj_list() { # PREFIX: keys, one a line
  curl -sf "${AUTH[@]}" "$URL/v1/objects?prefix=$1" |
    python3 -c 'import json,sys; [print(k) for k in json.load(sys.stdin)["keys"]]'
}
obj_get() { curl -sf "${AUTH[@]}" "$URL/v1/objects/$1"; } # KEY: its bytes on stdout
# The HTTP status of `curl CURL ARGS...` sent as this machine with a fresh
# lease, the answer's body in $WORK/http.out (000: no answer). For requests
# whose refusal is what a test checks.
leased_status() { # CURL ARGS...
  local lease code
  lease=$(curl -sf -X POST "${AUTH[@]}" -H 'Content-Type: application/json' \
    --data '{"holder":"e2e","ttl_seconds":30}' "$URL/v1/lease" | json_field lease_id) ||
    fail "taking the lease"
  code=$(curl -s -o "$WORK/http.out" -w '%{http_code}' "${AUTH[@]}" -H "X-Obagent-Lease: $lease" \
    "$@") || true
  curl -sf -X DELETE "${AUTH[@]}" "$URL/v1/lease/$lease" > /dev/null
  echo "$code"
}
with_lease() { # CURL ARGS...: curl with a fresh lease; fails on an HTTP error (as curl -f)
  local code
  code=$(leased_status "$@")
  [[ $code =~ ^[23][0-9][0-9]$ ]]
}
obj_put() { with_lease -X PUT --data-binary "@$2" "$URL/v1/objects/$1" || fail "PUT $1"; } # KEY FILE
obj_del() { with_lease -X DELETE "$URL/v1/objects/$1" || fail "DELETE $1"; }             # KEY
start_vaultd() { # extra vaultd options... (kept for age_recovery_points' restart)
  VAULTD_EXTRA=("$@")
  "$VAULTD" "${VAULTD_ARGS[@]}" "$@" > "$WORK/vaultd.log" 2>&1 &
  VPID=$!
  for _ in $(seq 1 100); do grep -q "listening" "$WORK/vaultd.log" && return 0; sleep 0.1; done
  cat "$WORK/vaultd.log"
  fail "vaultd did not start"
}
# Restarts vaultd (with the options it had) with every recovery point it
# recorded as uploaded DAYS days earlier (its metadata's points/ records):
# time passing for the retention floor without a clock of its own. Tests
# whose prunes must delete young points call it first.
age_recovery_points() { # DAYS
  kill "$VPID" 2> /dev/null && wait "$VPID" 2> /dev/null || true
  python3 - "$VSTATE/meta/points" "$1" << 'EOF' || fail "aging the recovery points"
import glob, json, os, sys
for path in glob.glob(os.path.join(sys.argv[1], "*", "*.json")):
    record = json.load(open(path))
    record["uploaded_at"] -= int(sys.argv[2]) * 86400
    json.dump(record, open(path, "w"))
EOF
  start_vaultd "${VAULTD_EXTRA[@]}"
}
# Idempotent; the EXIT trap (cleanup) calls it too.
stop_vaultd_backend() {
  [ -z "$VPID" ] || { kill "$VPID" 2> /dev/null && wait "$VPID" 2> /dev/null; } || true
  VPID=
  [ "$BACKEND" != azure ] || bash "$HERE/../../scripts/azurite.sh" stop "$AZ_DATA" > /dev/null 2>&1 || true
}
# A field of this machine's agent.json (token, machine_id, machine_name,
# scratch_dir, ...).
agent_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$OBAGENT_STATE_DIR/agent.json" "$1"; }
# This machine registered with a fresh vaultd: vaultd_backend and
# start_vaultd, vault "prod" created, its credential file downloaded
# ($WORK/creds.xml) and used. Sets TOKEN (the machine token), AUTH (curl's
# header with it), MID (machine id), MACHINE (its name) and SCRATCH.
vaultd_machine() { # azure container, extra vaultd options...
  vaultd_backend "$1"
  shift
  start_vaultd "$@"
  obctl vault create prod "${ADMIN[@]}" > /dev/null
  obctl vault credentials prod "${ADMIN[@]}" --out "$WORK/creds.xml" > /dev/null
  obctl register --vault-credentials "$WORK/creds.xml" --passphrase-file "$PASS_FILE" > /dev/null
  TOKEN=$(agent_field token)
  AUTH=(-H "Authorization: Bearer $TOKEN")
  MID=$(agent_field machine_id)
  MACHINE=$(agent_field machine_name)
  SCRATCH=$(agent_field scratch_dir)
}

# Recovery points of $SRC, each kept with the source as it saw it
# ($COPIES/<point id>; the test sets SRC and COPIES): backup_point backs $SRC
# up and appends the point to POINTS; restores_identical POINT restores it
# into $WORK/restore and compares it with its copy; point_ids lists the
# machine's points, sorted, on one line.
POINTS=()
backup_point() {
  local id
  id=$(obctl --json backup start --include "$SRC" | json_field recovery_point)
  [ -n "$id" ] || fail "no recovery point"
  cp -a "$SRC" "$COPIES/$id"
  POINTS+=("$id")
}
restores_identical() { # POINT
  rm -rf "$WORK/restore"
  obctl recover --point "$1" --target "$WORK/restore" > "$WORK/recover.out" 2>&1 ||
    { cat "$WORK/recover.out" >&2; fail "restore of $1"; }
  compare_trees "$COPIES/$1" "$WORK/restore$SRC" > /dev/null || fail "point $1 does not restore identical"
}
point_ids() {
  obctl --json recovery list | python3 -c 'import json,sys; print(" ".join(sorted(p["id"] for p in json.load(sys.stdin)["points"])))'
}

# Where vaultd's alerts go: a real SMTP server with STARTTLS and AUTH
# (smtp_sink.py; its certificate made here, $WORK/smtp.pem, is the CA vaultd
# must verify against) writing each mail to $WORK/mail, and a webhook
# receiver that checks the HMAC signature (webhook_sink.py) writing each
# POST to $WORK/hooks. The EXIT trap stops both. Sets ALERT_ARGS: vaultd's
# options to deliver to both, the CA file left out (--alerts-smtp-ca-file).
start_alert_sinks() { # extra webhook_sink.py options (--fail-first N)...
  command -v openssl > /dev/null || { echo "openssl is missing"; exit 77; }
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$WORK/smtp.key" -out "$WORK/smtp.pem" 2> /dev/null || fail "openssl req"
  printf 'mail-password-42\n' > "$WORK/smtp.password"
  python3 -B "$HERE/smtp_sink.py" --cert "$WORK/smtp.pem" --key "$WORK/smtp.key" \
    --out "$WORK/mail" --port-file "$WORK/smtp.port" --user alerts --password mail-password-42 \
    2> "$WORK/smtp.log" &
  SINK_PIDS+=($!)
  python3 -c 'import secrets; print(secrets.token_hex(32))' > "$WORK/hook.secret"
  python3 -B "$HERE/webhook_sink.py" --secret-file "$WORK/hook.secret" --out "$WORK/hooks" \
    --port-file "$WORK/hook.port" "$@" 2> "$WORK/hook.log" &
  SINK_PIDS+=($!)
  for _ in $(seq 1 100); do [ -s "$WORK/smtp.port" ] && [ -s "$WORK/hook.port" ] && break; sleep 0.05; done
  [ -s "$WORK/smtp.port" ] && [ -s "$WORK/hook.port" ] || fail "the sinks did not start"
  ALERT_ARGS=(--alerts-smtp-server 127.0.0.1 --alerts-smtp-port "$(cat "$WORK/smtp.port")"
    --alerts-smtp-starttls required
    --alerts-smtp-user alerts --alerts-smtp-password-file "$WORK/smtp.password"
    --alerts-smtp-from vaultd@example.test --alerts-smtp-to "admin@example.test, ops@example.test"
    --alerts-webhook-url "http://127.0.0.1:$(cat "$WORK/hook.port")/hooks/obagent"
    --alerts-webhook-secret-file "$WORK/hook.secret" --alerts-retry-seconds 0.2)
}
# wait_for DESCRIPTION PYTHON-CONDITION-SCRIPT ARGS...: up to 30 s.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 1 300); do python3 -c "$@" 2> /dev/null && return 0; sleep 0.1; done
  fail "timed out waiting for $what"
}
# With wait_for: a mail in $WORK/mail whose subject has TEXT (args: $WORK/mail TEXT).
MAIL_WITH='
import glob, json, sys
for f in glob.glob(sys.argv[1] + "/*.json"):
    m = json.load(open(f))
    subject = [l for l in m["data"].split("\r\n") if l.startswith("Subject: ")][0]
    if sys.argv[2] in subject:
        sys.exit(0)
sys.exit(1)'
# With wait_for: a verified webhook POST for an alert of KIND (args: $WORK/hooks KIND).
HOOK_WITH='
import glob, json, sys
for f in glob.glob(sys.argv[1] + "/*.json"):
    h = json.load(open(f))
    body = json.loads(h["body"])
    if h["verified"] and body["alert"]["kind"] == sys.argv[2]:
        sys.exit(0)
sys.exit(1)'
