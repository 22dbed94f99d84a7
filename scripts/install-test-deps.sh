#!/usr/bin/env bash
# Install the Debian packages the test suite needs; idempotent, and silent when everything is present.
#
# Usage: scripts/install-test-deps.sh
# As root it runs apt-get itself; otherwise through sudo, or it prints the command to run and exits 1.
set -euo pipefail

# One line per dependency: "<check> <package> [<fallback package>...]".
# <check> says how to tell the dependency is already there:
#   file:GLOB  a file matching GLOB exists        cmd:NAME  NAME is on PATH
#   pkg:NAME   dpkg has package NAME installed
# The first package that apt can install is installed; the others are fallbacks for other releases.
# Add new dependencies here (e.g. "cmd:prometheus prometheus", "cmd:chromium chromium",
# "file:/usr/share/postgresql/15/extension/hypopg.control postgresql-15-hypopg").
DEPENDENCIES=(
  "file:/usr/lib/postgresql/*/bin/postgres postgresql-15 postgresql"
  "cmd:prometheus prometheus"
  "cmd:prometheus-alertmanager prometheus-alertmanager"
  "cmd:wrk wrk"
  "cmd:chromium chromium"
  "file:/usr/share/postgresql/15/extension/hypopg.control postgresql-15-hypopg"
)

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

is_present() {
  local check=$1 kind=${1%%:*} arg=${1#*:} path
  case $kind in
    file)
      for path in $arg; do # unquoted on purpose: $arg is a glob
        [[ -e $path ]] && return 0
      done
      return 1
      ;;
    cmd) command -v "$arg" >/dev/null 2>&1 ;;
    pkg) [[ "$(dpkg-query -W -f='${Status}' "$arg" 2>/dev/null || true)" == "install ok installed" ]] ;;
    *)
      log "unknown check '$check' in DEPENDENCIES"
      exit 2
      ;;
  esac
}

# The first of the given packages that apt has a candidate version for (the first one if none).
pick_package() {
  local package candidate
  for package in "$@"; do
    candidate=$(apt-cache policy "$package" 2>/dev/null | awk '/Candidate:/ { print $2; exit }')
    if [[ -n $candidate && $candidate != "(none)" ]]; then
      printf '%s\n' "$package"
      return
    fi
  done
  printf '%s\n' "$1"
}

missing=()
for dependency in "${DEPENDENCIES[@]}"; do
  read -r -a fields <<<"$dependency"
  is_present "${fields[0]}" || missing+=("$dependency")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "missing test dependencies and no apt-get to install them: ${missing[*]}"
  exit 1
fi

if ((EUID == 0)); then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  as_root=()
fi

# Refresh the package lists (needed on a fresh machine) before choosing among fallbacks.
updated=false
if ((EUID == 0 || ${#as_root[@]} > 0)); then
  log "apt-get update"
  "${as_root[@]}" apt-get update -qq
  updated=true
fi

packages=()
for dependency in "${missing[@]}"; do
  read -r -a fields <<<"$dependency"
  packages+=("$(pick_package "${fields[@]:1}")")
done

install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}")
if [[ $updated == false ]]; then
  log "missing test dependencies; as root, run:"
  printf '  apt-get update && %s\n' "${install[*]}" >&2
  exit 1
fi

log "installing ${packages[*]}"
"${as_root[@]}" "${install[@]}"

still_missing=()
for dependency in "${missing[@]}"; do
  read -r -a fields <<<"$dependency"
  is_present "${fields[0]}" || still_missing+=("${fields[0]}")
done
if ((${#still_missing[@]} > 0)); then
  log "still missing after installing ${packages[*]}: ${still_missing[*]}"
  exit 1
fi
