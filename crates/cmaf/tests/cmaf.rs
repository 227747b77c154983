//! Init segments and fragments read back with a small box walker, and an end-to-end check that
//! ffprobe decodes what we write from a real FLV.

use std::path::PathBuf;
use std::process::Command;

use bytes::Bytes;
use ferrocast_cmaf::{
    fragment, init_segment, CmafError, Sample, TrackRun, AUDIO_TRACK_ID, NON_SYNC_SAMPLE_FLAGS,
    SYNC_SAMPLE_FLAGS, VIDEO_TIMESCALE, VIDEO_TRACK_ID,
};
use ferrocast_flv::{FlvReader, TagDemuxer};
use ferrocast_media::{AudioConfig, Frame, MediaEvent, TrackKind, VideoConfig};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// A test-only box walker.

/// A parsed box: its type, its payload (after the header) and, for containers, its children.
#[derive(Debug)]
struct Mp4Box<'a> {
    kind: [u8; 4],
    /// Offset of the box header in the walked buffer.
    offset: usize,
    payload: &'a [u8],
    children: Vec<Mp4Box<'a>>,
}

impl<'a> Mp4Box<'a> {
    fn kind(&self) -> &str {
        std::str::from_utf8(&self.kind).unwrap()
    }
    fn child(&self, kind: &str) -> &Mp4Box<'a> {
        self.children
            .iter()
            .find(|b| b.kind() == kind)
            .unwrap_or_else(|| panic!("no {kind} in {}", self.kind()))
    }
    fn children_named(&self, kind: &str) -> Vec<&Mp4Box<'a>> {
        self.children.iter().filter(|b| b.kind() == kind).collect()
    }
    fn path(&self, path: &str) -> &Mp4Box<'a> {
        path.split('/').fold(self, |b, k| b.child(k))
    }
    fn child_kinds(&self) -> Vec<&str> {
        self.children.iter().map(Mp4Box::kind).collect()
    }
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }
    fn u16_at(&self, at: usize) -> u16 {
        u16::from_be_bytes(self.payload[at..at + 2].try_into().unwrap())
    }
    fn u64_at(&self, at: usize) -> u64 {
        u64::from_be_bytes(self.payload[at..at + 8].try_into().unwrap())
    }
    /// Version and flags of a full box.
    fn version_flags(&self) -> (u8, u32) {
        let v = self.u32_at(0);
        ((v >> 24) as u8, v & 0x00ff_ffff)
    }
}

/// Bytes before a container's children: none for plain containers, the fields of sample entries
/// and of full boxes that hold boxes.
fn children_start(kind: &[u8; 4]) -> Option<usize> {
    match kind {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"dinf" | b"stbl" | b"mvex" | b"moof" | b"traf" => {
            Some(0)
        }
        b"stsd" | b"dref" => Some(8),
        b"avc1" => Some(78),
        b"mp4a" => Some(28),
        _ => None,
    }
}

fn walk(data: &[u8], base: usize) -> Vec<Mp4Box<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        assert!(
            data.len() - pos >= 8,
            "truncated box header at {}",
            base + pos
        );
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().unwrap();
        assert!(
            size >= 8 && pos + size <= data.len(),
            "bad size {size} at {}",
            base + pos
        );
        let payload = &data[pos + 8..pos + size];
        let children = match children_start(&kind) {
            Some(skip) => walk(&payload[skip..], base + pos + 8 + skip),
            None => Vec::new(),
        };
        out.push(Mp4Box {
            kind,
            offset: base + pos,
            payload,
            children,
        });
        pos += size;
    }
    out
}

/// A parsed trun: per-sample (duration, size, flags, composition offset) and the data offset.
fn read_trun(trun: &Mp4Box<'_>) -> (i32, Vec<(u32, u32, u32, i32)>) {
    let (version, flags) = trun.version_flags();
    assert_eq!(version, 1);
    assert_eq!(
        flags & 0xf01 & !0x800,
        0x701,
        "data offset, duration, size and flags present"
    );
    let count = trun.u32_at(4) as usize;
    let data_offset = trun.u32_at(8) as i32;
    let with_cto = flags & 0x800 != 0;
    let per = if with_cto { 16 } else { 12 };
    assert_eq!(trun.payload.len(), 12 + count * per);
    let samples = (0..count)
        .map(|i| {
            let at = 12 + i * per;
            let cto = if with_cto {
                trun.u32_at(at + 12) as i32
            } else {
                0
            };
            (
                trun.u32_at(at),
                trun.u32_at(at + 4),
                trun.u32_at(at + 8),
                cto,
            )
        })
        .collect();
    (data_offset, samples)
}

