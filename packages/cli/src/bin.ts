#!/usr/bin/env node
/**
 * The `ws-warden` executable: runs the command line and exits with its code, without waiting
 * on a driver's stray socket.
 *
 * @module
 */
import { runCli } from './cli.js'

const code = await runCli(process.argv.slice(2))
process.exitCode = code
// Every connection is closed by now; should a driver still hold a socket open, do not hang a
// cron job on it. The timer does not keep the process alive by itself.
setTimeout(() => process.exit(code), 2000).unref()
