import { useEffect, useRef, useState } from 'preact/hooks';
import type { Upload } from 'tus-js-client';
import { ApiError, api, get } from '../api';
import { navigate } from '../router';
import { useSession } from '../session';
import { formatClock, parseTime, timeAgo, usePoll, useTitle } from '../util';
import { CreatedVideo, STATE_LABEL, VideoView, followVideo, formatBytes, isFinal, videoPath } from '../videos';
import { VideoStatus } from './Video';

const message = (e: unknown) => (e instanceof ApiError ? e.message : String((e as Error)?.message ?? e));

export function Videos() {
  const session = useSession();
  const [videos, setVideos] = useState<VideoView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useTitle('Videos');

  useEffect(() => {
    if (session.loaded && !session.user) navigate(`/login?next=${encodeURIComponent('/videos')}`, true);
  }, [session.loaded, session.user]);

  const load = async () => {
    try {
      const r = await get<{ videos: VideoView[] }>('/api/v1/videos');
      setVideos(r?.videos ?? []);
      setError(null);
    } catch (e) {
      setError(`Could not load your videos: ${message(e)}`);
    }
  };
  // The list refreshes while a video in it is still on its way.
  const busy = !videos || videos.some((v) => !isFinal(v));
  usePoll(load, 3000, [session.user?.name], Boolean(session.user) && busy);

  if (!session.loaded || !session.user) {
    return (
      <section class="page">
        <p class="muted">Loading…</p>
      </section>
    );
  }

  const remove = async (v: VideoView) => {
    if (!window.confirm(`Delete “${v.title}”? Its files are deleted too.`)) return;
    try {
      await api('DELETE', videoPath(v.id));
      setVideos((list) => list && list.filter((x) => x.id !== v.id));
    } catch (e) {
      setError(`Could not delete “${v.title}”: ${message(e)}`);
    }
  };

  return (
    <section class="page" data-testid="videos">
      <h1 class="page-title">Videos</h1>
      <UploadForm onChange={load} />
      <h2 class="section-title">Your videos</h2>
      {error && (
        <p class="error-line" role="alert" data-testid="videos-error">
          {error}
        </p>
      )}
      {videos && videos.length === 0 && <p class="muted">No videos yet. Upload one above.</p>}
      {videos && videos.length > 0 && (
        <div class="table-wrap">
          <table class="table" data-testid="video-list">
            <thead>
              <tr>
                <th>Title</th>
                <th>State</th>
                <th>Length</th>
                <th>Visibility</th>
                <th>Uploaded</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {videos.map((v) => {
                const created = parseTime(v.created_at);
                return (
                  <tr key={v.id} data-testid="video-row" data-id={v.id} data-state={v.state}>
                    <td>
                      <a href={`/videos/${encodeURIComponent(v.id)}`}>{v.title || v.id}</a>
                    </td>
                    <td>
                      <span class={v.state === 'failed' ? 'state bad' : v.state === 'ready' ? 'state ok' : ''}>
                        {STATE_LABEL[v.state] ?? v.state}
                        {v.state === 'processing' ? ` ${Math.round(v.progress || 0)} %` : ''}
                      </span>
                      {v.state === 'failed' && v.error && <div class="small muted">{v.error}</div>}
                    </td>
                    <td>{v.duration ? formatClock(v.duration) : '—'}</td>
                    <td>{v.visibility}</td>
                    <td>{created !== null ? timeAgo(created) : '—'}</td>
                    <td>
                      <button type="button" class="btn ghost danger small" onClick={() => remove(v)} data-testid="video-delete">
                        Delete
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

type Phase = { step: 'idle' } | { step: 'uploading'; sent: number; total: number } | { step: 'processing'; video: VideoView };

/** Title, visibility and file; the bytes go over tus (resumable), then the processing is followed live. */
function UploadForm({ onChange }: { onChange(): void }) {
  const [title, setTitle] = useState('');
  const [visibility, setVisibility] = useState<'public' | 'private'>('public');
  const [file, setFile] = useState<File | null>(null);
  const [phase, setPhase] = useState<Phase>({ step: 'idle' });
  const [error, setError] = useState<string | null>(null);
  const upload = useRef<Upload | null>(null);
  const unfollow = useRef<() => void>(() => {});

  useEffect(
    () => () => {
      // Leaving the page ends the upload: these pages do not resume one from another visit.
      upload.current?.abort(true).catch(() => null);
      unfollow.current();
    },
    [],
  );

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!file) {
      setError('Choose a video file.');
      return;
    }
    setError(null);
    setPhase({ step: 'uploading', sent: 0, total: file.size });
    let created: CreatedVideo;
    try {
      const [tus, v] = await Promise.all([
        import('tus-js-client'),
        api<CreatedVideo>('POST', '/api/v1/videos', { title: title.trim() || file.name.replace(/\.[^.]+$/, ''), visibility }),
      ]);
      created = v;
      onChange();
      if (file.size > v.tus.max_bytes) {
        await api('DELETE', videoPath(v.id)).catch(() => null);
        throw new Error(`The file is ${formatBytes(file.size)}; the limit is ${formatBytes(v.tus.max_bytes)}.`);
      }
      upload.current = new tus.Upload(file, {
        // Always this server: its own origin keeps the page within its content security policy
        // even when the API names the host differently (127.0.0.1 for localhost, say).
        endpoint: new URL(v.tus.endpoint, window.location.href).pathname,
        metadata: { ...v.tus.metadata, filename: file.name, filetype: file.type },
        // Bounded requests: proxies cap request bodies, and a dropped connection resends at most one.
        chunkSize: 50 * 1024 * 1024,
        // A flaky link: tus-js-client asks the server's offset and goes on from there.
        retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
        storeFingerprintForResuming: false,
        onProgress: (sent, total) => setPhase({ step: 'uploading', sent, total }),
        onError: (err) => {
          setError(`The upload failed: ${err.message}`);
          setPhase({ step: 'idle' });
        },
        onSuccess: () => {
          setPhase({ step: 'processing', video: { ...created, state: 'queued', progress: 0 } });
          unfollow.current = followVideo(created.id, (video) => {
            setPhase({ step: 'processing', video });
            if (isFinal(video)) onChange();
          });
        },
      });
      upload.current.start();
    } catch (err) {
      setError(message(err));
      setPhase({ step: 'idle' });
    }
  };

  const cancel = async () => {
    // Terminates the upload on the server too (tus termination).
    await upload.current?.abort(true).catch(() => null);
    upload.current = null;
    setPhase({ step: 'idle' });
    onChange();
  };
  const reset = () => {
    unfollow.current();
    setPhase({ step: 'idle' });
    setTitle('');
    setFile(null);
  };

  return (
    <form class="card-form upload-form" onSubmit={submit} data-testid="upload-form">
      <h2 class="section-title">Upload a video</h2>
      {phase.step === 'idle' && (
        <>
          <label for="upload-title">Title (optional: the file's name)</label>
          <input
            id="upload-title"
            type="text"
            maxLength={140}
            value={title}
            data-testid="upload-title"
            onInput={(e) => setTitle((e.currentTarget as HTMLInputElement).value)}
          />
          <label for="upload-visibility">Visibility</label>
          <select
            id="upload-visibility"
            value={visibility}
            data-testid="upload-visibility"
            onChange={(e) => setVisibility((e.currentTarget as HTMLSelectElement).value as 'public' | 'private')}
          >
            <option value="public">Public: anyone with the link can watch</option>
            <option value="private">Private: only you, with expiring links</option>
          </select>
          <label for="upload-file">File</label>
          <input
            id="upload-file"
            type="file"
            accept="video/*"
            data-testid="upload-file"
            onChange={(e) => setFile((e.currentTarget as HTMLInputElement).files?.[0] ?? null)}
          />
          <button type="submit" class="btn primary" data-testid="upload-submit">
            Upload
          </button>
        </>
      )}
      {phase.step === 'uploading' && (
        <div class="video-progress" role="status" data-testid="upload-progress">
          <span>
            Uploading {file?.name}: {formatBytes(phase.sent)} of {formatBytes(phase.total)} (
            {phase.total ? Math.floor((100 * phase.sent) / phase.total) : 0} %)
          </span>
          <progress max={phase.total || 1} value={phase.sent} />
          <button type="button" class="btn ghost small" onClick={cancel} data-testid="upload-cancel">
            Cancel
          </button>
        </div>
      )}
      {phase.step === 'processing' && (
        <div data-testid="upload-done" data-id={phase.video.id}>
          <VideoStatus video={phase.video} />
          <p class="row">
            <a href={`/videos/${encodeURIComponent(phase.video.id)}`} data-testid="upload-watch">
              {phase.video.state === 'ready' ? 'Watch it' : 'Open its page'}
            </a>
            <button type="button" class="btn ghost small" onClick={reset} data-testid="upload-another">
              Upload another
            </button>
          </p>
        </div>
      )}
      <p class="form-error" role="alert" data-testid="upload-error">
        {error || ''}
      </p>
    </form>
  );
}
