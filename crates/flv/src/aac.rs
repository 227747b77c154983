//! AAC decoder configuration: the AudioSpecificConfig of ISO/IEC 14496-3 §1.6.2.1, with the
//! GASpecificConfig (§4.4.1) and program_config_element (§4.4.1.1) fields that decide frame
//! length and channel count.

use bytes::Bytes;
use ferrocast_media::AudioConfig;

use crate::bits::BitReader;
use crate::FlvError;

/// Sampling frequencies by samplingFrequencyIndex (§1.6.3.4, Table 1.18); 0xF means explicit.
const SAMPLING_FREQUENCIES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Audio object types (§1.5.1.1, Table 1.1) that we name.
const AOT_ESCAPE: u32 = 31;
const AOT_SBR: u32 = 5;
const AOT_PS: u32 = 29;
const AOT_ER_AAC_LD: u32 = 23;
const AOT_ER_AAC_ELD: u32 = 39;

/// Object types whose specific config is a GASpecificConfig (Table 1.15).
const GA_OBJECT_TYPES: [u32; 12] = [1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23];

fn err(r: &BitReader<'_>, reason: &'static str) -> FlvError {
    FlvError::InvalidAudioConfig {
        bit_offset: r.position(),
        reason,
    }
}

/// Parses an AudioSpecificConfig into an [`AudioConfig`], keeping the bytes verbatim.
pub fn parse_audio_specific_config(asc: Bytes) -> Result<AudioConfig, FlvError> {
    let mut r = BitReader::new(&asc);
    let ParsedAsc {
        object_type,
        sample_rate,
        channels,
        samples_per_frame,
    } = read_asc(&mut r)?;
    let object_type_byte =
        u8::try_from(object_type).map_err(|_| err(&r, "audio object type above 255"))?;
    Ok(AudioConfig {
        codec_string: format!("mp4a.40.{object_type}"),
        object_type: object_type_byte,
        sample_rate,
        channels,
        samples_per_frame,
        asc,
    })
}

struct ParsedAsc {
    object_type: u32,
    sample_rate: u32,
    channels: u8,
    samples_per_frame: u32,
}

fn object_type(r: &mut BitReader<'_>) -> Result<u32, FlvError> {
    let aot = r.bits(5).map_err(|e| err(r, e.reason()))?;
    if aot == AOT_ESCAPE {
        let ext = r.bits(6).map_err(|e| err(r, e.reason()))?;
        return Ok(32 + ext);
    }
    Ok(aot)
}

fn sampling_frequency(r: &mut BitReader<'_>) -> Result<u32, FlvError> {
    let index = r.bits(4).map_err(|e| err(r, e.reason()))?;
    if index == 0xf {
        let rate = r.bits(24).map_err(|e| err(r, e.reason()))?;
        if rate == 0 {
            return Err(err(r, "explicit sampling frequency is zero"));
        }
        return Ok(rate);
    }
    SAMPLING_FREQUENCIES
        .get(index as usize)
        .copied()
        .ok_or_else(|| err(r, "reserved samplingFrequencyIndex"))
}

