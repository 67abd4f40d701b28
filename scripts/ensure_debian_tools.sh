#!/usr/bin/env bash
# Install the Debian packages the suite needs beyond PostgreSQL and Redis, when their command is missing:
# Chromium for the browser tests (Playwright drives it; no browser download) and gettext for
# compilemessages. CI and the development machines run as root, so apt-get works as it is.
set -u
mkdir -p var
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
command -v msgfmt >/dev/null 2>&1 || missing+=(gettext)
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  echo "Installing Debian packages: ${missing[*]}"
  # Another install (a second suite starting beside this one) may hold the package lock: wait for it.
  lock_wait=(-o DPkg::Lock::Timeout=600)
  (apt-get "${lock_wait[@]}" update -qq && DEBIAN_FRONTEND=noninteractive apt-get "${lock_wait[@]}" install -y -qq "${missing[@]}") >var/debian-tools-install.log 2>&1 \
    || { echo "Could not install ${missing[*]}; see var/debian-tools-install.log" >&2; exit 1; }
fi
command -v chromium >/dev/null 2>&1 || { echo "Chromium is required for the browser tests (Debian: apt-get install chromium)" >&2; exit 1; }
command -v msgfmt >/dev/null 2>&1 || { echo "gettext is required to compile translations (Debian: apt-get install gettext)" >&2; exit 1; }
