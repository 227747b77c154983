// A channel's transcoding ladder (README, "PATCH /api/v1/channels/NAME"): the server's default,
// off (the source only) or the channel's own rungs.
import { useState } from 'preact/hooks';
import { ApiError, api, seg } from '../api';
import type { ChannelView } from './ChannelPanel';

export interface Rung {
  name: string;
  height: number;
  video_bitrate_kbps: number;
  audio_bitrate_kbps: number;
  frame_rate: number;
  preset?: string | null;
}
/** The API form: "off" or {rungs}. */
export type LadderValue = 'off' | { rungs: Rung[] } | null;

type Mode = 'default' | 'off' | 'custom';
interface Draft {
  id: number;
  name: string;
  height: string;
  video: string;
  audio: string;
  fps: string;
  preset: string | null;
}

let draftIds = 0;
const toDraft = (r: Rung): Draft => ({
  id: ++draftIds,
  name: r.name,
  height: String(r.height),
  video: String(r.video_bitrate_kbps),
  audio: String(r.audio_bitrate_kbps),
  fps: String(r.frame_rate),
  preset: r.preset ?? null,
});
const STARTER: Rung[] = [
  { name: '720p', height: 720, video_bitrate_kbps: 3000, audio_bitrate_kbps: 128, frame_rate: 30 },
  { name: '480p', height: 480, video_bitrate_kbps: 1400, audio_bitrate_kbps: 96, frame_rate: 30 },
  { name: '360p', height: 360, video_bitrate_kbps: 800, audio_bitrate_kbps: 96, frame_rate: 30 },
];

const rungsOf = (l: LadderValue | undefined): Rung[] => (l && typeof l === 'object' && Array.isArray(l.rungs) ? l.rungs : []);

function initialMode(c: ChannelView): Mode {
  if (c.ladder_default) return 'default';
  if (c.ladder === 'off') return 'off';
  return 'custom';
}

