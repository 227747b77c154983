// Client-side routing on the History API: same-origin links are followed without a page load.
import { useEffect, useState } from 'preact/hooks';

export interface Location {
  path: string;
  query: URLSearchParams;
}

const listeners = new Set<() => void>();

function read(): Location {
  return { path: window.location.pathname, query: new URLSearchParams(window.location.search) };
}

/** Goes to `to` (a path with an optional query), adding a history entry unless `replace`. */
export function navigate(to: string, replace = false): void {
  const current = window.location.pathname + window.location.search + window.location.hash;
  if (to === current) return;
  if (replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  if (!to.includes('#')) window.scrollTo(0, 0);
  listeners.forEach((l) => l());
}

/** Clicks on same-origin <a href> become navigate() calls. */
export function interceptLinks(): void {
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.('a');
    if (!a || !a.href || a.target || a.hasAttribute('download') || a.dataset.native !== undefined) return;
    const url = new URL(a.href);
    if (url.origin !== window.location.origin) return;
    // Only the app's pages; media, API and metrics links load for real.
    if (/^\/(live|vod|chat|metrics|healthz|readyz|assets)(\/|$)/.test(url.pathname)) return;
    if (/^\/api\//.test(url.pathname) && url.pathname !== '/api/docs') return;
    if (url.pathname === window.location.pathname && url.search === window.location.search && url.hash) return;
    e.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
  window.addEventListener('popstate', () => listeners.forEach((l) => l()));
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(read);
  useEffect(() => {
    const l = () => setLoc(read());
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, []);
  return loc;
}

/** A `next` parameter that is safe to follow: a path on this site. */
export function safeNext(next: string | null, fallback = '/'): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return fallback;
  return next;
}
