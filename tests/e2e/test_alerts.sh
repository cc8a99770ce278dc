#!/usr/bin/env bash
# ctest: every vault backend
# vaultd's alerts and audit log with the real binaries (local-folder or
# Azure backend, per VAULT_BACKEND), a real SMTP server with STARTTLS
# (smtp_sink.py, its certificate made here by openssl and given to vaultd
# as the CA to verify against) and a webhook receiver that checks the
# HMAC signature (webhook_sink.py, which fails its first request so vaultd
# must retry):
#  - a failed backup raises job_failed; it arrives by e-mail (over TLS,
#    authenticated, to both recipients) and by a correctly signed webhook;
#  - a machine with no backup within the expected interval (4 s here)
#    raises backup_missed, delivered the same ways;
#  - obctl vault alerts lists them with their delivery, vault alert-ack
#    acknowledges one (gone from the active list, shown with --all);
#  - obctl vault audit lists vault create, credentials download,
#    registration and the acknowledgement, and its hash chain verifies;
#    after one line of audit.log is edited it no longer does (exit 3,
#    naming the line after the edited one).
source "$E2E_LIB"
: "${VAULTD:?VAULTD must point at the vaultd binary}"
start_alert_sinks --fail-first 1
ALERT_ARGS+=(--expected-backup-interval-seconds 4 --missed-backup-check-seconds 0.5)
vaultd_machine alerts "${ALERT_ARGS[@]}" --alerts-smtp-ca-file "$WORK/smtp.pem"
ps -o args= -p "$VPID" > "$WORK/vaultd.args"
has -F 'mail-password-42' "$WORK/vaultd.args" && fail "the SMTP password is on vaultd's command line"

# --- A failed backup ---------------------------------------------------------
mkdir -p "$WORK/src"
echo data > "$WORK/src/file.txt"
chmod 000 "$WORK/src"
rc=0
obctl backup start --include "$WORK/src/missing" > "$WORK/backup.out" 2>&1 || rc=$?
chmod 755 "$WORK/src"
[ "$rc" != 0 ] || fail "the backup of a missing folder did not fail: $(cat "$WORK/backup.out")"
wait_for "the job_failed e-mail" "$MAIL_WITH" "$WORK/mail" "critical: The Backup job of machine '$MACHINE' failed"
wait_for "the job_failed webhook" "$HOOK_WITH" "$WORK/hooks" job_failed
python3 - "$WORK/mail" <<'EOF' || fail "the e-mail was not sent as configured"
import glob, json, sys
m = json.load(open(sorted(glob.glob(sys.argv[1] + "/*.json"))[0]))
assert m["tls"] and m["user"] == "alerts", m
assert m["mail_from"] == "<vaultd@example.test>", m
assert m["rcpt_to"] == ["<admin@example.test>", "<ops@example.test>"], m
assert "obctl vault alert-ack" in m["data"], m["data"]
EOF
python3 - "$WORK/hooks" <<'EOF' || fail "the webhook's request"
import glob, json, sys
h = json.load(open(sorted(glob.glob(sys.argv[1] + "/*.json"))[0]))
assert h["path"] == "/hooks/obagent", h
assert h["headers"]["Content-Type"] == "application/json", h
assert h["headers"]["X-Obagent-Signature"].startswith("sha256="), h
EOF
pass "a failed backup: job_failed by e-mail (STARTTLS, AUTH, verified certificate) and signed webhook (retried)"

# --- A missed backup ---------------------------------------------------------
wait_for "the backup_missed e-mail" "$MAIL_WITH" "$WORK/mail" "warning: Machine '$MACHINE' has not backed up"
wait_for "the backup_missed webhook" "$HOOK_WITH" "$WORK/hooks" backup_missed
pass "no backup within the expected interval: backup_missed delivered"

# --- Listing and acknowledging -------------------------------------------------
obctl --json vault alerts prod "${ADMIN[@]}" > "$WORK/alerts.json" || fail "vault alerts: $(cat "$WORK/alerts.json")"
FAILED_ID=$(python3 - "$WORK/alerts.json" "$MACHINE" <<'EOF'
import json, sys
out = json.load(open(sys.argv[1]))
kinds = {a["kind"]: a for a in out["alerts"]}
assert set(kinds) == {"job_failed", "backup_missed"}, kinds
a = kinds["job_failed"]
assert a["state"] == "active" and a["severity"] == "critical" and a["machine"] == sys.argv[2], a
assert a["details"]["job"]["state"] == "Failed", a
for k in kinds.values():
    for channel in ("email", "webhook"):
        assert k["delivery"][channel]["state"] == "delivered", k
print(a["id"])
EOF
) || fail "vault alerts: $(cat "$WORK/alerts.json")"
obctl vault alerts prod "${ADMIN[@]}" | has "job_failed" || fail "vault alerts (text)"
obctl --json vault alert-ack prod "$FAILED_ID" --by oncall "${ADMIN[@]}" > "$WORK/ack.json" ||
  fail "alert-ack: $(cat "$WORK/ack.json")"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); assert a["alert"]["state"]=="acknowledged" and a["alert"]["acknowledged_by"]=="oncall" and not a["already_acknowledged"], a' "$WORK/ack.json" ||
  fail "alert-ack: $(cat "$WORK/ack.json")"
