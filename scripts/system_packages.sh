#!/usr/bin/env bash
# Install the Debian packages a command needs, when they are missing. Idempotent.
#   scripts/system_packages.sh run     fonts-noto-cjk (Chinese chart labels)
#   scripts/system_packages.sh test    fonts-noto-cjk + chromium (the UI screenshot tests)
#   scripts/system_packages.sh venv PY pythonX.Y-venv when PY cannot make a virtual environment
#                                      (Debian's own python3 without its venv package)
# As root it uses apt-get; otherwise it stops at once and prints the exact command to run.
set -euo pipefail
PY=${2:-python3}
have_font() { fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || ls /usr/share/fonts/opentype/noto/NotoSansCJK-*.tt? >/dev/null 2>&1; }
missing() {
  want=()
  if [ "${1:-run}" = "venv" ]; then
    "$PY" -c "import ensurepip" 2>/dev/null || want+=("python$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv")
    return
  fi
  have_font || want+=(fonts-noto-cjk)
  if [ "${1:-run}" = "test" ]; then
    command -v chromium >/dev/null 2>&1 || want+=(chromium)
  fi
}
missing "${1:-run}"
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "threelists needs these system packages: ${want[*]}" >&2
  echo "run once:  sudo apt-get update && sudo apt-get install -y ${want[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "threelists needs these system packages: ${want[*]} (no apt-get here: install them with your system's package manager)" >&2
  exit 1
fi
# one install at a time (two checkouts set up side by side on a new machine both get here), and
# apt waits for a dpkg lock held by anything else (unattended upgrades) instead of failing
exec 9>/var/lock/threelists-system-packages.lock
flock 9
missing "${1:-run}"  # what is still missing once it is our turn
[ ${#want[@]} -eq 0 ] && exit 0
echo "installing system packages: ${want[*]} (apt-get, about a minute)"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${want[@]}" >/dev/null
