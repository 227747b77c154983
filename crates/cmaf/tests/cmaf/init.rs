//! Init segments: boxes, brands, sample entries, single-track variants and errors.

use crate::boxes::*;
use ferrocast_cmaf::{init_segment, CmafError, AUDIO_TRACK_ID, VIDEO_TIMESCALE, VIDEO_TRACK_ID};

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
