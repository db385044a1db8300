/** concurrencyKey and idempotencyKey hold across worker processes, not only within one. */
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { waitUntil } from '../support/wait.js'
import {
  countByStatus,
  createScenario,
  killWorkers,
  openObserver,
  readJournal,
  type Scenario,
  spawnWorker,
  type WorkerHandle,
} from './harness.js'

describe('keys across processes', () => {
  let scenario: Scenario
  const workers: WorkerHandle[] = []
  afterEach(async () => {
    await killWorkers(workers)
    await scenario.cleanup()
  })

  it('two runs with one concurrencyKey never overlap, whichever processes run them', async () => {
    scenario = await createScenario('libsql')
    const observer = openObserver(scenario)
    try {
      await observer.migrate()
      // Every worker is polling before the first run exists, so the work is shared.
      workers.push(
        ...(await Promise.all(
          Array.from({ length: 4 }, () => spawnWorker(scenario, { DURABLY_CRASH_STEP_MS: '20' })),
        )),
      )
      const keyOf = new Map<string, string>()
      for (let n = 0; n < 24; n++) {
        const key = `tenant-${n % 2}`
        const run = await observer.jobs.work.trigger({ n }, { concurrencyKey: key })
        keyOf.set(run.id, key)
      }
      await waitUntil(async () => (await countByStatus(observer)).completed === 24, {
        timeout: 60_000,
        what: 'all keyed runs to complete',
      })

      const spans = new Map<string, { from: number; to: number; pids: Set<number> }>()
      for (const entry of readJournal(scenario.journalFile)) {
        if (entry.ev !== 'begin' && entry.ev !== 'end') continue
        const span = spans.get(entry.run) ?? { from: entry.t, to: entry.t, pids: new Set() }
        span.from = Math.min(span.from, entry.t)
        span.to = Math.max(span.to, entry.t)
        span.pids.add(entry.pid)
        spans.set(entry.run, span)
      }
      const overlaps: string[] = []
      for (const [a, spanA] of spans) {
        for (const [b, spanB] of spans) {
          if (
            a < b &&
            keyOf.get(a) === keyOf.get(b) &&
            spanA.from < spanB.to &&
            spanB.from < spanA.to
          ) {
            overlaps.push(`${a} and ${b} (${keyOf.get(a)})`)
          }
        }
      }
      expect(overlaps).toEqual([])
      // The work really was shared: otherwise the check above proves little.
      expect(new Set([...spans.values()].flatMap((span) => [...span.pids])).size).toBeGreaterThan(1)
    } finally {
      await observer.destroy()
    }
  }, 90_000)

  it('processes triggering one idempotencyKey at the same moment create exactly one run', async () => {
    scenario = await createScenario('libsql')
    const triggerers = await Promise.all(
      Array.from({ length: 4 }, () =>
        spawnWorker(scenario, { DURABLY_CRASH_MODE: 'trigger-idempotent' }),
      ),
    )
    workers.push(...triggerers)
    const answers = triggerers.map(
      (worker) =>
        new Promise<string>((resolve) => {
          createInterface({ input: worker.child.stdout! }).on('line', (line) => {
            if (line.startsWith('run ')) resolve(line.slice(4))
          })
        }),
    )
    for (const worker of triggerers) worker.child.stdin!.write('order-42\n')
    const runIds = await Promise.all(answers)
    expect(new Set(runIds).size).toBe(1)
    const observer = openObserver(scenario)
    try {
      expect(await countByStatus(observer)).toEqual({ pending: 1 })
    } finally {
      await observer.destroy()
    }
  }, 60_000)
})
