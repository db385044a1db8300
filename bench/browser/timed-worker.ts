/**
 * SQLocal's own worker (sqlocal/dist/worker.js: an OPFS driver behind a processor), with a
 * stopwatch: for every message, when it arrived, how long the driver's `exec` took, how many
 * calls into OPFS's VFS it made (sqlite-wasm's own counters: each one a round trip to the
 * async OPFS proxy worker through Atomics), and when the answer left. The page asks for the
 * log with `{ type: 'bench-stats' }`. Used only by the bench's analysis, never by its timed
 * workloads.
 */
import { SQLiteOpfsDriver, SQLocalProcessor } from 'sqlocal'

interface VfsCounter {
  count?: number
  time?: number
  wait?: number
}
type VfsMetrics = Record<string, VfsCounter>

export interface WorkerEntry {
  type: string
  sql?: string
  /** Epoch ms (timeOrigin + now), comparable with the page's. */
  receivedAt: number
  execStart?: number
  execEnd?: number
  repliedAt?: number
  /** VFS calls made during exec, by name: [count, ms waited on the async proxy]. */
  vfs?: Record<string, [number, number]>
}

const epoch = () => performance.timeOrigin + performance.now()
const driver = new SQLiteOpfsDriver()
const log: WorkerEntry[] = []
const byKey = new Map<string, WorkerEntry>()
let metrics: VfsMetrics | undefined

/** sqlite-wasm keeps its OPFS counters private; `dump()` hands the object to `config.log`. */
function vfsMetrics(): VfsMetrics | undefined {
  if (metrics) return metrics
  const sqlite3 = (driver as unknown as { sqlite3?: SqliteLike }).sqlite3
  const util = sqlite3?.opfs?.metrics
  if (!sqlite3 || !util) return undefined
  const original = sqlite3.config.log
  sqlite3.config.log = (...args: unknown[]) => {
    if (!metrics && args[1] === 'metrics for') metrics = args[4] as VfsMetrics
  }
  try {
    util.dump()
  } finally {
    sqlite3.config.log = original
  }
  return metrics
}

interface SqliteLike {
  config: { log: (...args: unknown[]) => void }
  opfs?: { metrics?: { dump(): void } }
}

function snapshot(): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {}
  const current = vfsMetrics()
  if (!current) return out
  for (const [name, counter] of Object.entries(current)) {
    if (name === 's11n' || typeof counter?.count !== 'number') continue
    out[name] = [counter.count, counter.wait ?? 0]
  }
  return out
}

const exec = driver.exec.bind(driver)
driver.exec = async (statement) => {
  // The processor hands the query message itself to the driver: its key names the entry.
  const key = (statement as { queryKey?: string }).queryKey
  const entry = key ? byKey.get(key) : undefined
  const before = snapshot()
  if (entry) entry.execStart = epoch()
  try {
    return await exec(statement)
  } finally {
    if (entry) {
      entry.execEnd = epoch()
      const after = snapshot()
      const diff: Record<string, [number, number]> = {}
      for (const [name, [count, wait]] of Object.entries(after)) {
        const [count0, wait0] = before[name] ?? [0, 0]
        if (count !== count0) diff[name] = [count - count0, wait - wait0]
      }
      entry.vfs = diff
    }
  }
}
// This module runs as a worker; the project's types know the page's `self` only.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent) => void) | null
  postMessage(message: unknown, transfer?: Transferable[]): void
}
const processor = new SQLocalProcessor(driver)
scope.onmessage = (event: MessageEvent) => {
  const data = event.data as { type?: string; sql?: string; queryKey?: string }
  if (data?.type === 'bench-stats') {
    scope.postMessage({ type: 'bench-stats', log: log.splice(0) })
    return
  }
  const entry: WorkerEntry = { type: data?.type ?? '?', receivedAt: epoch() }
  if (data?.type === 'query') {
    entry.sql = data.sql
    log.push(entry)
    if (data.queryKey) byKey.set(data.queryKey, entry)
  }
  processor.postMessage(event)
}
processor.onmessage = (message, transfer) => {
  const key = (message as { queryKey?: string | null }).queryKey
  if (key) {
    const entry = byKey.get(key)
    if (entry) {
      entry.repliedAt = epoch()
      byKey.delete(key)
    }
  }
  scope.postMessage(message, transfer ?? [])
}
