#!/usr/bin/env bash
# Debian packages the tests need beyond Python: bubblewrap (grading sandbox) and chromium (browser tests).
set -euo pipefail
wanted=()
command -v bwrap >/dev/null || wanted+=(bubblewrap)
command -v chromium >/dev/null || wanted+=(chromium)
if ((${#wanted[@]})); then
    echo "installing ${wanted[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
fi