export function LadderEditor({ channel, onChange }: { channel: ChannelView; onChange(v: ChannelView): void }) {
  const name = channel.name;
  const [mode, setMode] = useState<Mode>(() => initialMode(channel));
  const [drafts, setDrafts] = useState<Draft[]>(() => {
    const r = rungsOf(channel.ladder);
    return (r.length ? r : STARTER).map(toDraft);
  });
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const effective = rungsOf(channel.ladder);

  const edit = (id: number, field: keyof Draft, value: string) =>
    setDrafts((ds) => ds.map((d) => (d.id === id ? { ...d, [field]: value } : d)));

  const save = async (e: Event) => {
    e.preventDefault();
    setNote(null);
    let ladder: LadderValue;
    if (mode === 'default') ladder = null;
    else if (mode === 'off') ladder = 'off';
    else {
      const rungs: Rung[] = [];
      for (const [i, d] of drafts.entries()) {
        const ints = [d.height, d.video, d.audio, d.fps].map((v) => Number(v));
        if (!d.name.trim() || ints.some((v) => !Number.isInteger(v) || v <= 0)) {
          setNote({ ok: false, text: `Rung ${i + 1}: give a name and whole positive numbers.` });
          return;
        }
        const [height, video_bitrate_kbps, audio_bitrate_kbps, frame_rate] = ints;
        const rung: Rung = { name: d.name.trim(), height, video_bitrate_kbps, audio_bitrate_kbps, frame_rate };
        if (d.preset) rung.preset = d.preset;
        rungs.push(rung);
      }
      if (rungs.length === 0) {
        setNote({ ok: false, text: 'Add a rung, or choose “Source only”.' });
        return;
      }
      ladder = { rungs };
    }
    setBusy(true);
    try {
      const v = await api<ChannelView>('PATCH', `/api/v1/channels/${seg(name)}`, { ladder });
      if (v) {
        onChange({ ...channel, ladder: v.ladder, ladder_default: v.ladder_default });
        setMode(initialMode({ ...channel, ...v }));
        const r = rungsOf(v.ladder);
        if (r.length) setDrafts(r.map(toDraft));
      }
      setNote({ ok: true, text: channel.live ? 'Saved: the live stream switches now.' : 'Saved: used from the next stream.' });
    } catch (err) {
      const text = err instanceof ApiError ? (err.routeMissing ? 'this server does not offer that yet' : err.message) : String(err);
      setNote({ ok: false, text: `Could not save the ladder: ${text}` });
    } finally {
      setBusy(false);
    }
  };

  const radio = (value: Mode, label: string, hint: string) => (
    <label class="radio">
      <input
        type="radio"
        name={`ladder-${name}`}
        value={value}
        checked={mode === value}
        onChange={() => setMode(value)}
        data-testid={`ladder-mode-${value}`}
      />
      <span>
        {label} <span class="muted small">{hint}</span>
      </span>
    </label>
  );

  return (
    <form class="panel" onSubmit={save} data-testid="ladder">
      <fieldset>
        <legend>
          <h3>Transcoding ladder</h3>
        </legend>
        <p class="muted small">
          Renditions viewers can switch between besides the source. Now:{' '}
          <span data-testid="ladder-current">
            {channel.ladder_default ? 'server default' : channel.ladder === 'off' ? 'source only' : 'custom'}
            {effective.length ? ` (${effective.map((r) => r.name).join(', ')})` : ''}
          </span>
        </p>
        {radio('default', 'Server default', '(the server’s ladder)')}
        {radio('off', 'Source only', '(no transcoding)')}
        {radio('custom', 'Custom', '(your own rungs)')}
      </fieldset>
      {mode === 'custom' && (
        <div class="table-wrap">
          <table class="table rungs">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Height</th>
                <th scope="col">Video kbps</th>
                <th scope="col">Audio kbps</th>
                <th scope="col">FPS</th>
                <th scope="col">
                  <span class="sr-only">Remove</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {drafts.map((d, i) => {
                const field = (key: keyof Draft, label: string, testid: string, numeric = true) => (
                  <td>
                    <input
                      type={numeric ? 'number' : 'text'}
                      inputMode={numeric ? 'numeric' : undefined}
                      min={numeric ? 1 : undefined}
                      aria-label={`Rung ${i + 1} ${label}`}
                      value={String(d[key] ?? '')}
                      data-testid={testid}
                      onInput={(e) => edit(d.id, key, (e.currentTarget as HTMLInputElement).value)}
                    />
                  </td>
                );
                return (
                  <tr key={d.id} data-testid="ladder-rung">
                    {field('name', 'name', 'rung-name', false)}
                    {field('height', 'height in pixels', 'rung-height')}
                    {field('video', 'video bitrate in kbit/s', 'rung-video')}
                    {field('audio', 'audio bitrate in kbit/s', 'rung-audio')}
                    {field('fps', 'frame rate', 'rung-fps')}
                    <td>
                      <button
                        type="button"
                        class="btn tiny ghost"
                        aria-label={`Remove rung ${i + 1}`}
                        onClick={() => setDrafts((ds) => ds.filter((x) => x.id !== d.id))}
                        data-testid="rung-remove"
                      >
                        ✕
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <button
            type="button"
            class="btn small"
            onClick={() =>
              setDrafts((ds) => [
                ...ds,
                toDraft({ name: '240p', height: 240, video_bitrate_kbps: 400, audio_bitrate_kbps: 64, frame_rate: 30 }),
              ])
            }
            data-testid="ladder-add"
          >
            Add rung
          </button>
        </div>
      )}
      <div class="row">
        <button type="submit" class="btn primary" disabled={busy} data-testid="ladder-save">
          Save ladder
        </button>
      </div>
      {note && (
        <p class={note.ok ? 'ok-line' : 'error-line'} role="status" data-testid="ladder-note">
          {note.text}
        </p>
      )}
    </form>
  );
}
