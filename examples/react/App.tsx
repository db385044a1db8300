/**
 * The page: a form that triggers an import, a progress bar following that run, and the
 * recent runs with their actions, all live through the hooks (SSE from the handler).
 */
import { type FormEvent, useState } from 'react'
import { useJob, useRunActions, useRuns } from './hooks.js'

export function App() {
  return (
    <main>
      <h1>Photo import</h1>
      <p className="lede">A durable job runs on the server; React hooks follow it live.</p>
      <ImportForm />
      <RecentRuns />
    </main>
  )
}

function percentOf(current: number | undefined, total: number | undefined): number {
  return current !== undefined && total ? Math.round((current / total) * 100) : 0
}

function ImportForm() {
  const [album, setAlbum] = useState('Holidays')
  const [photos, setPhotos] = useState(12)
  const job = useJob('import-photos')
  const percent =
    job.status === 'completed' ? 100 : percentOf(job.progress?.current, job.progress?.total)

  const submit = (event: FormEvent) => {
    event.preventDefault()
    // A refusal shows as job.requestError below; the rejected promise needs nothing more.
    job.trigger({ album, photos }).catch(() => undefined)
  }

  return (
    <section className="card">
      <form onSubmit={submit}>
        <label>
          Album
          <input value={album} onChange={(event) => setAlbum(event.target.value)} />
        </label>
        <label>
          Photos
          <input
            type="number"
            min={1}
            max={50}
            value={photos}
            onChange={(event) => setPhotos(Number(event.target.value))}
          />
        </label>
        <button id="start" type="submit" disabled={job.isRunning}>
          Import
        </button>
      </form>
      {job.requestError && (
        <p className="error" role="alert">
          {job.requestError.message}
        </p>
      )}
      {job.runId && (
        <div
          className="run"
          data-run-id={job.runId}
          data-status={job.status ?? ''}
          data-percent={percent}
        >
          <div className="meta">
            <span className={`status ${job.status ?? ''}`}>{job.status ?? 'starting'}</span>
            <span>{job.progress?.message ?? ''}</span>
            <span>{percent} %</span>
          </div>
          <div
            className="bar"
            role="progressbar"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={percent}
          >
            <div className="fill" style={{ width: `${percent}%` }} />
          </div>
          {job.output && (
            <p className="done">
              Imported {job.output.imported} photos into “{job.output.album}”.
            </p>
          )}
          {job.error && <p className="error">{job.error}</p>}
          <ol className="logs">
            {job.logs.slice(-3).map((log) => (
              <li key={`${log.timestamp} ${log.message}`}>{log.message}</li>
            ))}
          </ol>
        </div>
      )}
    </section>
  )
}

function RecentRuns() {
  const { runs, requestError } = useRuns({ limit: 8 })
  const { cancel, retry, deleteRun } = useRunActions()
  const [actionError, setActionError] = useState<string | null>(null)
  const act = (action: (runId: string) => Promise<void>, runId: string) => () => {
    setActionError(null)
    action(runId).catch((error: Error) => setActionError(error.message))
  }

  return (
    <section className="card">
      <h2>Recent runs</h2>
      {(requestError ?? actionError) && (
        <p className="error">{requestError?.message ?? actionError}</p>
      )}
      <table>
        <tbody>
          {runs.map((run) => (
            <tr key={run.id} data-run-id={run.id}>
              <td className="id">{run.id.slice(-8)}</td>
              <td>
                <span className={`status ${run.status}`}>{run.status}</span>
              </td>
              <td className="progress">
                {percentOf(run.progress?.current, run.progress?.total)} %
              </td>
              <td className="actions">
                {(run.status === 'pending' || run.status === 'running') && (
                  <button type="button" onClick={act(cancel, run.id)}>
                    Cancel
                  </button>
                )}
                {(run.status === 'failed' || run.status === 'cancelled') && (
                  <button type="button" onClick={act(retry, run.id)}>
                    Retry
                  </button>
                )}
                {run.status !== 'pending' && run.status !== 'running' && (
                  <button type="button" onClick={act(deleteRun, run.id)}>
                    Delete
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}
