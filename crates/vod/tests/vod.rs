//! ffprobe outputs recorded from real files, FLV rungs made by our transcode command line, and
//! what the crate makes of them (`tests/data/make-fixtures.sh` remakes the inputs).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrocast_ladder::Ladder;
use ferrocast_media::TrackKind;
use ferrocast_vod::*;

fn data(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn probed(name: &str) -> ProbedSource {
    parse_ffprobe_json(&data(name)).unwrap()
}

#[test]
fn golden_probes() {
    let limits = Limits::default();
    let s = probed("s1080.json");
    assert_eq!(s.format_name, "mov,mp4,m4a,3gp,3g2,mj2");
    assert_eq!(s.duration_s, 4.0);
    assert_eq!(s.size_bytes, 3_075_983);
    let v = s.video.as_ref().unwrap();
    assert_eq!(
        (v.codec.as_str(), v.width, v.height, v.fps),
        ("h264", 1920, 1080, Some(30.0))
    );
    assert_eq!(v.rotation, None);
    let a = s.audio.as_ref().unwrap();
    assert_eq!(
        (a.codec.as_str(), a.channels, a.sample_rate),
        ("aac", 2, 48_000)
    );
    assert_eq!(validate(&s, &limits), Ok(()));

    let s = probed("av720.json");
    assert_eq!(s.video.as_ref().unwrap().display_size(), (1280, 720));
    assert_eq!(s.audio.as_ref().unwrap().sample_rate, 44_100);
    assert_eq!(validate(&s, &limits), Ok(()));

    let s = probed("vonly.json");
    assert!(s.audio.is_none());
    assert_eq!(s.video.as_ref().unwrap().fps, Some(25.0));
    assert_eq!(validate(&s, &limits), Ok(()));

    let s = probed("rot.json");
    let v = s.video.as_ref().unwrap();
    assert_eq!((v.width, v.height, v.rotation), (640, 360, Some(90)));
    assert_eq!(v.display_size(), (360, 640));

    let s = probed("vp.json");
    assert_eq!(s.format_name, "matroska,webm");
    assert_eq!(s.video.as_ref().unwrap().fps, Some(60.0));
    assert_eq!(s.audio.as_ref().unwrap().codec, "opus");
    assert_eq!(validate(&s, &limits), Ok(()));

    let s = probed("aonly.json");
    let refusal = validate(&s, &limits).unwrap_err();
    assert_eq!(refusal.code, "no_video");
    assert_eq!(
        refusal.message,
        "The file has no video stream (it has sound only)."
    );

    // The first half of an MP4 whose index is at the front: ffprobe reads the index happily, but
    // the streams' bit rates promise twice the bytes the file holds.
    let s = probed("trunc_faststart.json");
    assert_eq!(validate(&s, &limits).unwrap_err().code, "truncated");
}

#[test]
fn limits_are_explained() {
    let s = probed("s1080.json");
    let tight = Limits {
        max_duration_s: 3.0,
        ..Limits::default()
    };
    let r = validate(&s, &tight).unwrap_err();
    assert_eq!(
        (r.code, r.message.as_str()),
        ("too_long", "The video is 4.0 s long; the limit is 3 s.")
    );
    let r = validate(
        &s,
        &Limits {
            max_width: 1280,
            max_height: 720,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        r.message,
        "The video is 1920x1080 pixels; the limit is 1280x720."
    );
    let r = validate(
        &s,
        &Limits {
            max_bytes: 1 << 20,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(r.message, "The file is 2.9 MiB; the limit is 1.0 MiB.");
    let r = validate(
        &s,
        &Limits {
            max_fps: 25.0,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(r.code, "frame_rate");
    let mut zero = s.clone();
    zero.duration_s = 0.0;
    assert_eq!(
        validate(&zero, &Limits::default()).unwrap_err().code,
        "no_duration"
    );
    let mut playlist = s;
    playlist.format_name = "hls".into();
    assert_eq!(
        validate(&playlist, &Limits::default()).unwrap_err().code,
        "disallowed_container"
    );
}

#[test]
fn ffprobe_errors_are_explained() {
    let text = String::from_utf8(data("hls.stderr")).unwrap();
    let r = refusal_from_ffprobe_error(&text);
    assert_eq!(r.code, "disallowed_container");
    assert_eq!(
        r.message,
        "The file is not a video we can read (it looks like an HLS playlist, which only points \
         to other files)."
    );
    let r = refusal_from_ffprobe_error(&String::from_utf8(data("trunc.stderr")).unwrap());
    assert_eq!(r.code, "truncated");
    assert_eq!(refusal_from_ffprobe_error("garbage").code, "unreadable");
    // A text file named .mp4 gets the same "moov atom not found" from ffprobe as a truncated
    // MP4; sniffing its first bytes tells them apart before ffprobe runs.
    assert_eq!(
        sniff(b"hello, this is a text file\n").unwrap().code,
        "not_media"
    );
}

#[test]
fn rungs_of_the_golden_sources() {
    let r = vod_rungs(&Ladder::default(), &probed("s1080.json"));
    let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["1080p", "720p", "480p", "360p"]);
    let r = vod_rungs(&Ladder::default(), &probed("rot.json"));
    assert_eq!(
        (r[0].name.as_str(), r[0].width, r[0].height),
        ("640p", 360, 640)
    );
    assert_eq!(
        (r[1].name.as_str(), r[1].width, r[1].height),
        ("480p", 270, 480)
    );
}

#[test]
fn transcode_command_line() {
    let rungs = vod_rungs(&Ladder::default(), &probed("av720.json"));
    let outs: Vec<PathBuf> = rungs
        .iter()
        .map(|r| PathBuf::from(format!("/w/{}.flv", r.name)))
        .collect();
    let args = transcode_args(
        Path::new("/w/src"),
        &rungs,
        Some(Path::new("/w/audio.flv")),
        &outs,
        "veryfast",
    )
    .unwrap();
    let line = args.join(" ");
    assert!(line.contains(&format!(
        "-protocol_whitelist file -format_whitelist {ALLOWED_DEMUXERS} -i file:/w/src"
    )));
    let graph = &args[args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
    assert_eq!(
        graph,
        "[0:v:0]split=3[s0][s1][s2];[s0]scale=1280:720,setsar=1,format=yuv420p[v0];\
         [s1]scale=854:480,setsar=1,format=yuv420p[v1];[s2]scale=640:360,setsar=1,format=yuv420p[v2];\
         [0:a:0]atrim=start=0.025,aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[aout]"
    );
    assert_eq!(
        line.matches("-force_key_frames expr:gte(t,n_forced*2)")
            .count(),
        3
    );
    assert_eq!(line.matches("-sc_threshold 0 -bf 0").count(), 3);
    assert!(line.contains("-b:v 3000k -maxrate 3000k -bufsize 6000k"));
    assert!(line.ends_with(
        "-map [aout] -c:a aac -b:a 128k -map_metadata -1 -max_muxing_queue_size 4096 \
         -protocol_whitelist file -f flv file:/w/audio.flv"
    ));
    assert!(line.starts_with("-hide_banner -nostdin -loglevel repeat+level+warning -nostats"));
    assert!(line.contains("-progress pipe:1"));
    assert!(transcode_args(Path::new("/w/src"), &rungs, None, &outs[..1], "veryfast").is_err());
    assert!(transcode_args(Path::new("/w/src"), &rungs, None, &outs, "fast; rm").is_err());
    assert!(transcode_args(Path::new("/w/src"), &[], None, &[], "veryfast").is_err());

    let probe = probe_args(Path::new("/w/src")).unwrap().join(" ");
    assert!(probe.contains("-print_format json -show_format -show_streams -i file:/w/src"));
    let mp4 = mp4_args(
        Path::new("/w/720p.flv"),
        Some(Path::new("/w/audio.flv")),
        Path::new("/o/download.mp4"),
    )
    .unwrap()
    .join(" ");
    assert!(mp4.contains("-map 0:v:0 -map 1:a:0 -c copy -map_metadata -1 -movflags +faststart"));
}

/// Packages one committed FLV track.
fn package(name: &str, kind: TrackKind) -> (bytes::Bytes, Vec<VodSegment>, TrackSummary) {
    let bytes = data(name);
    let mut p = FlvTrackPackager::new(kind, Duration::from_secs(SEGMENT_TARGET_S));
    let (mut init, mut segments) = (None, Vec::new());
    let mut drain = |p: &mut FlvTrackPackager| {
        while let Some(out) = p.poll_output() {
            match out {
                VodOutput::Init(b) => init = Some(b),
                VodOutput::Segment(s) => segments.push(s),
            }
        }
    };
    // Odd chunk sizes: tags arrive split anywhere.
    for chunk in bytes.chunks(7777) {
        p.push_bytes(chunk).unwrap();
        drain(&mut p);
    }
    p.finish().unwrap();
    drain(&mut p);
    let summary = p.summary().unwrap();
    (init.unwrap(), segments, summary)
}

#[test]
fn rungs_package_into_aligned_segments() {
    let (init, top, top_summary) = package("180p.flv", TrackKind::Video);
    assert_eq!(&init[4..8], b"ftyp");
    let (_, low, low_summary) = package("90p.flv", TrackKind::Video);
    let (audio_init, audio, audio_summary) = package("audio.flv", TrackKind::Audio);
    assert_eq!(&audio_init[4..8], b"ftyp");
    // 9 s at 30 fps, keyframes every 2 s: segments 0-4, 4-8, 8-9.
    let secs = |s: &TrackSummary| -> Vec<f64> {
        s.segments
            .iter()
            .map(|x| (x.duration as f64 / f64::from(s.timescale) * 1000.0).round() / 1000.0)
            .collect()
    };
    assert_eq!(secs(&top_summary), [4.0, 4.0, 1.0]);
    assert_eq!(
        top_summary.segments,
        top.iter().map(|s| s.info).collect::<Vec<_>>()
    );
    let starts = |s: &TrackSummary| s.segments.iter().map(|x| x.start).collect::<Vec<_>>();
    assert_eq!(starts(&top_summary), starts(&low_summary));
    assert_eq!(starts(&top_summary), [0, 360_000, 720_000]);
    assert_eq!(low.len(), 3);
    assert_eq!(top_summary.codec, "avc1.64000d");
    assert_eq!(
        (top_summary.width, top_summary.height),
        (Some(320), Some(180))
    );
    // Audio: 48 kHz AAC, cut at the first frame at or after 4 s and 8 s.
    assert_eq!(audio_summary.codec, "mp4a.40.2");
    assert_eq!(audio_summary.timescale, 48_000);
    assert_eq!(audio.len(), 3);
    let audio_starts = starts(&audio_summary);
    assert!(audio_starts[0] < 48 * 25, "{audio_starts:?}");
    assert!((4 * 48_000..4 * 48_000 + 1024).contains(&audio_starts[1]));
    assert!((8 * 48_000..8 * 48_000 + 1024).contains(&audio_starts[2]));
    assert!((audio_summary.duration_s() - top_summary.duration_s()).abs() < 0.05);
    for s in &top {
        assert_eq!(&s.bytes[4..8], b"styp");
        assert_eq!(s.info.bytes, s.bytes.len() as u64);
    }

    let rung = |name: &str, w, h, kbps| VodRung {
        name: name.into(),
        width: w,
        height: h,
        video_kbps: kbps,
        fps: 30.0,
        reduced_from: None,
    };
    let video = vec![
        (rung("180p", 320, 180, 60), top_summary),
        (rung("90p", 160, 90, 30), low_summary),
    ];
    let rendered = render_package(&video, Some(&audio_summary)).unwrap();
    let file = |name: &str| {
        rendered
            .files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.as_str())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let paths: Vec<&str> = rendered.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        paths,
        [
            "master.m3u8",
            "v/180p/index.m3u8",
            "v/90p/index.m3u8",
            "a/index.m3u8",
            "manifest.mpd",
            "meta.json"
        ]
    );
    assert_eq!(
        file("v/180p/index.m3u8"),
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n\
         #EXTINF:4.000,\n0.m4s\n#EXTINF:4.000,\n1.m4s\n#EXTINF:1.000,\n2.m4s\n#EXT-X-ENDLIST\n"
    );
    let master = file("master.m3u8");
    assert!(master.starts_with(
        "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",\
         NAME=\"Audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"a/index.m3u8\"\n\
         #EXT-X-STREAM-INF:BANDWIDTH="
    ));
    assert!(master.contains(
        ",CODECS=\"avc1.64000d,mp4a.40.2\",RESOLUTION=320x180,FRAME-RATE=30.000,AUDIO=\"aud\"\n\
         v/180p/index.m3u8\n"
    ));
    assert!(master.ends_with("AUDIO=\"aud\"\nv/90p/index.m3u8\n"));
    let mpd = file("manifest.mpd");
    assert!(mpd.contains("type=\"static\""));
    assert!(mpd.contains("mediaPresentationDuration=\"PT9S\""));
    assert!(mpd.contains(
        "initialization=\"v/$RepresentationID$/init.mp4\" media=\"v/$RepresentationID$/$Number$.m4s\" startNumber=\"0\""
    ));
    assert!(
        mpd.contains("<S t=\"0\" d=\"360000\" r=\"1\"/>\n          <S t=\"720000\" d=\"90030\"/>"),
        "{mpd}"
    );
    assert!(mpd.contains("<Representation id=\"180p\" codecs=\"avc1.64000d\""));
    assert!(mpd.contains("<Representation id=\"90p\""));
    assert!(mpd.contains("media=\"a/$Number$.m4s\""));
    let summary = &rendered.summary;
    assert!(
        (summary.duration_s - 9.0).abs() < 0.001,
        "{}",
        summary.duration_s
    );
    assert!(summary.has_audio);
    assert_eq!(summary.segment_count, 3);
    let top = &summary.renditions[0];
    assert!(top.bandwidth >= top.average_bandwidth);
    // 60k video + 32k audio, CBR-ish, plus container overhead.
    assert!(
        (70_000..200_000).contains(&top.average_bandwidth),
        "{top:?}"
    );
    let meta: PackageSummary = serde_json::from_str(file("meta.json")).unwrap();
    assert_eq!(&meta, summary);

    // Without audio: no group, no audio codec.
    let rendered = render_package(&video, None).unwrap();
    let master = &rendered.files[0].1;
    assert!(!master.contains("EXT-X-MEDIA") && !master.contains("AUDIO="));
    assert!(master.contains("CODECS=\"avc1.64000d\""));
    // Renditions that do not line up are refused.
    let mut short = video.clone();
    short[1].1.segments.pop();
    assert!(matches!(
        render_package(&short, None),
        Err(VodError::Misaligned { .. })
    ));
}

#[test]
fn broken_flv_is_an_error_not_a_panic() {
    let good = data("180p.flv");
    for cut in [0, 5, 13, 100, 5000] {
        let mut p = FlvTrackPackager::new(TrackKind::Video, Duration::from_secs(4));
        let fed = p.push_bytes(&good[..cut]);
        let finished = fed.and_then(|()| p.finish());
        assert!(finished.is_err() || p.summary().is_some(), "cut at {cut}");
    }
    let mut p = FlvTrackPackager::new(TrackKind::Video, Duration::from_secs(4));
    assert!(p.push_bytes(b"GIF89a, not an FLV at all").is_err());
    let mut corrupted = good.clone();
    for b in corrupted.iter_mut().skip(400).step_by(97) {
        *b ^= 0x5a;
    }
    let mut p = FlvTrackPackager::new(TrackKind::Video, Duration::from_secs(4));
    let _ = p.push_bytes(&corrupted).and_then(|()| p.finish());
    // The audio track of a video-only file: no configuration.
    let mut p = FlvTrackPackager::new(TrackKind::Audio, Duration::from_secs(4));
    p.push_bytes(&good).unwrap();
    assert!(matches!(p.finish(), Err(VodError::NoConfig { .. })));
}
