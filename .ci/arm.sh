#!/usr/bin/env bash
# The smoke bundle benchmarked on ARM under qemu-user emulation, as a Raspberry Pi would run it:
#   arm64 (64-bit Raspberry Pi OS / Debian 12): edgerec[device] with ai-edge-litert (numpy 2), and
#            tflite-runtime 2.14 with Debian's numpy 1.24;
#   armhf (32-bit Raspberry Pi OS):              tflite-runtime 2.14 with Debian's numpy 1.24
#            (ai-edge-litert has no armv7l wheels).
# Every row must be ok and its metrics equal to the x86 bench of the same bundle, same interpreter
# and kernels, within 1e-4 (ai-edge-litert and tflite-runtime round int8 differently: 2e-4 NDCG@10
# apart on x86 alone, so each is compared with itself).
#
#   bash .ci/arm.sh SMOKE_BUNDLE X86_AI_EDGE_LITERT_JSON X86_TFLITE_RUNTIME_REFERENCE_KERNELS_JSON WORK_DIR
#
# EDGEREC_ARM_BENCH_FLAGS adds `edgerec bench` flags to every row set (bench/platforms.py: more
# threads and batches).
#
# Needs root (debootstrap, chroot, binfmt_misc). qemu comes from bookworm-backports: Debian 12's
# qemu 7.2 crashes ai-edge-litert at Interpreter() (an emulator fault: with qemu 10 the same wheel
# and model run and match x86). Root filesystems are cached under $EDGEREC_ARM_CACHE, built into a
# temporary folder and renamed when complete, so an interrupted debootstrap is never reused.
# Emulation is slow: few runs per row, batch 1 (the accuracy pass runs batches of 1024). tflite-runtime
# 2.14's ARM builds dereference a missing int8 FULLY_CONNECTED bias at batch > 1 (a real bug, seen under
# qemu-system too: docs/arm_emulation.md); edgerec's converter gives every such op a zero bias
# (converters/fc_bias.py), so these rows run its optimized kernels, as a board would. They are compared
# with x86 tflite-runtime on its reference kernels: on 2026-12-06 arm64's optimized int8 results equalled
# those to the last digit, while x86's optimized kernels round differently (student_int8 NDCG@10
# 0.363925 against 0.363735 on the smoke bundle).
set -euo pipefail
bundle=$(realpath "$1"); x86_litert=$(realpath "$2"); x86_tflite_runtime_ref=$(realpath "$3"); work=$(realpath "$4")
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${EDGEREC_ARM_CACHE:-/var/cache/edgerec-ci}
suite=bookworm
include=python3,python3-venv,python3-pip,python3-numpy,ca-certificates
export DEBIAN_FRONTEND=noninteractive

qemu_major() { { "qemu-$1-static" --version 2>/dev/null || true; } | sed -n 's/^qemu-[a-z0-9]* version \([0-9]*\).*/\1/p'; }
aarch64=$(qemu_major aarch64); arm=$(qemu_major arm)
if [ "${aarch64:-0}" -lt 8 ] || [ "${arm:-0}" -lt 8 ] || ! command -v debootstrap > /dev/null; then
  echo "deb http://deb.debian.org/debian $suite-backports main" > /etc/apt/sources.list.d/edgerec-backports.list
  apt-get update -qq
  apt-get install -y -qq -t "$suite-backports" qemu-user-static > /dev/null
  apt-get install -y -qq debootstrap > /dev/null
fi
echo "qemu: $(qemu-aarch64-static --version | head -1)"

binfmt=/proc/sys/fs/binfmt_misc
mountpoint -q "$binfmt" || mount -t binfmt_misc binfmt_misc "$binfmt"
for arch in aarch64 arm; do  # re-register: a handler opened before a qemu upgrade keeps the old binary
  [ -e "$binfmt/qemu-$arch" ] && echo -1 > "$binfmt/qemu-$arch"
  cat "/usr/lib/binfmt.d/qemu-$arch.conf" > "$binfmt/register"
done

