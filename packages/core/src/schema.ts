/**
 * Message schemas: the Standard Schema interface (https://standardschema.dev, v1), declared here
 * so that ws-warden has no runtime dependency on a schema library. Zod, Valibot, ArkType and
 * others implement it; a handler given a `schema` gets its messages validated, and typed, first.
 *
 * @module
 */

/** A schema any Standard Schema library makes: `~standard` carries its validator. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaProps<Input, Output>
}

/** The properties of a Standard Schema. */
export interface StandardSchemaProps<Input = unknown, Output = Input> {
  readonly version: 1
  readonly vendor: string
  readonly validate: (
    value: unknown,
  ) => StandardSchemaResult<Output> | Promise<StandardSchemaResult<Output>>
  /** Types only, never a runtime value. */
  readonly types?: { readonly input: Input; readonly output: Output } | undefined
}

/** What a validation answers: the (possibly transformed) value, or the issues found. */
export type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: readonly StandardSchemaIssue[] }

/** One issue of a failed Standard Schema validation, as the schema library reports it. */
export interface StandardSchemaIssue {
  readonly message: string
  readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined
}

/** The type a schema's validation produces. */
export type InferOutput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['output']

/** One issue as an error frame carries it: its message and the path to the offending value. */
export interface MessageIssue {
  readonly message: string
  readonly path?: readonly (string | number)[]
}

/** At most this many issues go back to the client in one error frame. */
export const MAX_REPORTED_ISSUES = 10

/** The issues of a failed validation, in the frame's shape and bounded in number. */
export function reportIssues(issues: readonly StandardSchemaIssue[]): MessageIssue[] {
  return issues.slice(0, MAX_REPORTED_ISSUES).map((issue) => {
    const message = String(issue.message)
    if (issue.path === undefined || issue.path.length === 0) return { message }
    const path = issue.path.map((segment) => {
      const key = typeof segment === 'object' && segment !== null ? segment.key : segment
      return typeof key === 'number' ? key : String(key)
    })
    return { message, path }
  })
}

/** True if `value` carries a Standard Schema v1 validator. */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  const props = (value as { '~standard'?: { version?: unknown; validate?: unknown } } | null)?.[
    '~standard'
  ]
  return (
    typeof props === 'object' &&
    props !== null &&
    props.version === 1 &&
    typeof props.validate === 'function'
  )
}