fn read_asc(r: &mut BitReader<'_>) -> Result<ParsedAsc, FlvError> {
    let signalled_type = object_type(r)?;
    let sample_rate = sampling_frequency(r)?;
    let channel_configuration = r.bits(4).map_err(|e| err(r, e.reason()))?;
    // Explicit hierarchical SBR/PS signalling: the extension rate and the core object type follow.
    let mut core_type = signalled_type;
    if signalled_type == AOT_SBR || signalled_type == AOT_PS {
        let _extension_sampling_frequency = sampling_frequency(r)?;
        core_type = object_type(r)?;
        if core_type == 22 {
            // ER BSAC: extensionChannelConfiguration.
            r.skip(4).map_err(|e| err(r, e.reason()))?;
        }
    }

    let mut frame_length_flag = false;
    let mut channels = channel_count(channel_configuration);
    if GA_OBJECT_TYPES.contains(&core_type) {
        frame_length_flag = r.bit().map_err(|e| err(r, e.reason()))?;
        let depends_on_core_coder = r.bit().map_err(|e| err(r, e.reason()))?;
        if depends_on_core_coder {
            r.skip(14).map_err(|e| err(r, e.reason()))?;
        }
        let _extension_flag = r.bit().map_err(|e| err(r, e.reason()))?;
        if channel_configuration == 0 {
            channels = Some(program_config_channels(r)?);
        }
    } else if core_type == AOT_ER_AAC_ELD {
        // ELDSpecificConfig starts with frameLengthFlag.
        frame_length_flag = r.bit().map_err(|e| err(r, e.reason()))?;
    }
    // Anything after (extension flags, the backward-compatible SBR sync extension) is not needed:
    // the core decoder's rate and frame length define the access unit timing.

    let channels = channels.ok_or_else(|| err(r, "reserved channelConfiguration"))?;
    if channels == 0 {
        return Err(err(r, "no channels"));
    }
    let samples_per_frame = match (core_type, frame_length_flag) {
        (AOT_ER_AAC_LD | AOT_ER_AAC_ELD, false) => 512,
        (AOT_ER_AAC_LD | AOT_ER_AAC_ELD, true) => 480,
        (_, false) => 1024,
        (_, true) => 960,
    };
    Ok(ParsedAsc {
        object_type: signalled_type,
        sample_rate,
        channels,
        samples_per_frame,
    })
}

/// Channels of a channelConfiguration (§1.6.3.5, Table 1.19, and ISO/IEC 23001-8 for 11..=14).
fn channel_count(configuration: u32) -> Option<u8> {
    match configuration {
        0 => Some(0), // given by a program_config_element
        1..=6 => Some(configuration as u8),
        7 | 12 | 14 => Some(8),
        11 => Some(7),
        13 => Some(24),
        _ => None,
    }
}

