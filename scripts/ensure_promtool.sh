#!/usr/bin/env bash
# promtool, for the suite's checks of the alert rules and dashboard queries: from Debian's prometheus
# package, the promtool binary alone. The .deb is downloaded (not installed) and only usr/bin/promtool
# is extracted into var/tools/bin: no Prometheus server, no service, no web-UI dependencies.
# `make test` puts var/tools/bin first on PATH. A promtool already on PATH is used as it is.
set -u
TOOLS_BIN=var/tools/bin
mkdir -p var "$TOOLS_BIN"
if command -v promtool >/dev/null 2>&1 || [ -x "$TOOLS_BIN/promtool" ]; then exit 0; fi
LOG=var/promtool-install.log
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  echo "promtool is required: put it on PATH or in $TOOLS_BIN (it ships with Prometheus releases)" >&2
  exit 1
fi
WORK=$(mktemp -d)
chmod a+rwx "$WORK"  # apt's download user writes there
trap 'rm -rf "$WORK"' EXIT
echo "Fetching promtool (the binary from Debian's prometheus package, nothing else installed)"
{
  # apt-get download needs the package lists; an update as root refreshes them.
  { apt-cache show prometheus >/dev/null 2>&1 || { [ "$(id -u)" = "0" ] && apt-get -o DPkg::Lock::Timeout=600 update -qq; }; } &&
    (cd "$WORK" && apt-get download -qq prometheus) &&
    dpkg-deb --fsys-tarfile "$WORK"/prometheus_*.deb | tar -x -C "$WORK" ./usr/bin/promtool &&
    install -m 0755 "$WORK/usr/bin/promtool" "$TOOLS_BIN/promtool" &&
    "$TOOLS_BIN/promtool" --version
} >"$LOG" 2>&1 || { echo "Could not fetch promtool; see $LOG" >&2; exit 1; }
echo "$("$TOOLS_BIN/promtool" --version 2>&1 | head -1) in $TOOLS_BIN"
