/**
 * Monotonic, time-ordered identifiers (ULID layout: 48-bit milliseconds, 80 random bits,
 * Crockford base32). Ids made by one generator in the same millisecond still sort in
 * creation order because the random part is incremented, so `ORDER BY created_at, id`
 * is stable. Each durably instance owns one generator: no hidden module state.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

export type IdGenerator = () => string

export function createIdGenerator(now: () => number = Date.now): IdGenerator {
  let lastTime = -1
  const random = new Uint8Array(RANDOM_BYTES)
  // Asking the platform for 10 bytes costs about as much as for 1,280 (a run takes a new
  // millisecond for most of its ids), so randomness is drawn a pool at a time.
  const pool = new Uint8Array(RANDOM_BYTES * 128)
  let drawn = pool.length

  return () => {
    const time = Math.max(now(), lastTime)
    if (time === lastTime) {
      incrementBytes(random)
    } else {
      if (drawn === pool.length) {
        crypto.getRandomValues(pool)
        drawn = 0
      }
      random.set(pool.subarray(drawn, drawn + RANDOM_BYTES))
      drawn += RANDOM_BYTES
      lastTime = time
    }
    return encodeTime(time) + encodeRandom(random)
  }
}

const RANDOM_BYTES = 10

function incrementBytes(bytes: Uint8Array): void {
  for (let index = bytes.length - 1; index >= 0; index--) {
    const next = (bytes[index] ?? 0) + 1
    bytes[index] = next & 0xff
    if (next <= 0xff) return
  }
}

function encodeTime(time: number): string {
  let out = ''
  let rest = time
  for (let index = 0; index < 10; index++) {
    out = ALPHABET[rest % 32] + out
    rest = Math.floor(rest / 32)
  }
  return out
}

function encodeRandom(bytes: Uint8Array): string {
  // 80 bits → 16 base32 characters, 5 bits at a time.
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += ALPHABET[(buffer >> bits) & 31]
    }
  }
  return out
}
