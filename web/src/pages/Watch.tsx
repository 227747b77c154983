import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, get, seg } from '../api';
import { Player } from '../components/Player';
import { Chat } from '../components/Chat';
import { navigate } from '../router';
import { useSession } from '../session';
import { formatClock, formatCount, parseTime, timeAgo, useNow, useTitle } from '../util';

interface WatchInfo {
  name: string;
  title?: string | null;
  owner?: string | null;
  live: boolean;
  started_at?: string | number | null;
  ended_at?: string | number | null;
  viewers?: number | null;
  followers?: number | null;
  following?: boolean | null;
  playback_url?: string | null;
  chat?: { guests?: boolean; followers_only?: boolean } | null;
}

/** Startup of the first page is measured from navigation start; of a later one, from its opening. */
let firstPage = true;

/** The playback URL on this origin (the pages load nothing from elsewhere). */
function localUrl(name: string, playback: string | null | undefined): string {
  if (playback) {
    try {
      const u = new URL(playback, window.location.href);
      return u.pathname + u.search;
    } catch {
      // fall through
    }
  }
  return `/live/${encodeURIComponent(name)}/master.m3u8`;
}

/** Without the watch API: live when the first media playlist exists and has no EXT-X-ENDLIST. */
async function probePlaylist(name: string): Promise<boolean> {
  try {
    const master = await fetch(`/live/${encodeURIComponent(name)}/master.m3u8`, { cache: 'no-store' });
    if (!master.ok) return false;
    const text = await master.text();
    const first = text.split('\n').find((l) => l.trim() && !l.startsWith('#'));
    if (!first) return false;
    const media = await fetch(new URL(first.trim(), master.url).href, { cache: 'no-store' });
    return media.ok && !(await media.text()).includes('#EXT-X-ENDLIST');
  } catch {
    return false;
  }
}

