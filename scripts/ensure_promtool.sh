#!/usr/bin/env bash
# Install promtool (Debian's prometheus package) so the suite can check the alert rules.
set -u
mkdir -p var
command -v promtool >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  echo "Installing promtool (Debian package prometheus)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >var/promtool-install.log 2>&1 \
    || { echo "Could not install promtool; see var/promtool-install.log" >&2; exit 1; }
fi
command -v promtool >/dev/null 2>&1 || { echo "promtool is required (Debian: apt-get install prometheus)" >&2; exit 1; }
