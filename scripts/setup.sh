#!/bin/sh
# Installs what a fresh clone needs: the workspace's packages, with the pinned pnpm
# (scripts/pnpm.sh: the global pnpm if it is that version, else through npx; a global pnpm of
# another version is left as it is).
set -e
cd "$(dirname "$0")/.."
sh scripts/pnpm.sh install --frozen-lockfile
