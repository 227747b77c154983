//! A CMAF fragment: `styp` + `moof` + one `mdat`, sized up front. The boxes are written into one
//! small buffer and the samples are referenced, not copied: at 6 Mbit/s the copy and the page
//! faults of a fresh segment-sized buffer were a visible share of a channel's CPU.

use bytes::{BufMut, Bytes, BytesMut};
use ferrocast_media::ByteChain;

use crate::{CmafError, Sample, TrackRun};

/// Sample flags of a sync sample (ISO/IEC 14496-12 §8.8.3.1): sample_depends_on = 2 (depends on
/// no other sample), sample_is_non_sync_sample = 0.
pub const SYNC_SAMPLE_FLAGS: u32 = 2 << 24;
/// Sample flags of any other sample: sample_depends_on = 1, sample_is_non_sync_sample = 1.
pub const NON_SYNC_SAMPLE_FLAGS: u32 = (1 << 24) | (1 << 16);

/// `styp` payload: major brand `msdh` (a media segment, ISO/IEC 23009-1 §6.3.4.2), minor version 0,
/// compatible brands `msdh`.
const STYP: &[u8] = b"msdh\0\0\0\0msdh";

/// tfhd flags: default-base-is-moof (data offsets count from the start of this `moof`).
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// trun flags.
const TRUN_DATA_OFFSET: u32 = 0x000_001;
const TRUN_SAMPLE_DURATION: u32 = 0x000_100;
const TRUN_SAMPLE_SIZE: u32 = 0x000_200;
const TRUN_SAMPLE_FLAGS: u32 = 0x000_400;
const TRUN_SAMPLE_COMPOSITION_TIME_OFFSET: u32 = 0x000_800;

const BOX_HEADER: u64 = 8;
const FULL_BOX_HEADER: u64 = 12;
const MFHD_SIZE: u64 = FULL_BOX_HEADER + 4;
const TFHD_SIZE: u64 = FULL_BOX_HEADER + 4;
const TFDT_SIZE: u64 = FULL_BOX_HEADER + 8;

/// The laid-out sizes of one track's boxes and data.
struct TrafLayout {
    with_composition_offsets: bool,
    trun_size: u64,
    traf_size: u64,
    data_size: u64,
}

impl TrafLayout {
    fn of(samples: &[Sample]) -> Self {
        // Composition offsets are written only when some sample has one (they are all 0 for audio).
        let with_composition_offsets = samples.iter().any(|s| s.composition_offset != 0);
        let per_sample = if with_composition_offsets { 16 } else { 12 };
        let count = samples.len() as u64;
        let trun_size = FULL_BOX_HEADER + 4 + 4 + count * per_sample;
        let data_size = samples.iter().map(|s| s.data.len() as u64).sum();
        Self {
            with_composition_offsets,
            trun_size,
            traf_size: BOX_HEADER + TFHD_SIZE + TFDT_SIZE + trun_size,
            data_size,
        }
    }
}

