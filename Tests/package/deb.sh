#!/usr/bin/env bash
# The Debian package on this machine: lintian, install, the installed files, a changed config kept across a
# reinstall, the store_group made by postinst, a smoke through the installed binary and unit (a request and an
# approval as throwaway users, metrics, a backup, completion), and a purge that leaves nothing behind.
# usage: Tests/package/deb.sh DEB (as root; refuses to run when symtui is already installed). Closes with
# "package: N passed, M failed".
set -uo pipefail
deb=${1:?usage: Tests/package/deb.sh DEB}
deb=$(readlink -f "$deb")
passed=0 failed=0
log=$(mktemp)
hex=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
p="st_${hex}"
daemon_pid=""

cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  if dpkg -s symtui >/dev/null 2>&1 && [ -n "${installed_by_us:-}" ]; then dpkg --purge symtui >/dev/null 2>&1; fi
  for u in "${p}_a" "${p}_c"; do userdel "$u" >/dev/null 2>&1; done
  for g in "${p}_oncall" "${p}_target" "${p}_readers"; do groupdel "$g" >/dev/null 2>&1; done
  rm -f "$log"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# check NAME COMMAND...: one test; its output is shown only when it fails.
check() {
  local name=$1; shift
  if "$@" >"$log" 2>&1; then echo "ok    $name"; passed=$((passed + 1))
  else echo "FAIL  $name"; sed 's/^/      /' "$log" | tail -20; failed=$((failed + 1)); fi
}
finish() { echo; echo "package: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

if [ "$(id -u)" -ne 0 ]; then echo "Tests/package/deb.sh: needs root (dpkg -i)"; failed=1; finish; fi
if dpkg -s symtui >/dev/null 2>&1; then echo "Tests/package/deb.sh: symtui is installed already; this test would purge it"; failed=1; finish; fi
for d in /etc/symtui /var/lib/symtui /run/symtui; do
  if [ -e "$d" ]; then echo "Tests/package/deb.sh: $d exists (not from the package); this test would replace and purge it"; failed=1; finish; fi
done

as() { local who=$1; shift; setpriv --reuid "${p}_$who" --regid users --init-groups env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME=/nonexistent "$@"; }

lintian_clean() { lintian --fail-on error --tag-display-limit 0 "$deb"; }
check "lintian reports no errors" lintian_clean

install_deb() { DEBIAN_FRONTEND=noninteractive dpkg -i "$deb"; }
check "dpkg -i installs it" install_deb
installed_by_us=1
dpkg -L symtui | sort > "$log.files"

installed_files() {
  /usr/bin/symtui version | grep -q '^symtui ' &&
  grep -q '^ExecStart=/usr/bin/symtui --config /etc/symtui/config.json5 daemon$' /lib/systemd/system/symtui.service &&
  man -w symtui | grep -q '/usr/share/man/man1/symtui.1.gz' && man -w 5 symtui-config | grep -q 'symtui-config.5.gz' &&
  [ -f /usr/share/bash-completion/completions/symtui ] && [ -f /usr/share/zsh/vendor-completions/_symtui ] &&
  [ -f /usr/share/fish/vendor_completions.d/symtui.fish ] &&
  dpkg-query -W -f='${Conffiles}\n' symtui | grep -q '/etc/symtui/config.json5' &&
  [ "$(stat -c '%a %U %G' /var/lib/symtui)" = "755 root root" ] &&
  /usr/bin/symtui config check /etc/symtui/config.json5 && ! file /usr/bin/symtui | grep -q 'not stripped' &&
  ! ldd /usr/bin/symtui | grep -q 'libswift\|libFoundation'
}
check "binary (static Swift runtime), unit, man pages, completions, conffile and state directory are installed" installed_files
installed_man_pages() { for page in symtui symtui-config; do man --warnings -l "$(man -w "$page")" >/dev/null 2>"$log.man" || return 1; [ ! -s "$log.man" ] || { cat "$log.man"; return 1; }; done; }
check "the installed man pages render without warnings" installed_man_pages
unit_score() {
  score=$(systemd-analyze security --offline=yes /lib/systemd/system/symtui.service 2>/dev/null | sed -n 's/.*exposure level for symtui.service: \([0-9.]*\).*/\1/p')
  echo "exposure $score"; awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 3.0) }'
}
check "the installed unit's exposure score is at most 3.0" unit_score

