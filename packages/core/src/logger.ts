/**
 * The default logger, which says nothing.
 *
 * @module
 */
import type { Logger } from './types.js'

const noop = (): void => {}

/** The default logger: says nothing. */
export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
}
