/**
 * Where the browser test finds Chromium: `CHROMIUM_PATH`, else the first of `chromium`,
 * `chromium-browser` or `google-chrome` on `PATH`, else Debian's `/usr/bin/chromium`.
 * playwright-core never downloads a browser, so when none is found the error says how to
 * point the test at one.
 */
import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'

export const NAMES = ['chromium', 'chromium-browser', 'google-chrome'] as const
export const FALLBACK = '/usr/bin/chromium'

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}

export type Found = { readonly path: string } | { readonly error: string }

/** Looks Chromium up in `env` (`CHROMIUM_PATH`, `PATH`), then at `fallback`. */
export function findChromium(
  env: Readonly<Record<string, string | undefined>> = process.env,
  fallback: string = FALLBACK,
): Found {
  const configured = env.CHROMIUM_PATH
  if (configured) {
    return executable(configured)
      ? { path: configured }
      : { error: `CHROMIUM_PATH is set to ${configured}, which is not an executable file` }
  }
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean)
  for (const name of NAMES) {
    for (const dir of dirs) {
      const path = join(dir, name)
      if (executable(path)) return { path }
    }
  }
  if (executable(fallback)) return { path: fallback }
  return {
    error:
      `no Chromium found: set CHROMIUM_PATH to a Chromium or Chrome executable, or put one of ` +
      `${NAMES.join(', ')} on PATH (Debian: \`apt-get install -y chromium\`, as .ci/run does; ` +
      `it is then ${fallback}). playwright-core never downloads a browser.`,
  }
}