/// `styp` + `moof` (one `traf` per track) + one `mdat`, as one contiguous buffer.
pub fn fragment(sequence_number: u32, tracks: &[TrackRun<'_>]) -> Result<Bytes, CmafError> {
    Ok(fragment_chain(sequence_number, tracks)?.to_bytes())
}

/// `styp` + `moof` (one `traf` per track) + one `mdat`: the boxes in one allocation, followed by
/// the samples' own buffers.
///
/// Tracks are written in the order given, and their samples follow each other in the `mdat` in the
/// same order. Each `traf` has a `tfhd` with default-base-is-moof, a version 1 `tfdt`, and a version
/// 1 `trun` (signed composition offsets) stating each sample's duration, size and flags, and its
/// composition offset when any sample of the run has a non-zero one.
pub fn fragment_chain(
    sequence_number: u32,
    tracks: &[TrackRun<'_>],
) -> Result<ByteChain, CmafError> {
    if tracks.is_empty() {
        return Err(CmafError::NoTrackRuns { sequence_number });
    }
    for run in tracks {
        if run.track_id == 0 {
            return Err(CmafError::ZeroTrackId { sequence_number });
        }
        if run.samples.is_empty() {
            return Err(CmafError::EmptyTrackRun {
                sequence_number,
                track_id: run.track_id,
            });
        }
    }
    let too_large = |what, size| CmafError::FragmentTooLarge {
        sequence_number,
        what,
        size,
    };
    let fits_u32 = |what, size: u64| u32::try_from(size).map_err(|_| too_large(what, size));

    // First pass: sizes only. The layouts are recomputed while writing rather than kept, so that
    // the output buffer is the only allocation.
    let (mut trafs_size, mut data_size, mut last_data_size) = (0u64, 0u64, 0u64);
    for run in tracks {
        let layout = TrafLayout::of(run.samples);
        trafs_size += layout.traf_size;
        data_size += layout.data_size;
        last_data_size = layout.data_size;
    }
    let moof_size = BOX_HEADER + MFHD_SIZE + trafs_size;
    let mdat_size = BOX_HEADER + data_size;
    let styp_size = BOX_HEADER + STYP.len() as u64;
    let total = styp_size + moof_size + mdat_size;
    let moof_size = fits_u32("moof", moof_size)?;
    let mdat_size = fits_u32("mdat", mdat_size)?;
    let total = usize::try_from(total).map_err(|_| too_large("fragment", total))?;
    // Every track's data must start at a signed 32-bit offset from the moof.
    let last_data_offset = u64::from(moof_size) + BOX_HEADER + data_size - last_data_size;
    if i32::try_from(last_data_offset).is_err() {
        return Err(too_large("data offset", last_data_offset));
    }

    let header_len =
        total - usize::try_from(data_size).map_err(|_| too_large("mdat", data_size))?;
    let mut buf = BytesMut::with_capacity(header_len);
    put_box_header(&mut buf, styp_size as u32, b"styp");
    buf.put_slice(STYP);

    put_box_header(&mut buf, moof_size, b"moof");
    put_full_box_header(&mut buf, MFHD_SIZE as u32, b"mfhd", 0, 0);
    buf.put_u32(sequence_number);
    let mut data_offset = u64::from(moof_size) + BOX_HEADER;
    for run in tracks {
        let layout = TrafLayout::of(run.samples);
        // Sizes below were bounded by the moof check above.
        put_box_header(&mut buf, layout.traf_size as u32, b"traf");
        put_full_box_header(
            &mut buf,
            TFHD_SIZE as u32,
            b"tfhd",
            0,
            TFHD_DEFAULT_BASE_IS_MOOF,
        );
        buf.put_u32(run.track_id);
        put_full_box_header(&mut buf, TFDT_SIZE as u32, b"tfdt", 1, 0);
        buf.put_u64(run.base_decode_time);

        let mut flags =
            TRUN_DATA_OFFSET | TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE | TRUN_SAMPLE_FLAGS;
        if layout.with_composition_offsets {
            flags |= TRUN_SAMPLE_COMPOSITION_TIME_OFFSET;
        }
        put_full_box_header(&mut buf, layout.trun_size as u32, b"trun", 1, flags);
        buf.put_u32(run.samples.len() as u32);
        // At most last_data_offset, checked above.
        buf.put_i32(data_offset as i32);
        for s in run.samples {
            buf.put_u32(s.duration);
            // Each sample is smaller than the mdat, checked above.
            buf.put_u32(s.data.len() as u32);
            buf.put_u32(if s.keyframe {
                SYNC_SAMPLE_FLAGS
            } else {
                NON_SYNC_SAMPLE_FLAGS
            });
            if layout.with_composition_offsets {
                buf.put_i32(s.composition_offset);
            }
        }
        data_offset += layout.data_size;
    }

    put_box_header(&mut buf, mdat_size, b"mdat");
    debug_assert_eq!(
        buf.len(),
        header_len,
        "fragment header size computed wrongly"
    );
    let mut parts = Vec::with_capacity(1 + tracks.iter().map(|r| r.samples.len()).sum::<usize>());
    parts.push(buf.freeze());
    for run in tracks {
        parts.extend(run.samples.iter().map(|s| s.data.clone()));
    }
    let chain = ByteChain::new(parts);
    debug_assert_eq!(chain.len(), total, "fragment size computed wrongly");
    Ok(chain)
}

fn put_box_header(buf: &mut BytesMut, size: u32, kind: &[u8; 4]) {
    buf.put_u32(size);
    buf.put_slice(kind);
}

fn put_full_box_header(buf: &mut BytesMut, size: u32, kind: &[u8; 4], version: u8, flags: u32) {
    put_box_header(buf, size, kind);
    buf.put_u32((u32::from(version) << 24) | flags);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize, keyframe: bool, cto: i32) -> Sample {
        Sample {
            duration: 3000,
            composition_offset: cto,
            keyframe,
            data: Bytes::from(vec![0xab; len]),
        }
    }

    #[test]
    fn allocates_exactly_once() {
        let samples = [sample(10, true, 6000), sample(20, false, -3000)];
        let audio = [sample(7, true, 0)];
        let out = fragment(
            1,
            &[
                TrackRun {
                    track_id: 1,
                    base_decode_time: 0,
                    samples: &samples,
                },
                TrackRun {
                    track_id: 2,
                    base_decode_time: 0,
                    samples: &audio,
                },
            ],
        )
        .unwrap();
        // styp 20 + moof (8 + 16 + traf (8 + 16 + 20 + 20 + 2 * 16) + traf (64 + 12)) + mdat 8 + 37
        assert_eq!(out.len(), 20 + 8 + 16 + 96 + 76 + 8 + 37);
        // The buffer was sized exactly: nothing to spare after freezing into the only allocation.
        let back = out.try_into_mut().unwrap();
        assert_eq!(back.capacity(), back.len());
    }

    #[test]
    fn rejects_bad_runs() {
        let s = [sample(1, true, 0)];
        assert_eq!(
            fragment(3, &[]),
            Err(CmafError::NoTrackRuns { sequence_number: 3 })
        );
        assert_eq!(
            fragment(
                3,
                &[TrackRun {
                    track_id: 0,
                    base_decode_time: 0,
                    samples: &s
                }]
            ),
            Err(CmafError::ZeroTrackId { sequence_number: 3 })
        );
        assert_eq!(
            fragment(
                3,
                &[TrackRun {
                    track_id: 2,
                    base_decode_time: 0,
                    samples: &[]
                }]
            ),
            Err(CmafError::EmptyTrackRun {
                sequence_number: 3,
                track_id: 2
            })
        );
    }
}
