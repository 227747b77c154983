import { useState } from 'preact/hooks';
import { logout, useSession } from '../session';
import { navigate } from '../router';

export function Header() {
  const session = useSession();
  const [busy, setBusy] = useState(false);
  const onLogout = async () => {
    setBusy(true);
    try {
      await logout();
    } catch {
      // The session is dropped locally either way.
    } finally {
      setBusy(false);
      navigate('/');
    }
  };
  return (
    <header class="topbar">
      <a class="logo" href="/" data-testid="nav-home" aria-label="Ferrocast home">
        <svg viewBox="0 0 32 32" width="28" height="28" aria-hidden="true">
          <rect width="32" height="32" rx="7" fill="#9147ff" />
          <path d="M9 7h14v4h-9v4h8v4h-8v6H9z" fill="#fff" />
          <circle cx="24" cy="23" r="3" fill="#ff4f4f" />
        </svg>
        <span>Ferrocast</span>
      </a>
      <nav class="nav" aria-label="Account">
        {!session.loaded ? null : session.user ? (
          <>
            <a href="/studio" data-testid="nav-studio">
              Studio
            </a>
            <a href="/videos" data-testid="nav-videos">
              Videos
            </a>
            <span class="whoami" data-testid="nav-user" title="Signed in">
              {session.user.name}
            </span>
            <button type="button" class="btn ghost" onClick={onLogout} disabled={busy} data-testid="nav-logout">
              Log out
            </button>
          </>
        ) : (
          <>
            <a href="/login" class="btn ghost" data-testid="nav-login">
              Log in
            </a>
            <a href="/signup" class="btn primary" data-testid="nav-signup">
              Sign up
            </a>
          </>
        )}
      </nav>
    </header>
  );
}
