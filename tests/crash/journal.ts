/**
 * The side-effect journal: one JSON line per event, appended with O_APPEND by every process,
 * so lines from concurrent writers never interleave within a line.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs'

export interface JournalEntry {
  ev: 'begin' | 'end' | 'returned' | 'run-complete' | 'step-committed'
  run: string
  step?: string
  pid: number
  /** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
  t: number
  /** `Date.now()` when written: the clock durably compares wake-up times with. */
  now: number
}

export interface Journal {
  write(entry: Omit<JournalEntry, 'pid' | 't' | 'now'>): void
}

export const wallClock = () => performance.timeOrigin + performance.now()

export function openJournal(file: string): Journal {
  return {
    write(entry) {
      appendFileSync(
        file,
        `${JSON.stringify({ ...entry, pid: process.pid, t: wallClock(), now: Date.now() })}\n`,
      )
    },
  }
}

export function readJournal(file: string): JournalEntry[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as JournalEntry)
}
