/**
 * Key handling for connect tokens: picks the one key source the options name (a secret, a key
 * pair, a JSON Web Key Set), checks its keys at construction and imports them once.
 *
 * @module
 */
import { hs256Secrets } from '../hs256.js'
import { KeyObject, webcrypto } from 'node:crypto'
import type { CryptoKey, JWTVerifyGetKey } from 'jose'
import type {
  JwksAlgorithm,
  JwksTokenOptions,
  KeyPairTokenOptions,
  SecretTokenOptions,
  TokenOptions,
} from './options.js'

/** What verification uses: a key, a key being imported, or a key set function. */
export type VerifyKey = CryptoKey | KeyObject | JWTVerifyGetKey | Promise<CryptoKey>

/** A signing key and its algorithm. */
export interface SigningKey {
  readonly alg: string
  readonly key: Promise<CryptoKey> | CryptoKey | KeyObject
}

/** The keys a {@link TokenOptions} names, checked. */
export interface TokenKeys {
  /** The algorithms verification accepts. */
  readonly algorithms: readonly string[]
  /** True for a JSON Web Key Set (a key lookup may fail without the token being bad). */
  readonly jwks: boolean
  readonly verifyKey: VerifyKey
  /** Undefined when the instance only verifies. */
  readonly signing: SigningKey | undefined
  /** HS256 only: every verification secret (the first signs), for the synchronous verifier. */
  readonly secrets?: readonly Uint8Array[]
}

const JWKS_ALGORITHMS: ReadonlySet<string> = new Set<JwksAlgorithm>([
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
])

/** Reads and checks the key source; throws a `TypeError` naming the option that is wrong. */
export function resolveKeys(options: TokenOptions): TokenKeys {
  const given = (['secret', 'publicKey', 'jwks'] as const).filter(
    (name) => (options as unknown as Record<string, unknown>)[name] !== undefined,
  )
  if (given.length !== 1) {
    throw new TypeError(
      'tokens needs exactly one of secret (HS256), publicKey (with algorithm) or jwks ' +
        `(with algorithms); got ${given.length === 0 ? 'none' : given.join(' and ')}`,
    )
  }
  if (given[0] === 'secret') return secretKeys(options as SecretTokenOptions)
  if (given[0] === 'publicKey') return keyPairKeys(options as KeyPairTokenOptions)
  return jwksKeys(options as JwksTokenOptions)
}

function secretKeys(options: SecretTokenOptions): TokenKeys {
  const algorithm: unknown = (options as Partial<KeyPairTokenOptions>).algorithm
  if (algorithm !== undefined && algorithm !== 'HS256') {
    throw new TypeError('tokens.algorithm must be HS256 (or left out) with tokens.secret')
  }
  const secrets = hs256Secrets(options.secret)
  const key = importHmacKey(secrets[0] as Uint8Array)
  const signing = { alg: 'HS256', key }
  return { algorithms: ['HS256'], jwks: false, verifyKey: key, signing, secrets }
}

function keyPairKeys(options: KeyPairTokenOptions): TokenKeys {
  const { algorithm, publicKey, privateKey } = options
  if (algorithm !== 'ES256' && algorithm !== 'EdDSA') {
    throw new TypeError('tokens.algorithm must be ES256 or EdDSA with tokens.publicKey')
  }
  return {
    algorithms: [algorithm],
    jwks: false,
    verifyKey: checkKey('tokens.publicKey', publicKey, algorithm, 'public'),
    signing:
      privateKey === undefined
        ? undefined
        : { alg: algorithm, key: checkKey('tokens.privateKey', privateKey, algorithm, 'private') },
  }
}

function jwksKeys(options: JwksTokenOptions): TokenKeys {
  const { jwks, algorithms } = options
  if (typeof jwks !== 'function') {
    throw new TypeError(
      'tokens.jwks must be a key set function (createRemoteJWKSet or createLocalJWKSet)',
    )
  }
  if (
    !Array.isArray(algorithms) ||
    algorithms.length === 0 ||
    !algorithms.every((alg: unknown) => typeof alg === 'string' && JWKS_ALGORITHMS.has(alg))
  ) {
    throw new TypeError(
      `tokens.algorithms must be a non-empty array of ${[...JWKS_ALGORITHMS].join(', ')}`,
    )
  }
  return { algorithms: [...algorithms], jwks: true, verifyKey: jwks, signing: undefined }
}

function importHmacKey(bytes: Uint8Array): Promise<CryptoKey> {
  // Cannot reject: the algorithm is fixed and the bytes are checked.
  return webcrypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
    'verify',
  ])
}

/** Checks a key for an algorithm and a use, at construction rather than at the first token. */
function checkKey(
  name: string,
  value: unknown,
  algorithm: 'ES256' | 'EdDSA',
  type: 'public' | 'private',
): CryptoKey | KeyObject {
  let keyObject: KeyObject
  let usages: readonly string[] | undefined
  if (value instanceof KeyObject) {
    keyObject = value
  } else {
    try {
      keyObject = KeyObject.from(value as webcrypto.CryptoKey)
    } catch {
      throw new TypeError(`${name} must be a CryptoKey or a KeyObject`)
    }
    usages = (value as webcrypto.CryptoKey).usages
  }
  if (keyObject.type !== type) throw new TypeError(`${name} must be a ${type} key`)
  const matches =
    algorithm === 'ES256'
      ? keyObject.asymmetricKeyType === 'ec' &&
        keyObject.asymmetricKeyDetails?.namedCurve === 'prime256v1'
      : keyObject.asymmetricKeyType === 'ed25519'
  if (!matches) {
    throw new TypeError(
      `${name} must be ${algorithm === 'ES256' ? 'an EC P-256' : 'an Ed25519'} key for ${algorithm}`,
    )
  }
  const usage = type === 'public' ? 'verify' : 'sign'
  if (usages !== undefined && !usages.includes(usage)) {
    throw new TypeError(`${name} must be a CryptoKey with the '${usage}' usage`)
  }
  return value as CryptoKey | KeyObject
}
