#!/usr/bin/env bash
# Debian packages the tests stand on. Installs what is missing when it can (root, or sudo
# without a password); otherwise says what to install, and the tests that need it skip.
#   g++         llama-cpp-python builds from source
#   chromium    the web UI's end-to-end test (driven by Playwright)
#   postgresql  trace storage on Postgres (a throwaway cluster per test session)
#   prometheus  its promtool checks and unit-tests the alerting rules in deploy/prometheus/ (the server
#               itself need not run)
#   docker-compose  `docker-compose config` validates deploy/compose.yaml (no container engine runs)
set -euo pipefail
want=()
command -v g++ >/dev/null || want+=(g++)
[ -x /usr/bin/chromium ] || want+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
command -v promtool >/dev/null || want+=(prometheus)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || want+=(docker-compose)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  run=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  run=(sudo)
else
  echo "system-deps: missing ${want[*]}; install them with: sudo apt-get install -y ${want[*]}" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "system-deps: missing ${want[*]} and no apt-get here; install them with your package manager" >&2
  exit 0
fi
echo "system-deps: installing ${want[*]}" >&2
DEBIAN_FRONTEND=noninteractive "${run[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${run[@]}" apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
