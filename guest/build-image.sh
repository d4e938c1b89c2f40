#!/usr/bin/env bash
# Builds what a QEMU guest boots: a Debian kernel and an initramfs holding
# busybox, the virtio modules, and vmaccel's guest side (the CLI, the
# library, the remote plugin, vmaccel-e2e and the demo data).
#
#   guest/build-image.sh BUILD_DIR    (BUILD_DIR: a meson build of vmaccel)
#
# Output in BUILD_DIR/guest: vmlinuz, initramfs.cpio.gz.  The kernel package
# is fetched once with apt-get download (never installed on the host) and
# cached there; the initramfs is rebuilt every time (a second or two).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=$(cd "${1:?usage: build-image.sh BUILD_DIR}" && pwd)
out=$build/guest
mkdir -p "$out"

# --- the kernel and its modules, from the linux-image-amd64 package -------
kpkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
[ -n "$kpkg" ] || { echo "build-image: no kernel package behind linux-image-amd64" >&2; exit 1; }
kdir=$out/kernel/$kpkg
if [ ! -f "$kdir/.done" ]; then
  rm -rf "$out/kernel" && mkdir -p "$kdir"
  echo "build-image: fetching $kpkg" >&2
  (cd "$kdir" && apt-get download -q "$kpkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
  deb=$(ls "$kdir"/*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || { echo "build-image: apt-get download $kpkg failed" >&2; exit 1; }
  # Only the kernel and the few module directories the guest needs.
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kdir" --wildcards './boot/vmlinuz-*' \
    './lib/modules/*/kernel/drivers/virtio/*' './lib/modules/*/kernel/drivers/char/virtio_console.ko' \
    './lib/modules/*/kernel/net/vmw_vsock/*'
  rm -f "$deb"
  touch "$kdir/.done"
fi
cp -f "$kdir"/boot/vmlinuz-* "$out/vmlinuz"

# Modules in dependency order (each module's depends= from modinfo).
want=(virtio_pci virtio_console vsock vmw_vsock_virtio_transport vsock_loopback)
declare -A path=() done=()
while read -r ko; do path[$(basename "$ko" .ko)]=$ko; done < <(find "$kdir/lib/modules" -name '*.ko')
order=()
add_module() {
  local m=$1 dep
  [ -n "${done[$m]:-}" ] && return
  done[$m]=1
  [ -n "${path[$m]:-}" ] || { echo "build-image: module $m not found" >&2; exit 1; }
  for dep in $(modinfo -F depends "${path[$m]}" | tr ',' ' '); do add_module "$dep"; done
  order+=("$m")
}
for m in "${want[@]}"; do add_module "$m"; done

# --- the initramfs tree ----------------------------------------------------
tree=$out/tree
rm -rf "$tree"
mkdir -p "$tree"/{bin,dev,proc,sys,tmp,lib64,usr/lib/vmaccel/plugins,usr/bin,lib/modules,data}
cp /bin/busybox "$tree/bin/busybox"
for app in $(/bin/busybox --list); do [ "$app" = busybox ] || ln -s busybox "$tree/bin/$app"; done
for m in "${order[@]}"; do cp "${path[$m]}" "$tree/lib/modules/"; done
printf '%s\n' "${order[@]}" >"$tree/lib/modules/order"
install -m 755 "$here/init" "$tree/init"

# Binaries, and every shared library they load (found with ldd).
# Also vmacceld with the dependency-free noop and mbench backends (in
# /usr/lib/vmaccel/agent-plugins), so a test can run the agent inside the
# guest and exercise AF_VSOCK over the guest's vsock loopback.
cli=$build/tools/vmaccel
[ -f "$cli" ] || cli=$build/tools/vmaccel/vmaccel
bins=("$cli" "$build/tests/vmaccel-e2e" "$build/agent/vmacceld")
libs=("$build/plugins/vmaccel-remote.so" "$build/plugins/vmaccel-noop.so" "$build/plugins/vmaccel-mbench.so")
cp "${bins[@]}" "$tree/usr/bin/"
cp "${libs[0]}" "$tree/usr/lib/vmaccel/plugins/"
mkdir -p "$tree/usr/lib/vmaccel/agent-plugins"
cp "${libs[@]:1}" "$tree/usr/lib/vmaccel/agent-plugins/"
for f in "${bins[@]}" "${libs[@]}"; do
  ldd "$f" | awk '/=> \//{print $3} /^\t\/lib64/{print $1}'
done | sort -u | while read -r lib; do
  case $lib in
    */ld-linux-x86-64.so.2) cp -L "$lib" "$tree/lib64/" ;;
    *) cp -L "$lib" "$tree/usr/lib/" ;;
  esac
done

# Demo data: the model bundle and the photos, when ../shared has them.
shared=$root/../shared
if [ -d "$shared/models/squeezenet1.0" ]; then
  cp "$shared/models/squeezenet1.0/model.onnx" "$shared/models/squeezenet1.0/labels.txt" "$tree/data/"
  sed -e 's#^model = .*#model = model.onnx#' -e 's#^labels = .*#labels = labels.txt#' \
    "$root/models/squeezenet1.0.meta" >"$tree/data/squeezenet1.0.meta"
  cp "$shared"/images/*.png "$shared"/images/*.jpg "$tree/data/" 2>/dev/null || true
fi

# The face detector (models/face.meta, Debian's cascade) and its photo.
cascade=$(sed -n 's/^model = //p' "$root/models/face.meta")
if [ -f "$cascade" ]; then
  cp "$cascade" "$root/models/face.labels" "$root/tests/data/messi5.jpg" "$tree/data/"
  sed "s#^model = .*#model = ${cascade##*/}#" "$root/models/face.meta" >"$tree/data/face.meta"
fi

# Debian's Python with the part of its library that starting up and
# `import vmaccel` load, the binding (its library: the guest's), and the
# Python examples: a guest runs them as a host does (tests/vm/e2e.sh).
py=$(readlink -f /usr/bin/python3 2>/dev/null || true)
if [ -x "$py" ] && [ -f "$build/python/vmaccel/_paths.py" ]; then
  pylib=$tree/usr/lib/python3/dist-packages/vmaccel
  mkdir -p "$pylib" "$tree/usr/share/vmaccel/examples"
  cp "$py" "$tree/usr/bin/python3"
  mods=$(PYTHONPATH=$build/python "$py" -c '
import sys, vmaccel
for m in list(sys.modules.values()):
    f = getattr(m, "__file__", None) or ""
    if f.startswith(sys.base_prefix + "/lib/python3."):
        print(f)') || { echo "build-image: python3 cannot import vmaccel" >&2; exit 1; }
  for f in $mods; do cp --parents "$f" "$tree/"; done
  for f in "$py" $(grep '\.so$' <<<"$mods"); do
    ldd "$f" | awk '/=> \//{print $3}'
  done | sort -u | while read -r lib; do cp -L -n "$lib" "$tree/usr/lib/"; done
  cp "$root"/python/vmaccel/{__init__,_core,_lib}.py "$pylib/"
  echo 'LIBRARY = "/usr/lib/libvmaccel.so.0"  # the guest image'"'"'s' >"$pylib/_paths.py"
  cp "$root"/examples/python/*.py "$tree/usr/share/vmaccel/examples/"
fi

(cd "$tree" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) |
  gzip -1 >"$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
rm -rf "$tree"
echo "build-image: $out/vmlinuz ($kpkg), $out/initramfs.cpio.gz ($(du -h "$out/initramfs.cpio.gz" | cut -f1))" >&2
