//! H.264 decoder configuration: the AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1) and
//! the few fields of its first sequence parameter set (ITU-T H.264 §7.3.2.1.1) that we need.

use bytes::Bytes;
use ferrocast_media::VideoConfig;

use crate::bits::{BitError, BitReader};
use crate::FlvError;

/// NAL unit type of a sequence parameter set (H.264 Table 7-1).
const NAL_TYPE_SPS: u8 = 7;

/// `profile_idc` values whose SPS carries chroma format, bit depth and scaling matrices
/// (H.264 §7.3.2.1.1, the `if( profile_idc = = 100 || ...` branch).
const HIGH_PROFILES: [u8; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

/// Longest `num_ref_frames_in_pic_order_cnt_cycle` the spec allows (§7.4.2.1.1: 0..=255).
const MAX_REF_FRAMES_IN_POC_CYCLE: u32 = 255;

/// Picture dimensions we accept, in pixels; the spec's level limits are far below this.
const MAX_DIMENSION: u64 = 1 << 16;

fn avc_err(offset: usize, reason: &'static str) -> FlvError {
    FlvError::InvalidAvcConfig { offset, reason }
}

/// Parses an AVCDecoderConfigurationRecord into a [`VideoConfig`], keeping the record verbatim.
pub fn parse_avc_config(record: Bytes) -> Result<VideoConfig, FlvError> {
    let r: &[u8] = &record;
    // aligned(8) class AVCDecoderConfigurationRecord {
    //   unsigned int(8) configurationVersion = 1; AVCProfileIndication; profile_compatibility;
    //   AVCLevelIndication; bit(6) reserved; unsigned int(2) lengthSizeMinusOne;
    //   bit(3) reserved; unsigned int(5) numOfSequenceParameterSets; ...
    let [version, _profile, _compat, _level, length_byte, sps_count_byte, ..] = *r else {
        return Err(avc_err(r.len(), "shorter than its 6-byte header"));
    };
    if version != 1 {
        return Err(avc_err(0, "configurationVersion is not 1"));
    }
    // "The value of this field shall be one of 0, 1, or 3 corresponding to a length encoded with
    // 1, 2, or 4 bytes, respectively."
    let nal_length_size = match length_byte & 0b11 {
        0 => 1,
        1 => 2,
        3 => 4,
        _ => return Err(avc_err(4, "lengthSizeMinusOne is 2")),
    };
    let sps_count = sps_count_byte & 0x1f;
    if sps_count == 0 {
        return Err(avc_err(5, "no sequence parameter set"));
    }
    let mut pos = 6;
    let mut first_sps: Option<&[u8]> = None;
    for _ in 0..sps_count {
        let sps = length_prefixed(r, &mut pos)?;
        first_sps.get_or_insert(sps);
    }
    // The picture parameter sets: checked for framing only.
    let pps_count = *r
        .get(pos)
        .ok_or_else(|| avc_err(pos, "no numOfPictureParameterSets"))?;
    pos += 1;
    for _ in 0..pps_count {
        length_prefixed(r, &mut pos)?;
    }
    // Anything after (the High-profile chroma/bit-depth/SPS-extension fields) is not needed.

    let sps = first_sps.ok_or_else(|| avc_err(5, "no sequence parameter set"))?;
    let info = parse_sps(sps)?;
    let codec_string = format!(
        "avc1.{:02x}{:02x}{:02x}",
        info.profile_idc, info.constraint_flags, info.level_idc
    );
    Ok(VideoConfig {
        avc_config: record,
        width: info.width,
        height: info.height,
        codec_string,
        nal_length_size,
    })
}

/// Reads a `unsigned int(16) length; bit(8*length) nal;` entry, advancing `pos`.
fn length_prefixed<'a>(r: &'a [u8], pos: &mut usize) -> Result<&'a [u8], FlvError> {
    let start = *pos;
    let len_bytes = r
        .get(start..start + 2)
        .ok_or_else(|| avc_err(start, "parameter set length truncated"))?;
    let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
    let body = r
        .get(start + 2..start + 2 + len)
        .ok_or_else(|| avc_err(start, "parameter set truncated"))?;
    *pos = start + 2 + len;
    Ok(body)
}

/// What we take from a sequence parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpsInfo {
    pub(crate) profile_idc: u8,
    pub(crate) constraint_flags: u8,
    pub(crate) level_idc: u8,
    /// Width in luma samples after frame cropping.
    pub(crate) width: u32,
    /// Height in luma samples after frame cropping.
    pub(crate) height: u32,
}

