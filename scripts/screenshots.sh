#!/usr/bin/env bash
# Real screenshots of the SymTUI console: the console runs in a detached tmux session of a fixed size,
# a real xterm under Xvfb is attached to it, and ImageMagick grabs the xterm window between key presses.
#
# usage (as root, from the repository root):  scripts/screenshots.sh [SYMTUI_BINARY]
#   binary: $1, else $SYMTUI_BIN, else .build/debug/symtui.  Output: screenshots/*.png
#
# It builds a throwaway scene in a temp dir (config, command strategy with harmless scripts, store),
# starts the daemon as root, creates throwaway users (st_alice, st_bob, st_carol) and a group (st_oncall)
# who file requests, and removes all of it again on exit. Idempotent: run it as often as you like.
set -euo pipefail
shopt -s inherit_errexit

die() { echo "screenshots: $*" >&2; exit 1; }
log() { echo "screenshots: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "run as root (it creates throwaway users and starts the daemon)"
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-${SYMTUI_BIN:-$REPO/.build/debug/symtui}}
[ -x "$BIN" ] || die "no symtui binary at $BIN (run 'swift build' first, or pass its path)"
OUT=$REPO/screenshots
START=$(date +%s)

# --- Debian packages (only the missing ones) -------------------------------------------------------
PKGS="xterm xvfb imagemagick x11-utils fonts-dejavu-core fonts-wqy-zenhei tmux"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  log "installing:$missing"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
IMPORT=/usr/bin/import      # a stand-in `convert`/`import` may shadow ImageMagick on PATH
CONVERT=/usr/bin/convert
[ -x "$IMPORT" ] && [ -x "$CONVERT" ] || die "ImageMagick's import/convert not found in /usr/bin"

# --- names and cleanup -----------------------------------------------------------------------------
USERS_="st_alice st_bob st_carol"
GROUP=st_oncall
SOCK=symshots                # tmux -L
TITLE="SymTUI screenshot"
DISPLAY_NUM=""
XVFB_PID="" XTERM_PID="" DAEMON_PID=""
# A fixed scene directory, so the store path in the status bar is the same on every run.
T=/tmp/symtui-shots
exec 9<"$0"; flock -n 9 || die "another run of $0 is in progress"

