import { runCli, type RunCliOptions } from '../../src/index.js'

/** What one in-process run of the CLI produced. */
export interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  /** stdout parsed as JSON (for `--json` runs). */
  json<T = Record<string, unknown>>(): T
}

/** Runs `ws-warden ...argv` in process, capturing its output. No `WS_WARDEN_STORE` unless given. */
export async function run(
  argv: string[],
  options: Omit<RunCliOptions, 'stdout' | 'stderr'> = {},
): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const code = await runCli(argv, {
    env: {},
    ...options,
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
  })
  return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T }
}
