/**
 * Demo processes for tests: `src/main.ts` in a child process, run with the TypeScript loader
 * these tests run under, as `pnpm demo` runs it. Every wait is bounded; teardown kills what is
 * left.
 */
import type { Test } from 'tap'
import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { until } from './helpers.js'

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))

export interface DemoProcess {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exited: Promise<number | null>
}

/** Runs the demo in a child process on 127.0.0.1 and a free port (unless `env` says otherwise). */
export function run(t: Test, env: Record<string, string>): DemoProcess {
  const child = spawn(process.execPath, [...process.execArgv, main], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()))
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return { child, stdout: () => out, stderr: () => err, exited }
}

/** Waits, at most `ms`, for a promise. */
export function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_resolve, reject) =>
      setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref(),
    ),
  ])
}

const LISTENING = /listening on (http:\/\/\S+)/

/** The URL the process prints once it listens; rejects (with its stderr) if it exits first. */
export async function listening(demo: DemoProcess, ms = 30_000): Promise<string> {
  const exitedFirst = demo.exited.then((code) => {
    throw new Error(`the demo exited with ${code} before listening: ${demo.stderr().trim()}`)
  })
  exitedFirst.catch(() => {}) // the race below reports it; an exit after listening is no error
  await Promise.race([until(() => LISTENING.test(demo.stdout()), ms), exitedFirst])
  return LISTENING.exec(demo.stdout())?.[1] ?? ''
}

/** SIGTERM, and the exit code (the process is killed if it takes more than `ms`). */
export async function stop(demo: DemoProcess, ms = 15_000): Promise<number | null> {
  if (demo.child.exitCode !== null || demo.child.signalCode !== null) return demo.exited
  demo.child.kill('SIGTERM')
  try {
    return await within(ms, demo.exited)
  } catch (error) {
    demo.child.kill('SIGKILL')
    throw error
  }
}
