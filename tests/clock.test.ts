import { describe, expect, it } from 'vitest'
import { createClock } from '../src/clock.js'

/** A wall clock and a monotonic clock the test moves by hand. */
function hands(start = 1_800_000_000_000) {
  const time = { wall: start, monotonic: 0 }
  return {
    time,
    advance(ms: number) {
      time.wall += ms
      time.monotonic += ms
    },
    options: { wall: () => time.wall, monotonic: () => time.monotonic },
  }
}

describe('clock', () => {
  it('reads the wall clock and stays steady while wall and monotonic time agree', () => {
    const { time, advance, options } = hands()
    const clock = createClock({ holdOff: 30_000, ...options })
    advance(60_000)
    expect(clock.now()).toBe(time.wall)
    expect(clock.steady()).toBe(true)
  })

  it('is unsteady for holdOff after the wall clock jumps ahead, then steady again', () => {
    const { time, advance, options } = hands()
    const clock = createClock({ holdOff: 30_000, ...options })
    clock.now()
    time.wall += 600_000
    expect(clock.now()).toBe(time.wall)
    expect(clock.steady()).toBe(false)
    advance(29_999)
    expect(clock.steady()).toBe(false)
    advance(1)
    expect(clock.steady()).toBe(true)
  })

  it('is unsteady after the wall clock jumps back', () => {
    const { time, options } = hands()
    const clock = createClock({ holdOff: 30_000, ...options })
    time.wall -= 600_000
    expect(clock.steady()).toBe(false)
  })

  it('takes slow drift between far-apart readings for drift, not a jump', () => {
    const { time, options } = hands()
    const clock = createClock({ holdOff: 30_000, ...options })
    time.monotonic += 3_600_000
    time.wall += 3_600_000 + 1_500 // NTP slewing at ~400 ppm for an hour
    expect(clock.steady()).toBe(true)
  })

  it('follows the database clock, advanced by monotonic time, whatever the wall clock says', async () => {
    const { time, advance, options } = hands()
    const database = { time: time.wall + 300_000 }
    const clock = createClock({ holdOff: 30_000, ...options })
    await clock.follow(async () => database.time)
    advance(1_000)
    time.wall -= 3_600_000 // this machine's clock is set an hour back: nothing changes
    expect(clock.now()).toBe(database.time + 1_000)
    expect(clock.steady()).toBe(true)
  })

  it('reads the database clock again after a minute, and keeps the last reading when that fails', async () => {
    const { advance, options } = hands()
    let reading = 1_000_000
    let failing = false
    const clock = createClock({ holdOff: 30_000, ...options })
    await clock.follow(async () => {
      if (failing) throw new Error('connection lost')
      return reading
    })
    reading = 5_000_000
    advance(60_001)
    clock.now() // starts reading again
    await new Promise((resolve) => setImmediate(resolve))
    expect(clock.now()).toBe(5_000_000)
    failing = true
    advance(60_001)
    clock.now()
    await new Promise((resolve) => setImmediate(resolve))
    expect(clock.now()).toBe(5_060_001)
  })

  it('starts one reading at a time, even when reading the database asks the clock the time', async () => {
    const { advance, options } = hands()
    let readings = 0
    const clock = createClock({ holdOff: 30_000, ...options })
    await clock.follow(async () => {
      readings += 1
      clock.now() // the store's retry budget reads the clock
      return 1_000_000
    })
    advance(60_001)
    clock.now()
    clock.now()
    await new Promise((resolve) => setImmediate(resolve))
    expect(readings).toBe(2)
  })

  it('tries again, a second later, to read a database clock it could not read at first', async () => {
    const { time, advance, options } = hands()
    let answering = false
    const clock = createClock({ holdOff: 30_000, ...options })
    await clock.follow(async () => {
      if (!answering) throw new Error('not yet')
      return time.wall + 300_000
    })
    answering = true
    advance(999)
    expect(clock.now()).toBe(time.wall)
    advance(1)
    clock.now()
    await new Promise((resolve) => setImmediate(resolve))
    expect(clock.now()).toBe(time.wall + 300_000)
  })

  it('keeps this machine’s reading while it agrees with the database’s within 100 ms', async () => {
    const { time, advance, options } = hands()
    const clock = createClock({ holdOff: 30_000, ...options })
    await clock.follow(async () => time.wall + 40)
    advance(500)
    expect(clock.now()).toBe(time.wall)
  })
})