// ---------------------------------------------------------------------------------------------
// Configurations from the fixtures.

fn fixture(name: &str) -> Bytes {
    let path = format!("{}/../../testdata/flv/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .into()
}

struct Demuxed {
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    frames: Vec<Frame>,
}

fn demux(name: &str) -> Demuxed {
    let mut d = Demuxed {
        video: None,
        audio: None,
        frames: Vec::new(),
    };
    let mut demuxer = TagDemuxer::new();
    for tag in FlvReader::new(fixture(name)).unwrap() {
        match demuxer.tag(&tag.unwrap()).unwrap() {
            Some(MediaEvent::VideoConfig(c)) => d.video = Some(c),
            Some(MediaEvent::AudioConfig(c)) => d.audio = Some(c),
            Some(MediaEvent::Frame(f)) => d.frames.push(f),
            _ => {}
        }
    }
    d
}

fn brands(ftyp: &Mp4Box<'_>) -> Vec<String> {
    ftyp.payload
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Init segments.

#[test]
fn init_segment_with_video_and_audio() {
    let d = demux("av_320x240.flv");
    let (video, audio) = (d.video.unwrap(), d.audio.unwrap());
    let init = init_segment(Some(&video), Some(&audio)).unwrap();
    let top = walk(&init, 0);
    assert_eq!(
        top.iter().map(Mp4Box::kind).collect::<Vec<_>>(),
        ["ftyp", "moov"]
    );
    // Major brand, minor version 0, compatible brands; no cmfc in a muxed file.
    assert_eq!(
        brands(&top[0]),
        ["iso6", "\0\0\0\0", "iso6", "mp41", "dash"]
    );

    let moov = &top[1];
    assert_eq!(moov.child_kinds(), ["mvhd", "trak", "trak", "mvex"]);
    let mvhd = moov.child("mvhd");
    assert_eq!(mvhd.u32_at(12), 1000, "movie timescale");
    assert_eq!(mvhd.u32_at(96), 3, "next_track_ID");

    let traks = moov.children_named("trak");
    let (vtrak, atrak) = (traks[0], traks[1]);

    // Video track.
    let tkhd = vtrak.child("tkhd");
    assert_eq!(tkhd.version_flags(), (0, 3));
    assert_eq!(tkhd.u32_at(12), VIDEO_TRACK_ID);
    assert_eq!((tkhd.u32_at(76), tkhd.u32_at(80)), (320 << 16, 240 << 16));
    assert_eq!(vtrak.path("mdia/mdhd").u32_at(12), VIDEO_TIMESCALE);
    assert_eq!(&vtrak.path("mdia/hdlr").payload[8..12], b"vide");
    assert_eq!(
        vtrak.path("mdia/minf").child_kinds(),
        ["vmhd", "dinf", "stbl"]
    );
    assert_eq!(vtrak.path("mdia/minf/dinf/dref").child_kinds(), ["url "]);
    let stbl = vtrak.path("mdia/minf/stbl");
    assert_eq!(stbl.child_kinds(), ["stsd", "stts", "stsc", "stco", "stsz"]);
    for empty in ["stts", "stsc", "stco"] {
        assert_eq!(stbl.child(empty).u32_at(4), 0, "{empty} entry_count");
    }
    assert_eq!(
        (stbl.child("stsz").u32_at(4), stbl.child("stsz").u32_at(8)),
        (0, 0)
    );
    let stsd = stbl.child("stsd");
    assert_eq!(stsd.u32_at(4), 1);
    let avc1 = stsd.child("avc1");
    assert_eq!(avc1.u16_at(6), 1, "data_reference_index");
    assert_eq!((avc1.u16_at(24), avc1.u16_at(26)), (320, 240));
    assert_eq!(avc1.child("avcC").payload, &video.avc_config[..]);

    // Audio track.
    let tkhd = atrak.child("tkhd");
    assert_eq!(tkhd.u32_at(12), AUDIO_TRACK_ID);
    assert_eq!(tkhd.u16_at(36), 0x0100, "volume");
    assert_eq!(atrak.path("mdia/mdhd").u32_at(12), 48000);
    assert_eq!(&atrak.path("mdia/hdlr").payload[8..12], b"soun");
    assert_eq!(
        atrak.path("mdia/minf").child_kinds(),
        ["smhd", "dinf", "stbl"]
    );
    let mp4a = atrak.path("mdia/minf/stbl/stsd/mp4a");
    assert_eq!(
        (mp4a.u16_at(16), mp4a.u16_at(18)),
        (2, 16),
        "channels, sample size"
    );
    assert_eq!(mp4a.u32_at(24), 48000 << 16);
    let esds = mp4a.child("esds");
    // ES_Descriptor { DecoderConfigDescriptor { 0x40, audio, DecoderSpecificInfo { ASC } }, SL }
    let asc = &audio.asc[..];
    let mut expected = vec![
        0,
        0,
        0,
        0,
        0x03,
        (3 + 2 + 13 + 2 + asc.len() + 3) as u8,
        0,
        0,
        0,
    ];
    expected.extend([
        0x04,
        (13 + 2 + asc.len()) as u8,
        0x40,
        0x15,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    expected.extend([0x05, asc.len() as u8]);
    expected.extend(asc);
    expected.extend([0x06, 1, 2]);
    assert_eq!(esds.payload, &expected[..]);

    let mvex = moov.child("mvex");
    let trex: Vec<(u32, u32)> = mvex
        .children_named("trex")
        .iter()
        .map(|t| (t.u32_at(4), t.u32_at(8)))
        .collect();
    assert_eq!(trex, [(VIDEO_TRACK_ID, 1), (AUDIO_TRACK_ID, 1)]);
}

#[test]
fn single_track_init_segments() {
    let v = demux("video_only_444_cqm.flv").video.unwrap();
    let init = init_segment(Some(&v), None).unwrap();
    let top = walk(&init, 0);
    assert_eq!(
        brands(&top[0]),
        ["iso6", "\0\0\0\0", "iso6", "mp41", "dash", "cmfc"]
    );
    assert_eq!(top[1].child_kinds(), ["mvhd", "trak", "mvex"]);
    assert_eq!(top[1].path("mvex/trex").u32_at(4), VIDEO_TRACK_ID);
    assert_eq!(top[1].child("mvhd").u32_at(96), 2);
    let avc1 = top[1].path("trak/mdia/minf/stbl/stsd/avc1");
    assert_eq!((avc1.u16_at(24), avc1.u16_at(26)), (250, 142));

    let a = demux("audio_only.flv").audio.unwrap();
    let init = init_segment(None, Some(&a)).unwrap();
    let top = walk(&init, 0);
    assert_eq!(top[1].child_kinds(), ["mvhd", "trak", "mvex"]);
    assert_eq!(top[1].path("trak/tkhd").u32_at(12), AUDIO_TRACK_ID);
    assert_eq!(top[1].path("trak/mdia/mdhd").u32_at(12), 22050);
    assert_eq!(top[1].path("mvex/trex").u32_at(4), AUDIO_TRACK_ID);
    assert_eq!(top[1].child("mvhd").u32_at(96), 3);
}

#[test]
fn init_segment_errors() {
    assert_eq!(init_segment(None, None), Err(CmafError::NoTracks));
    let mut v = demux("av_320x240.flv").video.unwrap();
    v.width = 70_000;
    assert!(matches!(
        init_segment(Some(&v), None),
        Err(CmafError::InvalidVideoConfig { .. })
    ));
    let mut a = demux("audio_only.flv").audio.unwrap();
    a.sample_rate = 0;
    assert!(matches!(
        init_segment(None, Some(&a)),
        Err(CmafError::InvalidAudioConfig { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Fragments.

fn sample(data: &'static [u8], duration: u32, cto: i32, keyframe: bool) -> Sample {
    Sample {
        duration,
        composition_offset: cto,
        keyframe,
        data: Bytes::from_static(data),
    }
}

#[test]
fn fragment_structure_and_data_offsets() {
    let video = [
        sample(b"IDR-picture", 3000, 6000, true),
        sample(b"B", 3000, -3000, false),
        sample(b"P-pic", 3000, 0, false),
    ];
    let audio = [
        sample(b"aac1", 1024, 0, true),
        sample(b"aac-2", 1024, 0, true),
    ];
    let frag = fragment(
        7,
        &[
            TrackRun {
                track_id: VIDEO_TRACK_ID,
                base_decode_time: 1 << 33,
                samples: &video,
            },
            TrackRun {
                track_id: AUDIO_TRACK_ID,
                base_decode_time: 96_000,
                samples: &audio,
            },
        ],
    )
    .unwrap();
    let top = walk(&frag, 0);
    assert_eq!(
        top.iter().map(Mp4Box::kind).collect::<Vec<_>>(),
        ["styp", "moof", "mdat"]
    );
    assert_eq!(brands(&top[0]), ["msdh", "\0\0\0\0", "msdh"]);
    let moof = &top[1];
    assert_eq!(moof.child_kinds(), ["mfhd", "traf", "traf"]);
    assert_eq!(moof.child("mfhd").u32_at(4), 7);

    let mdat = &top[2];
    assert_eq!(mdat.payload, b"IDR-pictureBP-picaac1aac-2");
    let trafs = moof.children_named("traf");
    let expected: [(u32, u64, &[Sample]); 2] = [
        (VIDEO_TRACK_ID, 1 << 33, &video),
        (AUDIO_TRACK_ID, 96_000, &audio),
    ];
    for (traf, (track_id, base, samples)) in trafs.iter().zip(expected) {
        assert_eq!(traf.child_kinds(), ["tfhd", "tfdt", "trun"]);
        let tfhd = traf.child("tfhd");
        assert_eq!(
            tfhd.version_flags(),
            (0, 0x02_0000),
            "default-base-is-moof only"
        );
        assert_eq!(tfhd.u32_at(4), track_id);
        let tfdt = traf.child("tfdt");
        assert_eq!(tfdt.version_flags().0, 1);
        assert_eq!(tfdt.u64_at(4), base);
        let (data_offset, got) = read_trun(traf.child("trun"));
        // The data offset, from the start of the moof, lands on this track's first sample.
        let start = moof.offset + data_offset as usize;
        let mut at = start;
        for (s, (duration, size, flags, cto)) in samples.iter().zip(&got) {
            assert_eq!(*duration, s.duration);
            assert_eq!(*size as usize, s.data.len());
            assert_eq!(*cto, s.composition_offset);
            let want = if s.keyframe {
                SYNC_SAMPLE_FLAGS
            } else {
                NON_SYNC_SAMPLE_FLAGS
            };
            assert_eq!(*flags, want);
            assert_eq!(&frag[at..at + s.data.len()], &s.data[..]);
            at += s.data.len();
        }
        assert_eq!(got.len(), samples.len());
    }
    // Audio has no composition offsets, so its trun leaves the field out.
    assert_eq!(trafs[1].child("trun").version_flags().1, 0x701);
    assert_eq!(trafs[0].child("trun").version_flags().1, 0xf01);
    assert_eq!(SYNC_SAMPLE_FLAGS, 0x0200_0000);
    assert_eq!(NON_SYNC_SAMPLE_FLAGS, 0x0101_0000);
}

// ---------------------------------------------------------------------------------------------
// End to end through ffprobe.

/// Samples of one track from demuxed frames. Video: ms to 90 kHz, each duration the distance to
/// the next frame's dts (the last repeats the one before). Audio, the simple way for this test:
/// each frame lasts `samples_per_frame` and the base decode time is the first dts in ms scaled to
/// the sample rate (the packager derives audio decode times from sample counts instead).
fn samples(frames: &[&Frame], timescale: u32, fixed_duration: Option<u32>) -> Vec<Sample> {
    let per_ms = i64::from(timescale) / 1000;
    let mut last_duration = 0;
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let duration = match (fixed_duration, frames.get(i + 1)) {
                (Some(d), _) => d,
                (None, Some(next)) => ((next.dts - f.dts) * per_ms) as u32,
                (None, None) => last_duration,
            };
            last_duration = duration;
            Sample {
                duration,
                composition_offset: (i64::from(f.cts) * per_ms) as i32,
                keyframe: f.keyframe,
                data: f.data.clone(),
            }
        })
        .collect()
}

fn ffprobe(args: &[&str], file: &std::path::Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "ffprobe complained"
    );
    String::from_utf8(out.stdout).unwrap()
}

#[allow(clippy::print_stderr)] // The only way to say why a test did nothing.
fn have_ffprobe() -> bool {
    let found = Command::new("ffprobe").arg("-version").output().is_ok();
    if !found {
        eprintln!("SKIPPED: ffprobe not found on PATH; install ffmpeg to run the end-to-end test");
    }
    found
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn ffprobe_decodes_init_plus_fragments() {
    if !have_ffprobe() {
        return;
    }
    let d = demux("av_320x240.flv");
    let (video, audio) = (d.video.unwrap(), d.audio.unwrap());
    let vframes: Vec<&Frame> = d
        .frames
        .iter()
        .filter(|f| f.kind == TrackKind::Video)
        .collect();
    let aframes: Vec<&Frame> = d
        .frames
        .iter()
        .filter(|f| f.kind == TrackKind::Audio)
        .collect();
    let vsamples = samples(&vframes, VIDEO_TIMESCALE, None);
    let asamples = samples(&aframes, audio.sample_rate, Some(audio.samples_per_frame));

    // Two fragments: the split need not be at a keyframe for the file to be valid.
    let vsplit = vframes.len() / 2;
    let asplit = aframes
        .iter()
        .take_while(|f| f.dts < vframes[vsplit].dts)
        .count();
    let vbase = |i: usize| (vframes[i].dts * 90) as u64;
    let abase0 = (aframes[0].dts * i64::from(audio.sample_rate) / 1000) as u64;
    let abase = |i: usize| abase0 + i as u64 * u64::from(audio.samples_per_frame);

    let mut file = init_segment(Some(&video), Some(&audio)).unwrap().to_vec();
    for (seq, (vr, ar)) in [
        (0..vsplit, 0..asplit),
        (vsplit..vframes.len(), asplit..aframes.len()),
    ]
    .into_iter()
    .enumerate()
    {
        let runs = [
            TrackRun {
                track_id: VIDEO_TRACK_ID,
                base_decode_time: vbase(vr.start),
                samples: &vsamples[vr],
            },
            TrackRun {
                track_id: AUDIO_TRACK_ID,
                base_decode_time: abase(ar.start),
                samples: &asamples[ar],
            },
        ];
        file.extend_from_slice(&fragment(seq as u32 + 1, &runs).unwrap());
    }
    let path = TempFile(
        std::env::temp_dir().join(format!("ferrocast-cmaf-e2e-{}.mp4", std::process::id())),
    );
    std::fs::write(&path.0, &file).unwrap();

    let streams = ffprobe(
        &[
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,sample_rate,channels,nb_read_frames",
            "-of",
            "compact=p=0",
        ],
        &path.0,
    );
    let lines: Vec<&str> = streams.lines().collect();
    assert_eq!(
        lines,
        [
            "codec_name=h264|width=320|height=240|nb_read_frames=30",
            "codec_name=aac|sample_rate=48000|channels=2|nb_read_frames=48",
        ]
    );

    let frames = ffprobe(
        &[
            "-show_entries",
            "frame=media_type,pts_time",
            "-of",
            "compact=p=0:nk=1",
        ],
        &path.0,
    );
    let first = |kind: &str| -> f64 {
        frames
            .lines()
            .find_map(|l| l.strip_prefix(kind)?.strip_prefix('|')?.split('|').next())
            .unwrap_or_else(|| panic!("no {kind} frame in {frames}"))
            .parse()
            .unwrap_or_else(|e| panic!("{e}: {frames}"))
    };
    let (v0, a0) = (first("video"), first("audio"));
    // As in the FLV: video pts 67 ms (dts 0 + two B-frames of offset), audio 46 ms.
    assert!((v0 - 0.067).abs() < 0.001, "first video pts {v0}");
    assert!((a0 - 0.046).abs() < 0.001, "first audio pts {a0}");
    assert!((v0 - a0).abs() < 0.050);
}

// ---------------------------------------------------------------------------------------------
// Properties.

fn arb_sample() -> impl Strategy<Value = Sample> {
    (
        any::<u32>(),
        any::<i32>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(duration, composition_offset, keyframe, data)| Sample {
            duration,
            composition_offset,
            keyframe,
            data: data.into(),
        })
}

proptest! {
    /// Any runs give a fragment whose boxes parse, whose size fields add up, and whose data
    /// offsets point at each run's bytes.
    #[test]
    fn fragments_always_parse_back(
        runs in proptest::collection::vec(
            (1u32..4, any::<u64>(), proptest::collection::vec(arb_sample(), 1..8)),
            1..4,
        ),
        seq in any::<u32>(),
    ) {
        let track_runs: Vec<TrackRun<'_>> = runs
            .iter()
            .map(|(id, base, samples)| TrackRun { track_id: *id, base_decode_time: *base, samples })
            .collect();
        let frag = fragment(seq, &track_runs).unwrap();
        let top = walk(&frag, 0);
        prop_assert_eq!(top.iter().map(Mp4Box::kind).collect::<Vec<_>>(), ["styp", "moof", "mdat"]);
        let moof = &top[1];
        prop_assert_eq!(moof.child("mfhd").u32_at(4), seq);
        for (traf, run) in moof.children_named("traf").iter().zip(&track_runs) {
            prop_assert_eq!(traf.child("tfhd").u32_at(4), run.track_id);
            prop_assert_eq!(traf.child("tfdt").u64_at(4), run.base_decode_time);
            let (offset, got) = read_trun(traf.child("trun"));
            let mut at = moof.offset + offset as usize;
            for (s, (duration, size, _, cto)) in run.samples.iter().zip(got) {
                prop_assert_eq!((duration, size as usize, cto), (s.duration, s.data.len(), s.composition_offset));
                prop_assert_eq!(&frag[at..at + s.data.len()], &s.data[..]);
                at += s.data.len();
            }
        }
    }

    /// Arbitrary configurations are written or refused, never a panic.
    #[test]
    fn init_segment_never_panics(
        record in proptest::collection::vec(any::<u8>(), 0..64),
        width in any::<u32>(),
        height in any::<u32>(),
        asc in proptest::collection::vec(any::<u8>(), 0..300),
        sample_rate in any::<u32>(),
        channels in any::<u8>(),
        which in 0u8..3,
    ) {
        let video = VideoConfig {
            avc_config: record.into(),
            width,
            height,
            codec_string: String::new(),
            nal_length_size: 4,
        };
        let audio = AudioConfig {
            asc: asc.into(),
            object_type: 2,
            sample_rate,
            channels,
            samples_per_frame: 1024,
            codec_string: String::new(),
        };
        let (v, a) = match which {
            0 => (Some(&video), None),
            1 => (None, Some(&audio)),
            _ => (Some(&video), Some(&audio)),
        };
        if let Ok(init) = init_segment(v, a) {
            let top = walk(&init, 0);
            prop_assert_eq!(top.len(), 2);
            if let Some(a) = a {
                // The AudioSpecificConfig is carried verbatim, and the esds ends with its
                // SLConfigDescriptor, so the descriptor sizes added up.
                let trak = top[1].children_named("trak").into_iter().last().unwrap();
                let esds = trak.path("mdia/minf/stbl/stsd/mp4a/esds").payload;
                prop_assert!(esds.ends_with(&[0x06, 1, 2]));
                prop_assert!(esds.windows(a.asc.len()).any(|w| w == &a.asc[..]));
            }
        }
    }
}
