// api.js — the appliance's small HTTP API: GET /api/state and POST /api/auth/login.
//
// Also POST /api/auth/logout, which the server offers beyond the fixed contract.
//
// The session cookie the login sets (HttpOnly) authenticates every later request, the
// WebSocket and /stream.mjpeg included, so nothing here stores the token. Functions return
// plain results with the HTTP status and never throw on HTTP errors; a network failure
// comes back as status 0.

/** GET /api/state → {status, state}; state is the parsed JSON on 200, else null. */
export async function fetchState() {
  try {
    const res = await fetch('/api/state', {
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { Accept: 'application/json' },
    });
    if (res.status !== 200) return { status: res.status, state: null };
    return { status: 200, state: await res.json() };
  } catch (_) {
    return { status: 0, state: null };
  }
}

/**
 * POST /api/auth/login as `user` (`admin`, or `viewer` where the appliance has one) →
 * {status, token, retryAfter}. 200: logged in (the cookie is set); 401: wrong user or
 * password; 429: too many attempts (retryAfter: seconds from the Retry-After header, or null).
 */
export async function login(user, password) {
  try {
    const res = await fetch('/api/auth/login', {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ user, password }),
    });
    let token = null;
    if (res.status === 200) {
      try {
        token = (await res.json()).token ?? null;
      } catch (_) {
        token = null;
      }
    }
    const retry = parseInt(res.headers.get('Retry-After') ?? '', 10);
    return { status: res.status, token, retryAfter: Number.isFinite(retry) ? retry : null };
  } catch (_) {
    return { status: 0, token: null, retryAfter: null };
  }
}

/** POST /api/auth/logout: ends the session and clears the cookie; returns the HTTP status. */
export async function logout() {
  try {
    const res = await fetch('/api/auth/logout', { method: 'POST', credentials: 'same-origin' });
    return res.status;
  } catch (_) {
    return 0;
  }
}

/**
 * `method` `path` with `body` as JSON (none when null or undefined) → {status, body}: body is
 * the parsed JSON reply or null; status 0 when the appliance cannot be reached. For the
 * front-panel and media calls, whose errors come back as JSON {"error": "…"}.
 */
export async function requestJson(method, path, body) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
  if (body !== null && body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  try {
    const res = await fetch(path, init);
    return { status: res.status, body: await res.json().catch(() => null) };
  } catch (_) {
    return { status: 0, body: null };
  }
}

/** Viewers in a state object: WebRTC `viewers` plus `mjpeg_viewers` where the server counts them. */
export function viewerCount(state) {
  if (!state || typeof state.viewers !== 'number') return null;
  return state.viewers + (typeof state.mjpeg_viewers === 'number' ? state.mjpeg_viewers : 0);
}
