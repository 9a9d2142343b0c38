#!/usr/bin/env bash
# System packages the tests need that pip cannot bring: Debian's chromium, which the page test
# drives through Playwright (Playwright's own browser download is not used). Idempotent: does
# nothing when chromium is there; installs it with apt-get when running as root.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
    echo "setup_system.sh: installed $(chromium --version 2>/dev/null | head -1)"
else
    echo "setup_system.sh: chromium is not installed and this is not root; install it (apt-get install" \
         "chromium) or the page test is skipped (and fails under CI=true)" >&2
fi
