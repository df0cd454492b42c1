/**
 * Store URLs: which kind of store a URL names, its checks, and the redaction of its password so
 * that only the redacted form is ever printed (and the secrets scrubbed from drivers' errors).
 *
 * @module
 */
import { UsageError } from './errors.js'

/** The kinds of store a URL can name. */
export type StoreKind = 'memory' | 'redis' | 'postgres' | 'mysql'

/** A store URL, checked. */
export interface StoreUrl {
  readonly kind: StoreKind
  /** The URL as given (with its password): only ever handed to the driver. */
  readonly url: string
  /** The URL with its password replaced by `***`: the only form ever printed. */
  readonly redacted: string
  /** The password, raw and decoded, to scrub from drivers' error messages. */
  readonly secrets: readonly string[]
}

const SCHEMES: Readonly<Record<string, StoreKind>> = {
  'memory:': 'memory',
  'redis:': 'redis',
  'rediss:': 'redis',
  'postgres:': 'postgres',
  'postgresql:': 'postgres',
  'mysql:': 'mysql',
  'mariadb:': 'mysql',
}

/** The URL forms the CLI accepts, for help and errors. */
export const STORE_URL_FORMS =
  'memory:, redis://, rediss://, postgres://, postgresql://, mysql:// or mariadb://'

/** Query parameters that carry a password in some drivers' URLs. */
const SECRET_PARAMS = /^(password|pass|pwd|sslpassword)$/i

/**
 * Checks a store URL and names its kind. A bad or unsupported URL is a {@link UsageError} whose
 * message shows the URL redacted.
 */
export function parseStoreUrl(raw: string, command: string): StoreUrl {
  const redacted = redactUrl(raw)
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new UsageError(
      `--store is not a valid URL: '${redacted}' (expected ${STORE_URL_FORMS})`,
      command,
    )
  }
  const kind = SCHEMES[parsed.protocol.toLowerCase()]
  if (kind === undefined) {
    throw new UsageError(
      `unsupported store URL scheme '${parsed.protocol}' in '${redacted}' (expected ${STORE_URL_FORMS})`,
      command,
    )
  }
  if (kind === 'memory' && raw.replace(/^memory:(\/\/)?/i, '') !== '') {
    throw new UsageError(`a memory store URL is just 'memory:', got '${redacted}'`, command)
  }
  if (kind !== 'memory' && parsed.hostname === '') {
    throw new UsageError(`the store URL '${redacted}' has no host`, command)
  }
  const secrets = [parsed.password, safeDecode(parsed.password)]
  for (const [name, value] of parsed.searchParams) {
    if (SECRET_PARAMS.test(name)) secrets.push(value)
  }
  return { kind, url: raw, redacted, secrets: [...new Set(secrets.filter((s) => s !== ''))] }
}

/**
 * `raw` with the password of its user info, and any `password=` style query parameter, replaced
 * by `***`. Works on strings that are not valid URLs too, and errs on the side of hiding: when the
 * user info cannot be told apart from the rest, everything after the user name up to the last `@`
 * is hidden.
 */
export function redactUrl(raw: string): string {
  let text = raw
  const start = text.indexOf('//')
  if (start !== -1) {
    const rest = text.slice(start + 2)
    const at = rest.lastIndexOf('@')
    const colon = rest.indexOf(':')
    if (at !== -1 && colon !== -1 && colon < at) {
      text = `${text.slice(0, start + 2)}${rest.slice(0, colon)}:***${rest.slice(at)}`
    }
  }
  return text.replace(/([?&;](?:password|pass|pwd|sslpassword)=)[^&;#]*/gi, '$1***')
}

/** `text` with every secret replaced by `***`. */
export function scrub(text: string, secrets: readonly string[]): string {
  let scrubbed = text
  for (const secret of secrets) scrubbed = scrubbed.split(secret).join('***')
  return scrubbed
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}
