import { useState } from 'preact/hooks';
import { ApiError, api, get, seg } from '../api';
import { CopyButton } from './CopyButton';
import { LadderEditor, LadderValue } from './LadderEditor';
import { formatClock, usePoll } from '../util';

export interface ChannelView {
  name: string;
  title?: string | null;
  owner?: string | null;
  ingest_url?: string;
  playback_url?: string;
  live?: boolean;
  created_at?: string;
  key_rotated_at?: string;
  ladder?: LadderValue;
  ladder_default?: boolean;
  stream_key?: string;
  publish_url?: string;
}

/** Stream keys are stored hashed: a key is known only in the page that created or rotated it. */
const keys = new Map<string, string>();
export function rememberKey(channel: string, key: string): void {
  keys.set(channel, key);
}

function message(e: unknown): string {
  if (e instanceof ApiError) return e.routeMissing ? 'this server does not offer that yet' : e.message;
  return String(e);
}

interface Props {
  channel: ChannelView;
  onChange(v: ChannelView): void;
  onDeleted(name: string): void;
}

export function ChannelPanel({ channel, onChange, onDeleted }: Props) {
  const name = channel.name;
  return (
    <div class="channel-panel" data-testid="channel-panel" data-channel={name}>
      <div class="panel-head">
        <h2>
          {name} {channel.live && <span class="badge live inline">LIVE</span>}
        </h2>
        <a class="btn small" href={`/${encodeURIComponent(name)}`} data-testid="watch-link">
          Watch page
        </a>
      </div>
      <TitleEditor channel={channel} onChange={onChange} />
      <StreamSettings channel={channel} onChange={onChange} />
      <HealthPanel name={name} onLive={(live) => live !== channel.live && onChange({ ...channel, live })} />
      <QoePanel name={name} />
      <LadderEditor channel={channel} onChange={onChange} />
      <Moderators name={name} />
      <DeleteChannel name={name} onDeleted={onDeleted} />
    </div>
  );
}

function TitleEditor({ channel, onChange }: { channel: ChannelView; onChange(v: ChannelView): void }) {
  const [title, setTitle] = useState(channel.title ?? '');
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setNote(null);
    try {
      const v = await api<ChannelView>('PATCH', `/api/v1/channels/${seg(channel.name)}`, { title: title.trim() });
      onChange({ ...channel, ...(v ?? {}), title: v?.title ?? title.trim() });
      setNote({ ok: true, text: 'Saved.' });
    } catch (err) {
      setNote({ ok: false, text: `Could not save the title: ${message(err)}` });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel row-form" onSubmit={save}>
      <label for={`title-${channel.name}`}>Title</label>
      <div class="row">
        <input
          id={`title-${channel.name}`}
          type="text"
          maxLength={140}
          value={title}
          placeholder="What are you streaming?"
          data-testid="title-input"
          onInput={(e) => setTitle((e.currentTarget as HTMLInputElement).value)}
        />
        <button type="submit" class="btn" disabled={busy} data-testid="title-save">
          Save
        </button>
      </div>
      {note && (
        <p class={note.ok ? 'ok-line' : 'error-line'} role="status" data-testid="title-note">
          {note.text}
        </p>
      )}
    </form>
  );
}

