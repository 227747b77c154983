// Who is signed in, shared by every page: loaded once from GET /api/v1/session and refreshed after
// login, signup and logout.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, Session, api, getSession, setCsrf } from './api';

export interface SessionState {
  /** False until the first answer (or failure). */
  loaded: boolean;
  user: Session['user'];
  /** Why the session could not be read (the accounts API missing, say). */
  error: string | null;
}

let state: SessionState = { loaded: false, user: null, error: null };
const listeners = new Set<(s: SessionState) => void>();

function set(next: SessionState) {
  state = next;
  listeners.forEach((l) => l(state));
}

export function currentSession(): SessionState {
  return state;
}

export async function refreshSession(): Promise<SessionState> {
  try {
    const s = await getSession();
    set({ loaded: true, user: s.user, error: null });
  } catch (e) {
    const message = e instanceof ApiError ? e.message : String(e);
    set({ loaded: true, user: null, error: message });
  }
  return state;
}

/** Sets the user from a login or signup answer, then re-reads the session (a new CSRF token). */
export async function signedIn(user: Session['user']): Promise<void> {
  set({ loaded: true, user, error: null });
  await refreshSession();
}

export async function logout(): Promise<void> {
  try {
    await api('POST', '/api/v1/auth/logout');
  } finally {
    setCsrf(null);
    set({ loaded: true, user: null, error: null });
    await refreshSession();
  }
}

export function useSession(): SessionState {
  const [s, setS] = useState(state);
  useEffect(() => {
    listeners.add(setS);
    setS(state);
    return () => {
      listeners.delete(setS);
    };
  }, []);
  return s;
}
