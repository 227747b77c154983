//! Fragments: box layout, trun fields and data offsets.

use crate::boxes::*;
use bytes::Bytes;
use ferrocast_cmaf::{
    fragment, Sample, TrackRun, AUDIO_TRACK_ID, NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS,
    VIDEO_TRACK_ID,
};

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
