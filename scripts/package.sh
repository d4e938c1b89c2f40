#!/usr/bin/env bash
# Builds the Debian packages from this tree with Debian's own tools
# (dpkg-buildpackage -us -uc -b, debhelper's meson support; debian/), runs
# lintian on them, then installs them with dpkg -i into a throw-away root
# and tests what was installed there, as an operator would use it.
#
# The throw-away root is an overlay of / in a private mount namespace:
# dpkg, the maintainer scripts (the user vmaccel) and the agent write into
# its upper layer only, and nothing reaches this system.  Needs root.
#
#   scripts/package.sh [OUTDIR]   (the .debs are left in OUTDIR if given)
#
# Ends with "N passed, N failed", like every suite of scripts/test.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
src=$PWD
out=${1:-}
work=$(mktemp -d /tmp/vmaccel-pkg.XXXXXX)
trap 'rm -rf "$work"' EXIT
source tests/vm/check.sh # ok, fail, finish

[ "$(id -u)" -eq 0 ] || { fail "package: needs root (dpkg -i into a mount namespace)"; finish; }

# The tree as git sees it (tracked and new files, not build dirs), so
# uncommitted work is what gets packaged.
mkdir "$work/src"
git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null |
  tar -xf - -C "$work/src"

echo "== dpkg-buildpackage -us -uc -b (log: build.log)"
if (cd "$work/src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
      dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
  ok "deb-build: $(cd "$work" && echo *.deb)"
else
  tail -60 "$work/build.log"; fail "deb-build"; finish
fi
[ -n "$out" ] && mkdir -p "$out" && cp "$work"/*.deb "$out"/

# lintian: errors fail the build; warnings and the rest are listed.
echo "== lintian"
lintian --fail-on error --tag-display-limit 0 "$work"/*.changes >"$work/lintian.log" 2>&1
lrc=$?
sed 's/^/  /' "$work/lintian.log"
if [ "$lrc" -ne 0 ]; then
  fail "lintian: exit $lrc, $(grep -c '^E: ' "$work/lintian.log") errors"
else
  ok "lintian: no errors ($(grep -c '^W: ' "$work/lintian.log") warnings)"
fi

# What runs inside the namespace, in the overlay root: install, then use.
cat >"$work/in-root.sh" <<'EOF'
#!/bin/bash
set -uo pipefail
src=$1
passed=0 failed=0
check() { # check NAME COMMAND...: passes when COMMAND exits 0
  local name=$1; shift
  local log; log=$(mktemp)
  if "$@" >"$log" 2>&1; then echo "ok   $name"; passed=$((passed + 1))
  else sed 's/^/  /' "$log" | tail -30; echo "FAIL $name"; failed=$((failed + 1)); fi
  rm -f "$log"
}
has() { grep -q -- "$2" <<<"$1" || { echo "missing '$2' in:"; echo "$1"; return 1; }; }

check "dpkg -i all packages" dpkg -i /opt/vmaccel-debs/*.deb
# What runs below is what the packages installed, not a copy of the same
# name elsewhere (a `meson install` in /usr/local comes first in each path).
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
check "the programs and the library are the packages'" bash -c "
  for f in /usr/bin/vmaccel /usr/sbin/vmacceld /usr/lib/$triplet/libvmaccel.so.0; do
    dpkg -S \$f >/dev/null || exit 1; done
  ldd /usr/bin/vmaccel | grep -Eq 'libvmaccel.so.0 => (/usr)?/lib/$triplet/' &&
  ldd /usr/sbin/vmacceld | grep -Eq 'libvmaccel.so.0 => (/usr)?/lib/$triplet/' &&
  test \"\$(pkg-config --variable=pcfiledir vmaccel)\" = /usr/lib/$triplet/pkgconfig"
check "the user vmaccel exists (postinst)" getent passwd vmaccel
check "/etc/vmaccel/vmaccel.conf is a conffile" \
  sh -c 'dpkg-query -W -f="\${Conffiles}" vmacceld | grep -q "/etc/vmaccel/vmaccel.conf "'
check "systemd-analyze verify accepts the installed unit" \
  systemd-analyze verify /lib/systemd/system/vmacceld.service
check "man finds vmaccel(1) vmacceld(8) vmaccel.conf(5) vmaccel-plugin(7)" \
  sh -c 'man -w vmaccel && man -w 8 vmacceld && man -w 5 vmaccel.conf && man -w 7 vmaccel-plugin'
check "bash completion is where bash-completion looks" \
  test -f /usr/share/bash-completion/completions/vmaccel -a \
       -f /usr/share/bash-completion/completions/vmacceld
v=$(/usr/bin/vmaccel --version 2>&1)
check "vmaccel --version names library, protocol, plugin ABI" \
  has "$v" "^vmaccel [0-9.]* (library [0-9.]*, protocol [0-9]*\.[0-9]*, plugin ABI [0-9]*\.[0-9]*)$"
v=$(/usr/sbin/vmacceld --version 2>&1)
check "vmacceld --version" has "$v" "^vmacceld [0-9.]* (library "
info=$(/usr/bin/vmaccel info 2>&1)
# (remote skips itself until `remote` names an agent: used below)
check "vmaccel info: every packaged plugin loads" \
  bash -c 'for p in noop mbench exec openssl opencv blas clblast; do
             grep -q "^ *$p  *[0-9][0-9.]*  *abi " <<<"$1" ||
               { echo "no plugin $p in:"; echo "$1"; exit 1; }; done' _ "$info"

# The agent as the packaged service runs it: its installed configuration
# (agent.listen = unix:///run/vmaccel/vmacceld.sock), as the user vmaccel.
install -d -o vmaccel -g vmaccel -m 0750 /run/vmaccel
/usr/sbin/vmacceld --user vmaccel >/tmp/vmacceld.log 2>&1 &
agent=$!
for _ in $(seq 100); do [ -S /run/vmaccel/vmacceld.sock ] && break; sleep 0.1; done
check "vmacceld starts from the installed config" test -S /run/vmaccel/vmacceld.sock
export VMACCEL_REMOTE=unix:///run/vmaccel/vmacceld.sock VMACCEL_PLUGINS=remote
out=$(/usr/bin/vmaccel classify --model "$src/models/squeezenet1.0.meta" --top 1 \
        "$src/../shared/images/coffee.png" 2>&1)
check "classify through the installed agent" has "$out" "espresso"
out=$(/usr/bin/vmaccel detect --model /usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml \
        "$src/tests/data/messi5.jpg" 2>&1)
check "detect through the installed agent" has "$out" "frontalface_default  *1.00  at 226,94  37x37"
out=$(/usr/bin/vmaccel sha256 /etc/hostname 2>&1)
check "sha256 through the installed agent" has "$out" "$(sha256sum /etc/hostname | cut -c1-64)"
check "the agent runs as vmaccel" \
  sh -c "test \"\$(ps -o user= -p $agent)\" = vmaccel"
kill "$agent"; wait "$agent" 2>/dev/null
unset VMACCEL_REMOTE VMACCEL_PLUGINS
check "an application builds with pkg-config --cflags --libs vmaccel and runs" \
  sh -c "cc $src/examples/hello.c \$(pkg-config --cflags --libs vmaccel) -o /tmp/hello &&
         /tmp/hello && ldd /tmp/hello | grep -Eq 'libvmaccel.so.0 => (/usr)?/lib/'"
check "the exec plugin's test functions are not installed" \
  test ! -e "/usr/lib/$triplet/vmaccel/exec/libvmaccel-exec-demo.so"
check "python3 -c 'import vmaccel' (python3-vmaccel)" \
  /usr/bin/python3 -c 'import vmaccel
assert vmaccel.__file__.startswith("/usr/lib/python3/dist-packages/"), vmaccel.__file__
with vmaccel.Context() as c, c.session() as s: print(vmaccel.library_version(), s.sha256(b""))'
[ "$failed" -eq 0 ] || { echo "agent log:"; sed 's/^/  /' /tmp/vmacceld.log | tail -20; }
echo "$passed passed, $failed failed"
EOF
chmod +x "$work/in-root.sh"

# In a private mount namespace: the overlay, fresh /proc, /run and /dev,
# no service started (policy-rc.d), then the checks chrooted in it.
echo "== the packages installed in a throw-away root"
# A PID namespace of its own: when it ends, so does whatever it started.
timeout 900 unshare --mount --pid --fork bash -s "$work" "$src" >"$work/root.log" 2>&1 <<'EOF'
set -eu
work=$1 src=$2 root=$1/root
mount --make-rprivate /
mkdir -p "$work/upper" "$work/wk" "$root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/wk" "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys" # PoCL (hwloc) reads the CPU topology there
mount -o remount,bind,ro "$root/sys"
mount -t tmpfs tmpfs "$root/run"
mkdir -p "$root/opt/vmaccel-debs"
cp "$work"/*.deb "$root/opt/vmaccel-debs/"
cp "$work/in-root.sh" "$root/opt/in-root.sh"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" # start no service
chmod +x "$root/usr/sbin/policy-rc.d"
mount -t tmpfs tmpfs "$root/dev/shm"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  chroot "$root" /opt/in-root.sh "$src"
EOF
cat "$work/root.log"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/root.log" | tail -1)
if [ -n "$line" ]; then
  read -r p _ f _ <<<"${line//,/}"
  passed=$((passed + p)) failed=$((failed + f))
else
  fail "installed-root checks: no summary (unshare or overlay unavailable?)"
fi
finish
