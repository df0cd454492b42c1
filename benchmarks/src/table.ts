import type { Summary } from './stats.js'

/** How a column's numbers are printed. */
export type Unit = 'int' | 'ms' | 'ratio' | 'kib' | 'pct' | 'text'

export interface Column {
  readonly title: string
  readonly unit: Unit
}

/** A cell: text, a single number, a summary over runs, or nothing (not measured). */
export type Cell = string | number | Summary | null

/** One markdown table of one benchmark. */
export interface Table {
  readonly id: string
  readonly title: string
  readonly columns: readonly Column[]
  readonly rows: Cell[][]
  readonly notes: string[]
}

/** Where a target of the issue stands. */
export interface TargetLine {
  readonly target: string
  readonly measured: string
  /** undefined: not measured. */
  readonly met: boolean | undefined
}

/** What every benchmark returns. */
export interface BenchResult {
  readonly tables: Table[]
  readonly targets: TargetLine[]
}

export function isSummary(cell: Cell): cell is Summary {
  return typeof cell === 'object' && cell !== null
}

function number(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return '–'
  switch (unit) {
    case 'int':
      return Math.round(value).toLocaleString('en-US')
    case 'ms':
      return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toPrecision(3)
    case 'ratio':
      return `${value.toFixed(2)}x`
    case 'kib':
      return value.toFixed(2)
    case 'pct':
      return value >= 1 ? value.toFixed(2) : value.toPrecision(2)
    case 'text':
      return String(value)
  }
}

/** Formats one cell: a summary prints as `median (min–max)`. */
export function formatCell(cell: Cell, unit: Unit): string {
  if (cell === null) return 'n/a'
  if (typeof cell === 'string') return cell
  if (typeof cell === 'number') return number(cell, unit)
  if (cell.runs <= 1) return number(cell.median, unit)
  return `${number(cell.median, unit)} (${number(cell.min, unit)}–${number(cell.max, unit)})`
}

/** The markdown of a table, its notes below it. */
export function renderTable(table: Table): string {
  const head = `| ${table.columns.map((column) => column.title).join(' | ')} |`
  const rule = `|${table.columns.map((column) => (column.unit === 'text' ? '---' : '---:')).join('|')}|`
  const rows = table.rows.map(
    (row) =>
      `| ${row.map((cell, i) => formatCell(cell, table.columns[i]?.unit ?? 'text')).join(' | ')} |`,
  )
  const notes = table.notes.map((note) => `- ${note}`)
  return [
    `### ${table.title}`,
    '',
    head,
    rule,
    ...rows,
    ...(notes.length > 0 ? ['', ...notes] : []),
  ].join('\n')
}

/** A summary's median, for targets. */
export function median(cell: Cell | undefined): number {
  if (cell === undefined || cell === null || typeof cell === 'string') return Number.NaN
  return typeof cell === 'number' ? cell : cell.median
}
