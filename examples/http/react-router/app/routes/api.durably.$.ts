/**
 * A React Router (v7, framework mode) resource route: `app/routes/api.durably.$.ts` matches
 * every path below /api/durably, and both loader (GET) and action (POST, DELETE) hand the
 * request to durably's handler. Returning the handler's Response streams SSE as is.
 *
 * Route args are typed by shape so this file type-checks without react-router installed;
 * in an app, use `Route.LoaderArgs` / `Route.ActionArgs` from `./+types/api.durably.$`.
 */
import { BASE_PATH, handler } from '../../../durably.js'

interface RouteArgs {
  request: Request
}

export function loader({ request }: RouteArgs): Promise<Response> {
  return handler.handle(request, BASE_PATH)
}

export function action({ request }: RouteArgs): Promise<Response> {
  return handler.handle(request, BASE_PATH)
}
