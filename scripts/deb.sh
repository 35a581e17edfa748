#!/usr/bin/env bash
# Builds the Debian package with dpkg-deb: the static release binary in /usr/bin, the systemd unit, the man pages,
# bash/zsh/fish completions, and /etc/symtui/config.json5 (a conffile: the `symtui init` starter, pointed at
# /var/lib/symtui). Maintainer scripts: contrib/debian/. usage: scripts/deb.sh [BIN] [OUTDIR]; prints the .deb's path.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/release/symtui}
out=${2:-.build/deb}
version=$("$bin" version | awk '{print $2}')
arch=$(dpkg --print-architecture)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
umask 022

install -D -m 0755 "$bin" "$root/usr/bin/symtui"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/symtui"
install -D -m 0644 /dev/null "$root/lib/systemd/system/symtui.service"
sed 's|/usr/local/bin/symtui|/usr/bin/symtui|g' contrib/symtui.service > "$root/lib/systemd/system/symtui.service"

install -d "$root/usr/share/man/man1" "$root/usr/share/man/man5"
"$bin" help --man | gzip -9n > "$root/usr/share/man/man1/symtui.1.gz"
python3 scripts/man-config.py docs/configuration.md "$version" | gzip -9n > "$root/usr/share/man/man5/symtui-config.5.gz"

install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d"
"$bin" completion bash > "$root/usr/share/bash-completion/completions/symtui"
"$bin" completion zsh > "$root/usr/share/zsh/vendor-completions/_symtui"
"$bin" completion fish > "$root/usr/share/fish/vendor_completions.d/symtui.fish"

install -d -m 0755 "$root/etc/symtui"
"$bin" init "$root/etc/symtui/config.json5" >/dev/null
sed -i -e 's|^  // store: "/var/lib/symtui/symtui.db",|  store: "/var/lib/symtui/symtui.db",|' \
       -e 's|^  // socket: "/run/symtui/symtui.sock",|  socket: "/run/symtui/symtui.sock",|' "$root/etc/symtui/config.json5"
grep -q '^  store: "/var/lib/symtui/symtui.db",' "$root/etc/symtui/config.json5" || { echo "deb.sh: the starter config has no store line to set" >&2; exit 1; }
chmod 0644 "$root/etc/symtui/config.json5"
"$bin" config check "$root/etc/symtui/config.json5" >/dev/null

doc="$root/usr/share/doc/symtui"
install -d "$doc"
cat > "$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: symtui
Source: https://github.com/symtui/symtui

Files: *
Copyright: 2026 the SymTUI authors
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
 documentation files (the "Software"), to deal in the Software without restriction, including without limitation
 the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and
 to permit persons to whom the Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all copies or substantial portions of
 the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.
COPYRIGHT
printf 'symtui (%s) unstable; urgency=medium\n\n  * Package built by scripts/deb.sh.\n\n -- SymTUI maintainers <maintainers@symtui.invalid>  %s\n' \
  "$version" "$(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" | gzip -9n > "$doc/changelog.gz"

# Shared-library dependencies of the binary (the Swift runtime is linked in statically).
shlib=$(mktemp -d)
mkdir -p "$shlib/debian"
printf 'Source: symtui\n\nPackage: symtui\nArchitecture: any\n' > "$shlib/debian/control"
depends=$(cd "$shlib" && dpkg-shlibdeps -O "$root/usr/bin/symtui" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
rm -rf "$shlib"
[ -n "$depends" ] || { echo "deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

install -d "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: symtui
Version: $version
Architecture: $arch
Maintainer: SymTUI maintainers <maintainers@symtui.invalid>
Installed-Size: $size
Depends: $depends, passwd, adduser
Recommends: sudo, python3
Suggests: openssh-client, prometheus-node-exporter
Section: admin
Priority: optional
Homepage: https://github.com/symtui/symtui
Description: just-in-time access flows in the terminal
 A requester asks for temporary access (a Unix group, a sudo rule, an SSH
 certificate, a database role); approvers decide in a console or on the
 command line; a root daemon grants the access and takes it away when it
 ends. Every step goes to a hash-chained audit log.
CONTROL
echo /etc/symtui/config.json5 > "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "contrib/debian/$s" "$root/DEBIAN/$s"; done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control" "$root/DEBIAN/conffiles"

mkdir -p "$out"
deb="$out/symtui_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
