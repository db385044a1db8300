/**
 * The instance's clock: every instant durably stores or compares comes from here.
 *
 * - Where the database keeps the time (PostgreSQL, shared by machines whose clocks may be
 *   minutes apart), the clock follows the database's: read once the schema is ready, then
 *   advanced by this process's monotonic clock and read again every minute, or at once when
 *   this machine's wall clock jumps or the process was suspended. So a worker whose clock is
 *   wrong still writes the database's time into wake-ups, delays and deadlines, and judges
 *   what is due by it; staleness is judged by the database's `now()` itself (the claim's
 *   check and the heartbeat).
 * - Otherwise (SQLite: the database is on this machine, and so is every process using it) the
 *   machine's wall clock, watched for jumps: when it jumps, every process on the machine sees
 *   every heartbeat suddenly old (or new), so `steady()` turns false and the worker holds off
 *   recovering abandoned runs for a stale threshold, long enough for live owners to renew.
 */

/** Disagreement between wall and monotonic time taken for a jump, plus 1 ms per second apart (slew). */
const JUMP_TOLERANCE = 1000
const FOLLOW_EVERY = 60_000
/**
 * Within this much of the database's clock, this machine's own reading is used: the two agree
 * (one machine, or clocks kept by NTP), and the host's `Date.now()` then matches what durably
 * writes. Further apart, or after a jump, the database's time.
 */
const AGREEMENT = 100
/** How soon a clock that could not read the database's time yet tries again. */
const FIRST_READING_RETRY = 1000

export interface Clock {
  /** Milliseconds since the epoch, by the clock that decides (see above). */
  now(): number
  /** False for `holdOff` ms after this machine's wall clock jumped, unless the database keeps time. */
  steady(): boolean
  /** From now on follow the clock `read` returns (ms since the epoch); resolves after the first reading. */
  follow(read: () => Promise<number>): Promise<void>
}

export interface ClockOptions {
  holdOff: number
  wall?: () => number
  monotonic?: () => number
}

export function createClock({
  holdOff,
  wall = Date.now,
  monotonic = () => performance.now(),
}: ClockOptions): Clock {
  let lastWall = wall()
  let lastMonotonic = monotonic()
  let jumpedAt: number | undefined
  let anchor: { time: number; monotonic: number } | undefined
  let read: (() => Promise<number>) | undefined
  let reading: Promise<void> | undefined
  let lastTry = Number.NEGATIVE_INFINITY

  /** Advance both readings, noting a jump of the wall clock; returns the wall time. */
  const watch = (): number => {
    const nowWall = wall()
    const nowMonotonic = monotonic()
    const elapsed = nowMonotonic - lastMonotonic
    if (Math.abs(nowWall - lastWall - elapsed) > JUMP_TOLERANCE + elapsed / 1000) {
      jumpedAt = nowMonotonic
    }
    lastWall = nowWall
    lastMonotonic = nowMonotonic
    return nowWall
  }

  const readAgain = (): Promise<void> => {
    if (!read) return Promise.resolve()
    if (reading) return reading
    const source = read
    const before = monotonic()
    lastTry = before
    // The reading starts a microtask later, once `reading` is set: reading the database asks
    // this clock the time (the store's retry budget), which must not start another reading.
    reading = Promise.resolve()
      .then(source)
      .then(
        (time) => {
          if (Number.isFinite(time)) anchor = { time, monotonic: (before + monotonic()) / 2 }
        },
        () => {
          // Keep the previous reading: a database that cannot answer cannot be written
          // either, and the next call tries again.
        },
      )
      .finally(() => {
        reading = undefined
      })
    return reading
  }

  return {
    now() {
      const nowWall = watch()
      if (!anchor) {
        // Never read yet (the database did not answer): this machine's clock meanwhile.
        if (read && lastMonotonic - lastTry >= FIRST_READING_RETRY) void readAgain()
        return nowWall
      }
      const sinceReading = lastMonotonic - anchor.monotonic
      if (sinceReading > FOLLOW_EVERY || jumpedAt === lastMonotonic) void readAgain()
      const followed = Math.floor(anchor.time + sinceReading)
      return Math.abs(followed - nowWall) <= AGREEMENT ? nowWall : followed
    },
    steady() {
      watch()
      if (read) return true
      return jumpedAt === undefined || lastMonotonic - jumpedAt >= holdOff
    },
    follow(source) {
      read = source
      return readAgain()
    },
  }
}
