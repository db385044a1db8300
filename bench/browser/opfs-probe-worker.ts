/**
 * What OPFS itself costs in this browser, without SQLite: the primitives sqlite-wasm's OPFS
 * VFS calls for one write transaction (bench/browser/opfs-probe.ts asks, this answers with
 * medians in ms). Sync access handles exist only in workers, hence a worker.
 */
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

async function timeEach(times: number, operation: (n: number) => unknown): Promise<number> {
  const samples: number[] = []
  for (let n = 0; n < times; n++) {
    const started = performance.now()
    await operation(n)
    samples.push(performance.now() - started)
  }
  return median(samples)
}

/** The worker-only part of OPFS (the project's DOM types lack it). */
interface SyncAccessHandle {
  write(buffer: Uint8Array, options: { at: number }): number
  read(buffer: Uint8Array, options: { at: number }): number
  flush(): void
  close(): void
}
const syncHandle = (file: FileSystemFileHandle) =>
  (
    file as unknown as { createSyncAccessHandle(): Promise<SyncAccessHandle> }
  ).createSyncAccessHandle()

self.onmessage = async () => {
  const root = await navigator.storage.getDirectory()
  const name = `durably-bench-probe-${Date.now().toString(36)}`
  const file = await root.getFileHandle(name, { create: true })
  const page = new Uint8Array(4096).fill(7)
  const result: Record<string, number> = {}
  let handle = await syncHandle(file)
  // A file of 64 pages, then writes inside it (the database's pages) and past its end.
  for (let n = 0; n < 64; n++) handle.write(page, { at: n * 4096 })
  handle.flush()
  result.write_4k_in_place_ms = await timeEach(200, (n) =>
    handle.write(page, { at: (n % 64) * 4096 }),
  )
  result.write_4k_appending_ms = await timeEach(200, (n) =>
    handle.write(page, { at: (64 + n) * 4096 }),
  )
  result.read_4k_ms = await timeEach(200, (n) => handle.read(page, { at: (n % 64) * 4096 }))
  // sqlite-wasm's async proxy writes from a view of a SharedArrayBuffer (the I/O buffer the
  // two workers share), not from an ordinary array.
  const shared = new Uint8Array(new SharedArrayBuffer(4096)).fill(7)
  result.write_4k_in_place_from_shared_buffer_ms = await timeEach(200, (n) =>
    handle.write(shared, { at: (n % 64) * 4096 }),
  )
  result.read_4k_into_shared_buffer_ms = await timeEach(200, (n) =>
    handle.read(shared, { at: (n % 64) * 4096 }),
  )
  result.write_12b_appending_ms = await timeEach(200, (n) =>
    handle.write(page.subarray(0, 12), { at: (264 + n) * 4096 }),
  )
  result.flush_ms = await timeEach(50, (n) => {
    handle.write(page, { at: (n % 64) * 4096 })
    handle.flush()
  })
  handle.close()
  result.create_and_close_sync_handle_ms = await timeEach(20, async () => {
    handle = await syncHandle(file)
    handle.close()
  })
  // DELETE journal mode's life of a journal: create the file, a handle, a few appends, delete.
  result.journal_file_lifecycle_ms = await timeEach(20, async (n) => {
    const journal = await root.getFileHandle(`${name}-j${n}`, { create: true })
    const h = await syncHandle(journal)
    for (let k = 0; k < 5; k++) h.write(page, { at: k * 4096 })
    h.flush()
    h.close()
    await root.removeEntry(`${name}-j${n}`)
  })
  // Atomics round trip between this worker and another, as SQLocal's worker and the VFS's
  // async proxy exchange one per OPFS call.
  const sab = new SharedArrayBuffer(8)
  const flag = new Int32Array(sab)
  const echo = new Worker(
    URL.createObjectURL(
      new Blob(
        [
          `onmessage = ({ data }) => { const f = new Int32Array(data); for (;;) {
             Atomics.wait(f, 0, 0); if (Atomics.load(f, 0) === 2) break;
             Atomics.store(f, 0, 0); Atomics.store(f, 1, 1); Atomics.notify(f, 1) } }`,
        ],
        { type: 'text/javascript' },
      ),
    ),
  )
  echo.postMessage(sab)
  await new Promise((resolve) => setTimeout(resolve, 100))
  result.atomics_round_trip_ms = await timeEach(500, () => {
    Atomics.store(flag, 1, 0)
    Atomics.store(flag, 0, 1)
    Atomics.notify(flag, 0)
    Atomics.wait(flag, 1, 0)
  })
  Atomics.store(flag, 0, 2)
  Atomics.notify(flag, 0)
  echo.terminate()
  await root.removeEntry(name)
  ;(self as unknown as { postMessage(message: unknown): void }).postMessage(result)
}