# A real config: a unix_group target, approvers in a throwaway group, trusted readers in store_group.
groupadd "${p}_oncall" && groupadd "${p}_target" &&
useradd -M -s /usr/sbin/nologin -g users -d /nonexistent "${p}_a" &&
useradd -M -s /usr/sbin/nologin -g users -d /nonexistent -G "${p}_oncall" "${p}_c" || { echo "cannot make throwaway users"; failed=$((failed + 1)); finish; }
cat > /etc/symtui/config.json5 <<CONFIG
// package smoke test
{
  store: "/var/lib/symtui/symtui.db",
  socket: "/run/symtui/symtui.sock",
  store_group: "${p}_readers", store_mode: "0640",
  strategies: [ { name: "grp", type: "unix_group", targets: [ { name: "tgt", settings: { group: "${p}_target" } } ] } ],
  flows: [ { name: "grp", strategy: "grp", approvers: { groups: ["${p}_oncall"] },
             prompt_fields: [ { name: "reason", type: "string", label: "Why?" }, { name: "duration", type: "duration", label: "How long" } ] } ],
}
CONFIG
cp /etc/symtui/config.json5 "$log.config"
reinstall_keeps_config() { DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" && cmp /etc/symtui/config.json5 "$log.config"; }
check "a reinstall keeps the changed config" reinstall_keeps_config
check "postinst creates the store_group the config names" getent group "${p}_readers"

start_daemon() {
  if [ "$(ps -p 1 -o comm=)" = systemd ]; then systemctl daemon-reload && systemctl start symtui; else
    # No systemd here: the unit's ExecStart by hand, with the directory RuntimeDirectory= would make.
    exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/symtui.service)
    install -d -m 0755 /run/symtui
    read -ra argv <<<"$exec_start"
    "${argv[@]}" >"$log.daemon" 2>&1 &
    daemon_pid=$!
  fi
  for _ in $(seq 100); do [ -S /run/symtui/symtui.sock ] && return 0; sleep 0.1; done
  cat "$log.daemon"; return 1
}
check "the unit's ExecStart serves the socket" start_daemon

smoke() {
  id=$(as a /usr/bin/symtui request grp tgt --duration 10m --reason "package smoke") && [[ "$id" =~ ^[0-9]+$ ]] &&
  as c /usr/bin/symtui approve "$id" &&
  for _ in $(seq 50); do /usr/bin/symtui show "$id" --json | grep -Eq '"state" *: *"active"' && break; sleep 0.1; done &&
  /usr/bin/symtui show "$id" --json | grep -Eq '"state" *: *"active"' &&
  getent group "${p}_target" | grep -q "${p}_a" &&
  as a /usr/bin/symtui metrics | grep -q '^symtui_grants_active 1$' &&
  /usr/bin/symtui backup /var/backups/symtui/smoke.db && /usr/bin/symtui --db /var/backups/symtui/smoke.db audit verify &&
  as c /usr/bin/symtui revoke "$id" --reason "smoke done" &&
  for _ in $(seq 50); do getent group "${p}_target" | grep -q "${p}_a" || break; sleep 0.1; done &&
  ! getent group "${p}_target" | grep -q "${p}_a"
}
check "a request and an approval through the installed binary grant the group; metrics, backup, revoke" smoke
completion_loads() { bash --norc -c 'source /usr/share/bash-completion/completions/symtui && complete -p symtui' | grep -q '_symtui symtui$'; }
check "the installed bash completion loads" completion_loads

stop_daemon() {
  if [ -n "$daemon_pid" ]; then kill -TERM "$daemon_pid" && wait "$daemon_pid"; local rc=$?; daemon_pid=""; return $rc; fi
  systemctl stop symtui
}
check "the daemon stops cleanly" stop_daemon
rm -f /var/backups/symtui/smoke.db

purge_leaves_nothing() {
  dpkg --purge symtui || return 1
  dpkg -s symtui >/dev/null 2>&1 && { echo "still installed"; return 1; }
  local left=0
  while read -r f; do
    case "$f" in /|/etc|/lib|/lib/systemd|/lib/systemd/system|/usr|/usr/bin|/usr/share|/usr/share/*/|/usr/share/man|/usr/share/man/man[0-9]) continue ;; esac
    if [ -e "$f" ] && ! [ -d "$f" ]; then echo "left behind: $f"; left=1; fi
    if [ -d "$f" ] && [[ "$f" == *symtui* ]]; then echo "left behind: $f/"; left=1; fi
  done < "$log.files"
  for d in /etc/symtui /var/lib/symtui /run/symtui /var/backups/symtui; do [ -e "$d" ] && { echo "left behind: $d"; left=1; }; done
  getent group "${p}_readers" && { echo "the store_group postinst made is still there"; left=1; }
  [ "$left" -eq 0 ]
}
check "dpkg --purge leaves nothing behind (files, store, directories, the group it made)" purge_leaves_nothing
installed_by_us=""
rm -f "$log.files" "$log.config" "$log.daemon" "$log.man"
finish
