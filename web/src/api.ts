// The one fetch wrapper: JSON in and out, `{"error","message"}` bodies turned into ApiError, and
// the CSRF token (from GET /api/v1/session) sent with every state-changing request.

export class ApiError extends Error {
  /** HTTP status; 0 when the request never got an answer. */
  readonly status: number;
  /** The body's `error` code, or `http_STATUS` / `network` when there was none. */
  readonly code: string;
  /** The whole parsed body, when it was JSON. */
  readonly body: Record<string, unknown> | null;

  constructor(status: number, code: string, message: string, body: Record<string, unknown> | null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
  }

  /** `retry_after_ms` of a rate-limited answer, when the body has it. */
  get retryAfterMs(): number | null {
    const v = this.body?.retry_after_ms;
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  }

  /** The server has no such route (a back end older than these pages): 404 `route not found`. */
  get routeMissing(): boolean {
    return this.status === 404 && /route/i.test(this.message);
  }
}

export interface Session {
  user: { id: number | string; name: string; admin: boolean } | null;
  csrf: string | null;
}

let csrf: string | null = null;
let csrfPending: Promise<string | null> | null = null;

/** Remembers the CSRF token from a session answer. */
export function setCsrf(token: string | null): void {
  csrf = token;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

async function ensureCsrf(): Promise<string | null> {
  if (csrf) return csrf;
  if (!csrfPending) {
    csrfPending = getSession()
      .then((s) => s.csrf)
      .catch(() => null)
      .finally(() => {
        csrfPending = null;
      });
  }
  return csrfPending;
}

export interface RequestOptions {
  /** Abort with the page, say. */
  signal?: AbortSignal;
  /** Survive the page going away (telemetry). */
  keepalive?: boolean;
  /** Extra headers. */
  headers?: Record<string, string>;
}

async function send(method: string, path: string, body: unknown, opts: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json', ...(opts.headers || {}) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (UNSAFE.has(method)) {
    const token = await ensureCsrf();
    if (token) headers['X-CSRF-Token'] = token;
  }
  try {
    return await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal: opts.signal,
      keepalive: opts.keepalive,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server could not be reached.', null);
  }
}

async function parse<T>(res: Response): Promise<T> {
  const text = await res.text();
  let json: unknown = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (res.ok) return (json ?? null) as T;
  const obj = json && typeof json === 'object' ? (json as Record<string, unknown>) : null;
  const code = typeof obj?.error === 'string' ? obj.error : `http_${res.status}`;
  const message =
    typeof obj?.message === 'string' && obj.message
      ? obj.message
      : `${res.status} ${res.statusText || 'error'}`.trim();
  throw new ApiError(res.status, code, message, obj);
}

/**
 * Calls the API. Resolves with the parsed JSON body (null for an empty one, e.g. 204); rejects
 * with ApiError. A 403 `csrf` refusal fetches a fresh token and retries once.
 */
export async function api<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  opts: RequestOptions = {},
): Promise<T> {
  method = method.toUpperCase();
  let res = await send(method, path, body, opts);
  if (res.status === 403 && UNSAFE.has(method)) {
    const text = await res.clone().text();
    if (/"error"\s*:\s*"csrf"/.test(text)) {
      csrf = null;
      await ensureCsrf();
      res = await send(method, path, body, opts);
    }
  }
  return parse<T>(res);
}

export const get = <T = unknown>(path: string, opts?: RequestOptions) => api<T>('GET', path, undefined, opts);

/** GET /api/v1/session, remembering its CSRF token. */
export async function getSession(): Promise<Session> {
  const res = await fetch('/api/v1/session', { credentials: 'same-origin', headers: { Accept: 'application/json' } }).catch(
    () => {
      throw new ApiError(0, 'network', 'The server could not be reached.', null);
    },
  );
  const s = await parse<Session>(res);
  const session: Session = { user: s?.user ?? null, csrf: s?.csrf ?? null };
  csrf = session.csrf;
  return session;
}

/** Encodes one path segment. */
export const seg = (s: string) => encodeURIComponent(s);
