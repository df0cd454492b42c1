/**
 * Micro benchmark: one connect-token verification, in process. jose's `jwtVerify` (WebCrypto,
 * the key imported once, the options ConnectTokens gives it) against ConnectTokens' HS256 path,
 * which verifies synchronously on node:crypto; ES256 through jose for scale. Ratios are taken
 * inside each run. No I/O, no sockets: this is the verification share of an admission.
 */
import { webcrypto } from 'node:crypto'
import { ConnectTokens } from '@ws-warden/core'
import { generateKeyPair, jwtVerify } from 'jose'
import type { JWTVerifyOptions } from 'jose'
import type { BenchContext } from '../harness.js'
import { SECRET } from '../harness.js'
import { ratios, summarize } from '../stats.js'
import type { BenchResult, Cell, Table } from '../table.js'

/** What ConnectTokens passes jose (its defaults), less the clock. */
const JOSE_OPTIONS: JWTVerifyOptions = {
  algorithms: ['HS256'],
  issuer: 'ws-warden',
  audience: 'ws-warden',
  typ: 'ws-connect+jwt',
  requiredClaims: ['exp', 'iat', 'jti', 'sub'],
  clockTolerance: 5,
  maxTokenAge: 3600,
}
const BURST = 100

interface Figures {
  readonly opsPerSec: number
  /** Process CPU time (every thread, so WebCrypto's thread pool too) per verification. */
  readonly cpuMicros: number
}

/** Runs `count` verifications `inflight` at a time. */
async function measure(
  count: number,
  inflight: number,
  verify: (i: number) => Promise<unknown>,
): Promise<Figures> {
  let next = 0
  const cpu = process.cpuUsage()
  const start = performance.now()
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < count) await verify(next++)
    }),
  )
  const elapsed = performance.now() - start
  const used = process.cpuUsage(cpu)
  return { opsPerSec: (count / elapsed) * 1000, cpuMicros: (used.user + used.system) / count }
}

export async function verifyBench(context: BenchContext): Promise<BenchResult> {
  const { scale, log } = context
  const count = scale.verify.ops
  const hs = new ConnectTokens({ secret: SECRET })
  const es = new ConnectTokens({ algorithm: 'ES256', ...(await generateKeyPair('ES256')) })
  // Distinct tokens, so nothing is measured on one cached input.
  const hsTokens = await Promise.all(
    Array.from({ length: 64 }, (_, i) => hs.issue({ userId: `u${i}`, permissions: ['chat'] })),
  )
  const esTokens = await Promise.all(
    Array.from({ length: 64 }, (_, i) => es.issue({ userId: `u${i}`, permissions: ['chat'] })),
  )
  const key = await webcrypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(SECRET),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['verify'],
  )
  const hsToken = (i: number): string => hsTokens[i % hsTokens.length]!.token
  const rows = {
    jose: [] as Figures[],
    joseBurst: [] as Figures[],
    sync: [] as Figures[],
    es256: [] as Figures[],
  }
  for (let run = 0; run < scale.runs; run++) {
    rows.jose.push(
      await measure(count, 1, (i) =>
        jwtVerify(hsToken(i), key, { ...JOSE_OPTIONS, currentDate: new Date() }),
      ),
    )
    rows.joseBurst.push(
      await measure(count, BURST, (i) =>
        jwtVerify(hsToken(i), key, { ...JOSE_OPTIONS, currentDate: new Date() }),
      ),
    )
    rows.sync.push(await measure(count, 1, (i) => hs.verify(hsToken(i))))
    rows.es256.push(await measure(count, 1, (i) => es.verify(esTokens[i % esTokens.length]!.token)))
    log(`verify: run ${run + 1} done`)
  }
  const ops = (figures: Figures[]): number[] => figures.map((f) => f.opsPerSec)
  const cpu = (figures: Figures[]): number[] => figures.map((f) => f.cpuMicros)
  const row = (label: string, figures: Figures[]): Cell[] => [
    label,
    summarize(ops(figures)),
    summarize(ratios(ops(figures), ops(rows.jose))),
    summarize(ratios(ops(figures), ops(rows.joseBurst))),
    summarize(cpu(figures)),
    summarize(ratios(cpu(rows.jose), cpu(figures))),
  ]
  const table: Table = {
    id: 'verify',
    title:
      'Token verification in process (micro): verifications per second and CPU per verification',
    columns: [
      { title: 'verifier', unit: 'text' },
      { title: 'verifications/s', unit: 'int' },
      { title: 'vs jose HS256, 1 at a time', unit: 'ratio' },
      { title: `vs jose HS256, ${BURST} in flight`, unit: 'ratio' },
      { title: 'CPU µs per verification', unit: 'ms' },
      { title: 'CPU ratio, jose HS256 1 at a time ÷ this', unit: 'ratio' },
    ],
    rows: [
      row('jose jwtVerify HS256, 1 at a time', rows.jose),
      row(`jose jwtVerify HS256, ${BURST} in flight`, rows.joseBurst),
      row('ConnectTokens.verify HS256 (sync node:crypto), 1 at a time', rows.sync),
      row('ConnectTokens.verify ES256 (jose), 1 at a time', rows.es256),
    ],
    notes: [
      `${count.toLocaleString('en-US')} verifications per measurement over 64 distinct tokens, ${scale.runs} runs; ratios are taken inside each run.`,
      "jose is given the key imported once and the options ConnectTokens uses; the ConnectTokens rows also read the principal from the claims, so the ratio is the sync path's gain as admission sees it.",
      'CPU is the whole process (every thread: WebCrypto runs on the libuv pool), from process.cpuUsage(); it depends less on a busy machine than the rate does.',
    ],
  }
  return { tables: [table], targets: [] }
}
