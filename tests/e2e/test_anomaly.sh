#!/usr/bin/env bash
# ctest: every vault backend
# The anomaly hold with the real binaries (local-folder or Azure backend, per
# VAULT_BACKEND; Azure = Azurite started here):
#  - a tree of 300 text files is backed up four times with normal churn (a
#    few files changed, added, deleted): nothing is flagged, and each
#    backup's figures (files new/changed/deleted, new bytes, incompressible
#    share) are in its JSON;
#  - a simulated mass encryption (every file overwritten with random bytes of
#    about its size), then a backup: vaultd flags it, obctl vault anomalies
#    lists it (text and --json) with mass change and incompressible data;
#  - a prune with the smallest retention is refused by the hold: obctl exits
#    3 with a warning naming the hold, the job record says so, every earlier
#    point is still listed and restores byte for byte;
#  - obctl vault anomaly-ack releases the hold: the same prune now removes
#    the old points.
source "$E2E_LIB"
: "${VAULTD:?VAULTD must point at the vaultd binary}"
vaultd_backend anomaly
stop_all() {
  stop_vaultd_backend
  cleanup
}
trap stop_all EXIT
start_vaultd

obctl vault create prod "${ADMIN[@]}" > /dev/null
obctl vault credentials prod "${ADMIN[@]}" --out "$WORK/creds.xml" > /dev/null
obctl register --vault-credentials "$WORK/creds.xml" --passphrase-file "$PASS_FILE" > /dev/null
MACHINE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["machine_name"])' "$OBAGENT_STATE_DIR/agent.json")

SRC=$WORK/data/src
COPIES=$WORK/copies # the source as each recovery point saw it, by point id
mkdir -p "$SRC" "$COPIES"
POINTS=()
backup() { # writes $WORK/backup.json
  obctl --json backup start --include "$SRC" > "$WORK/backup.json" || fail "backup: $(cat "$WORK/backup.json")"
  local id
  id=$(json_field recovery_point < "$WORK/backup.json")
  [ -n "$id" ] || fail "no recovery point"
  cp -a "$SRC" "$COPIES/$id"
  POINTS+=("$id")
}
changes() { # FIELD of the last backup's "changes"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["changes"][sys.argv[2]])' "$WORK/backup.json" "$1"
}
open_anomalies() {
  obctl --json vault anomalies prod "${ADMIN[@]}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["anomalies"]))'
}
point_count() {
  obctl --json recovery list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["points"]))'
}

# 300 text files of 8-40 KiB in 10 folders (they compress well, as documents do).
python3 - "$SRC" << 'EOF'
import os, random, sys
random.seed(7)
words = "backup vault machine point recovery retention file folder report figure".split()
for i in range(300):
    d = os.path.join(sys.argv[1], "dir%02d" % (i % 10))
    os.makedirs(d, exist_ok=True)
    size = random.randint(8 << 10, 40 << 10)
    text = []
    n = 0
    while n < size:
        line = " ".join(random.choice(words) for _ in range(12)) + "\n"
        text.append(line)
        n += len(line)
    with open(os.path.join(d, "f%03d.txt" % i), "w") as f:
        f.write("".join(text)[:size])
EOF
churn() { # N: change, add and delete a few files
  for i in 1 2 3 4 5; do echo "edit $1 $i" >> "$SRC/dir0$i/f00$i.txt"; done
  echo "new file $1" > "$SRC/dir01/new-$1.txt"
  echo "new file $1" > "$SRC/dir02/new-$1.txt"
  rm -f "$SRC/dir09/f$(printf %03d $((269 + 10 * $1)))".txt
}
backup
[ "$(changes files_new)" = 300 ] || fail "first backup: files_new $(changes files_new)"
for n in 1 2 3; do
  sleep 1 # a new mtime second for the edited files
  churn $n
  backup
  [ "$(changes files_changed)" = 5 ] || fail "backup $n: files_changed $(changes files_changed), $(cat "$WORK/backup.json")"
  [ "$(changes files_new)" = 2 ] || fail "backup $n: files_new $(changes files_new)"
  [ "$(changes files_deleted)" = 1 ] || fail "backup $n: files_deleted $(changes files_deleted)"
done
[ "$(open_anomalies)" = 0 ] || fail "normal churn was flagged: $(obctl vault anomalies prod "${ADMIN[@]}")"
obctl --json job list | python3 -c '
import json, sys
jobs = [j for j in json.load(sys.stdin)["jobs"] if j["type"] == "Backup"]
assert jobs[0]["files_changed"] == 5 and jobs[0]["files_deleted"] == 1, jobs[0]
' || fail "the job record lacks the figures"
pass "four backups with normal churn: their figures are reported, nothing is flagged"

