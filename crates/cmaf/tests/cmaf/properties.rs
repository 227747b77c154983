//! Property tests: any runs give parseable fragments; init never panics.

use crate::boxes::*;
use ferrocast_cmaf::{fragment, init_segment, Sample, TrackRun};
use ferrocast_media::{AudioConfig, VideoConfig};
use proptest::prelude::*;

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
