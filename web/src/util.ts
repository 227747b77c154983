import { useEffect, useRef, useState } from 'preact/hooks';

/** Undoes the server's escaping of `& < > " '` (docs/CHAT.md): the result is rendered as text. */
export function unescapeHtml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|#39|#x27|apos);/g, (_, e: string) => {
    switch (e) {
      case 'amp':
        return '&';
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'quot':
        return '"';
      default:
        return "'";
    }
  });
}

/** A time from the API (RFC 3339 text, or unix seconds / milliseconds) as unix ms, or null. */
export function parseTime(t: unknown): number | null {
  if (typeof t === 'number' && Number.isFinite(t)) return t < 1e11 ? t * 1000 : t;
  if (typeof t === 'string' && t) {
    const ms = Date.parse(t);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

/** 3725 → "1:02:05", 65 → "1:05". */
export function formatClock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

/** "just now", "5 minutes ago", "3 hours ago", "2 days ago". */
export function timeAgo(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 45) return 'just now';
  const unit = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'} ago`;
  if (s < 3600) return unit(Math.max(1, Math.round(s / 60)), 'minute');
  if (s < 86400) return unit(Math.round(s / 3600), 'hour');
  return unit(Math.round(s / 86400), 'day');
}

/** Seconds as words: 600 → "10 minutes", 45 → "45 seconds". */
export function spanWords(seconds: number): string {
  const s = Math.round(seconds);
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  if (s < 120) return plural(s, 'second');
  if (s < 7200) return plural(Math.round(s / 60), 'minute');
  if (s < 172800) return plural(Math.round(s / 3600), 'hour');
  return plural(Math.round(s / 86400), 'day');
}

/** bits/s → "2.8 Mbps" / "800 kbps". */
export function formatBitrate(bps: number): string {
  if (!Number.isFinite(bps) || bps <= 0) return '';
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mbps`;
  return `${Math.round(bps / 1e3)} kbps`;
}

export function formatCount(n: number, word: string): string {
  const v = Number.isFinite(n) ? n : 0;
  const text = v >= 10000 ? `${(v / 1000).toFixed(v >= 100000 ? 0 : 1)}K` : v.toLocaleString('en-US');
  return `${text} ${word}${v === 1 ? '' : 's'}`;
}

/** The current time, re-read every `ms`. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** Calls `fn` now and every `ms` while mounted (and `enabled`); the latest `fn` is used. */
export function usePoll(fn: () => void | Promise<void>, ms: number, deps: unknown[] = [], enabled = true): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (!enabled) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        await ref.current();
      } catch {
        // The callback shows its own errors.
      }
      if (!stopped) timer = setTimeout(run, ms);
    };
    run();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ms, enabled, ...deps]);
}

/** Copies text to the clipboard; false when the browser refused. */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the old way
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

/** A random id for telemetry sessions. */
export function randomId(): string {
  const c: Crypto = crypto;
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  const b = new Uint8Array(16);
  c.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** A stable, readable colour for a chat name. */
export function nameColor(name: string): string {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360}, 75%, 68%)`;
}

/** Sets document.title while a page is shown. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Ferrocast` : 'Ferrocast';
  }, [title]);
}

/** Channel names (README): 1–48 of a-z 0-9 - _, starting with a letter or digit. */
export const CHANNEL_RE = /^[a-z0-9][a-z0-9_-]{0,47}$/;
