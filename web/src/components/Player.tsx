import { useEffect, useRef, useState } from 'preact/hooks';
import { INITIAL_VIEW, LivePlayer, PlayerView } from '../player/live';

interface Props {
  channel: string;
  url: string;
  /** Whether to play: false shows the offline panel. */
  live: boolean;
  /** performance.now() startup is measured from. */
  t0: number;
  onOffline(reason: 'ended' | 'gone'): void;
  isLive(): Promise<boolean | null>;
  /** Shown on the offline panel ("ended 3 minutes ago"). */
  offlineNote?: string | null;
}


export function Player({ channel, url, live, t0, onOffline, isLive, offlineNote }: Props) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const playerRef = useRef<LivePlayer | null>(null);
  const [view, setView] = useState<PlayerView>(INITIAL_VIEW);
  // The latest callbacks, without restarting the player when they change.
  const cb = useRef({ onOffline, isLive });
  cb.current = { onOffline, isLive };

  useEffect(() => {
    const video = videoRef.current;
    if (!live || !video) return;
    setView(INITIAL_VIEW);
    const player = new LivePlayer(video, {
      channel,
      url,
      t0: Math.min(t0, performance.now()),
      onView: setView,
      onOffline: (reason) => cb.current.onOffline(reason),
      isLive: () => cb.current.isLive(),
    });
    playerRef.current = player;
    player.start();
    return () => {
      player.dispose();
      playerRef.current = null;
    };
    // t0 is read once per start on purpose.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live, url, channel]);

  const levels = [...view.levels].sort((a, b) => b.height - a.height || b.bitrate - a.bitrate);
  const playing = view.levels[view.current];
  const autoLabel = view.manual < 0 && playing ? `Auto (${playing.height ? `${playing.height}p` : playing.name})` : 'Auto';
  const busy = live && (view.phase === 'loading' || view.phase === 'retrying' || view.phase === 'buffering');

  return (
    <div class="player" data-testid="player">
      <div class="player-frame">
        <video
          ref={videoRef}
          data-testid="player-video"
          class="player-video"
          controls
          playsInline
          preload="none"
          aria-label={`${channel} live video`}
        />
        {!live && (
          <div class="player-offline" data-testid="offline" role="status">
            <p class="offline-title">{channel} is offline</p>
            {offlineNote && <p class="muted">{offlineNote}</p>}
            <p class="muted small">This page starts playing as soon as the stream is back.</p>
          </div>
        )}
        {busy && (
          <div class="player-status" data-testid="player-status" role="status">
            <span class="spinner" aria-hidden="true" />
            <span>{view.message || (view.phase === 'buffering' ? 'Buffering…' : 'Loading…')}</span>
          </div>
        )}
        {live && view.phase === 'unsupported' && (
          <div class="player-offline" role="alert">
            <p>{view.message}</p>
          </div>
        )}
        {live && view.blocked && (
          <button type="button" class="player-bigplay" data-testid="play" onClick={() => playerRef.current?.resume()}>
            ▶ Play
          </button>
        )}
        {live && view.muted && !view.blocked && view.phase === 'playing' && (
          <button type="button" class="player-unmute btn" data-testid="unmute" onClick={() => playerRef.current?.unmute()}>
            🔇 Unmute
          </button>
        )}
      </div>
      <div class="player-bar">
        <label class="stat">
          <span>Quality</span>
          <select
            data-testid="quality-select"
            value={String(view.manual)}
            disabled={!live || view.levels.length === 0}
            onChange={(e) => playerRef.current?.setLevel(Number((e.currentTarget as HTMLSelectElement).value))}
          >
            <option value="-1">{autoLabel}</option>
            {levels.map((l) => (
              <option key={l.index} value={String(l.index)} data-height={l.height} data-bitrate={l.bitrate}>
                {l.label}
              </option>
            ))}
          </select>
        </label>
        <span class="stat" title="The rendition playing now">
          Playing{' '}
          <b data-testid="quality-current" data-level={view.current}>
            {live && playing ? (playing.height ? `${playing.height}p` : playing.name || '—') : '—'}
          </b>
        </span>
        <span class="stat" title="How far behind the live edge the picture is">
          Latency{' '}
          <b data-testid="latency" data-latency={view.latency ?? ''}>
            {live && view.latency !== null ? `${view.latency.toFixed(1)} s` : '—'}
          </b>
        </span>
        {live && view.behind && (
          <button type="button" class="btn primary small" data-testid="go-live" onClick={() => playerRef.current?.goLive()}>
            Go live
          </button>
        )}
      </div>
    </div>
  );
}