function StreamSettings({ channel, onChange }: { channel: ChannelView; onChange(v: ChannelView): void }) {
  const name = channel.name;
  const [key, setKey] = useState<string | null>(() => channel.stream_key ?? keys.get(name) ?? null);
  const [revealed, setRevealed] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ingest = channel.ingest_url || `rtmp://${window.location.hostname}/live`;

  const rotate = async () => {
    setBusy(true);
    setError(null);
    try {
      const v = await api<ChannelView>('POST', `/api/v1/channels/${seg(name)}/rotate-key`);
      if (v?.stream_key) {
        rememberKey(name, v.stream_key);
        setKey(v.stream_key);
      }
      setRevealed(false);
      setConfirming(false);
      const { stream_key: _k, publish_url: _p, ...rest } = v ?? ({} as ChannelView);
      onChange({ ...channel, ...rest });
    } catch (err) {
      setError(`Could not rotate the key: ${message(err)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="panel" aria-labelledby={`stream-${name}`}>
      <h3 id={`stream-${name}`}>Stream settings</h3>
      <p class="muted small">In OBS: Settings → Stream → Service “Custom”, then the server and key below.</p>
      <label for={`ingest-${name}`}>RTMP server</label>
      <div class="row">
        <input id={`ingest-${name}`} type="text" readOnly value={ingest} data-testid="ingest-url" class="mono" />
        <CopyButton text={ingest} testid="ingest-copy" />
      </div>
      <span class="label" id={`key-${name}`}>
        Stream key
      </span>
      <div class="row" role="group" aria-labelledby={`key-${name}`}>
        {key ? (
          <>
            <code class="secret" data-testid="key-value" aria-live="polite">
              {revealed ? key : '•'.repeat(24)}
            </code>
            <button
              type="button"
              class="btn small"
              aria-pressed={revealed}
              onClick={() => setRevealed(!revealed)}
              data-testid="key-reveal"
            >
              {revealed ? 'Hide' : 'Reveal'}
            </button>
            <CopyButton text={key} testid="key-copy" />
          </>
        ) : (
          <span class="muted" data-testid="key-value" data-unknown>
            Rotate the key to see a new one.
          </span>
        )}
        {!confirming && (
          <button type="button" class="btn small danger" onClick={() => setConfirming(true)} data-testid="key-rotate">
            Rotate key
          </button>
        )}
      </div>
      {confirming && (
        <div class="confirm" role="group" aria-label="Confirm key rotation" data-testid="key-rotate-form">
          <p>The current key stops working at once, and a stream using it is cut off.</p>
          <button type="button" class="btn small danger" disabled={busy} onClick={rotate} data-testid="key-rotate-confirm">
            Rotate now
          </button>
          <button type="button" class="btn small ghost" onClick={() => setConfirming(false)} data-testid="key-rotate-cancel">
            Cancel
          </button>
        </div>
      )}
      {error && (
        <p class="error-line" role="alert" data-testid="key-error">
          {error}
        </p>
      )}
    </section>
  );
}

interface Health {
  live: boolean;
  uptime_s?: number | null;
  ingest?: {
    bitrate_kbps?: number | null;
    fps?: number | null;
    keyframe_interval_s?: number | null;
    width?: number | null;
    height?: number | null;
    video_codec?: string | null;
    audio_codec?: string | null;
    dropped_frames?: number | null;
  } | null;
  transcoder?: { encoder?: string | null; speed?: number | null; restarts?: number | null } | null;
  renditions?: { name: string; height?: number | null; bandwidth?: number | null; state?: string | null }[];
  warnings?: { code: string; message: string }[];
}

const num = (v: number | null | undefined, digits = 0, unit = '') =>
  typeof v === 'number' && Number.isFinite(v) ? `${v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })}${unit}` : '—';

function HealthPanel({ name, onLive }: { name: string; onLive(live: boolean): void }) {
  const [health, setHealth] = useState<Health | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [missing, setMissing] = useState(false);
  usePoll(
    async () => {
      try {
        const h = await get<Health>(`/api/v1/channels/${seg(name)}/health`);
        setHealth(h);
        setError(null);
        if (h) onLive(Boolean(h.live));
      } catch (e) {
        if (e instanceof ApiError && e.routeMissing) setMissing(true);
        setError(`Health unavailable: ${message(e)}`);
      }
    },
    2000,
    [name],
    !missing,
  );
  const warnCodes = new Set((health?.warnings ?? []).map((w) => w.code));
  const warnIf = (...codes: string[]) => (codes.some((c) => [...warnCodes].some((w) => w.includes(c))) ? 'warn' : '');
  const ing = health?.ingest ?? null;
  const tr = health?.transcoder ?? null;
  return (
    <section class="panel" aria-labelledby={`health-${name}`} data-testid="health-panel">
      <h3 id={`health-${name}`}>
        Live health{' '}
        {health && (
          <span class={`badge ${health.live ? 'live' : 'off'} inline`} data-testid="health-live">
            {health.live ? `LIVE ${formatClock(health.uptime_s ?? 0)}` : 'OFFLINE'}
          </span>
        )}
      </h3>
      {error && <p class="error-line" data-testid="health-error">{error}</p>}
      {health && health.warnings && health.warnings.length > 0 && (
        <ul class="warnings" data-testid="health-warnings" role="alert">
          {health.warnings.map((w) => (
            <li key={w.code} class="warning" data-code={w.code}>
              <strong>⚠ {w.message}</strong>
            </li>
          ))}
        </ul>
      )}
      {health && !health.live && <p class="muted small">Not streaming. Start OBS to see the ingest’s health here.</p>}
      {health && health.live && (
        <>
          <dl class="stats">
            <div class={warnIf('bitrate')}>
              <dt>Ingest bitrate</dt>
              <dd data-testid="health-bitrate">{num(ing?.bitrate_kbps, 0, ' kbps')}</dd>
            </div>
            <div class={warnIf('fps', 'frame_rate')}>
              <dt>Frame rate</dt>
              <dd data-testid="health-fps">{num(ing?.fps, 1, ' fps')}</dd>
            </div>
            <div class={warnIf('keyframe')}>
              <dt>Keyframe interval</dt>
              <dd data-testid="health-keyframe">{num(ing?.keyframe_interval_s, 1, ' s')}</dd>
            </div>
            <div class={warnIf('resolution')}>
              <dt>Resolution</dt>
              <dd data-testid="health-resolution">{ing?.width && ing?.height ? `${ing.width}×${ing.height}` : '—'}</dd>
            </div>
            <div>
              <dt>Codecs</dt>
              <dd data-testid="health-codecs">{[ing?.video_codec, ing?.audio_codec].filter(Boolean).join(' + ') || '—'}</dd>
            </div>
            <div class={warnIf('dropped') || (ing?.dropped_frames ? 'warn' : '')}>
              <dt>Dropped frames</dt>
              <dd data-testid="health-dropped">{num(ing?.dropped_frames)}</dd>
            </div>
            <div class={warnIf('speed', 'transcod') || (tr && typeof tr.speed === 'number' && tr.speed < 0.98 ? 'warn' : '')}>
              <dt>Transcoder speed</dt>
              <dd data-testid="health-speed">
                {tr ? `${num(tr.speed, 2, '×')}${tr.encoder ? ` (${tr.encoder})` : ''}${tr.restarts ? `, ${tr.restarts} restarts` : ''}` : 'no transcoding'}
              </dd>
            </div>
          </dl>
          {health.renditions && health.renditions.length > 0 && (
            <table class="table" data-testid="health-renditions">
              <thead>
                <tr>
                  <th scope="col">Rendition</th>
                  <th scope="col">Height</th>
                  <th scope="col">Bandwidth</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {health.renditions.map((r) => {
                  const ok = !r.state || /^(ok|live|running|active|ready|serving)$/i.test(r.state);
                  return (
                    <tr key={r.name} data-testid="health-rendition" class={ok ? '' : 'warn'}>
                      <td>{r.name}</td>
                      <td>{r.height ? `${r.height}p` : '—'}</td>
                      <td>{typeof r.bandwidth === 'number' ? `${Math.round(r.bandwidth / 1000).toLocaleString('en-US')} kbps` : '—'}</td>
                      <td>
                        <span class={`state ${ok ? 'ok' : 'bad'}`}>{r.state || '—'}</span>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}

interface Qoe {
  sessions?: number;
  startup_ms?: { p50?: number | null; p90?: number | null } | null;
  latency_s?: { p50?: number | null; p90?: number | null } | null;
  rebuffer_ratio?: number | null;
  switches?: number | null;
  errors?: number | null;
}

function QoePanel({ name }: { name: string }) {
  const [qoe, setQoe] = useState<Qoe | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [missing, setMissing] = useState(false);
  usePoll(
    async () => {
      try {
        setQoe(await get<Qoe>(`/api/v1/channels/${seg(name)}/qoe`));
        setError(null);
      } catch (e) {
        if (e instanceof ApiError && e.routeMissing) setMissing(true);
        setError(`Viewer stats unavailable: ${message(e)}`);
      }
    },
    10000,
    [name],
    !missing,
  );
  const pair = (p: { p50?: number | null; p90?: number | null } | null | undefined, digits: number, unit: string) =>
    p ? `${num(p.p50, digits, unit)} / ${num(p.p90, digits, unit)}` : '—';
  return (
    <section class="panel" aria-labelledby={`qoe-${name}`} data-testid="qoe-panel">
      <h3 id={`qoe-${name}`}>Viewers’ experience (last 10 minutes)</h3>
      {error && <p class="error-line" data-testid="qoe-error">{error}</p>}
      {qoe && (
        <dl class="stats">
          <div>
            <dt>Sessions</dt>
            <dd data-testid="qoe-sessions">{num(qoe.sessions)}</dd>
          </div>
          <div>
            <dt>Startup p50 / p90</dt>
            <dd data-testid="qoe-startup">{pair(qoe.startup_ms, 0, ' ms')}</dd>
          </div>
          <div>
            <dt>Latency p50 / p90</dt>
            <dd data-testid="qoe-latency">{pair(qoe.latency_s, 1, ' s')}</dd>
          </div>
          <div class={typeof qoe.rebuffer_ratio === 'number' && qoe.rebuffer_ratio > 0.02 ? 'warn' : ''}>
            <dt>Rebuffering</dt>
            <dd data-testid="qoe-rebuffer">
              {typeof qoe.rebuffer_ratio === 'number' ? `${(qoe.rebuffer_ratio * 100).toFixed(2)} %` : '—'}
            </dd>
          </div>
          <div>
            <dt>Quality switches</dt>
            <dd data-testid="qoe-switches">{num(qoe.switches)}</dd>
          </div>
          <div class={qoe.errors ? 'warn' : ''}>
            <dt>Errors</dt>
            <dd data-testid="qoe-errors">{num(qoe.errors)}</dd>
          </div>
        </dl>
      )}
    </section>
  );
}

function Moderators({ name }: { name: string }) {
  const [mods, setMods] = useState<string[] | null>(null);
  const [user, setUser] = useState('');
  const [error, setError] = useState<string | null>(null);
  const base = `/api/v1/channels/${seg(name)}/chat/moderators`;
  usePoll(
    async () => {
      try {
        const r = await get<{ moderators: string[] }>(base);
        setMods(r?.moderators ?? []);
      } catch (e) {
        setError(`Could not load the moderators: ${message(e)}`);
      }
    },
    60000,
    [name],
  );
  const add = async (e: Event) => {
    e.preventDefault();
    const u = user.trim();
    if (!u) return;
    setError(null);
    try {
      await api('PUT', `${base}/${seg(u)}`);
      setMods((m) => [...(m ?? []).filter((x) => x.toLowerCase() !== u.toLowerCase()), u].sort());
      setUser('');
    } catch (err) {
      setError(`Could not add ${u}: ${message(err)}`);
    }
  };
  const remove = async (u: string) => {
    setError(null);
    try {
      await api('DELETE', `${base}/${seg(u)}`);
      setMods((m) => (m ?? []).filter((x) => x !== u));
    } catch (err) {
      setError(`Could not remove ${u}: ${message(err)}`);
    }
  };
  return (
    <section class="panel" aria-labelledby={`mods-${name}`} data-testid="moderators">
      <h3 id={`mods-${name}`}>Chat moderators</h3>
      <p class="muted small">Moderators can delete messages, time out and ban viewers in this channel’s chat.</p>
      {mods && mods.length === 0 && <p class="muted small">None yet.</p>}
      {mods && mods.length > 0 && (
        <ul class="chips" data-testid="mod-list">
          {mods.map((m) => (
            <li key={m} class="chip">
              {m}
              <button type="button" class="btn tiny ghost" onClick={() => remove(m)} aria-label={`Remove ${m}`} data-testid="mod-remove">
                ✕
              </button>
            </li>
          ))}
        </ul>
      )}
      <form class="row" onSubmit={add}>
        <label for={`mod-add-${name}`} class="sr-only">
          Account name
        </label>
        <input
          id={`mod-add-${name}`}
          type="text"
          placeholder="Account name"
          maxLength={25}
          value={user}
          data-testid="mod-add-name"
          onInput={(e) => setUser((e.currentTarget as HTMLInputElement).value)}
        />
        <button type="submit" class="btn" data-testid="mod-add-submit">
          Add moderator
        </button>
      </form>
      {error && (
        <p class="error-line" role="alert" data-testid="mod-error">
          {error}
        </p>
      )}
    </section>
  );
}

function DeleteChannel({ name, onDeleted }: { name: string; onDeleted(name: string): void }) {
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const del = async () => {
    setBusy(true);
    setError(null);
    try {
      await api('DELETE', `/api/v1/channels/${seg(name)}`);
      onDeleted(name);
    } catch (err) {
      setError(`Could not delete the channel: ${message(err)}`);
      setBusy(false);
    }
  };
  return (
    <section class="panel danger-zone" aria-labelledby={`del-${name}`}>
      <h3 id={`del-${name}`}>Delete channel</h3>
      {!confirming ? (
        <button type="button" class="btn danger" onClick={() => setConfirming(true)} data-testid="channel-delete">
          Delete {name}
        </button>
      ) : (
        <div class="confirm" role="group" aria-label="Confirm deletion">
          <p>
            Delete <strong>{name}</strong>? A live stream is cut off, and the name, key and chat are gone for good.
          </p>
          <button type="button" class="btn danger" disabled={busy} onClick={del} data-testid="channel-delete-confirm">
            Delete for good
          </button>
          <button type="button" class="btn ghost" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      )}
      {error && (
        <p class="error-line" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
