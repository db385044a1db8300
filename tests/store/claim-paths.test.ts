/**
 * SQLite's claim has a quick statement for plain runs and a full one for everything else. The
 * quick one must take exactly the run the full one would, or nothing: here both (and the
 * family's claim, which chooses between them) drain the same random tables, built from the
 * same seed, in the same order. (PostgreSQL's claim has one statement; a family that gains a
 * quick one joins the list below.)
 */

import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { Kysely } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import type { SqlFamily } from '../../src/store/family.js'
import { migrate } from '../../src/store/migrations.js'
import type { ClaimedRow, Database } from '../../src/store/schema.js'
import { claimRun as sqliteClaimRun } from '../../src/store/sqlite-claim.js'
import { sqliteFamily } from '../../src/store/sqlite-family.js'
import { type ClaimRequest, NEVER } from '../../src/store/store.js'
import { tempDir } from '../support/backends.js'

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup()
})

interface ClaimPaths {
  family: SqlFamily
  open(): Promise<Kysely<Database>>
  claimRun(
    db: Kysely<Database>,
    request: ClaimRequest,
    tryQuick: boolean,
  ): Promise<{ row: ClaimedRow; quick: boolean } | null>
}

const sqlite: ClaimPaths = {
  family: sqliteFamily,
  claimRun: sqliteClaimRun,
  async open() {
    const dir = tempDir('claim')
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const url = `file:${join(dir, 'claim.db')}`
    const db = new Kysely<Database>({
      dialect: new LibsqlDialect({ client: createClient({ url }) }),
    })
    await migrate(db, sqliteFamily)
    return db
  },
}

/** A small seeded generator (mulberry32): each table is reproducible from its seed. */
function generator(seed: number) {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]) => items[Math.floor(next() * items.length)] as T,
    int: (low: number, high: number) => low + Math.floor(next() * (high - low + 1)),
  }
}

// The tables are built around this moment (a family judging staleness by its own clock agrees).
const NOW = Date.now()
const at = (offsetMs: number) => new Date(NOW + offsetMs).toISOString()

/** Thirty runs mixing every state a claim meets: due, future, parked, stale, keyed, throttled, ranked. */
async function fill(db: Kysely<Database>, seed: number): Promise<void> {
  await db.deleteFrom('durably_runs').execute()
  await db.deleteFrom('durably_throttle_slots').execute()
  const random = generator(seed)
  // Every other table has no priorities: a due ranked run sends every claim to the full statement.
  const ranked = seed % 2 === 0 ? 0.3 : 0
  const keys = { k1: random.int(1, 2), k2: random.int(1, 2) }
  const slotsTaken = new Map<string, number>()
  const rows: Record<string, unknown>[] = []
  for (let index = 0; index < 30; index++) {
    const status = random.pick(['pending', 'pending', 'pending', 'running', 'completed'] as const)
    const key = random.chance(0.4) ? random.pick(['k1', 'k2'] as const) : null
    let slot: number | null = null
    if (status === 'running' && key) {
      slot = slotsTaken.get(key) ?? 0
      if (slot >= keys[key]) continue
      slotsTaken.set(key, slot + 1)
    }
    const throttled = random.chance(0.2)
    const started = status !== 'pending' || random.chance(0.2)
    const availableAt =
      status !== 'pending'
        ? at(-60_000)
        : random.chance(0.1)
          ? NEVER
          : at(random.chance(0.75) ? -random.int(0, 60_000) : random.int(1, 60_000))
    rows.push({
      id: `run-${String(index).padStart(3, '0')}`,
      job_name: random.chance(0.85) ? 'a' : 'b',
      payload: '{}',
      status,
      lease_generation: status === 'pending' ? 0 : 1,
      lease_owner: status === 'running' ? 'other' : null,
      heartbeat_at: status === 'running' ? at(random.chance(0.5) ? -600_000 : -100 - index) : null,
      created_at: at(-120_000 + index),
      updated_at: at(-120_000 + index),
      available_at: availableAt,
      parked_from: availableAt === NEVER ? at(-30_000) : null,
      concurrency_key: key,
      concurrency_limit: key ? keys[key] : null,
      concurrency_slot: slot,
      throttle_key: throttled ? 't' : null,
      throttle_limit: throttled ? 2 : null,
      throttle_period: throttled ? 60_000 : null,
      started_at: started ? at(-random.int(1_000, 90_000)) : null,
      priority: random.chance(ranked) ? random.int(-600, 600) : null,
      wait_for: random.chance(0.2) ? '{"kind":"retry"}' : null,
      attempt: started ? 1 : null,
    })
  }
  await db
    .insertInto('durably_runs')
    .values(rows as never)
    .execute()
}

const request: ClaimRequest = {
  owner: 'claimer',
  jobNames: ['a'],
  now: at(0),
  staleBefore: at(-300_000),
  staleThreshold: 300_000,
}

async function drain(claim: () => Promise<{ id: string; quick?: boolean } | null>) {
  const order: string[] = []
  let quick = 0
  for (let claims = 0; claims < 40; claims++) {
    const claimed = await claim()
    if (!claimed) break
    order.push(claimed.id)
    if (claimed.quick) quick++
  }
  return { order, quick }
}

describe.each([{ name: 'SQLite', paths: sqlite, unavailable: undefined }])(
  '$name claim: quick and full statements',
  ({ paths, unavailable }) => {
    it.skipIf(unavailable)(
      'take the same runs in the same order from 40 random tables',
      async () => {
        let quickClaims = 0
        let fullOnlyClaims = 0
        const [quickFirst, fullOnly, family] = [
          await paths.open(),
          await paths.open(),
          await paths.open(),
        ]
        for (let seed = 1; seed <= 40; seed++) {
          for (const db of [quickFirst, fullOnly, family]) await fill(db, seed)
          const byQuick = await drain(async () => {
            const claimed = await paths.claimRun(quickFirst, request, true)
            return claimed && { id: claimed.row.id, quick: claimed.quick }
          })
          const byFull = await drain(async () => {
            const claimed = await paths.claimRun(fullOnly, request, false)
            return claimed && { id: claimed.row.id }
          })
          const byFamily = await drain(async () => {
            const claimed = await paths.family.claimNextRun(family, request)
            return claimed && { id: claimed.id }
          })
          expect(byQuick.order, `seed ${seed}`).toEqual(byFull.order)
          expect(byFamily.order, `seed ${seed}`).toEqual(byFull.order)
          quickClaims += byQuick.quick
          fullOnlyClaims += byFull.order.length - byQuick.quick
        }
        for (const db of [quickFirst, fullOnly, family]) await db.destroy()
        // Both statements were exercised: the comparison means something.
        expect(quickClaims).toBeGreaterThan(50)
        expect(fullOnlyClaims).toBeGreaterThan(50)
      },
    )
  },
)
