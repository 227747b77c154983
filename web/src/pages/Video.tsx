import { useEffect, useState } from 'preact/hooks';
import { ApiError, get } from '../api';
import { VodPlayer } from '../components/VodPlayer';
import { formatClock, parseTime, timeAgo, useTitle } from '../util';
import { STATE_LABEL, VideoView, followVideo, isFinal, videoPath } from '../videos';

/** A media URL from the API on this origin (the pages load nothing from elsewhere). */
export function localUrl(u: string): string {
  const url = new URL(u, window.location.href);
  return url.pathname + url.search;
}

/** Where a video that is not ready yet stands: its state and progress, or why it failed. */
export function VideoStatus({ video }: { video: VideoView }) {
  if (video.state === 'failed') {
    return (
      <p class="error-line" role="alert" data-testid="video-failed">
        {video.error || 'The video could not be processed.'}
      </p>
    );
  }
  const pct = Math.round(video.progress || 0);
  return (
    <div class="video-progress" role="status" data-testid="video-status" data-state={video.state} data-progress={pct}>
      <span>
        {STATE_LABEL[video.state] ?? video.state}
        {video.state === 'processing' ? ` ${pct} %` : ''}
      </span>
      <progress max={100} value={video.state === 'processing' ? pct : undefined} />
    </div>
  );
}

export function VideoPage({ id }: { id: string }) {
  const [video, setVideo] = useState<VideoView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [missing, setMissing] = useState(false);
  useTitle(video?.title || 'Video');

  useEffect(() => {
    let stop = () => {};
    let gone = false;
    get<VideoView>(videoPath(id))
      .then((v) => {
        if (gone) return;
        setVideo(v);
        if (!isFinal(v)) stop = followVideo(id, setVideo);
      })
      .catch((e) => {
        if (gone) return;
        if (e instanceof ApiError && e.status === 404) setMissing(true);
        else setError((e as Error).message);
      });
    return () => {
      gone = true;
      stop();
    };
  }, [id]);

  if (missing) {
    return (
      <section class="page narrow center" data-testid="no-video">
        <h1>No such video</h1>
        <p class="muted">This video does not exist, or it is private.</p>
      </section>
    );
  }
  if (error) {
    return (
      <section class="page narrow center">
        <p class="error-line" role="alert" data-testid="video-error">
          Could not load this video: {error}
        </p>
      </section>
    );
  }
  if (!video) {
    return (
      <section class="page" aria-busy="true">
        <p class="muted">Loading…</p>
      </section>
    );
  }
  const created = parseTime(video.created_at);
  const ready = video.state === 'ready' && video.playback_url;
  return (
    <section class="page vod" data-testid="video" data-state={video.state}>
      {ready ? (
        <VodPlayer
          url={localUrl(video.playback_url!)}
          poster={video.poster_url && localUrl(video.poster_url)}
          thumbnails={video.thumbnails_url && localUrl(video.thumbnails_url)}
          title={video.title}
        />
      ) : (
        <div class="vod-pending">
          <VideoStatus video={video} />
        </div>
      )}
      <div class="channel-info">
        <div class="channel-text">
          <h1 class="channel-title" data-testid="video-title">
            {video.title}
          </h1>
          <p class="channel-meta muted">
            {video.duration ? formatClock(video.duration) : null}
            {video.width && video.height ? ` · ${video.width}×${video.height}` : null}
            {video.visibility === 'private' ? ' · private' : null}
            {created !== null ? ` · uploaded ${timeAgo(created)}` : null}
          </p>
        </div>
        {video.download_url && (
          <a class="btn" href={localUrl(video.download_url)} download data-testid="video-download">
            Download MP4
          </a>
        )}
      </div>
    </section>
  );
}