cleanup() {
  set +e
  tmux -L "$SOCK" kill-server >/dev/null 2>&1
  [ -n "$XTERM_PID" ] && kill "$XTERM_PID" 2>/dev/null
  [ -n "$XVFB_PID" ] && kill "$XVFB_PID" 2>/dev/null
  if [ -n "$DAEMON_PID" ]; then kill "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; fi
  for u in $USERS_; do id -u "$u" >/dev/null 2>&1 && userdel "$u" >/dev/null 2>&1; done
  getent group "$GROUP" >/dev/null && groupdel "$GROUP" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Leftovers of an interrupted run.
rm -rf "$T"; mkdir -p "$T"
tmux -L "$SOCK" kill-server >/dev/null 2>&1 || true
for u in $USERS_; do id -u "$u" >/dev/null 2>&1 && userdel "$u" >/dev/null 2>&1 || true; done
getent group "$GROUP" >/dev/null && groupdel "$GROUP" || true

# --- the scene: binary, harmless strategy scripts, config ------------------------------------------
chmod 0755 "$T"
mkdir -p "$T/bin" "$T/store" "$T/granted" "$T/home"
chmod 0755 "$T/bin" "$T/store" "$T/granted" "$T/home"
install -m 0755 "$BIN" "$T/bin/symtui"
S="$T/bin/symtui"
C="$T/config.json5"

cat > "$T/bin/grant" <<EOF
#!/bin/sh
# Screenshot scene: "grant" access by writing a marker file. Arguments: USER TARGET.
set -eu
printf '%s granted %s until %s\n' "\$1" "\$2" "\${SYMTUI_EXPIRES_AT:-}" > "$T/granted/\$1@\$2"
EOF
cat > "$T/bin/revoke" <<EOF
#!/bin/sh
# Screenshot scene: remove the marker file (idempotent).
set -eu
rm -f "$T/granted/\$1@\$2"
EOF
chmod 0755 "$T/bin/grant" "$T/bin/revoke"

cat > "$C" <<EOF
// SymTUI screenshot scene (written by scripts/screenshots.sh; everything lives in $T).
{
  store: "$T/store/symtui.db",
  strategies: [
    { name: "prod-data", type: "command",
      settings: { escalate: "$T/bin/grant", deescalate: "$T/bin/revoke", timeout: "10s" },
      targets: [
        { name: "prod-db", label: "本番データベース (prod DB)" },
        { name: "orders-db", label: "Orders DB (read-write)" },
        { name: "analytics", label: "Analytics warehouse (read-only)" },
      ] },
    { name: "bastions", type: "command",
      settings: { escalate: "$T/bin/grant", deescalate: "$T/bin/revoke", timeout: "10s" },
      targets: [
        { name: "bastion-eu", label: "SSH bastion eu-west-1" },
        { name: "bastion-us", label: "SSH bastion us-east-1" },
      ] },
  ],
  flows: [
    { name: "prod-db-access", label: "Production database access", strategy: "prod-data",
      approvers: { users: ["root"], groups: ["$GROUP"] },
      request_ttl: "2h", max_duration: "8h",
      prompt_fields: [
        { name: "reason", type: "string", label: "Why do you need access?", required: true },
        { name: "duration", type: "duration", label: "For how long?", allowed_values: ["15m", "1h", "4h"], default: "1h" },
      ] },
    { name: "ssh-bastion", label: "SSH to a production bastion", strategy: "bastions",
      approvers: { users: ["root"], groups: ["$GROUP"] },
      max_duration: "4h",
      prompt_fields: [
        { name: "reason", type: "string", label: "Why?", required: true },
        { name: "duration", type: "duration", allowed_values: ["30m", "1h", "2h"], default: "30m" },
      ] },
    { name: "db-change", label: "Schema change window", strategy: "prod-data",
      approvers: { users: ["root"], groups: ["$GROUP"] },
      additional_header_text: "Open a change ticket first; the window closes by itself.",
      max_duration: "2h",
      prompt_fields: [
        { name: "reason", type: "string", label: "What will you change?", required: true },
        { name: "ticket", type: "string", label: "Change ticket", required: true },
        { name: "tables", type: "str_list", label: "Tables touched", required: false },
        { name: "rows", type: "int", label: "Rows expected to change", required: false },
        { name: "dry_run", type: "bool", label: "Dry run first", default: true },
        { name: "buddy", type: "user", label: "Second pair of eyes", required: false },
        { name: "duration", type: "duration", label: "Window", allowed_values: ["30m", "1h", "2h"], default: "30m" },
      ] },
    { name: "restart-service", label: "Restart a production service (approval only)",
      approvers: { users: ["root"], groups: ["$GROUP"] },
      prompt_fields: [
        { name: "reason", type: "string", required: true },
        { name: "service", type: "string", label: "Service", allowed_values: ["api", "worker", "scheduler"], default: "api" },
      ] },
  ],
}
EOF
chmod 0644 "$C"
"$S" --config "$C" config check >/dev/null || die "the scene's config does not pass 'symtui config check'"

# --- daemon (as root) and throwaway users ------------------------------------------------------------
export HOME="$T/home" LANG=C.UTF-8 LC_ALL=C.UTF-8 TZ=UTC
"$S" --config "$C" daemon >"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do "$S" --config "$C" list >/dev/null 2>&1 && break; sleep 0.1; done
"$S" --config "$C" list >/dev/null || die "the daemon did not come up: $(cat "$T/daemon.log")"

groupadd "$GROUP"
for u in $USERS_; do useradd -M -d "$T/home" -s /usr/sbin/nologin -g users "$u"; done
usermod -aG "$GROUP" st_carol

# as USER symtui ARGS...: run the CLI with that user's kernel identity; prints the request id.
as() { local u=$1; shift; setpriv --reuid "$u" --regid users --init-groups "$S" --config "$C" "$@"; }
req() { local id; id=$(as "$@"); echo "$id" | tail -n1; }

# Grants first (older), then the pending queue (newest on top).
g1=$(req st_alice request prod-db-access analytics --reason "Quarterly revenue report for finance (FIN-311)" --duration 4h)
"$S" --config "$C" approve "$g1" --reason "ok, read-only" >/dev/null
g2=$(req st_carol request ssh-bastion bastion-us --reason "本番の障害調査: edge latency spike (INC-4830)" --duration 1h)
"$S" --config "$C" approve "$g2" >/dev/null
g3=$(req st_bob request prod-db-access orders-db --reason "Backfill missing invoice rows after the 2.14 migration" --duration 15m)
"$S" --config "$C" approve "$g3" --reason "pairing with carol" >/dev/null
d1=$(req st_bob request prod-db-access prod-db --reason "Quick look at a customer record" --duration 4h)
"$S" --config "$C" deny "$d1" --reason "use the read replica (analytics) instead" >/dev/null
# root's own requests (Mine): one approved by carol (on call), one still pending, one cancelled.
m1=$("$S" --config "$C" request prod-db-access prod-db --reason "Verify last night's backup restore" --duration 1h | tail -n1)
as st_carol approve "$m1" --reason "restore drill, approved" >/dev/null
m2=$("$S" --config "$C" request ssh-bastion bastion-eu --reason "Rotate host keys (CHG-1187)" --duration 30m | tail -n1)
"$S" --config "$C" cancel "$m2" >/dev/null
"$S" --config "$C" request restart-service --reason "Reload feature flags" --field service=worker >/dev/null
# The review queue.
req st_carol request db-change orders-db --reason "Add index on orders(customer_id, created_at)" \
  --field ticket=CHG-1201 --field tables=orders --field rows=0 --field dry_run=true --duration 1h >/dev/null
req st_bob request restart-service --reason "Queue consumers stuck after deploy 2024.06.3" --field service=api >/dev/null
req st_bob request ssh-bastion bastion-eu --reason "Rotate TLS certificates on the edge nodes (CHG-1193)" --duration 30m >/dev/null
req st_alice request prod-db-access prod-db --reason "INC-4821: duplicate orders in EU checkout, need to inspect rows" --duration 1h >/dev/null
sleep 1   # let the grants become active (the strategy runs in the daemon)

# --- X, tmux, xterm ----------------------------------------------------------------------------------
for n in $(seq 90 120); do [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || { DISPLAY_NUM=$n; break; }; done
[ -n "$DISPLAY_NUM" ] || die "no free X display"
Xvfb ":$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >"$T/xvfb.log" 2>&1 &
XVFB_PID=$!
export DISPLAY=":$DISPLAY_NUM"
for _ in $(seq 100); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.05; done
xdpyinfo >/dev/null 2>&1 || die "Xvfb did not start: $(cat "$T/xvfb.log")"

COLS=120 ROWS=34
tm() { tmux -L "$SOCK" "$@"; }
# Wait until the pane shows TEXT (the console redraws as soon as a key or a commit arrives), then let xterm paint.
wait_for() {
  local i
  for i in $(seq 100); do tm capture-pane -p -t shots 2>/dev/null | grep -qF -- "$1" && { sleep 0.4; return 0; }; sleep 0.05; done
  tm capture-pane -p -t shots >&2 || true
  die "timed out waiting for '$1' on screen"
}
keys() { tm send-keys -t shots "$@"; sleep 0.15; }
# Move the selection (the ▸ row) down until it matches the regex.
select_row() {
  local i
  for i in $(seq 40); do
    tm capture-pane -p -t shots | grep -qE -- "▸.*$1" && return 0
    keys Down
  done
  tm capture-pane -p -t shots >&2; die "no row matching '$1'"
}

# start_console ENV...: a fresh tmux server with the console running as root, and an xterm attached.
start_console() {
  tm kill-server >/dev/null 2>&1 || true
  [ -n "$XTERM_PID" ] && { kill "$XTERM_PID" 2>/dev/null || true; wait "$XTERM_PID" 2>/dev/null || true; XTERM_PID=""; }
  tm -f /dev/null new-session -d -s shots -x "$COLS" -y "$ROWS" \
    env "$@" TERM=tmux-256color "$S" --config "$C" "${CONSOLE_ARGS[@]}"
  tm set-option -g status off
  tm set-option -g default-terminal tmux-256color
  tm set-option -g window-size manual
  tm resize-window -t shots -x "$COLS" -y "$ROWS"
  xterm -T "$TITLE" -n "$TITLE" -u8 -fa "DejaVu Sans Mono" -fs 11 -fd "WenQuanYi Zen Hei Mono" \
    -geometry "${COLS}x${ROWS}+0+0" -bg "#101418" -fg "#d8dde3" -b 6 +sb -bw 0 \
    -xrm 'XTerm*allowTitleOps: false' -xrm 'XTerm*cursorBlink: false' -xrm 'XTerm*boldColors: false' \
    -e tmux -L "$SOCK" attach -t shots >"$T/xterm.log" 2>&1 &
  XTERM_PID=$!
  WID=""
  for _ in $(seq 100); do
    WID=$(xwininfo -name "$TITLE" 2>/dev/null | awk '/Window id:/ {print $4}') && [ -n "$WID" ] && break
    sleep 0.05
  done
  [ -n "$WID" ] || die "xterm window not found: $(cat "$T/xterm.log")"
  for _ in $(seq 100); do [ "$(tm list-clients -t shots 2>/dev/null | wc -l)" -ge 1 ] && break; sleep 0.05; done
}

mkdir -p "$OUT"
# shot NAME: grab the xterm window into screenshots/NAME.png (stripped, palette-reduced).
shot() {
  "$IMPORT" -window "$WID" "$T/$1.raw.png"
  "$CONVERT" "$T/$1.raw.png" -strip +dither -colors 128 "PNG8:$OUT/$1.png"
  log "wrote screenshots/$1.png ($(stat -c %s "$OUT/$1.png") bytes)"
}

# --- the shots ---------------------------------------------------------------------------------------
CONSOLE_ARGS=()
start_console
wait_for "daemon ok"
keys 2;           wait_for "INC-4821"
sleep 0.3
shot review

keys Escape 1;    wait_for "Schema change window"
select_row "Schema change window.*Orders DB"
keys Enter;       wait_for "Change ticket"
# Target → reason → ticket → tables → rows …: fill a few fields, leave the focus on one.
tm capture-pane -p -t shots > "$T/form.txt"
shot_form_fill() {
  keys -l "Drop the legacy coupon columns"
  keys Tab;  keys -l "CHG-1207"
  keys Tab;  keys -l "coupons,orders"
  keys Tab;  keys -l "125000"
  keys Tab;  keys Tab; keys -l "st_carol"
}
shot_form_fill
sleep 0.3
shot request-form

keys Escape;      sleep 0.3
keys 4;           wait_for "Analytics warehouse"
shot grants

keys 3;           wait_for "Reload feature flags"
shot mine

keys 5;           wait_for "Seq"
shot audit

keys 6;           wait_for "Requests per day"
shot stats

keys 2;           wait_for "INC-4821"
keys '?';         wait_for "more (j, PgDn)"
shot help
keys Escape

# Review sorted by requester (s twice: id, then requester), filtered by a regular expression, the match underlined.
keys s; keys s;   wait_for "▲"
keys /; keys -l "bastion|orders"; keys Enter
wait_for "bastion|orders"
shot sort-regex
keys :; keys -l "filter"; keys Enter; sleep 0.2

# The : command line completing a request id for :approve (the candidates show on the message row).
keys :; keys -l "approve "; keys Tab
sleep 0.3
shot command-line
keys Escape

# The wallboard: no action keys, a READ-ONLY banner.
CONSOLE_ARGS=(--readonly)
start_console
wait_for "READ-ONLY"
keys 4;           wait_for "Analytics warehouse"
shot readonly
CONSOLE_ARGS=()

start_console NO_COLOR=1
wait_for "daemon ok"
keys 2;           wait_for "INC-4821"
shot monochrome

keys q; sleep 0.2
log "done in $(( $(date +%s) - START ))s: $(cd "$OUT" && ls *.png | tr '\n' ' ')"
