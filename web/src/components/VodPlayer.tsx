// The player of a video on demand: hls.js (the live player's chunk) with its default VOD settings,
// or the browser's own HLS; a quality menu; and a timeline that previews the thumbnail sprite
// (thumbnails.vtt) under the pointer.
import { useEffect, useRef, useState } from 'preact/hooks';
import type HlsType from 'hls.js';
import type { ErrorData } from 'hls.js';
import { loadHls } from '../player/live';
import { formatBitrate, formatClock } from '../util';

interface Level {
  index: number;
  height: number;
  bitrate: number;
  /** The rendition's folder in the playlist URL (`v/720p/index.m3u8`). */
  name: string | null;
}

interface Thumb {
  start: number;
  end: number;
  url: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** `01:02.500` or `1:01:02.500` → seconds. */
function vttTime(t: string): number {
  return t.split(':').reduce((acc, part) => acc * 60 + Number(part), 0);
}

/**
 * The cues of a thumbnails WebVTT file (`sprite.jpg#xywh=x,y,w,h`), their images resolved against
 * the file's URL. A private video's token is carried over to an image URL without one: relative
 * URIs drop the query string.
 */
export function parseThumbnails(text: string, base: string): Thumb[] {
  const baseUrl = new URL(base, window.location.href);
  const token = baseUrl.searchParams.get('token');
  const thumbs: Thumb[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const m = /^\s*([\d:.]+)\s+-->\s+([\d:.]+)/.exec(line);
    const target = lines[i + 1]?.trim();
    const xywh = target && /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(target);
    if (!m || !xywh) return;
    const url = new URL(xywh[1], baseUrl);
    if (token && !url.searchParams.has('token')) url.searchParams.set('token', token);
    const [x, y, w, h] = xywh.slice(2).map(Number);
    thumbs.push({ start: vttTime(m[1]), end: vttTime(m[2]), url: url.pathname + url.search, x, y, w, h });
  });
  return thumbs;
}

