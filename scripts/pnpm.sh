#!/bin/sh
# Runs the pnpm that package.json's `packageManager` pins, without touching the user's own:
# the global pnpm when it is that version, else the same version through `npx` (fetched once
# into npm's cache; nothing is installed globally). Every root script goes through here, so it
# also turns off turbo's first-run telemetry notice.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
pinned=$(sed -n 's/.*"packageManager": *"pnpm@\([0-9][0-9A-Za-z.+-]*\)".*/\1/p' "$root/package.json")
if [ -z "$pinned" ]; then
  echo "scripts/pnpm.sh: no \"packageManager\": \"pnpm@<version>\" in $root/package.json" >&2
  exit 1
fi
export TURBO_TELEMETRY_DISABLED=1
if command -v pnpm >/dev/null 2>&1 && [ "$(pnpm --version 2>/dev/null)" = "$pinned" ]; then
  exec pnpm "$@"
fi
exec npx --yes "pnpm@$pinned" "$@"
