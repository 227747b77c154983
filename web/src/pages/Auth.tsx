import { useEffect, useState } from 'preact/hooks';
import { ApiError, Session, api } from '../api';
import { navigate, safeNext } from '../router';
import { signedIn, useSession } from '../session';
import { useTitle } from '../util';

function friendly(e: unknown, mode: 'login' | 'signup'): string {
  if (!(e instanceof ApiError)) return `Something went wrong: ${String(e)}`;
  switch (e.code) {
    case 'bad_credentials':
      return 'Wrong name or password.';
    case 'rate_limited': {
      const ms = e.retryAfterMs;
      const s = ms !== null ? Math.max(1, Math.ceil(ms / 1000)) : null;
      return `Too many attempts. Try again in ${s !== null ? `${s} second${s === 1 ? '' : 's'}` : 'a while'}.`;
    }
    case 'name_taken':
      return 'That name is taken. Pick another.';
    case 'weak_password':
      return 'Passwords are 8 to 128 characters.';
    case 'invalid_name':
      return 'Names are 3 to 25 characters: lowercase letters, digits and _, starting with a letter.';
    case 'busy':
      return 'The server is busy. Try again in a moment.';
    case 'csrf':
      return 'Your session expired. Reload the page and try again.';
    case 'network':
      return e.message;
    default:
      if (e.routeMissing) return `${mode === 'login' ? 'Logging in' : 'Signing up'} is not available on this server yet.`;
      return e.message || 'Something went wrong.';
  }
}

export function AuthPage({ mode, next }: { mode: 'login' | 'signup'; next: string | null }) {
  const session = useSession();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const target = safeNext(next, mode === 'signup' ? '/studio' : '/');
  useTitle(mode === 'login' ? 'Log in' : 'Sign up');

  // Already signed in: nothing to do here.
  useEffect(() => {
    if (session.loaded && session.user && !busy) navigate(target, true);
  }, [session.loaded, session.user, busy, target]);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!name.trim() || !password) {
      setError('Type your name and password.');
      return;
    }
    setBusy(true);
    try {
      const res = await api<{ user: Session['user'] }>('POST', `/api/v1/auth/${mode}`, {
        name: name.trim(),
        password,
      });
      await signedIn(res?.user ?? null);
      navigate(target, true);
    } catch (err) {
      setError(friendly(err, mode));
    } finally {
      setBusy(false);
    }
  };

  const other = mode === 'login' ? '/signup' : '/login';
  const otherHref = next ? `${other}?next=${encodeURIComponent(next)}` : other;

  return (
    <section class="page narrow">
      <form class="card-form auth" onSubmit={submit} noValidate data-testid={`${mode}-form`}>
        <h1>{mode === 'login' ? 'Log in' : 'Create an account'}</h1>
        <label for="auth-name">Name</label>
        <input
          id="auth-name"
          name="name"
          type="text"
          autoComplete="username"
          autoCapitalize="none"
          spellcheck={false}
          required
          value={name}
          data-testid="login-name"
          onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
        />
        {mode === 'signup' && <p class="hint">3–25 characters: a–z, 0–9 and _, starting with a letter.</p>}
        <label for="auth-password">Password</label>
        <input
          id="auth-password"
          name="password"
          type="password"
          autoComplete={mode === 'login' ? 'current-password' : 'new-password'}
          required
          value={password}
          data-testid="login-password"
          onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)}
        />
        {mode === 'signup' && <p class="hint">8 to 128 characters.</p>}
        <p class="form-error" role="alert" data-testid="form-error">
          {error || ''}
        </p>
        <button type="submit" class="btn primary wide" disabled={busy} data-testid="login-submit">
          {busy ? 'Please wait…' : mode === 'login' ? 'Log in' : 'Sign up'}
        </button>
        <p class="muted small center">
          {mode === 'login' ? 'New here? ' : 'Have an account? '}
          <a href={otherHref}>{mode === 'login' ? 'Create an account' : 'Log in'}</a>
        </p>
      </form>
    </section>
  );
}
