/**
 * Tracing without a dependency: the structural types the `tracer` option takes (an OpenTelemetry
 * `Tracer` from `@opentelemetry/api` fits them, and nothing here imports that package), the span
 * and attribute names the warden uses, and the helpers that run admissions and other work inside
 * spans.
 *
 * @module
 */
import type { Admission } from './types.js'

/** A span attribute's value (OpenTelemetry's primitive attribute values). */
export type SpanAttributeValue = string | number | boolean

/** A span's attributes. */
export type SpanAttributes = Readonly<Record<string, SpanAttributeValue>>

/** The part of an OpenTelemetry `Span` the warden uses. */
export interface TracerSpan {
  setAttribute(key: string, value: SpanAttributeValue): unknown
  /** `code` as OpenTelemetry's `SpanStatusCode`: 2 is `ERROR`. */
  setStatus(status: { code: number; message?: string }): unknown
  recordException(exception: Error | string): void
  end(): void
}

/** The part of an OpenTelemetry `Tracer` the warden uses: `trace.getTracer('ws-warden')` fits. */
export interface SpanTracer {
  /**
   * Runs `fn` with a new span as the active one, so that spans started meanwhile (the store
   * calls, a store client's own instrumentation, your `onAdmit` hook's) are its children. Across
   * `await`s that needs a context manager, which the OpenTelemetry Node SDK registers.
   */
  startActiveSpan<T>(
    name: string,
    options: { attributes?: SpanAttributes },
    fn: (span: TracerSpan) => T,
  ): T
}

/** `SpanStatusCode.ERROR` of OpenTelemetry. */
export const SPAN_STATUS_ERROR = 2

/** Span names. */
export const SpanName = {
  /** One handshake through the admission pipeline. */
  Admit: 'ws-warden.admit',
  /** One `toUser`, `toChannel` or `broadcast`. */
  Deliver: 'ws-warden.deliver',
  /** One store call (bounded by `storeTimeoutMs`). */
  Store: 'ws-warden.store',
} as const

/** Span attribute keys. */
export const SpanAttribute = {
  Outcome: 'ws_warden.outcome',
  RejectReason: 'ws_warden.reject_reason',
  Status: 'http.response.status_code',
  Target: 'ws_warden.target',
  Recipients: 'ws_warden.recipients',
  BrokerPublish: 'ws_warden.broker_publish',
  Recorded: 'ws_warden.history_recorded',
  Store: 'ws_warden.store',
  Operation: 'ws_warden.store_operation',
} as const

/**
 * Runs `work` inside an active span that ends when it settles. A rejection is recorded on the
 * span, which gets the ERROR status, and passed on.
 */
export function inSpan<T>(
  tracer: SpanTracer,
  name: string,
  attributes: SpanAttributes,
  work: (span: TracerSpan) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, (span) =>
    work(span).then(
      (value) => {
        span.end()
        return value
      },
      (error: unknown) => {
        markFailed(span, error)
        span.end()
        throw error
      },
    ),
  )
}

/** Records an error on a span and gives it the ERROR status. */
export function markFailed(span: TracerSpan, error: unknown): void {
  const exception = error instanceof Error ? error : String(error)
  span.recordException(exception)
  span.setStatus({
    code: SPAN_STATUS_ERROR,
    message: typeof exception === 'string' ? exception : exception.message,
  })
}

/**
 * A name as a snake_case label or attribute value: `rateLimits` becomes `rate_limits`. Store
 * names follow the `stores` option's keys (camelCase); metrics and spans spell them snake_case.
 */
export function snakeCase(name: string): string {
  let spelled = SNAKE_CASE.get(name)
  if (spelled === undefined) {
    spelled = name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)
    // Only the core's own names come here (the `stores` option's keys): the cache stays small.
    SNAKE_CASE.set(name, spelled)
  }
  return spelled
}

/** Names already spelled: every store call of a warden with metrics or a tracer asks. */
const SNAKE_CASE = new Map<string, string>()

/**
 * Runs one admission inside a `ws-warden.admit` span: its outcome, and for a rejection its reason
 * and HTTP status. A server-side failure (5xx: a store down, an internal error) is an ERROR; a
 * refused client (4xx) is not. No token, IP or user id is recorded.
 */
export function tracedAdmission(
  tracer: SpanTracer,
  admit: () => Promise<Admission>,
): Promise<Admission> {
  return inSpan(tracer, SpanName.Admit, {}, async (span) => {
    const admission = await admit()
    if (admission.ok) {
      span.setAttribute(SpanAttribute.Outcome, 'accepted')
      return admission
    }
    const { error } = admission
    span.setAttribute(SpanAttribute.Outcome, 'rejected')
    span.setAttribute(SpanAttribute.RejectReason, error.code)
    span.setAttribute(SpanAttribute.Status, error.status)
    if (error.status >= 500) markFailed(span, error)
    return admission
  })
}