/// Counts the output channels of a program_config_element (§4.4.1.1, Table 4.2).
fn program_config_channels(r: &mut BitReader<'_>) -> Result<u8, FlvError> {
    let read = |r: &mut BitReader<'_>, n| r.bits(n).map_err(|e| err(r, e.reason()));
    let _element_instance_tag = read(r, 4)?;
    let _object_type = read(r, 2)?;
    let _sampling_frequency_index = read(r, 4)?;
    let front = read(r, 4)?;
    let side = read(r, 4)?;
    let back = read(r, 4)?;
    let lfe = read(r, 2)?;
    let _assoc_data = read(r, 3)?;
    let _valid_cc = read(r, 4)?;
    for _mixdown in 0..2 {
        // mono_mixdown_present / stereo_mixdown_present, each with a 4-bit element number.
        if read(r, 1)? == 1 {
            read(r, 4)?;
        }
    }
    if read(r, 1)? == 1 {
        // matrix_mixdown_idx_present: matrix_mixdown_idx (2), pseudo_surround_enable (1).
        read(r, 3)?;
    }
    let mut channels = lfe;
    for _ in 0..(front + side + back) {
        let is_cpe = read(r, 1)?;
        let _tag = read(r, 4)?;
        channels += 1 + is_cpe;
    }
    // At most 3 * 15 * 2 + 3 = 93.
    Ok(channels as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &'static [u8]) -> Result<AudioConfig, FlvError> {
        parse_audio_specific_config(Bytes::from_static(bytes))
    }

    #[test]
    fn aac_lc_44100_stereo() {
        let c = parse(&[0x12, 0x10]).unwrap();
        assert_eq!(c.codec_string, "mp4a.40.2");
        assert_eq!(
            (
                c.object_type,
                c.sample_rate,
                c.channels,
                c.samples_per_frame
            ),
            (2, 44100, 2, 1024)
        );
        assert_eq!(&c.asc[..], &[0x12, 0x10]);
    }

    #[test]
    fn aac_lc_with_sbr_sync_extension() {
        // ffmpeg's native encoder at 22.05 kHz mono appends the 0x2b7 sync extension.
        let c = parse(&[0x13, 0x88, 0x56, 0xe5, 0x00]).unwrap();
        assert_eq!((c.object_type, c.sample_rate, c.channels), (2, 22050, 1));
        assert_eq!(c.codec_string, "mp4a.40.2");
    }

    #[test]
    fn frame_length_960() {
        // AOT 2, 48 kHz (index 3), stereo, frameLengthFlag = 1.
        let c = parse(&[0x11, 0x94]).unwrap();
        assert_eq!(
            (c.sample_rate, c.channels, c.samples_per_frame),
            (48000, 2, 960)
        );
    }

    #[test]
    fn explicit_he_aac() {
        // AOT 5, core 24 kHz (6), stereo, extension 48 kHz (3), core AOT 2, GA config zeros.
        // 00101 0110 0010 0011 00010 000 -> 0x2b 0x11 0x88 0x00
        let c = parse(&[0x2b, 0x11, 0x88, 0x00]).unwrap();
        assert_eq!(c.codec_string, "mp4a.40.5");
        assert_eq!(
            (
                c.object_type,
                c.sample_rate,
                c.channels,
                c.samples_per_frame
            ),
            (5, 24000, 2, 1024)
        );
    }

    /// Packs a string of '0'/'1' (spaces ignored) MSB first, zero-padded to whole bytes.
    fn from_bits(bits: &str) -> Bytes {
        let bits: Vec<u8> = bits
            .bytes()
            .filter(|b| *b != b' ')
            .map(|b| b - b'0')
            .collect();
        Bytes::from(
            bits.chunks(8)
                .map(|c| {
                    c.iter()
                        .enumerate()
                        .fold(0u8, |acc, (i, b)| acc | (b << (7 - i)))
                })
                .collect::<Vec<u8>>(),
        )
    }

    #[test]
    fn escape_object_type_and_explicit_rate() {
        // AOT 31 + 6 bits (1 -> 33), index 0xF + 24-bit 50_000, channel configuration 1.
        let asc = from_bits("11111 000001 1111 000000001100001101010000 0001");
        let c = parse_audio_specific_config(asc).unwrap();
        assert_eq!((c.object_type, c.sample_rate, c.channels), (33, 50_000, 1));
        assert_eq!(c.codec_string, "mp4a.40.33");
    }

    #[test]
    fn program_config_element_channels() {
        // AOT 2, 48 kHz, channelConfiguration 0, GASpecificConfig flags 000, then a PCE with one
        // front CPE, one back SCE and one LFE: 2 + 1 + 1 = 4 channels.
        let asc = from_bits(concat!(
            "00010 0011 0000 000 ",
            "0000 01 0011 ", // element_instance_tag, object_type, sampling_frequency_index
            "0001 0000 0001 01 ", // front, side, back, lfe element counts
            "000 0000 0 0 0 ", // assoc data, valid cc, no mixdowns
            "1 0000 ",       // front: CPE
            "0 0001 ",       // back: SCE
            "0000",          // lfe tag
        ));
        let c = parse_audio_specific_config(asc).unwrap();
        assert_eq!((c.sample_rate, c.channels), (48000, 4));
        // Cut inside the PCE.
        let short =
            from_bits("00010 0011 0000 000 0000 01 0011 0001 0000 0001 01 000 0000 0 0 0 1");
        assert!(matches!(
            parse_audio_specific_config(short.slice(..short.len() - 1)),
            Err(FlvError::InvalidAudioConfig {
                reason: "ends early",
                ..
            })
        ));
    }

    #[test]
    fn errors() {
        assert!(matches!(
            parse(&[]),
            Err(FlvError::InvalidAudioConfig { bit_offset: 0, .. })
        ));
        assert!(matches!(
            parse(&[0x16, 0x80]), // sfi 13 is reserved
            Err(FlvError::InvalidAudioConfig {
                reason: "reserved samplingFrequencyIndex",
                ..
            })
        ));
        assert!(matches!(
            parse(&[0x12, 0x78]), // channel configuration 15
            Err(FlvError::InvalidAudioConfig {
                reason: "reserved channelConfiguration",
                ..
            })
        ));
        assert!(matches!(
            parse(&[0x12]),
            Err(FlvError::InvalidAudioConfig { .. })
        ));
    }
}
