/**
 * Malformed and hostile requests over a real socket. Each gets its 4xx with a JSON
 * `{ error }`, none a 5xx or a hang, and none stores anything. Requests go through
 * `node:http` directly so paths reach the server exactly as written.
 */
import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitUntil } from '../support/wait.js'
import { BASE_PATH, startServer, type TestServer } from './server.js'

interface Case {
  name: string
  method: string
  path: string | ((ids: Fixtures) => string)
  body?: string | Buffer
  status: number
}

interface Fixtures {
  running: string
  completed: string
}

interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
}

const MiB = 1024 * 1024
const trigger = (body: string | Buffer, name: string, status: number): Case => ({
  name,
  method: 'POST',
  path: '/trigger',
  body,
  status,
})

const CASES: Case[] = [
  trigger('{', 'truncated JSON', 400),
  trigger('{"jobName": "echo", }', 'JSON with a trailing comma', 400),
  trigger('null', 'a null body', 400),
  trigger('[]', 'an array body', 400),
  trigger('[{"jobName":"echo"}]', 'an array holding a trigger', 400),
  trigger('"echo"', 'a string body', 400),
  trigger('42', 'a number body', 400),
  trigger('', 'an empty body', 400),
  trigger('   ', 'a blank body', 400),
  trigger('{}', 'no jobName', 400),
  trigger('{"jobName":123,"input":{}}', 'a numeric jobName', 400),
  trigger('{"jobName":"","input":{}}', 'an empty jobName', 400),
  trigger('{"jobName":["echo"],"input":{}}', 'an array jobName', 400),
  trigger('{"jobName":"nope","input":{}}', 'an unknown job', 404),
  trigger('{"jobName":"__proto__","input":{}}', 'a job named __proto__', 404),
  trigger('{"jobName":"echo","input":{"value":5}}', 'input of the wrong type', 400),
  trigger('{"jobName":"echo"}', 'no input', 400),
  trigger('{"jobName":"echo","input":null}', 'a null input', 400),
  trigger(
    '{"jobName":"echo","input":{"value":"x"},"idempotencyKey":5}',
    'a numeric idempotencyKey',
    400,
  ),
  trigger(
    '{"jobName":"echo","input":{"value":"x"},"idempotencyKey":""}',
    'an empty idempotencyKey',
    400,
  ),
  trigger(
    '{"jobName":"echo","input":{"value":"x"},"concurrencyKey":{}}',
    'an object concurrencyKey',
    400,
  ),
  trigger(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'bytes that are not UTF-8', 400),
  trigger(Buffer.alloc(8 * MiB, 0x20), 'an 8 MiB body', 413),
  trigger(`{"jobName":"echo","input":{"value":"${'x'.repeat(MiB)}"}}`, 'just over 1 MiB', 413),
  { name: 'GET /trigger', method: 'GET', path: '/trigger', status: 405 },
  { name: 'PUT /trigger', method: 'PUT', path: '/trigger', body: '{}', status: 405 },
  { name: 'OPTIONS /trigger', method: 'OPTIONS', path: '/trigger', status: 405 },
  { name: 'GET /run without runId', method: 'GET', path: '/run', status: 400 },
  { name: 'GET /run with an empty runId', method: 'GET', path: '/run?runId=', status: 400 },
  { name: 'GET /run of an unknown run', method: 'GET', path: '/run?runId=nope', status: 404 },
  {
    name: 'GET /run with a 300-character runId',
    method: 'GET',
    path: `/run?runId=${'a'.repeat(300)}`,
    status: 400,
  },
  { name: 'PATCH /run', method: 'PATCH', path: '/run?runId=x', status: 405 },
  { name: 'GET /steps of an unknown run', method: 'GET', path: '/steps?runId=nope', status: 404 },
  { name: 'GET /steps without runId', method: 'GET', path: '/steps', status: 400 },
  { name: 'GET /logs of an unknown run', method: 'GET', path: '/logs?runId=nope', status: 404 },
  { name: 'POST /retry without runId', method: 'POST', path: '/retry', status: 400 },
  { name: 'POST /retry of an unknown run', method: 'POST', path: '/retry?runId=nope', status: 404 },
  {
    name: 'POST /retry of a running run',
    method: 'POST',
    path: (f) => `/retry?runId=${f.running}`,
    status: 409,
  },
  {
    name: 'POST /retry of a completed run',
    method: 'POST',
    path: (f) => `/retry?runId=${f.completed}`,
    status: 409,
  },
  { name: 'GET /retry', method: 'GET', path: '/retry?runId=x', status: 405 },
  {
    name: 'POST /cancel of an unknown run',
    method: 'POST',
    path: '/cancel?runId=nope',
    status: 404,
  },
  {
    name: 'POST /cancel of a completed run',
    method: 'POST',
    path: (f) => `/cancel?runId=${f.completed}`,
    status: 409,
  },
  {
    name: 'DELETE /run of a running run',
    method: 'DELETE',
    path: (f) => `/run?runId=${f.running}`,
    status: 409,
  },
  { name: 'DELETE /run of an unknown run', method: 'DELETE', path: '/run?runId=nope', status: 404 },
  { name: 'DELETE /run without runId', method: 'DELETE', path: '/run', status: 400 },
  { name: 'GET /runs?limit=-1', method: 'GET', path: '/runs?limit=-1', status: 400 },
  { name: 'GET /runs?limit=0', method: 'GET', path: '/runs?limit=0', status: 400 },
  {
    name: 'GET /runs with a huge limit',
    method: 'GET',
    path: '/runs?limit=100000000000',
    status: 400,
  },
  { name: 'GET /runs?limit=abc', method: 'GET', path: '/runs?limit=abc', status: 400 },
  { name: 'GET /runs?limit=1.5', method: 'GET', path: '/runs?limit=1.5', status: 400 },
  { name: 'GET /runs?offset=-5', method: 'GET', path: '/runs?offset=-5', status: 400 },
  { name: 'GET /runs?offset=1e999', method: 'GET', path: '/runs?offset=1e999', status: 400 },
  { name: 'GET /runs?status=bogus', method: 'GET', path: '/runs?status=bogus', status: 400 },
  { name: 'GET /runs?status= (empty)', method: 'GET', path: '/runs?status=', status: 400 },
  { name: 'GET /runs?jobName= (empty)', method: 'GET', path: '/runs?jobName=', status: 400 },
  { name: 'DELETE /runs', method: 'DELETE', path: '/runs', status: 405 },
  { name: 'GET /subscribe without runId', method: 'GET', path: '/subscribe', status: 400 },
  {
    name: 'GET /subscribe of an unknown run',
    method: 'GET',
    path: '/subscribe?runId=nope',
    status: 404,
  },
  { name: 'POST /subscribe', method: 'POST', path: '/subscribe?runId=x', status: 405 },
  { name: 'POST /runs/subscribe', method: 'POST', path: '/runs/subscribe', status: 405 },
  {
    name: 'GET /runs/subscribe?jobName= (empty)',
    method: 'GET',
    path: '/runs/subscribe?jobName=',
    status: 400,
  },
  { name: 'an unknown route', method: 'GET', path: '/unknown', status: 404 },
  { name: 'the base path itself', method: 'GET', path: '', status: 404 },
  { name: 'the base path with a slash', method: 'GET', path: '/', status: 404 },
  { name: 'a trailing slash', method: 'GET', path: '/runs/', status: 404 },
  { name: 'a double slash', method: 'GET', path: '//runs', status: 404 },
  { name: 'a dot-dot escape', method: 'GET', path: '/../secret', status: 404 },
  { name: 'an encoded dot-dot', method: 'GET', path: '/%2e%2e/runs', status: 404 },
  { name: 'an encoded slash', method: 'GET', path: '/runs%2fsubscribe', status: 404 },
  { name: 'a __proto__ route', method: 'GET', path: '/__proto__', status: 404 },
  { name: 'a constructor route', method: 'GET', path: '/constructor', status: 404 },
  { name: 'a route in another case', method: 'GET', path: '/RUNS', status: 404 },
]

