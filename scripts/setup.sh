#!/bin/sh
# Installs what a fresh clone needs: pnpm (from the npm registry) and the workspace's packages.
set -e
PNPM_VERSION=10.34.8
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  npm install --global --no-audit --no-fund "pnpm@$PNPM_VERSION" >/dev/null
fi
pnpm install --frozen-lockfile