# --- Mass encryption -----------------------------------------------------------
python3 - "$SRC" << 'EOF'
import os, sys
for root, _, files in os.walk(sys.argv[1]):
    for name in files:
        p = os.path.join(root, name)
        size = os.path.getsize(p)
        with open(p, "wb") as f:
            f.write(os.urandom(size + 16))
EOF
backup
ENCRYPTED=${POINTS[-1]}
[ "$(changes files_changed)" -ge 295 ] || fail "encrypted backup: files_changed $(changes files_changed)"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["changes"]["incompressible_share"]; assert s > 0.95, s' "$WORK/backup.json" ||
  fail "incompressible share: $(cat "$WORK/backup.json")"
obctl --json vault anomalies prod "${ADMIN[@]}" > "$WORK/anomalies.json" || fail "vault anomalies"
ID=$(python3 - "$WORK/anomalies.json" "$ENCRYPTED" "$MACHINE" << 'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["anomalies"]) == 1, d
a = d["anomalies"][0]
assert a["recovery_point"] == sys.argv[2] and a["machine"] == sys.argv[3] and a["open"], a
kinds = {f["kind"] for f in a["findings"]}
assert {"mass-change", "incompressible-data"} <= kinds, kinds
print(a["id"])
EOF
) || fail "vault anomalies: $(cat "$WORK/anomalies.json")"
obctl vault anomalies prod "${ADMIN[@]}" > "$WORK/anomalies.txt"
grep -qF "$ID" "$WORK/anomalies.txt" && grep -q "HOLDING" "$WORK/anomalies.txt" && grep -q "mass-change" "$WORK/anomalies.txt" ||
  fail "vault anomalies (text): $(cat "$WORK/anomalies.txt")"
obctl --json vault alerts prod "${ADMIN[@]}" > "$WORK/alerts.json" || fail "vault alerts"
python3 -c '
import json, sys
alerts = json.load(open(sys.argv[1]))["alerts"]
assert any(a["kind"] == "anomaly" and a["severity"] == "critical" and sys.argv[2] in a["summary"] for a in alerts), alerts
' "$WORK/alerts.json" "$ID" || fail "no anomaly alert naming $ID: $(cat "$WORK/alerts.json")"
pass "a mass encryption is flagged: obctl vault anomalies lists it with its findings, a critical alert names it"

# --- The hold: prune with the smallest retention deletes nothing -------------------
set +e
obctl prune --keep-last 1 > "$WORK/prune.out" 2> "$WORK/prune.err"
rc=$?
set -e
[ "$rc" = 3 ] || fail "prune under the hold: exit $rc $(cat "$WORK/prune.out" "$WORK/prune.err")"
grep -q "holds this machine's data" "$WORK/prune.err" && grep -qF "$ID" "$WORK/prune.err" ||
  fail "the warning does not name the hold: $(cat "$WORK/prune.err")"
obctl --json job list | python3 -c '
import json, sys
job = [j for j in json.load(sys.stdin)["jobs"] if j["type"] == "Prune"][0]
assert job["state"] == "CompletedWithWarnings" and "anomaly" in job["error"], job
' || fail "the prune job record: $(obctl --json job list)"
[ "$(point_count)" = 5 ] || fail "points after the refused prune: $(point_count)"
for id in "${POINTS[@]}"; do restores_identical "$id"; done
pass "a prune under the hold is a warning naming it; every earlier point restores byte for byte"

# --- The acknowledgement releases it ---------------------------------------------
obctl --json vault anomaly-ack prod "$ID" "${ADMIN[@]}" > "$WORK/ack.json" || fail "anomaly-ack: $(cat "$WORK/ack.json")"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); assert not a["open"] and not a["held"], a' "$WORK/ack.json" ||
  fail "anomaly-ack: $(cat "$WORK/ack.json")"
[ "$(open_anomalies)" = 0 ] || fail "the anomaly is still open"
age_recovery_points 8 # past their retention floor (7 days): only the hold is tested here
obctl --json prune --keep-last 1 > "$WORK/prune.json" || fail "prune after the ack: $(cat "$WORK/prune.json")"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert len(r["removed_points"])==4, r' "$WORK/prune.json" ||
  fail "prune after the ack: $(cat "$WORK/prune.json")"
[ "$(point_count)" = 1 ] || fail "points after the prune: $(point_count)"
restores_identical "$ENCRYPTED"
obctl --json vault audit "${ADMIN[@]}" > "$WORK/audit.json" || fail "vault audit"
python3 -c 'import json,sys; a=[e["action"] for e in json.load(open(sys.argv[1]))["entries"]]; assert "anomaly.flag" in a and "anomaly.ack" in a, a' \
  "$WORK/audit.json" || fail "the audit log lacks the anomaly: $(cat "$WORK/audit.json")"
pass "the acknowledgement releases the hold: a later prune removes the old points; flag and ack are audited"
