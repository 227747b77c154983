import { useState } from 'preact/hooks';
import { ApiError, get } from '../api';
import { formatClock, formatCount, parseTime, timeAgo, useNow, usePoll, useTitle } from '../util';

interface LiveEntry {
  name: string;
  title?: string | null;
  owner?: string | null;
  viewers?: number;
  started_at?: string | number | null;
  thumbnail_url?: string | null;
}
interface EndedEntry {
  name: string;
  title?: string | null;
  owner?: string | null;
  ended_at?: string | number | null;
}
interface DirectoryAnswer {
  live: LiveEntry[];
  ended: EndedEntry[];
}

const THUMB_AFTER_MS = 8000;

/** Adds `t=STAMP` to a URL so that the browser fetches a new thumbnail. */
function bust(url: string, stamp: number): string {
  return `${url}${url.includes('?') ? '&' : '?'}t=${stamp}`;
}

/** After a thumbnail failed to load, the next try waits this many stamps (10 s each). */
const THUMB_RETRY_STAMPS = 3;

function ThumbPlaceholder() {
  return <div class="thumb-placeholder" aria-hidden="true" data-testid="live-thumb-placeholder" />;
}

/**
 * A channel's thumbnail, reloaded at every `stamp`. One that fails to load (no keyframe yet, the
 * broadcast just ended) gives way to a placeholder and is asked for again only 30 s later, so the
 * directory does not fill the console with 404s.
 */
function Thumb({ src, stamp }: { src: string; stamp: number }) {
  const [failedAt, setFailedAt] = useState<number | null>(null);
  if (failedAt !== null && stamp < failedAt + THUMB_RETRY_STAMPS) return <ThumbPlaceholder />;
  return (
    <img
      src={bust(src, stamp)}
      alt=""
      width={320}
      height={180}
      loading="lazy"
      decoding="async"
      data-testid="live-thumb"
      onError={() => setFailedAt(stamp)}
      onLoad={() => setFailedAt(null)}
    />
  );
}

export function Directory() {
  useTitle('');
  const [data, setData] = useState<DirectoryAnswer | null>(null);
  const [error, setError] = useState<string | null>(null);
  const now = useNow(1000);
  // A new thumbnail every 10 s.
  const thumbStamp = Math.floor(now / 10000);

  usePoll(async () => {
    try {
      const d = await get<DirectoryAnswer>('/api/v1/directory');
      setData({ live: d?.live ?? [], ended: d?.ended ?? [] });
      setError(null);
    } catch (e) {
      setError(
        e instanceof ApiError && e.routeMissing
          ? 'The channel directory is not available on this server yet.'
          : `Could not load the directory: ${(e as Error).message}`,
      );
    }
  }, 15000);

  return (
    <section class="page" data-testid="directory">
      <h1 class="page-title">Live now</h1>
      {error && (
        <p class="error-line" role="alert" data-testid="directory-error">
          {error}
        </p>
      )}
      {!data && !error && <p class="muted">Loading…</p>}
      {data && data.live.length === 0 && (
        <div class="empty" data-testid="directory-empty">
          <p>Nobody is live right now.</p>
          <p class="muted">
            Streamers: create a channel in the <a href="/studio">Studio</a> and point OBS at its RTMP URL.
          </p>
        </div>
      )}
      {data && data.live.length > 0 && (
        <ul class="cards" data-testid="live-list">
          {data.live.map((c) => {
            const started = parseTime(c.started_at);
            const thumb = c.thumbnail_url || `/live/${encodeURIComponent(c.name)}/thumbnail.jpg`;
            // The first thumbnail comes from a keyframe a few seconds in: not asked for before.
            const showThumb = started === null || now - started > THUMB_AFTER_MS || now - started < -60000;
            return (
              <li key={c.name} class="card" data-testid="live-card" data-channel={c.name}>
                <a href={`/${encodeURIComponent(c.name)}`} class="card-link">
                  <div class="thumb">
                    {showThumb ? <Thumb src={thumb} stamp={thumbStamp} /> : <ThumbPlaceholder />}
                    <span class="badge live">LIVE</span>
                    {started !== null && (
                      <span class="badge uptime" data-testid="live-uptime" title="Live for">
                        {formatClock((now - started) / 1000)}
                      </span>
                    )}
                    <span class="badge viewers" data-testid="live-viewers">
                      {formatCount(c.viewers ?? 0, 'viewer')}
                    </span>
                  </div>
                  <div class="card-body">
                    <span class="card-title" data-testid="live-title">
                      {c.title || c.name}
                    </span>
                    <span class="card-sub">
                      {c.name}
                      {c.owner && c.owner !== c.name ? ` · ${c.owner}` : ''}
                    </span>
                  </div>
                </a>
              </li>
            );
          })}
        </ul>
      )}
      {data && data.ended.length > 0 && (
        <>
          <h2 class="section-title">Recently ended</h2>
          <ul class="ended" data-testid="ended-list">
            {data.ended.map((c) => {
              const ended = parseTime(c.ended_at);
              return (
                <li key={c.name} data-testid="ended-item">
                  <a href={`/${encodeURIComponent(c.name)}`}>
                    <span class="ended-name">{c.name}</span>
                    <span class="ended-title">{c.title || ''}</span>
                    {ended !== null && <span class="muted ended-when">ended {timeAgo(ended, now)}</span>}
                  </a>
                </li>
              );
            })}
          </ul>
        </>
      )}
    </section>
  );
}
