// Videos on demand: the API's video view, and following a video's processing live (server-sent
// events, with polling where the stream cannot be opened).
import { get } from './api';

export type VideoState = 'uploading' | 'queued' | 'processing' | 'ready' | 'failed';

export interface Rendition {
  name: string;
  width: number;
  height: number;
  bandwidth: number;
}

export interface VideoView {
  id: string;
  title: string;
  visibility: 'public' | 'private';
  state: VideoState;
  /** Percent, 0–100. */
  progress: number;
  error?: string | null;
  error_code?: string | null;
  duration?: number | null;
  width?: number | null;
  height?: number | null;
  source_bytes?: number | null;
  renditions?: Rendition[] | null;
  playback_url: string | null;
  dash_url: string | null;
  download_url: string | null;
  poster_url: string | null;
  thumbnails_url: string | null;
  created_at?: string | number | null;
  ready_at?: string | number | null;
}

/** POST /api/v1/videos answer: the view plus where to send the bytes. */
export interface CreatedVideo extends VideoView {
  tus: { endpoint: string; metadata: Record<string, string>; max_bytes: number };
}

export const STATE_LABEL: Record<VideoState, string> = {
  uploading: 'Uploading',
  queued: 'Queued',
  processing: 'Processing',
  ready: 'Ready',
  failed: 'Failed',
};

export const isFinal = (v: VideoView) => v.state === 'ready' || v.state === 'failed';

export const videoPath = (id: string) => `/api/v1/videos/${encodeURIComponent(id)}`;

/**
 * Calls `onView` with the video now and on every change until it is ready or failed; returns a
 * function that stops following. The event stream ends once the video is final; EventSource would
 * reconnect after that, so it is closed here first.
 */
export function followVideo(id: string, onView: (v: VideoView) => void): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const es = new EventSource(`${videoPath(id)}/events`);
  const deliver = (v: VideoView) => {
    if (stopped) return;
    onView(v);
    if (isFinal(v)) stop();
  };
  // A refused stream (not EventSource's own reconnects after a dropped one): ask every 2 s instead.
  const poll = async () => {
    try {
      deliver(await get<VideoView>(videoPath(id)));
    } catch {
      // the next round tries again
    }
    if (!stopped) timer = setTimeout(poll, 2000);
  };
  es.addEventListener('video', (e) => {
    try {
      deliver(JSON.parse((e as MessageEvent<string>).data) as VideoView);
    } catch {
      // a malformed event: the next one says the same
    }
  });
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED && !stopped) poll();
  };
  function stop() {
    stopped = true;
    es.close();
    if (timer) clearTimeout(timer);
  }
  return stop;
}

/** 1.5 GB, 300 MB, 12 kB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}
