/** Waiting without sleeping blindly: poll a condition until a deadline, or await an event. */
import {
  type Durably,
  type DurablyEvent,
  type DurablyEventMap,
  EVENT_TYPES,
  type EventType,
} from '../../src/index.js'

export async function waitUntil<T>(
  probe: () => T | Promise<T>,
  {
    timeout = 10_000,
    interval = 10,
    what = 'condition',
  }: { timeout?: number; interval?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout
  let last: T | undefined
  for (;;) {
    last = await probe()
    if (last) return last as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeout} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, interval))
  }
}

export function nextEvent<T extends EventType>(
  durably: Pick<Durably, 'on'>,
  type: T,
  match: (event: DurablyEventMap[T]) => boolean = () => true,
  timeout = 10_000,
): Promise<DurablyEventMap[T]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`Timed out after ${timeout} ms waiting for ${type}`))
    }, timeout)
    const off = durably.on(type, (event) => {
      if (!match(event)) return
      clearTimeout(timer)
      off()
      resolve(event)
    })
  })
}

/** Collects every event an instance emits, in order. */
export function recordEvents(
  durably: Pick<Durably, 'on'>,
  types: EventType[] = ALL_TYPES,
): DurablyEvent[] {
  const events: DurablyEvent[] = []
  for (const type of types) durably.on(type, (event) => events.push(event))
  return events
}

export const ALL_TYPES: EventType[] = [...EVENT_TYPES]

/** A promise with its resolve exposed: lets a test hold a step open and release it. */
export function gate<T = void>() {
  let open!: (value: T) => void
  const promise = new Promise<T>((resolve) => {
    open = resolve
  })
  return { promise, open }
}