rootfs() {  # ARCH -> a cached root filesystem with Python, built once
  local arch=$1 dir="$cache/$suite-$1-$(echo "$include" | sha256sum | cut -c1-8)"
  if [ ! -x "$dir/usr/bin/python3" ]; then
    mkdir -p "$cache"
    rm -rf "$dir.partial"
    debootstrap --arch="$arch" --variant=minbase --include="$include" "$suite" "$dir.partial" > "$work/debootstrap-$arch.log" 2>&1 \
      || { tail -20 "$work/debootstrap-$arch.log"; return 1; }
    mv "$dir.partial" "$dir"
  fi
  echo "$dir"
}

mounted=()
cleanup() { for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done; }
trap cleanup EXIT

prepare_chroot() {  # ROOT: network, CA bundle, /proc, /dev, the bundle and the edgerec wheel inside
  local root=$1
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$root/etc/pip.conf"
  for m in proc dev; do
    if ! mountpoint -q "$root/$m"; then
      if [ "$m" = proc ]; then mount -t proc proc "$root/proc"; else mount --bind /dev "$root/dev"; fi
      mounted+=("$root/$m")
    fi
  done
  rm -rf "$root/opt/ci" && mkdir -p "$root/opt/ci"
  cp -r "$bundle" "$root/opt/ci/smoke"
  cp "$x86_litert" "$root/opt/ci/x86-ai_edge_litert.json"
  cp "$x86_tflite_runtime_ref" "$root/opt/ci/x86-tflite_runtime-reference.json"
  cp "$repo/.ci/check_bench_rows.py" "$root/opt/ci/"
  cp "$wheel" "$root/opt/ci/"
}

bench_in() {  # ROOT LABEL VENV_FLAGS PIP_SPEC RUNTIME X86_JSON [BENCH_FLAGS]: one venv, one interpreter, gated against x86
  local root=$1 label=$2 venv_flags=$3 spec=$4 runtime=$5 x86=$6 flags=${7:-} start
  start=$(date +%s)
  chroot "$root" /bin/bash -euo pipefail -c "
    cd /opt/ci
    rm -rf venv-$label && python3 -m venv $venv_flags venv-$label
    venv-$label/bin/pip install -q --disable-pip-version-check $spec
    venv-$label/bin/edgerec bench smoke --runtime $runtime $flags ${EDGEREC_ARM_BENCH_FLAGS:-} --runs 5 --warmup 1 --min-seconds 0 \
      --json $label.json > /dev/null
    echo -n '$label: '
    venv-$label/bin/python check_bench_rows.py $label.json smoke $x86"
  cp "$root/opt/ci/$label.json" "$work/arm-$label.json"
  echo "  ($(( $(date +%s) - start ))s)"
}

mkdir -p "$work/wheel"
"${PYTHON:-python3}" -m pip wheel -q --no-deps --disable-pip-version-check -w "$work/wheel" "$repo" > /dev/null
wheel=$(ls "$work"/wheel/edgerec-*.whl)
name=$(basename "$wheel")

# the two root filesystems are built side by side: each debootstrap is one emulated process
arm64_log="$work/rootfs-arm64.out"; armhf_log="$work/rootfs-armhf.out"
rootfs arm64 > "$arm64_log" & arm64_pid=$!
rootfs armhf > "$armhf_log" & armhf_pid=$!
wait "$arm64_pid" || { echo "arm64 root filesystem failed"; cat "$arm64_log"; exit 1; }
wait "$armhf_pid" || { echo "armhf root filesystem failed"; cat "$armhf_log"; exit 1; }
arm64=$(tail -1 "$arm64_log"); armhf=$(tail -1 "$armhf_log")

prepare_chroot "$arm64"
bench_in "$arm64" arm64-ai_edge_litert "" "/opt/ci/$name[device]" ai_edge_litert x86-ai_edge_litert.json
bench_in "$arm64" arm64-tflite_runtime --system-site-packages "tflite-runtime==2.14.* /opt/ci/$name" tflite_runtime \
  x86-tflite_runtime-reference.json
prepare_chroot "$armhf"
bench_in "$armhf" armhf-tflite_runtime --system-site-packages "tflite-runtime==2.14.* /opt/ci/$name" tflite_runtime \
  x86-tflite_runtime-reference.json
