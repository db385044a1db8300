/**
 * A TCP proxy a test controls, on 127.0.0.1 only, to put network failures between a client
 * and a server:
 * - `pass`: bytes flow both ways; a close on one side closes the other.
 * - `blackhole()`: a partition. Every socket stays open and every byte is dropped, both ways,
 *   silently: no RST, no FIN. New connections are accepted and get nothing either. The kernel
 *   still acknowledges what is sent, so a client's TCP keep-alive cannot see it: only a
 *   client's own timeouts can.
 * - `outage()`: the server is gone. The listener closes (connects are refused) and every
 *   socket is destroyed.
 * - `heal()`: new connections pass again. A socket cut by a blackhole stays dead (as when a
 *   NAT or firewall forgot it during the partition): its bytes were dropped, so its stream
 *   could not be resumed anyway.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'

export type ProxyMode = 'pass' | 'blackhole' | 'outage'

export interface TcpProxy {
  readonly port: number
  readonly mode: ProxyMode
  /** Connections accepted so far. */
  readonly accepted: number
  /** `url` with its host and port replaced by the proxy's. */
  rewrite(url: string): string
  blackhole(): void
  outage(): Promise<void>
  heal(): Promise<void>
  close(): Promise<void>
}

interface Pair {
  client: Socket
  upstream?: Socket
  dead: boolean
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'pass'
  let accepted = 0
  const pairs = new Set<Pair>()
  let server: Server | undefined
  let port = 0

  const destroy = (pair: Pair) => {
    pair.client.destroy()
    pair.upstream?.destroy()
    pairs.delete(pair)
  }

  const onConnection = (client: Socket) => {
    accepted += 1
    const pair: Pair = { client, dead: mode !== 'pass' }
    pairs.add(pair)
    client.on('error', () => {
      if (!pair.dead) destroy(pair)
    })
    client.on('data', (chunk) => {
      if (!pair.dead) pair.upstream?.write(chunk)
    })
    client.on('end', () => {
      if (!pair.dead) pair.upstream?.end()
    })
    client.on('close', () => {
      if (!pair.dead) destroy(pair)
    })
    // A connection accepted during a partition never reaches the server.
    if (pair.dead) return
    client.pause()
    const upstream = tcpConnect(target.port, target.host)
    pair.upstream = upstream
    upstream.on('connect', () => client.resume())
    upstream.on('data', (chunk) => {
      if (!pair.dead) client.write(chunk)
    })
    upstream.on('error', () => {
      if (!pair.dead) destroy(pair)
    })
    upstream.on('end', () => {
      if (!pair.dead) client.end()
    })
    upstream.on('close', () => {
      if (!pair.dead) destroy(pair)
    })
  }

  const listen = (at: number) =>
    new Promise<void>((resolve, reject) => {
      const next = createServer(onConnection)
      next.once('error', reject)
      next.listen(at, '127.0.0.1', () => {
        server = next
        port = (next.address() as { port: number }).port
        resolve()
      })
    })

  const stopListening = async () => {
    const current = server
    server = undefined
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()))
  }

  // A port below the kernel's ephemeral range (32768 up): while an outage has the listener
  // closed, no outgoing connection can be given the port, so `heal()` can listen on it again.
  for (let tries = 1; ; tries++) {
    try {
      await listen(20_000 + Math.floor(Math.random() * 12_000))
      break
    } catch (error) {
      if ((error as { code?: string }).code !== 'EADDRINUSE' || tries >= 20) throw error
    }
  }

  return {
    get port() {
      return port
    },
    get mode() {
      return mode
    },
    get accepted() {
      return accepted
    },
    rewrite(url) {
      const parsed = new URL(url)
      parsed.hostname = '127.0.0.1'
      parsed.port = String(port)
      return parsed.toString()
    },
    blackhole() {
      mode = 'blackhole'
      for (const pair of pairs) pair.dead = true
    },
    async outage() {
      mode = 'outage'
      await Promise.all([stopListening(), ...[...pairs].map(async (pair) => destroy(pair))])
    },
    async heal() {
      mode = 'pass'
      // The same port again, so clients configured with it find the server back.
      if (!server) await listen(port)
    },
    async close() {
      mode = 'outage'
      for (const pair of [...pairs]) destroy(pair)
      await stopListening()
    },
  }
}