obctl --json vault alerts prod "${ADMIN[@]}" | python3 -c 'import json,sys; k=[a["kind"] for a in json.load(sys.stdin)["alerts"]]; assert k==["backup_missed"], k' ||
  fail "the acknowledged alert is still listed as active"
obctl --json vault alerts prod --all "${ADMIN[@]}" | python3 -c 'import json,sys; s=sorted(a["state"] for a in json.load(sys.stdin)["alerts"]); assert s==["acknowledged","active"], s' ||
  fail "vault alerts --all"
expect_fail "no alert" obctl vault alert-ack prod 0000000000000-00000000 "${ADMIN[@]}"
pass "alerts listed, acknowledged (--by), active/all"

# --- A server certificate that does not verify ---------------------------------
# vaultd restarted with another CA: the SMTP server's certificate no longer
# verifies, so no mail is sent (the record says why); the webhook still
# delivers; the alerts and the audit log survived the restart.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$WORK/other.key" -out "$WORK/other.pem" 2> /dev/null || fail "openssl req"
kill "$VPID" && wait "$VPID" || true
MAILS_BEFORE=$(ls "$WORK/mail" | wc -l)
start_vaultd "${ALERT_ARGS[@]}" --alerts-smtp-ca-file "$WORK/other.pem" --alerts-max-attempts 2
obctl backup start --include "$WORK/src/missing" > "$WORK/backup.out" 2>&1 && fail "the backup did not fail"
ALERT_STATE='
import json, subprocess, sys
out = json.loads(subprocess.run(sys.argv[1:], capture_output=True, text=True).stdout)
new = [a for a in out["alerts"] if a["kind"] == "job_failed"]
assert new and new[0]["delivery"]["email"]["state"] == "failed", new
assert new[0]["delivery"]["webhook"]["state"] == "delivered", new
assert "TLS handshake" in new[0]["delivery"]["email"]["last_error"], new
'
wait_for "the failed e-mail delivery" "$ALERT_STATE" "$OBCTL" --json vault alerts prod "${ADMIN[@]}"
[ "$(ls "$WORK/mail" | wc -l)" = "$MAILS_BEFORE" ] || fail "a mail was sent to a server whose certificate does not verify"
obctl --json vault alerts prod --all "${ADMIN[@]}" | python3 -c 'import json,sys; k=sorted(a["kind"] for a in json.load(sys.stdin)["alerts"]); assert k==["backup_missed","job_failed","job_failed"], k' ||
  fail "the alerts did not survive the restart"
pass "an SMTP certificate that does not verify: no mail, delivery failed with the reason; alerts kept over a restart"

# --- The audit log -------------------------------------------------------------
obctl --json vault audit "${ADMIN[@]}" > "$WORK/audit.json" || fail "vault audit: $(cat "$WORK/audit.json")"
python3 - "$WORK/audit.json" "$FAILED_ID" <<'EOF' || fail "vault audit: $(cat "$WORK/audit.json")"
import json, sys
out = json.load(open(sys.argv[1]))
assert out["verified"] and out["first_bad_line"] is None, out
actions = [e["action"] for e in out["entries"]]
for want in ("vault.create", "vault.credentials", "machine.register", "alert.ack"):
    assert want in actions, actions
ack = [e for e in out["entries"] if e["action"] == "alert.ack"][0]
assert ack["details"]["alert_id"] == sys.argv[2] and ack["details"]["by"] == "oncall", ack
assert [e["seq"] for e in out["entries"]] == list(range(1, len(actions) + 1)), out
EOF
obctl vault audit "${ADMIN[@]}" | has "hash chain verifies" || fail "vault audit (text)"
# Edit the second line (the credentials download) in place.
python3 - "$VSTATE/audit.log" <<'EOF'
import sys
lines = open(sys.argv[1]).read().split("\n")
lines[1] = lines[1].replace('"actor":"admin"', '"actor":"someone"')
open(sys.argv[1], "w").write("\n".join(lines))
EOF
rc=0
obctl --json vault audit "${ADMIN[@]}" > "$WORK/audit2.json" || rc=$?
[ "$rc" = 3 ] || fail "vault audit of an edited log: exit $rc (want 3)"
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); assert not o["verified"] and o["first_bad_line"]==3, o' "$WORK/audit2.json" ||
  fail "the edited audit log verifies: $(cat "$WORK/audit2.json")"
pass "audit log: administrative requests listed, the chain verifies, an edited line is found"
