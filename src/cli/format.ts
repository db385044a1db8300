/** What the CLI prints: plain-text tables for a terminal, and the words for a run's state. */
import type { Log, Run, Step } from '../index.js'

/** Columns padded to their widest cell; cells are cut at `maxWidth` with `…`. */
export function table(head: string[], rows: string[][], maxWidth = 60): string {
  const cut = (cell: string) => {
    const flat = cell.replace(/\s+/g, ' ')
    return flat.length > maxWidth ? `${flat.slice(0, maxWidth - 1)}…` : flat
  }
  const cells = [head, ...rows].map((row) => row.map(cut))
  const widths = head.map((_, column) => Math.max(...cells.map((row) => row[column]?.length ?? 0)))
  return cells
    .map((row) =>
      row
        .map((cell, column) =>
          column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** `2026-11-24 17:45:33Z`: UTC, to the second, the same on every machine. */
export function time(iso: string | null): string {
  if (!iso) return '-'
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`
}

export function duration(from: string | null, to: string | null): string {
  if (!from || !to) return '-'
  const ms = new Date(to).getTime() - new Date(from).getTime()
  if (!Number.isFinite(ms) || ms < 0) return '-'
  if (ms < 1000) return `${ms}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`
  return `${Math.floor(ms / 3_600_000)}h${Math.floor((ms % 3_600_000) / 60_000)}m`
}

export function progress(run: Run): string {
  const p = run.progress
  if (!p) return '-'
  const amount = p.total ? `${p.current}/${p.total}` : String(p.current)
  return p.message ? `${amount} ${p.message}` : amount
}

/** A pending run's wait in words; kinds this version does not know are named as they are. */
export function waiting(run: Run): string {
  const wait = run.waitingFor as {
    kind: string
    until?: string
    step?: string
    event?: string
    name?: string
    runId?: string
  } | null
  if (run.status !== 'pending' || !wait) return '-'
  const until = wait.until ? ` until ${time(wait.until)}` : ''
  switch (wait.kind) {
    case 'delay':
      return `delayed${until}`
    case 'sleep':
      return `sleeping${until}`
    case 'event':
      return `event ${wait.event ?? '?'}${until}`
    case 'signal':
      return `signal ${wait.name ?? '?'}${until}`
    case 'child':
      return `child run ${wait.runId ?? '?'}${until}`
    default:
      return `waiting: ${wait.kind}${until}`
  }
}

export function runsTable(runs: Run[]): string {
  if (runs.length === 0) return 'No runs.'
  return table(
    ['ID', 'JOB', 'STATUS', 'PROGRESS', 'WAITING', 'CREATED', 'DURATION'],
    runs.map((run) => [
      run.id,
      run.jobName,
      run.status,
      progress(run),
      waiting(run),
      time(run.createdAt),
      duration(run.startedAt, run.completedAt),
    ]),
    40,
  )
}

export function runReport(run: Run, steps: Step[], logs: Log[]): string {
  const lines = [
    table(
      ['FIELD', 'VALUE'],
      [
        ['id', run.id],
        ['job', run.jobName],
        ['status', run.status],
        ['progress', progress(run)],
        ['waiting', waiting(run)],
        ['created', time(run.createdAt)],
        ['started', time(run.startedAt)],
        ['finished', time(run.completedAt)],
        ['duration', duration(run.startedAt, run.completedAt)],
        ['payload', JSON.stringify(run.payload) ?? 'null'],
        ...(run.error ? [['error', run.error]] : []),
        ...(run.status === 'completed' ? [['output', JSON.stringify(run.output) ?? 'null']] : []),
      ],
      100,
    ).replace(/^FIELD +VALUE\n/, ''),
    '',
    'Steps',
    steps.length === 0
      ? 'No steps.'
      : table(
          ['#', 'NAME', 'STATUS', 'DURATION', 'ERROR'],
          steps.map((step) => [
            String(step.index),
            step.name,
            step.status,
            duration(step.startedAt, step.completedAt),
            step.error ?? '',
          ]),
        ),
    '',
    'Logs',
    logs.length === 0
      ? 'No logs.'
      : table(
          ['TIME', 'LEVEL', 'STEP', 'MESSAGE'],
          logs.map((log) => [time(log.createdAt), log.level, log.stepName ?? '-', log.message]),
          100,
        ),
  ]
  return lines.join('\n')
}
