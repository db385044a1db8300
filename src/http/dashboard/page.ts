/**
 * The dashboard page: one HTML document with its style and script inline, so it needs no
 * CDN, no asset route and no build step in the app that serves it. The script is
 * `dashboardClient` (client.ts), written and type-checked as TypeScript here and compiled with
 * the rest of the package; its source text is taken once with `Function.prototype.toString`.
 * A Content-Security-Policy lets only this page's own nonce run script or style, and lets
 * it connect only to its own origin (the handler's JSON and SSE routes).
 */
import { dashboardClient } from './client.js'
import { DASHBOARD_STYLES } from './styles.js'

// Bundlers that keep function names wrap them in `__name(fn, "name")`; the page defines the
// helper so the script's text runs whatever compiled it.
const SCRIPT = `const __name = (target) => target;\n(${dashboardClient.toString()})();`

export function dashboardPage(): { html: string; nonce: string } {
  const nonce = randomNonce()
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>durably</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">${DASHBOARD_STYLES}</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="#/">durably</a>
  <nav aria-label="Sections"><a href="#/" data-nav="runs">Runs</a><a href="#/jobs" data-nav="jobs">Jobs</a></nav>
  <span class="live" id="live" role="status" aria-live="polite">connecting…</span>
</header>
<main id="main" tabindex="-1"><p class="muted">Loading…</p></main>
<div class="toast" id="toast" role="status" aria-live="polite"></div>
<noscript>The dashboard needs JavaScript.</noscript>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>`
  return { html, nonce }
}

export function pageResponse({ html, nonce }: { html: string; nonce: string }): Response {
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
  return new Response(html, {
    status: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': csp,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
  })
}

function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return btoa(String.fromCharCode(...bytes))
}