export function VodPlayer({ url, poster, thumbnails, title }: { url: string; poster: string | null; thumbnails: string | null; title: string }) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const hlsRef = useRef<HlsType | null>(null);
  const [levels, setLevels] = useState<Level[]>([]);
  const [manual, setManual] = useState(-1);
  const [current, setCurrent] = useState(-1);
  const [message, setMessage] = useState<string | null>(null);
  const [thumbs, setThumbs] = useState<Thumb[]>([]);
  const [time, setTime] = useState({ now: 0, duration: 0 });
  const [hover, setHover] = useState<{ x: number; t: number; width: number } | null>(null);

  useEffect(() => {
    const video = videoRef.current;
    if (!video) return;
    let stopped = false;
    const play = () => video.play().catch(() => {
      // Autoplay refused: the poster and the play control stay.
    });
    loadHls()
      .then((Hls) => {
        if (stopped) return;
        if (!Hls.isSupported()) {
          if (video.canPlayType('application/vnd.apple.mpegurl')) {
            video.src = url;
            play();
          } else setMessage('This browser cannot play this video (no Media Source Extensions).');
          return;
        }
        const hls = new Hls();
        hlsRef.current = hls;
        let recovered = false;
        hls.on(Hls.Events.MANIFEST_PARSED, () => {
          setLevels(
            hls.levels.map((l, index) => ({
              index,
              height: l.height || 0,
              bitrate: l.bitrate,
              name: /\/v\/([^/]+)\/[^/]*\.m3u8/.exec(l.url[0])?.[1] ?? null,
            })),
          );
          play();
        });
        hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => setCurrent(d.level));
        hls.on(Hls.Events.ERROR, (_e, d: ErrorData) => {
          if (!d.fatal) return;
          // One decoder hiccup is recovered from; anything else is told, not retried forever.
          if (d.type === Hls.ErrorTypes.MEDIA_ERROR && !recovered) {
            recovered = true;
            hls.recoverMediaError();
            return;
          }
          const code = d.response?.code;
          setMessage(
            code === 401 || code === 403
              ? 'The playback link has expired: reload the page.'
              : `Playback failed (${d.details}${code ? `, HTTP ${code}` : ''}).`,
          );
          hls.destroy();
          hlsRef.current = null;
        });
        hls.attachMedia(video);
        hls.loadSource(url);
      })
      .catch(() => setMessage('The player could not be loaded.'));
    return () => {
      stopped = true;
      hlsRef.current?.destroy();
      hlsRef.current = null;
    };
  }, [url]);

  useEffect(() => {
    if (!thumbnails) return;
    let stopped = false;
    fetch(thumbnails)
      .then((r) => (r.ok ? r.text() : ''))
      .then((text) => {
        if (!stopped) setThumbs(parseThumbnails(text, thumbnails));
      })
      .catch(() => {
        // No previews: the timeline still seeks.
      });
    return () => {
      stopped = true;
    };
  }, [thumbnails]);

  const choose = (index: number) => {
    setManual(index);
    if (hlsRef.current) hlsRef.current.currentLevel = index;
  };
  const at = (e: MouseEvent) => {
    const r = (e.currentTarget as HTMLElement).getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
    return { x: f * r.width, t: f * time.duration, width: r.width };
  };
  const thumb = hover ? thumbs.find((c) => hover.t >= c.start && hover.t < c.end) ?? null : null;
  const sorted = [...levels].sort((a, b) => b.height - a.height || b.bitrate - a.bitrate);
  const playing = levels[current];

  return (
    <div class="player" data-testid="vod-player">
      <div class="player-frame">
        <video
          ref={videoRef}
          data-testid="vod-video"
          class="player-video"
          controls
          playsInline
          poster={poster ?? undefined}
          aria-label={title}
          onTimeUpdate={(e) => {
            const v = e.currentTarget as HTMLVideoElement;
            setTime({ now: v.currentTime, duration: Number.isFinite(v.duration) ? v.duration : 0 });
          }}
        />
        {message && (
          <div class="player-offline" role="alert" data-testid="vod-error">
            <p>{message}</p>
          </div>
        )}
      </div>
      {/* A pointer aid beside the native controls, which do the same by keyboard. */}
      <div
        class="scrub"
        aria-hidden="true"
        data-testid="vod-scrub"
        onPointerMove={(e) => setHover(at(e))}
        onPointerLeave={() => setHover(null)}
        onClick={(e) => {
          const v = videoRef.current;
          if (v && time.duration) v.currentTime = at(e).t;
        }}
      >
        <div class="scrub-played" style={{ width: `${time.duration ? (100 * time.now) / time.duration : 0}%` }} />
        {hover && time.duration > 0 && (
          // Kept whole inside the timeline: a preview at an end would overflow a phone's screen.
          <div
            class="scrub-preview"
            style={{ left: `${Math.min(Math.max(hover.x, 84), hover.width - 84)}px` }}
            data-testid="vod-preview"
          >
            {thumb && (
              <div
                class="scrub-thumb"
                style={{
                  width: `${thumb.w}px`,
                  height: `${thumb.h}px`,
                  backgroundImage: `url("${thumb.url}")`,
                  backgroundPosition: `-${thumb.x}px -${thumb.y}px`,
                }}
              />
            )}
            <span>{formatClock(hover.t)}</span>
          </div>
        )}
      </div>
      <div class="player-bar">
        <label class="stat">
          <span>Quality</span>
          <select
            data-testid="quality-select"
            value={String(manual)}
            disabled={levels.length === 0}
            onChange={(e) => choose(Number((e.currentTarget as HTMLSelectElement).value))}
          >
            <option value="-1">{manual < 0 && playing ? `Auto (${playing.height}p)` : 'Auto'}</option>
            {sorted.map((l) => (
              <option key={l.index} value={String(l.index)} data-height={l.height} data-bitrate={l.bitrate} data-name={l.name ?? ''}>
                {`${l.height ? `${l.height}p` : l.name || `Level ${l.index + 1}`} · ${formatBitrate(l.bitrate)}`}
              </option>
            ))}
          </select>
        </label>
        <span class="stat">
          Playing <b data-testid="quality-current">{playing ? `${playing.height}p` : '—'}</b>
        </span>
      </div>
    </div>
  );
}