/// Removes emulation prevention bytes: `00 00 03` -> `00 00` (H.264 §7.4.1).
fn to_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Parses an SPS NAL unit (with its one-byte NAL header) far enough to get the cropped size.
pub(crate) fn parse_sps(nal: &[u8]) -> Result<SpsInfo, FlvError> {
    let Some((&header, _)) = nal.split_first() else {
        return Err(FlvError::InvalidSps {
            bit_offset: 0,
            reason: "empty NAL unit",
        });
    };
    if header & 0x1f != NAL_TYPE_SPS {
        return Err(FlvError::InvalidSps {
            bit_offset: 0,
            reason: "NAL unit is not an SPS",
        });
    }
    let rbsp = to_rbsp(nal.get(1..).unwrap_or_default());
    let mut r = BitReader::new(&rbsp);
    read_sps(&mut r).map_err(|e| match e {
        SpsError::Bits(b) => FlvError::InvalidSps {
            bit_offset: r.position(),
            reason: b.reason(),
        },
        SpsError::Invalid(reason) => FlvError::InvalidSps {
            bit_offset: r.position(),
            reason,
        },
    })
}

enum SpsError {
    Bits(BitError),
    Invalid(&'static str),
}

impl From<BitError> for SpsError {
    fn from(e: BitError) -> Self {
        Self::Bits(e)
    }
}

fn read_sps(r: &mut BitReader<'_>) -> Result<SpsInfo, SpsError> {
    // The three fixed bytes are read from the RBSP, so an emulation prevention byte cannot skew them.
    let profile_idc = r.bits(8)? as u8;
    let constraint_flags = r.bits(8)? as u8;
    let level_idc = r.bits(8)? as u8;
    let _seq_parameter_set_id = r.ue()?;

    // "When chroma_format_idc is not present, it shall be inferred to be equal to 1 (4:2:0)."
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if HIGH_PROFILES.contains(&profile_idc) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return Err(SpsError::Invalid("chroma_format_idc above 3"));
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()?;
        }
        let _bit_depth_luma_minus8 = r.ue()?;
        let _bit_depth_chroma_minus8 = r.ue()?;
        let _qpprime_y_zero_transform_bypass = r.bit()?;
        let seq_scaling_matrix_present = r.bit()?;
        if seq_scaling_matrix_present {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? {
                    skip_scaling_list(r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    let _log2_max_frame_num_minus4 = r.ue()?;
    match r.ue()? {
        0 => {
            let _log2_max_pic_order_cnt_lsb_minus4 = r.ue()?;
        }
        1 => {
            let _delta_pic_order_always_zero = r.bit()?;
            let _offset_for_non_ref_pic = r.se()?;
            let _offset_for_top_to_bottom_field = r.se()?;
            let cycle = r.ue()?;
            if cycle > MAX_REF_FRAMES_IN_POC_CYCLE {
                return Err(SpsError::Invalid(
                    "num_ref_frames_in_pic_order_cnt_cycle above 255",
                ));
            }
            for _ in 0..cycle {
                let _offset_for_ref_frame = r.se()?;
            }
        }
        2 => {}
        _ => return Err(SpsError::Invalid("pic_order_cnt_type above 2")),
    }
    let _max_num_ref_frames = r.ue()?;
    let _gaps_in_frame_num_allowed = r.bit()?;
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        let _mb_adaptive_frame_field = r.bit()?;
    }
    let _direct_8x8_inference = r.bit()?;
    let (mut crop_left, mut crop_right, mut crop_top, mut crop_bottom) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? {
        crop_left = r.ue()?.into();
        crop_right = r.ue()?.into();
        crop_top = r.ue()?.into();
        crop_bottom = r.ue()?.into();
    }
    // The VUI that follows is not needed.

    // §7.4.2.1.1, equations 7-18..7-22 and the frame_crop_* semantics.
    let field_factor: u64 = if frame_mbs_only { 1 } else { 2 };
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (crop_unit_x, crop_unit_y) = match chroma_array_type {
        0 => (1, field_factor),
        // SubWidthC, SubHeightC from Table 6-1.
        1 => (2, 2 * field_factor),
        2 => (2, field_factor),
        _ => (1, field_factor),
    };
    let coded_width = width_mbs * 16;
    let coded_height = field_factor * height_map_units * 16;
    let crop_x = (crop_left + crop_right) * crop_unit_x;
    let crop_y = (crop_top + crop_bottom) * crop_unit_y;
    let (Some(width), Some(height)) = (
        coded_width.checked_sub(crop_x),
        coded_height.checked_sub(crop_y),
    ) else {
        return Err(SpsError::Invalid("cropping larger than the picture"));
    };
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(SpsError::Invalid("picture size out of range"));
    }
    Ok(SpsInfo {
        profile_idc,
        constraint_flags,
        level_idc,
        // Both are at most MAX_DIMENSION.
        width: width as u32,
        height: height as u32,
    })
}

/// Skips a `scaling_list( scalingList, sizeOfScalingList, ... )` (§7.3.2.1.1.1).
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), SpsError> {
    let mut last_scale: i32 = 8;
    let mut next_scale: i32 = 8;
    for _ in 0..size {
        if next_scale != 0 {
            let delta = r.se()?;
            if !(-128..=127).contains(&delta) {
                return Err(SpsError::Invalid("delta_scale out of range"));
            }
            next_scale = (last_scale + delta + 256).rem_euclid(256);
        }
        if next_scale != 0 {
            last_scale = next_scale;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real SPS NAL units from Debian's ffmpeg 5.1 / libx264 (`-profile:v ... -f h264`), each with
    // emulation prevention bytes in its VUI.

    /// Main, 1280x720, pic_order_cnt_type 0.
    const SPS_720P_MAIN: &[u8] = &[
        0x67, 0x4d, 0x40, 0x1f, 0xec, 0xa0, 0x28, 0x02, 0xdd, 0x80, 0x88, 0x00, 0x00, 0x03, 0x00,
        0x08, 0x00, 0x00, 0x03, 0x01, 0xe0, 0x78, 0xc1, 0x8c, 0xb0,
    ];
    /// Constrained Baseline, 640x360 (coded 368, cropped), pic_order_cnt_type 2.
    const SPS_360P_BASELINE: &[u8] = &[
        0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00,
        0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2e, 0x48,
    ];
    /// High, 1920x1080 (coded 1088, cropped).
    const SPS_1080P_HIGH: &[u8] = &[
        0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58,
    ];

    #[test]
    fn emulation_prevention_is_removed() {
        assert_eq!(
            to_rbsp(&[0, 0, 3, 1, 0, 0, 3, 0, 3]),
            vec![0, 0, 1, 0, 0, 0, 3]
        );
        assert_eq!(to_rbsp(&[0, 3, 0, 0, 3]), vec![0, 3, 0, 0]);
    }

    #[test]
    fn main_profile_720p() {
        let info = parse_sps(SPS_720P_MAIN).unwrap();
        assert_eq!(
            (info.profile_idc, info.constraint_flags, info.level_idc),
            (0x4d, 0x40, 0x1f)
        );
        assert_eq!((info.width, info.height), (1280, 720));
    }

    #[test]
    fn baseline_360p_is_cropped() {
        let info = parse_sps(SPS_360P_BASELINE).unwrap();
        assert_eq!(
            (info.profile_idc, info.constraint_flags, info.level_idc),
            (0x42, 0xc0, 0x1e)
        );
        assert_eq!((info.width, info.height), (640, 360));
    }

    #[test]
    fn high_1080p_is_cropped() {
        let info = parse_sps(SPS_1080P_HIGH).unwrap();
        assert_eq!(
            (info.profile_idc, info.constraint_flags, info.level_idc),
            (0x64, 0, 0x28)
        );
        assert_eq!((info.width, info.height), (1920, 1080));
    }

    #[test]
    fn record_errors_carry_offsets() {
        assert_eq!(
            parse_avc_config(Bytes::from_static(&[1, 0x64, 0, 0x1f])),
            Err(FlvError::InvalidAvcConfig {
                offset: 4,
                reason: "shorter than its 6-byte header"
            })
        );
        assert_eq!(
            parse_avc_config(Bytes::from_static(&[2, 0x64, 0, 0x1f, 0xff, 0xe1])),
            Err(FlvError::InvalidAvcConfig {
                offset: 0,
                reason: "configurationVersion is not 1"
            })
        );
        assert_eq!(
            parse_avc_config(Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xfe, 0xe1])),
            Err(FlvError::InvalidAvcConfig {
                offset: 4,
                reason: "lengthSizeMinusOne is 2"
            })
        );
        assert_eq!(
            parse_avc_config(Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff, 0xe0, 0])),
            Err(FlvError::InvalidAvcConfig {
                offset: 5,
                reason: "no sequence parameter set"
            })
        );
        assert_eq!(
            parse_avc_config(Bytes::from_static(&[
                1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 10, 0x67
            ])),
            Err(FlvError::InvalidAvcConfig {
                offset: 6,
                reason: "parameter set truncated"
            })
        );
    }

    #[test]
    fn record_with_sps_and_pps() {
        let mut rec = vec![
            1,
            0x4d,
            0x40,
            0x1f,
            0xfc | 3,
            0xe0 | 1,
            0,
            SPS_720P_MAIN.len() as u8,
        ];
        rec.extend_from_slice(SPS_720P_MAIN);
        rec.extend_from_slice(&[1, 0, 4, 0x68, 0xee, 0x3c, 0x80]);
        let cfg = parse_avc_config(Bytes::from(rec.clone())).unwrap();
        assert_eq!(cfg.codec_string, "avc1.4d401f");
        assert_eq!((cfg.width, cfg.height, cfg.nal_length_size), (1280, 720, 4));
        assert_eq!(&cfg.avc_config[..], &rec[..]);
        // A record whose PPS list is cut short is rejected.
        rec.truncate(rec.len() - 1);
        assert!(matches!(
            parse_avc_config(Bytes::from(rec)),
            Err(FlvError::InvalidAvcConfig {
                reason: "parameter set truncated",
                ..
            })
        ));
    }

    #[test]
    fn sps_errors() {
        assert!(matches!(parse_sps(&[]), Err(FlvError::InvalidSps { .. })));
        assert!(matches!(
            parse_sps(&[0x68, 0x4d]),
            Err(FlvError::InvalidSps {
                reason: "NAL unit is not an SPS",
                ..
            })
        ));
        assert!(matches!(
            parse_sps(&SPS_720P_MAIN[..6]),
            Err(FlvError::InvalidSps {
                reason: "ends early",
                ..
            })
        ));
    }
}
