/**
 * The dashboard's script, run in the browser. It is sent as its own source text (page.ts),
 * so it must stand alone: no imports and no reference to anything outside this function.
 *
 * Three views, chosen by the location hash: the runs list (`#/?status=&job=&page=`), one run
 * (`#/run/<id>`) and the jobs (`#/jobs`). Data comes from the handler's JSON routes,
 * addressed relative to the page (`<base>/`); changes come from its two SSE routes. The page
 * never polls: an event either updates what it shows (progress) or asks for one coalesced
 * re-read of what it shows.
 */
export function dashboardClient(): void {
  type Status = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled'
  interface Progress {
    current: number
    total?: number
    message?: string
  }
  interface Wait {
    kind: string
    until?: string
    step?: string
    event?: string
    name?: string
    runId?: string
    attempt?: number
    error?: string
  }
  interface RunView {
    id: string
    jobName: string
    status: Status
    payload: unknown
    output: unknown
    error: string | null
    progress: Progress | null
    waitingFor: Wait | null
    blockedBy?: unknown
    parentRunId?: string | null
    idempotencyKey: string | null
    concurrencyKey: string | null
    availableAt: string | null
    stepCount: number
    startedAt: string | null
    completedAt: string | null
    createdAt: string
    updatedAt: string
    payloadLength?: number
    outputLength?: number
  }
  interface StepView {
    id: string
    name: string
    index: number
    status: 'completed' | 'failed'
    output: unknown
    error: string | null
    startedAt: string
    completedAt: string
  }
  interface LogView {
    id: string
    stepName: string | null
    level: string
    message: string
    data: unknown
    createdAt: string
  }
  interface JobView {
    name: string
    triggerable: boolean
    inputSchema: Record<string, unknown> | null
    schedule: { cron: string; timezone: string; upcoming: string[] } | null
  }
  interface LiveEvent {
    type?: string
    runId?: string
    jobName?: string
    progress?: Progress
    stepName?: string | null
    stepIndex?: number
    level?: string
    message?: string
    data?: unknown
    timestamp?: string
    error?: string
    status?: number
  }
  type Child = Node | string | number | null | undefined | false | Child[]
  type Props = Record<string, string | number | boolean | EventListener | null | undefined>

  const STATUSES: Status[] = ['pending', 'running', 'completed', 'failed', 'cancelled']
  const PAGE_SIZE = 50
  const LIST_PREVIEW = 120
  const RUN_PREVIEW = 4000
  const TERMINAL = ['completed', 'failed', 'cancelled']

  const main = document.getElementById('main') as HTMLElement
  const toast = document.getElementById('toast') as HTMLElement
  const live = document.getElementById('live') as HTMLElement
  /** Whatever the current view holds open (event sources, timers); undone on navigation. */
  const teardown: (() => void)[] = []
  let jobsCache: JobView[] | undefined

  // ---- small helpers -------------------------------------------------------------------

  function h(tag: string, props?: Props | null, ...children: Child[]): HTMLElement {
    const element = document.createElement(tag)
    for (const [key, value] of Object.entries(props ?? {})) {
      if (value === null || value === undefined || value === false) continue
      if (typeof value === 'function') element.addEventListener(key.slice(2), value)
      else if (key === 'class') element.className = String(value)
      else if (key === 'text') element.textContent = String(value)
      else element.setAttribute(key, value === true ? '' : String(value))
    }
    append(element, children)
    return element
  }

  function append(parent: Node, children: Child[]): void {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue
      if (Array.isArray(child)) append(parent, child)
      else
        parent.appendChild(
          typeof child === 'object' ? child : document.createTextNode(String(child)),
        )
    }
  }

  function apiUrl(path: string, params: Record<string, string | number | undefined> = {}): string {
    const url = new URL(path, location.origin + location.pathname)
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== '') url.searchParams.set(key, String(value))
    }
    return url.toString()
  }

  // Plain objects rather than a class: an app's bundler that lowers classes would put its
  // helpers outside this function, where the page cannot see them.
  interface ApiError extends Error {
    status: number
    issues: { path?: (string | number)[]; message: string }[]
  }
  const apiError = (status: number, message: string, issues: ApiError['issues'] = []) =>
    Object.assign(new Error(message), { status, issues }) as ApiError
  const isApiError = (error: unknown): error is ApiError =>
    error instanceof Error && typeof (error as Partial<ApiError>).status === 'number'

  async function api<T>(
    path: string,
    params: Record<string, string | number | undefined> = {},
    init: RequestInit = {},
  ): Promise<T> {
    const response = await fetch(apiUrl(path, params), { credentials: 'same-origin', ...init })
    const text = await response.text()
    let body: unknown = null
    try {
      body = text ? JSON.parse(text) : null
    } catch {
      body = null
    }
    if (!response.ok) {
      const failure = (body ?? {}) as { error?: string; issues?: ApiError['issues'] }
      throw apiError(
        response.status,
        failure.error ?? `${response.status} ${response.statusText}`,
        failure.issues ?? [],
      )
    }
    return body as T
  }

  function say(message: string, isError = false): void {
    toast.textContent = ''
    append(toast, [h('span', { class: isError ? 'error-text' : '' }, message)])
    const shown = toast.firstChild
    setTimeout(() => {
      if (toast.firstChild === shown) toast.textContent = ''
    }, 6000)
  }

  function sameDay(a: Date, b: Date): boolean {
    return a.toDateString() === b.toDateString()
  }

  function pad(value: number): string {
    return String(value).padStart(2, '0')
  }

  /** `14:00` today, `2026-11-25 14:00` on another day. */
  function clock(iso: string | null | undefined, seconds = false): string {
    if (!iso) return '—'
    const date = new Date(iso)
    if (Number.isNaN(date.getTime())) return String(iso)
    const time = `${pad(date.getHours())}:${pad(date.getMinutes())}${seconds ? `:${pad(date.getSeconds())}` : ''}`
    if (sameDay(date, new Date())) return time
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}`
  }

  function duration(fromIso: string | null | undefined, toIso: string | null | undefined): string {
    if (!fromIso || !toIso) return '—'
    const ms = new Date(toIso).getTime() - new Date(fromIso).getTime()
    if (!Number.isFinite(ms) || ms < 0) return '—'
    if (ms < 1000) return `${ms} ms`
    const s = ms / 1000
    if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`
    const m = Math.floor(s / 60)
    if (m < 60) return `${m} min ${Math.round(s % 60)} s`
    const hours = Math.floor(m / 60)
    if (hours < 48) return `${hours} h ${m % 60} min`
    return `${Math.floor(hours / 24)} d ${hours % 24} h`
  }

  function size(chars: number): string {
    if (chars < 1024) return `${chars} characters`
    if (chars < 1024 * 1024) return `${(chars / 1024).toFixed(1)} kB`
    return `${(chars / 1024 / 1024).toFixed(1)} MB`
  }

  function pretty(value: unknown): string {
    if (value === undefined) return 'undefined'
    try {
      return JSON.stringify(value, null, 2) ?? String(value)
    } catch {
      return String(value)
    }
  }

  /** What a pending run waits for, in words; a kind this page does not know still shows. */
  function waitWords(wait: Wait | null | undefined): string | null {
    if (!wait || typeof wait !== 'object') return null
    const until = wait.until ? clock(wait.until) : undefined
    const deadline = until ? ` (until ${until})` : ''
    switch (wait.kind) {
      case 'delay':
        return `delayed until ${until ?? '—'}`
      case 'sleep':
        return `sleeping until ${until ?? '—'}${wait.step ? ` in step ${wait.step}` : ''}`
      case 'event':
        return `waiting for event ${wait.event ?? '?'}${deadline}`
      case 'signal':
        return `waiting for signal ${wait.name ?? '?'}${deadline}`
      case 'child':
        return `waiting for child run ${wait.runId ?? '?'}${deadline}`
      case 'retry':
        return `retrying at ${until ?? '—'}${typeof wait.attempt === 'number' ? ` (attempt ${wait.attempt})` : ''}${wait.step ? ` in step ${wait.step}` : ''}`
      case 'throttle':
        return `throttled until ${until ?? '—'}`
      case 'debounce':
        return `debounced: starts at ${until ?? '—'} unless triggered again`
      default:
        return `waiting: ${String(wait.kind ?? 'unknown')}${deadline}`
    }
  }

  /**
   * Why a pending run is not running (`blockedBy`, on the run view only), in words. A
   * `delay` or `wait` is what `waitingFor` already says, and a throttle or debounce says the
   * same as its wait, so those give null; a reason this page does not know still shows.
   */
  function blockedWords(blocked: unknown, jobName: string): string | null {
    if (!blocked || typeof blocked !== 'object') return null
    const b = blocked as Record<string, unknown>
    switch (b.reason) {
      case 'delay':
      case 'wait':
        return null
      case 'concurrency': {
        const of = typeof b.limit === 'number' ? ` of ${b.limit}` : ''
        return `${String(b.running ?? '?')}${of} running ${keyWords(b.key, jobName)}: it starts when one finishes`
      }
      case 'throttle':
        return `throttled until ${clock(String(b.until ?? ''), true)}`
      case 'debounce':
        return `debounced: starts at ${clock(String(b.until ?? ''), true)} unless triggered again`
      case 'no-worker':
        return typeof b.lastSeenAt === 'string'
          ? `no worker has run this job recently (last seen ${clock(b.lastSeenAt, true)})`
          : 'no worker has run this job recently'
      default:
        return `blocked: ${String(b.reason ?? 'unknown')}`
    }
  }

  /**
   * A flow key as a person reads it: the server scopes job keys as `job` or `job:key`; a
   * trigger's own `concurrencyKey` is shown as it was given.
   */
  function keyWords(key: unknown, jobName: string): string {
    if (typeof key !== 'string') return ''
    if (key === jobName) return 'for this job'
    if (key.startsWith(`${jobName}:`)) return `for ${key.slice(jobName.length + 1)}`
    return `for key ${key}`
  }

  function percentOf(progress: Progress | null): number | null {
    if (!progress || typeof progress.current !== 'number') return null
    if (!progress.total) return null
    return Math.max(0, Math.min(100, Math.round((progress.current / progress.total) * 100)))
  }

  function progressBar(run: Pick<RunView, 'progress' | 'status'>): HTMLElement {
    const wrap = h('div', { class: 'progress' })
    updateProgress(wrap, run.progress, run.status)
    return wrap
  }

  function updateProgress(wrap: HTMLElement, progress: Progress | null, status: Status): void {
    let percent = percentOf(progress)
    if (status === 'completed') percent = 100
    wrap.textContent = ''
    wrap.dataset.status = status
    if (percent === null && !progress) {
      append(wrap, [h('span', { class: 'muted' }, '—')])
      wrap.dataset.percent = ''
      return
    }
    const fill = h('span')
    fill.style.width = `${percent ?? 0}%`
    const label = progress?.total
      ? `${progress.current} of ${progress.total}`
      : progress
        ? `${progress.current}`
        : `${percent}%`
    append(wrap, [
      h(
        'div',
        {
          class: 'bar',
          role: 'progressbar',
          'aria-valuemin': 0,
          'aria-valuemax': 100,
          'aria-valuenow': percent ?? undefined,
          'aria-label': `Progress ${label}`,
        },
        fill,
      ),
      h('div', { class: 'msg' }, [label, progress?.message ? ` · ${progress.message}` : '']),
    ])
    wrap.dataset.percent = percent === null ? '' : String(percent)
  }

  function badge(status: string): HTMLElement {
    return h('span', { class: 'badge', 'data-status': status }, status)
  }

  function runLink(id: string, text = id): HTMLElement {
    return h('a', { href: `#/run/${encodeURIComponent(id)}` }, text)
  }

  /** One re-read at a time, however many events ask for it meanwhile. */
  function coalesced(read: () => Promise<void>): () => void {
    let running = false
    let again = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const start = () => {
      timer = undefined
      if (running) {
        again = true
        return
      }
      running = true
      read()
        .catch((error: unknown) => say(messageOf(error), true))
        .finally(() => {
          running = false
          if (again) {
            again = false
            start()
          }
        })
    }
    teardown.push(() => clearTimeout(timer))
    return () => {
      // A burst of events within a frame or two is one read.
      timer ??= setTimeout(start, 100)
    }
  }

  function messageOf(error: unknown): string {
    return error instanceof Error ? error.message : String(error)
  }

  /** An SSE stream held for the current view; the header shows whether it is connected. */
  function stream(
    path: string,
    params: Record<string, string>,
    onEvent: (event: LiveEvent) => void,
  ) {
    const source = new EventSource(apiUrl(path, params), { withCredentials: true })
    const handle = (message: MessageEvent) => {
      let event: LiveEvent
      try {
        event = JSON.parse(message.data as string) as LiveEvent
      } catch {
        return
      }
      onEvent(event)
    }
    source.onmessage = handle
    source.addEventListener('snapshot', (message) => handle(message as MessageEvent))
    // The header says live while any stream of the view is open: a run's own stream ends
    // when the run settles, the run-level one stays.
    sources.add(source)
    const update = () => {
      const states = [...sources].map((open) => open.readyState)
      setLive(
        states.includes(EventSource.OPEN)
          ? 'live'
          : states.includes(EventSource.CONNECTING)
            ? 'reconnecting'
            : 'closed',
      )
    }
    source.onopen = update
    source.onerror = update
    teardown.push(() => {
      sources.delete(source)
      source.close()
    })
    return source
  }

  const sources = new Set<EventSource>()

  function setLive(state: 'live' | 'reconnecting' | 'closed' | 'idle'): void {
    live.dataset.state = state
    live.textContent =
      state === 'live'
        ? 'live'
        : state === 'reconnecting'
          ? 'reconnecting…'
          : state === 'idle'
            ? ''
            : 'not live'
  }

  async function jobs(): Promise<JobView[]> {
    if (jobsCache) return jobsCache
    try {
      jobsCache = await api<JobView[]>('jobs')
    } catch {
      jobsCache = []
    }
    return jobsCache
  }

  // ---- routing -------------------------------------------------------------------------

  function navigate(): void {
    for (const undo of teardown.splice(0)) undo()
    setLive('idle')
    const [path = '/', query = ''] = location.hash.replace(/^#/, '').split('?')
    const params = new URLSearchParams(query)
    const section = path.startsWith('/jobs') ? 'jobs' : 'runs'
    for (const link of document.querySelectorAll<HTMLElement>('[data-nav]')) {
      if (link.dataset.nav === section) link.setAttribute('aria-current', 'page')
      else link.removeAttribute('aria-current')
    }
    main.textContent = ''
    const runMatch = /^\/run\/(.+)$/.exec(path)
    const view = runMatch
      ? showRun(decodeURIComponent(runMatch[1] ?? ''))
      : section === 'jobs'
        ? showJobs()
        : showRuns(params)
    view.catch((error: unknown) => {
      main.textContent = ''
      append(main, [h('p', { class: 'error-text', role: 'alert' }, messageOf(error))])
    })
  }

  // ---- the runs list -------------------------------------------------------------------

  async function showRuns(params: URLSearchParams): Promise<void> {
    const status = params.get('status') ?? ''
    const job = params.get('job') ?? ''
    const page = Math.max(0, Number.parseInt(params.get('page') ?? '0', 10) || 0)
    document.title = 'Runs · durably'

    const setQuery = (changes: Record<string, string>) => {
      const next = new URLSearchParams({ status, job, page: String(page), ...changes })
      for (const [key, value] of [...next])
        if (!value || (key === 'page' && value === '0')) next.delete(key)
      const text = next.toString()
      location.hash = `#/${text ? `?${text}` : ''}`
    }

    const statusSelect = h(
      'select',
      {
        id: 'filter-status',
        onchange: (e: Event) =>
          setQuery({ status: (e.target as HTMLSelectElement).value, page: '0' }),
      },
      h('option', { value: '' }, 'any status'),
      STATUSES.map((s) => h('option', { value: s, selected: s === status }, s)),
    )
    const jobInput = h('input', {
      id: 'filter-job',
      list: 'job-names',
      value: job,
      placeholder: 'any job',
      autocomplete: 'off',
      onchange: (e: Event) =>
        setQuery({ job: (e.target as HTMLInputElement).value.trim(), page: '0' }),
    })
    const jobList = h('datalist', { id: 'job-names' })
    const searchInput = h('input', {
      id: 'search',
      type: 'search',
      placeholder: 'run id',
      autocomplete: 'off',
      spellcheck: 'false',
    }) as HTMLInputElement
    const searchForm = h(
      'form',
      {
        role: 'search',
        class: 'search',
        onsubmit: (e: Event) => {
          e.preventDefault()
          const id = searchInput.value.trim()
          if (!id) return
          api<RunView>('run', { runId: id, preview: 0 }).then(
            () => {
              location.hash = `#/run/${encodeURIComponent(id)}`
            },
            (error: unknown) =>
              say(
                isApiError(error) && error.status === 404
                  ? `No run has the id ${id}`
                  : messageOf(error),
                true,
              ),
          )
        },
      },
      h('label', null, 'Find a run', searchInput),
    )
    const tbody = h('tbody')
    const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' })
    append(main, [
      h('h1', null, 'Runs'),
      h(
        'div',
        { class: 'filters' },
        h('label', null, 'Status', statusSelect),
        h('label', null, 'Job', jobInput, jobList),
        searchForm,
      ),
      h(
        'table',
        { class: 'runs' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['Run', 'Job', 'Status', 'Progress', 'Created', 'Started', 'Finished', 'Duration'].map(
              (t) => h('th', { scope: 'col' }, t),
            ),
          ),
        ),
        tbody,
      ),
      pager,
    ])

    const rows = new Map<string, { run: RunView; progress: HTMLElement }>()
    const knownJobs = new Set<string>(job ? [job] : [])
    void jobs().then((list) => {
      for (const j of list) knownJobs.add(j.name)
      fillJobList()
    })
    const fillJobList = () => {
      jobList.textContent = ''
      for (const name of [...knownJobs].sort()) append(jobList, [h('option', { value: name })])
    }

    const load = async () => {
      const runs = await api<RunView[]>('runs', {
        limit: PAGE_SIZE + 1,
        offset: page * PAGE_SIZE,
        preview: LIST_PREVIEW,
        status: status || undefined,
        jobName: job || undefined,
      })
      const focused = (document.activeElement as HTMLElement | null)?.dataset.key
      rows.clear()
      tbody.textContent = ''
      const shown = runs.slice(0, PAGE_SIZE)
      for (const run of shown) {
        knownJobs.add(run.jobName)
        const progress = progressBar(run)
        rows.set(run.id, { run, progress })
        append(tbody, [runRow(run, progress)])
      }
      fillJobList()
      if (shown.length === 0) {
        append(tbody, [
          h(
            'tr',
            null,
            h(
              'td',
              { colspan: 8, class: 'muted' },
              page > 0 ? 'No runs on this page.' : 'No runs yet.',
            ),
          ),
        ])
      }
      pager.textContent = ''
      append(pager, [
        h(
          'button',
          {
            type: 'button',
            disabled: page === 0,
            onclick: () => setQuery({ page: String(page - 1) }),
          },
          '← Newer',
        ),
        h(
          'span',
          { class: 'muted' },
          `Page ${page + 1} · runs ${page * PAGE_SIZE + (shown.length ? 1 : 0)}–${page * PAGE_SIZE + shown.length}`,
        ),
        h(
          'button',
          {
            type: 'button',
            disabled: runs.length <= PAGE_SIZE,
            onclick: () => setQuery({ page: String(page + 1) }),
          },
          'Older →',
        ),
      ])
      if (focused) tbody.querySelector<HTMLElement>(`[data-key="${CSS.escape(focused)}"]`)?.focus()
    }
    const reload = coalesced(load)
    await load()

    stream('runs/subscribe', job ? { jobName: job } : {}, (event) => {
      if (!event.runId) return
      const row = rows.get(event.runId)
      if (event.type === 'run:progress' && row && event.progress) {
        row.run.progress = event.progress
        updateProgress(row.progress, event.progress, 'running')
        return
      }
      // A new run shows on the first page; any other change re-reads the rows it touches.
      if (row || (event.type === 'run:trigger' && page === 0) || status) reload()
    })
  }

  function runRow(run: RunView, progress: HTMLElement): HTMLElement {
    const waiting = run.status === 'pending' ? waitWords(run.waitingFor) : null
    const finished = TERMINAL.includes(run.status) ? run.completedAt : null
    return h(
      'tr',
      { 'data-run-id': run.id, 'data-status': run.status },
      h(
        'td',
        { class: 'id', 'data-label': 'Run' },
        h('a', { href: `#/run/${encodeURIComponent(run.id)}`, 'data-key': run.id }, run.id),
      ),
      h(
        'td',
        { 'data-label': 'Job' },
        h(
          'div',
          null,
          run.jobName,
          // The payload's start (the list asks for it cut), for telling runs of one job apart.
          typeof run.payload === 'string' &&
            h('div', { class: 'payload', title: run.payload }, run.payload),
        ),
      ),
      h(
        'td',
        { 'data-label': 'Status' },
        h('div', null, badge(run.status), waiting && h('div', { class: 'wait' }, waiting)),
      ),
      h('td', { 'data-label': 'Progress' }, progress),
      h(
        'td',
        { 'data-label': 'Created' },
        h('time', { datetime: run.createdAt }, clock(run.createdAt, true)),
      ),
      h(
        'td',
        { 'data-label': 'Started' },
        run.startedAt ? h('time', { datetime: run.startedAt }, clock(run.startedAt, true)) : '—',
      ),
      h(
        'td',
        { 'data-label': 'Finished' },
        finished ? h('time', { datetime: finished }, clock(finished, true)) : '—',
      ),
      h('td', { 'data-label': 'Duration' }, runDuration(run)),
    )
  }

  function runDuration(run: RunView): string {
    if (TERMINAL.includes(run.status) && run.startedAt)
      return duration(run.startedAt, run.completedAt)
    if (run.status === 'running' && run.startedAt)
      return `${duration(run.startedAt, new Date().toISOString())} so far`
    return '—'
  }

  // ---- one run -------------------------------------------------------------------------

  async function showRun(id: string): Promise<void> {
    document.title = `Run ${id} · durably`
    let run = await api<RunView>('run', { runId: id, preview: RUN_PREVIEW })
    let steps = await api<StepView[]>('steps', { runId: id })
    let logs: LogView[] | null = null
    let logsNote = ''
    const liveLogs: LogView[] = []
    let runningStep: { name: string; index: number; at: string } | null = null
    const readLogs = async () => {
      try {
        logs = await api<LogView[]>('logs', { runId: id })
      } catch (error) {
        logs = null
        logsNote =
          isApiError(error) && error.status === 404
            ? 'Logs are not stored (withLogPersistence() is not installed); new ones appear here live.'
            : messageOf(error)
      }
    }
    await readLogs()
    /** Runs this one created with `step.invoke`; null where durably has no parent runs. */
    let children: RunView[] | null = null
    const readChildren = async () => {
      try {
        children = await api<RunView[]>('runs', {
          parentRunId: id,
          limit: 100,
          preview: LIST_PREVIEW,
        })
      } catch {
        children = null
      }
    }
    await readChildren()

    const header = h('div')
    const body = h('div')
    append(main, [header, body])
    let progressWrap = progressBar(run)

    const render = () => {
      header.textContent = ''
      body.textContent = ''
      progressWrap = progressBar(run)
      // blockedBy is read now, so where it names a blocker that is the one to show: a
      // waitingFor beside it is the same throttle or debounce, or a wait already past.
      const blocked = run.status === 'pending' ? blockedWords(run.blockedBy, run.jobName) : null
      const waiting = run.status === 'pending' && !blocked ? waitWords(run.waitingFor) : null
      append(header, [
        h('p', null, h('a', { href: '#/' }, '← Runs')),
        h('h1', null, `${run.jobName} `, h('span', { class: 'muted' }, run.id)),
        h(
          'div',
          { class: 'actions', 'data-run-status': run.status },
          badge(run.status),
          actionButtons(),
        ),
      ])
      const childWait =
        run.status === 'pending' && run.waitingFor?.kind === 'child' && run.waitingFor.runId
      append(body, [
        h(
          'dl',
          { class: 'grid panel' },
          field('Progress', progressWrap),
          waiting &&
            field(
              'Waiting',
              childWait ? h('span', null, 'waiting for child run ', runLink(childWait)) : waiting,
            ),
          blocked && field('Waiting', h('span', { 'data-blocked': '' }, blocked)),
          field('Created', clock(run.createdAt, true)),
          field('Started', clock(run.startedAt, true)),
          field('Finished', TERMINAL.includes(run.status) ? clock(run.completedAt, true) : '—'),
          field('Queued for', duration(run.createdAt, run.startedAt)),
          field('Ran for', runDuration(run)),
          field('Steps done', String(run.stepCount)),
          run.idempotencyKey && field('Idempotency key', run.idempotencyKey),
          run.concurrencyKey && field('Concurrency key', run.concurrencyKey),
          run.parentRunId && field('Parent run', runLink(run.parentRunId)),
        ),
        run.error && [
          h('h2', null, 'Error'),
          h('pre', { class: 'error-text', 'data-section': 'error' }, run.error),
        ],
        run.status === 'completed' && [
          h('h2', null, 'Output'),
          valueBlock(run.output, run.outputLength, 'output'),
        ],
        h('h2', null, 'Steps'),
        timeline(),
        h('h2', null, 'Logs'),
        logTable(),
        h('h2', null, 'Payload'),
        valueBlock(run.payload, run.payloadLength, 'payload'),
        childRuns(),
      ])
    }

    const field = (label: string, value: Child) =>
      h('div', null, h('dt', null, label), h('dd', null, value))

    /** A stored value as the run page shows it: pretty JSON, cut when long, whole on demand. */
    const valueBlock = (text: unknown, length: number | undefined, what: 'payload' | 'output') => {
      const pre = h('pre', { 'data-section': what })
      const cut = typeof text === 'string' && typeof length === 'number' && length > text.length
      if (!cut) {
        let shown: unknown = text
        if (typeof text === 'string') {
          try {
            shown = JSON.parse(text)
          } catch {
            shown = text
          }
        }
        pre.textContent = pretty(shown)
        return pre
      }
      pre.textContent = `${text as string}`
      const button = h(
        'button',
        {
          type: 'button',
          onclick: async () => {
            button.setAttribute('disabled', '')
            try {
              const full = await api<RunView>('run', { runId: id })
              // A textarea lays out megabytes of text at once, where a <pre> takes seconds.
              const whole = h('textarea', {
                readonly: true,
                'data-section': what,
                'aria-label': `The whole ${what}`,
                spellcheck: 'false',
              }) as HTMLTextAreaElement
              whole.value = pretty(what === 'payload' ? full.payload : full.output)
              pre.replaceWith(whole)
              button.remove()
            } catch (error) {
              say(messageOf(error), true)
              button.removeAttribute('disabled')
            }
          },
        },
        `Show all (${size(length ?? 0)})`,
      )
      return h(
        'div',
        null,
        h(
          'p',
          { class: 'muted' },
          `Showing the first ${size((text as string).length)} of ${size(length ?? 0)}.`,
        ),
        pre,
        button,
      )
    }

    const timeline = () => {
      if (steps.length === 0 && !runningStep)
        return h('p', { class: 'muted' }, 'No steps recorded yet.')
      // Retried steps leave one row per attempt: show the last, and count them.
      const byIndex = new Map<number, { step: StepView; attempts: number }>()
      for (const step of steps) {
        const seen = byIndex.get(step.index)
        byIndex.set(step.index, { step, attempts: (seen?.attempts ?? 0) + 1 })
      }
      const entries = [...byIndex.values()].sort((a, b) => a.step.index - b.step.index)
      const start = Math.min(
        ...steps.map((s) => new Date(s.startedAt).getTime()),
        runningStep ? new Date(runningStep.at).getTime() : Number.POSITIVE_INFINITY,
      )
      const end = Math.max(
        ...steps.map((s) => new Date(s.completedAt).getTime()),
        runningStep ? Date.now() : 0,
        start + 1,
      )
      const span = Math.max(1, end - start)
      const place = (from: number, to: number) => {
        const bar = h('span')
        bar.style.left = `${((from - start) / span) * 100}%`
        bar.style.width = `${Math.max(0.5, ((to - from) / span) * 100)}%`
        return h('div', { class: 'track', 'aria-hidden': 'true' }, bar)
      }
      const items = entries.map(({ step, attempts }) =>
        h(
          'li',
          { 'data-status': step.status, 'data-step': step.name },
          h(
            'div',
            null,
            h('strong', null, step.name),
            ' ',
            h('span', { class: 'muted' }, `#${step.index}`),
          ),
          place(new Date(step.startedAt).getTime(), new Date(step.completedAt).getTime()),
          h(
            'div',
            { class: 'meta' },
            `${step.status} · ${duration(step.startedAt, step.completedAt)}${attempts > 1 ? ` · ${attempts} attempts` : ' · 1 attempt'}`,
          ),
          step.error && h('div', { class: 'err' }, step.error),
        ),
      )
      if (runningStep && !byIndex.has(runningStep.index)) {
        items.push(
          h(
            'li',
            { 'data-status': 'running', 'data-step': runningStep.name },
            h(
              'div',
              null,
              h('strong', null, runningStep.name),
              ' ',
              h('span', { class: 'muted' }, `#${runningStep.index}`),
            ),
            place(new Date(runningStep.at).getTime(), Date.now()),
            h('div', { class: 'meta' }, 'running'),
          ),
        )
      }
      return h('ol', { class: 'timeline panel' }, items)
    }

    const logTable = () => {
      const all = [
        ...(logs ?? []),
        ...liveLogs.filter(
          (l) => !(logs ?? []).some((s) => s.message === l.message && s.createdAt === l.createdAt),
        ),
      ]
      const note = logsNote && h('p', { class: 'muted' }, logsNote)
      if (all.length === 0) return h('div', null, note, h('p', { class: 'muted' }, 'No logs.'))
      return h(
        'div',
        { class: 'panel' },
        note,
        h(
          'table',
          { class: 'logs' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ['Time', 'Level', 'Step', 'Message'].map((t) => h('th', { scope: 'col' }, t)),
            ),
          ),
          h(
            'tbody',
            null,
            all.map((log) =>
              h(
                'tr',
                null,
                h('td', null, clock(log.createdAt, true)),
                h('td', { class: 'level', 'data-level': log.level }, log.level),
                h('td', null, log.stepName ?? '—'),
                h(
                  'td',
                  null,
                  log.message,
                  log.data !== null && log.data !== undefined
                    ? h('code', { class: 'data' }, clip(JSON.stringify(log.data) ?? '', 2000))
                    : null,
                ),
              ),
            ),
          ),
        ),
      )
    }

    const childRuns = () => {
      const waitedFor = run.waitingFor?.kind === 'child' ? run.waitingFor.runId : undefined
      const list = children ?? []
      if (!waitedFor && list.length === 0) return null
      const rows = list.map((child) =>
        h(
          'li',
          { 'data-child-run-id': child.id },
          runLink(child.id),
          ` ${child.jobName} `,
          badge(child.status),
          child.id === waitedFor ? ' (waited for)' : '',
        ),
      )
      if (waitedFor && !list.some((child) => child.id === waitedFor)) {
        rows.unshift(h('li', null, runLink(waitedFor), ' (waited for)'))
      }
      return [h('h2', null, 'Child runs'), h('ul', { class: 'children' }, rows)]
    }

    const act = async (action: 'retry' | 'cancel' | 'delete') => {
      try {
        await api(
          'delete' === action ? 'run' : action,
          { runId: id },
          { method: action === 'delete' ? 'DELETE' : 'POST' },
        )
        if (action === 'delete') {
          say(`Deleted run ${id}`)
          location.hash = '#/'
          return
        }
        say(action === 'retry' ? 'Sent back to the queue' : 'Cancelled')
        if (action === 'retry') follow()
        refresh()
      } catch (error) {
        say(messageOf(error), true)
      }
    }

    const confirmDelete = () => {
      const dialog = h(
        'dialog',
        { 'aria-labelledby': 'confirm-title' },
        h('h2', { id: 'confirm-title' }, 'Delete this run?'),
        h('p', null, `Run ${id} and its steps and logs are removed for good.`),
        h(
          'form',
          { method: 'dialog', class: 'actions' },
          h('button', { value: 'cancel', autofocus: true }, 'Keep it'),
          h('button', { value: 'delete', class: 'danger' }, 'Delete'),
        ),
      ) as HTMLDialogElement
      dialog.addEventListener('close', () => {
        dialog.remove()
        if (dialog.returnValue === 'delete') void act('delete')
      })
      document.body.appendChild(dialog)
      dialog.showModal()
    }

    const actionButtons = () => [
      h(
        'button',
        {
          type: 'button',
          class: 'primary',
          disabled: !['failed', 'cancelled'].includes(run.status),
          onclick: () => void act('retry'),
        },
        'Retry',
      ),
      h(
        'button',
        {
          type: 'button',
          disabled: !['pending', 'running'].includes(run.status),
          onclick: () => void act('cancel'),
        },
        'Cancel',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'danger',
          disabled: !TERMINAL.includes(run.status),
          onclick: confirmDelete,
        },
        'Delete…',
      ),
    ]

    const refresh = coalesced(async () => {
      const focused = (document.activeElement as HTMLElement | null)?.textContent
      try {
        run = await api<RunView>('run', { runId: id, preview: RUN_PREVIEW })
      } catch (error) {
        if (isApiError(error) && error.status === 404) {
          main.textContent = ''
          append(main, [
            h('p', null, `Run ${id} no longer exists. `, h('a', { href: '#/' }, 'Back to runs')),
          ])
          return
        }
        throw error
      }
      steps = await api<StepView[]>('steps', { runId: id })
      if (runningStep && steps.some((s) => s.index === runningStep?.index)) runningStep = null
      if (TERMINAL.includes(run.status)) runningStep = null
      if (logs) await readLogs()
      await readChildren()
      render()
      if (focused) {
        for (const button of header.querySelectorAll('button'))
          if (button.textContent === focused) button.focus()
      }
    })

    // This run's own stream (steps, logs, progress) ends when the run settles; the run-level
    // stream stays, so a retry (here or elsewhere) is seen and this one is followed again.
    let runStream: EventSource | undefined
    const follow = () => {
      if (runStream) {
        runStream.close()
        sources.delete(runStream)
      }
      runStream = stream('subscribe', { runId: id }, (event) => {
        // A refusal or failure ends a stream as `{ error, status }` (the snapshot is a run).
        if (typeof event.status === 'number' && typeof event.error === 'string') {
          if (event.status !== 404) say(event.error, true)
          return
        }
        if (event.type === 'run:progress' && event.progress) {
          run.progress = event.progress
          updateProgress(progressWrap, event.progress, run.status)
          return
        }
        if (event.type === 'log:write') {
          liveLogs.push({
            id: `live-${liveLogs.length}`,
            stepName: event.stepName ?? null,
            level: event.level ?? 'info',
            message: event.message ?? '',
            data: event.data ?? null,
            createdAt: event.timestamp ?? new Date().toISOString(),
          })
        }
        if (
          event.type === 'step:start' &&
          event.stepName !== undefined &&
          event.stepName !== null
        ) {
          runningStep = {
            name: event.stepName,
            index: event.stepIndex ?? steps.length,
            at: event.timestamp ?? new Date().toISOString(),
          }
        }
        if (event.type) refresh()
      })
    }
    render()
    follow()
    stream('runs/subscribe', { jobName: run.jobName }, (event) => {
      if (event.runId !== id) return
      if (event.type === 'run:retry') follow()
      refresh()
    })
  }

  function clip(text: string, length: number): string {
    return text.length > length ? `${text.slice(0, length)}…` : text
  }

  // ---- jobs ----------------------------------------------------------------------------

  async function showJobs(): Promise<void> {
    document.title = 'Jobs · durably'
    jobsCache = undefined
    const list = await jobs()
    append(main, [h('h1', null, 'Jobs')])
    if (list.length === 0) {
      append(main, [
        h(
          'p',
          { class: 'muted' },
          'No jobs are registered in this process. (The durably CLI opens a database without your jobs’ code: trigger from your app; runs can still be retried, cancelled and deleted here.)',
        ),
      ])
      return
    }
    append(main, [h('div', { class: 'jobs' }, list.map(jobCard))])
  }

  function jobCard(job: JobView): HTMLElement {
    const slug = job.name.replace(/[^a-zA-Z0-9_-]/g, '_')
    const textarea = h('textarea', {
      id: `input-${slug}`,
      name: 'input',
      spellcheck: 'false',
      'aria-describedby': `issues-${slug}`,
    }) as HTMLTextAreaElement
    textarea.value = pretty(job.inputSchema ? skeleton(job.inputSchema) : {})
    const issues = h('div', { id: `issues-${slug}`, 'aria-live': 'polite' })
    const form = h(
      'form',
      {
        'data-job': job.name,
        onsubmit: async (e: Event) => {
          e.preventDefault()
          issues.textContent = ''
          let input: unknown
          try {
            input = JSON.parse(textarea.value)
          } catch (error) {
            append(issues, [
              h('ul', { class: 'issues' }, h('li', null, `Not valid JSON: ${messageOf(error)}`)),
            ])
            return
          }
          try {
            const { runId } = await api<{ runId: string }>(
              'trigger',
              {},
              {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ jobName: job.name, input }),
              },
            )
            append(issues, [h('p', { class: 'ok' }, 'Triggered run ', runLink(runId))])
          } catch (error) {
            const found = isApiError(error) ? error.issues : []
            append(issues, [
              h(
                'ul',
                { class: 'issues', role: 'alert' },
                found.length
                  ? found.map((issue) =>
                      h(
                        'li',
                        null,
                        `${issue.path?.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`,
                      ),
                    )
                  : h('li', null, messageOf(error)),
              ),
            ])
          }
        },
      },
      h('label', { for: `input-${slug}` }, 'Input (JSON)'),
      textarea,
      issues,
      h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, 'Trigger')),
    )
    return h(
      'section',
      { class: 'job panel', 'data-job': job.name, 'aria-labelledby': `job-${slug}` },
      h(
        'h2',
        { id: `job-${slug}` },
        job.name,
        ' ',
        h('a', { href: `#/?job=${encodeURIComponent(job.name)}`, class: 'muted' }, 'runs →'),
      ),
      job.schedule
        ? h(
            'div',
            null,
            h(
              'p',
              null,
              'Schedule ',
              h('code', null, job.schedule.cron),
              ` (${job.schedule.timezone}); next ticks:`,
            ),
            h(
              'ul',
              { class: 'ticks' },
              job.schedule.upcoming.map((tick) =>
                h('li', null, h('time', { datetime: tick }, clock(tick))),
              ),
            ),
          )
        : null,
      job.triggerable
        ? form
        : h('p', { class: 'muted' }, 'Not triggerable over HTTP (triggerableJobs).'),
      job.inputSchema
        ? h(
            'details',
            null,
            h('summary', null, 'Input schema'),
            h('pre', null, pretty(job.inputSchema)),
          )
        : null,
    )
  }

  /** A starting input from a JSON Schema: defaults where given, else an empty value per type. */
  function skeleton(schema: Record<string, unknown>, depth = 0): unknown {
    if (depth > 6) return null
    if ('default' in schema) return schema.default
    if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0]
    if ('const' in schema) return schema.const
    const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
    switch (type) {
      case 'object': {
        const result: Record<string, unknown> = {}
        const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>
        for (const [key, property] of Object.entries(properties))
          result[key] = skeleton(property, depth + 1)
        return result
      }
      case 'array':
        return []
      case 'string':
        return ''
      case 'number':
      case 'integer':
        return 0
      case 'boolean':
        return false
      default: {
        const options = (schema.anyOf ?? schema.oneOf) as Record<string, unknown>[] | undefined
        return options?.[0] ? skeleton(options[0], depth + 1) : null
      }
    }
  }

  window.addEventListener('hashchange', navigate)
  navigate()
}