export function Watch({ name }: { name: string }) {
  const session = useSession();
  const [info, setInfo] = useState<WatchInfo | null>(null);
  const [state, setState] = useState<'loading' | 'ready' | 'missing' | 'error'>('loading');
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState(false);
  const [endedAt, setEndedAt] = useState<number | null>(null);
  // The watch API is missing (an older server): the playlist itself says whether the channel is live.
  const [fallback, setFallback] = useState(false);
  const [followBusy, setFollowBusy] = useState(false);
  const [followError, setFollowError] = useState<string | null>(null);
  // Bumped after a follow or unfollow: the chat joins again with a fresh token (it says whether
  // the account follows) and recovers the events of the switch (docs/CHAT.md "Room modes").
  const [chatGeneration, setChatGeneration] = useState(0);
  const t0 = useRef(firstPage ? 0 : performance.now());
  // The broadcast played here ended (EXT-X-ENDLIST): not to be played again.
  const endedBroadcast = useRef(false);
  const now = useNow(1000);
  useTitle(info?.title ? `${name} · ${info.title}` : name);

  useEffect(() => {
    firstPage = false;
  }, []);

  /** Reads the watch API; null when the channel does not exist. */
  const fetchInfo = useCallback(async (): Promise<WatchInfo | null> => {
    try {
      const w = await get<WatchInfo>(`/api/v1/watch/${seg(name)}`);
      setFallback(false);
      return w;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && !e.routeMissing) return null;
      if (e instanceof ApiError && (e.routeMissing || e.status >= 500 || e.status === 0)) {
        // No watch API: ask the playlist instead.
        setFallback(true);
        return { name, live: await probePlaylist(name), chat: { guests: true } };
      }
      throw e;
    }
  }, [name]);

  const isLive = useCallback(async (): Promise<boolean | null> => {
    try {
      const w = await fetchInfo();
      return w ? Boolean(w.live) : false;
    } catch {
      return null;
    }
  }, [fetchInfo]);

  // First load.
  useEffect(() => {
    let stop = false;
    fetchInfo()
      .then((w) => {
        if (stop) return;
        if (!w) {
          setState('missing');
          return;
        }
        setInfo(w);
        setLive(Boolean(w.live));
        setState('ready');
      })
      .catch((e) => {
        if (stop) return;
        setError((e as Error).message);
        setState('error');
      });
    return () => {
      stop = true;
    };
  }, [fetchInfo]);

  // Offline: check every 5 s whether it is back. Live: refresh the title and counts every 15 s.
  useEffect(() => {
    if (state !== 'ready') return;
    const t = setInterval(
      async () => {
        try {
          const w = await fetchInfo();
          if (!w) return;
          setInfo((prev) => ({ ...prev, ...w, followers: w.followers ?? prev?.followers, following: w.following ?? prev?.following }));
          // Going live is taken from the API; going offline from the player (it plays to the end).
          // After a broadcast ended here, the API may still say live for a moment: only a
          // playlist without EXT-X-ENDLIST (a new broadcast) starts the player again.
          if (!w.live) endedBroadcast.current = false;
          if (w.live && !live && (!endedBroadcast.current || (await probePlaylist(name)))) {
            endedBroadcast.current = false;
            t0.current = performance.now();
            setLive(true);
          }
        } catch {
          // try again at the next tick
        }
      },
      live ? 15000 : 5000,
    );
    return () => clearInterval(t);
  }, [state, live, fetchInfo]);

  const onOffline = useCallback((reason: 'ended' | 'gone') => {
    endedBroadcast.current = reason === 'ended';
    setLive(false);
    setEndedAt(Date.now());
  }, []);

  const toggleFollow = async () => {
    if (!session.user) {
      navigate(`/login?next=/${encodeURIComponent(name)}`);
      return;
    }
    if (!info) return;
    const following = Boolean(info.following);
    const count = info.followers ?? 0;
    setFollowBusy(true);
    setFollowError(null);
    setInfo({ ...info, following: !following, followers: Math.max(0, count + (following ? -1 : 1)) });
    try {
      await api(following ? 'DELETE' : 'PUT', `/api/v1/channels/${seg(name)}/follow`);
      setChatGeneration((g) => g + 1);
    } catch (e) {
      setInfo({ ...info, following, followers: count });
      setFollowError(`Could not ${following ? 'unfollow' : 'follow'}: ${(e as Error).message}`);
    } finally {
      setFollowBusy(false);
    }
  };

  if (state === 'loading') {
    return (
      <section class="page" aria-busy="true">
        <p class="muted">Loading {name}…</p>
      </section>
    );
  }
  if (state === 'missing') {
    return (
      <section class="page narrow center" data-testid="no-channel">
        <h1>No such channel</h1>
        <p class="muted">There is no channel called “{name}”.</p>
        <p>
          <a href="/">See who is live</a>
        </p>
      </section>
    );
  }
  if (state === 'error' || !info) {
    return (
      <section class="page narrow center">
        <h1>{name}</h1>
        <p class="error-line" role="alert" data-testid="watch-error">
          Could not load this channel: {error}
        </p>
        <button type="button" class="btn" onClick={() => window.location.reload()}>
          Try again
        </button>
      </section>
    );
  }

  const started = parseTime(info.started_at);
  const ended = endedAt ?? parseTime(info.ended_at);
  const url = localUrl(name, info.playback_url);

  return (
    <div class="watch" data-testid="watch">
      <div class="watch-main">
        <Player
          channel={name}
          url={url}
          live={live}
          t0={t0.current}
          onOffline={onOffline}
          isLive={isLive}
          offlineNote={!live && ended ? `The broadcast ended ${timeAgo(ended, now)}.` : null}
        />
        <div class="channel-info">
          <div class="channel-text">
            <h1 class="channel-title" data-testid="channel-title">
              {info.title || name}
            </h1>
            <p class="channel-meta">
              <span class="channel-name">{name}</span>
              {info.owner && info.owner !== name && <span class="muted"> · by {info.owner}</span>}
              {live && <span class="badge live inline">LIVE</span>}
              {live && started !== null && (
                <span class="muted" data-testid="uptime">
                  {' '}
                  {formatClock((now - started) / 1000)}
                </span>
              )}
              {live && typeof info.viewers === 'number' && (
                <span class="muted" data-testid="viewers">
                  {' '}
                  · {formatCount(info.viewers, 'viewer')}
                </span>
              )}
            </p>
          </div>
          {!fallback && (
            <div class="follow">
              <button
                type="button"
                class={`btn ${info.following ? '' : 'primary'}`}
                aria-pressed={Boolean(info.following)}
                disabled={followBusy}
                onClick={toggleFollow}
                data-testid="follow"
              >
                {info.following ? '♥ Following' : '♡ Follow'}
              </button>
              {typeof info.followers === 'number' && (
                <span class="muted small" data-testid="followers">
                  {formatCount(info.followers, 'follower')}
                </span>
              )}
            </div>
          )}
        </div>
        {followError && (
          <p class="error-line" role="alert" data-testid="follow-error">
            {followError}
          </p>
        )}
      </div>
      <Chat
        channel={name}
        guests={info.chat?.guests !== false}
        followersOnly={Boolean(info.chat?.followers_only)}
        generation={chatGeneration}
        onFollow={session.user && !info.following && !fallback && !followBusy ? toggleFollow : undefined}
      />
    </div>
  );
}