function send(
  url: URL,
  method: string,
  path: string,
  body?: string | Buffer,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path: `${BASE_PATH}${path}` },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }))
      },
    )
    // The server may answer 413 and close before an 8 MiB body is fully written.
    req.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'EPIPE') reject(error)
    })
    req.end(body)
  })
}

describe('createDurablyHandler answers malformed and hostile requests', () => {
  let server: TestServer
  let fixtures: Fixtures
  let runsBefore: number

  beforeAll(async () => {
    server = await startServer()
    const completed = await server.durably.jobs.echo.trigger({ value: 'done' })
    await waitUntil(async () => (await server.durably.getRun(completed.id))?.status === 'completed')
    const running = await server.durably.jobs.gated.trigger({})
    await server.gated.entered.promise
    fixtures = { running: running.id, completed: completed.id }
    runsBefore = (await server.durably.getRuns()).length
  })
  afterAll(() => server.close())

  it('has at least forty cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40)
  })

  it.each(CASES)('$name → $status', async ({ method, path, body, status }) => {
    const url = new URL(server.url)
    const response = await send(
      url,
      method,
      typeof path === 'function' ? path(fixtures) : path,
      body,
    )
    expect(response.status).toBe(status)
    if (method !== 'HEAD') {
      expect(response.headers['content-type']).toBe('application/json')
      const parsed = JSON.parse(response.text) as { error: unknown }
      expect(typeof parsed.error).toBe('string')
    }
    if (status === 405) expect(response.headers.allow).toBeTruthy()
  })

  it('stored nothing for any of them and still serves normal requests', async () => {
    expect((await server.durably.getRuns()).length).toBe(runsBefore)
    expect((await server.durably.getRun(fixtures.running))?.status).toBe('running')
    const response = await fetch(`${server.url}/runs?limit=10`)
    expect(response.status).toBe(200)
  })

  it('answers invalid input with zod issues naming the field', async () => {
    const response = await fetch(`${server.url}/trigger`, {
      method: 'POST',
      body: JSON.stringify({ jobName: 'echo', input: { value: 5 } }),
    })
    const body = (await response.json()) as { issues: { path: string[] }[] }
    expect(body.issues[0]?.path).toEqual(['value'])
  })
})
