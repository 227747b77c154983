//! The CMAF header (init segment): `ftyp` + `moov`.

use bytes::{BufMut, Bytes};
use ferrocast_media::{AudioConfig, VideoConfig};

use crate::writer::{BoxWriter, UNITY_MATRIX};
use crate::{CmafError, AUDIO_TRACK_ID, VIDEO_TIMESCALE, VIDEO_TRACK_ID};

/// Largest codec configuration (avcC record or AudioSpecificConfig) we write, in bytes. Real ones
/// are tens of bytes; the cap keeps every box size far inside 32 bits.
pub const MAX_CODEC_CONFIG_LEN: usize = 64 * 1024;

/// Movie timescale (`mvhd`): only durations of zero are written with it.
const MOVIE_TIMESCALE: u32 = 1000;
/// ISO 639-2/T "und", packed as three 5-bit letters (ISO/IEC 14496-12 §8.4.2.3).
const LANGUAGE_UND: u16 =
    ((b'u' - 0x60) as u16) << 10 | ((b'n' - 0x60) as u16) << 5 | (b'd' - 0x60) as u16;

/// Which track an init segment is being written for.
enum Track<'a> {
    Video(&'a VideoConfig),
    Audio(&'a AudioConfig),
}

impl Track<'_> {
    fn id(&self) -> u32 {
        match self {
            Self::Video(_) => VIDEO_TRACK_ID,
            Self::Audio(_) => AUDIO_TRACK_ID,
        }
    }
}

/// `ftyp` + `moov` (with `mvex`) for the tracks present; audio timescale = its sample rate.
///
/// The `ftyp` has major brand `iso6` and compatible brands `iso6`, `mp41`, `dash`, plus `cmfc`
/// when there is a single track (a CMAF track file holds one track; a muxed one is plain fMP4).
pub fn init_segment(
    video: Option<&VideoConfig>,
    audio: Option<&AudioConfig>,
) -> Result<Bytes, CmafError> {
    if let Some(v) = video {
        check_video(v)?;
    }
    if let Some(a) = audio {
        check_audio(a)?;
    }
    let tracks: Vec<Track<'_>> = video
        .map(Track::Video)
        .into_iter()
        .chain(audio.map(Track::Audio))
        .collect();
    let Some(last) = tracks.last() else {
        return Err(CmafError::NoTracks);
    };
    let next_track_id = last.id() + 1;
    let config_len = video.map_or(0, |v| v.avc_config.len()) + audio.map_or(0, |a| a.asc.len());
    let mut w = BoxWriter::with_capacity(1024 + config_len);

    w.open(b"ftyp");
    w.buf.put_slice(b"iso6");
    w.buf.put_u32(0);
    w.buf.put_slice(b"iso6mp41dash");
    if tracks.len() == 1 {
        w.buf.put_slice(b"cmfc");
    }
    w.close();

    w.open(b"moov");
    write_mvhd(&mut w, next_track_id);
    for track in &tracks {
        write_trak(&mut w, track);
    }
    w.open(b"mvex");
    for track in &tracks {
        // trex: defaults are unused, since every trun states each sample's fields.
        w.open_full(b"trex", 0, 0);
        w.buf.put_u32(track.id());
        w.buf.put_u32(1); // default_sample_description_index
        w.buf.put_u32(0); // default_sample_duration
        w.buf.put_u32(0); // default_sample_size
        w.buf.put_u32(0); // default_sample_flags
        w.close();
    }
    w.close(); // mvex
    w.close(); // moov
    Ok(w.finish().freeze())
}

fn check_video(v: &VideoConfig) -> Result<(), CmafError> {
    let err = |reason| Err(CmafError::InvalidVideoConfig { reason });
    if v.avc_config.is_empty() {
        return err("empty AVCDecoderConfigurationRecord");
    }
    if v.avc_config.len() > MAX_CODEC_CONFIG_LEN {
        return err("AVCDecoderConfigurationRecord over 64 KiB");
    }
    if v.width == 0 || v.height == 0 || v.width > 0xffff || v.height > 0xffff {
        return err("width or height outside 1..=65535");
    }
    Ok(())
}

fn check_audio(a: &AudioConfig) -> Result<(), CmafError> {
    let err = |reason| Err(CmafError::InvalidAudioConfig { reason });
    if a.asc.is_empty() {
        return err("empty AudioSpecificConfig");
    }
    if a.asc.len() > MAX_CODEC_CONFIG_LEN {
        return err("AudioSpecificConfig over 64 KiB");
    }
    if a.sample_rate == 0 {
        return err("sample rate is zero");
    }
    if a.channels == 0 {
        return err("channel count is zero");
    }
    Ok(())
}

fn write_mvhd(w: &mut BoxWriter, next_track_id: u32) {
    w.open_full(b"mvhd", 0, 0);
    w.buf.put_u32(0); // creation_time
    w.buf.put_u32(0); // modification_time
    w.buf.put_u32(MOVIE_TIMESCALE);
    w.buf.put_u32(0); // duration: unknown (fragmented)
    w.buf.put_u32(0x0001_0000); // rate 1.0
    w.buf.put_u16(0x0100); // volume 1.0
    w.buf.put_bytes(0, 2 + 8); // reserved
    for m in UNITY_MATRIX {
        w.buf.put_u32(m);
    }
    w.buf.put_bytes(0, 6 * 4); // pre_defined
    w.buf.put_u32(next_track_id);
    w.close();
}

fn write_trak(w: &mut BoxWriter, track: &Track<'_>) {
    w.open(b"trak");

    // tkhd flags: track_enabled | track_in_movie.
    w.open_full(b"tkhd", 0, 0x03);
    w.buf.put_u32(0); // creation_time
    w.buf.put_u32(0); // modification_time
    w.buf.put_u32(track.id());
    w.buf.put_u32(0); // reserved
    w.buf.put_u32(0); // duration
    w.buf.put_bytes(0, 8); // reserved
    w.buf.put_u16(0); // layer
    w.buf.put_u16(0); // alternate_group
    w.buf.put_u16(if matches!(track, Track::Audio(_)) {
        0x0100
    } else {
        0
    }); // volume
    w.buf.put_u16(0); // reserved
    for m in UNITY_MATRIX {
        w.buf.put_u32(m);
    }
    let (width, height) = match track {
        // 16.16 fixed point; check_video bounds both to 16 bits.
        Track::Video(v) => (v.width << 16, v.height << 16),
        Track::Audio(_) => (0, 0),
    };
    w.buf.put_u32(width);
    w.buf.put_u32(height);
    w.close();

    w.open(b"mdia");
    w.open_full(b"mdhd", 0, 0);
    w.buf.put_u32(0); // creation_time
    w.buf.put_u32(0); // modification_time
    w.buf.put_u32(match track {
        Track::Video(_) => VIDEO_TIMESCALE,
        Track::Audio(a) => a.sample_rate,
    });
    w.buf.put_u32(0); // duration
    w.buf.put_u16(LANGUAGE_UND);
    w.buf.put_u16(0); // pre_defined
    w.close();

    let (handler, name): (&[u8; 4], &[u8]) = match track {
        Track::Video(_) => (b"vide", b"VideoHandler\0"),
        Track::Audio(_) => (b"soun", b"SoundHandler\0"),
    };
    w.open_full(b"hdlr", 0, 0);
    w.buf.put_u32(0); // pre_defined
    w.buf.put_slice(handler);
    w.buf.put_bytes(0, 12); // reserved
    w.buf.put_slice(name);
    w.close();

    w.open(b"minf");
    match track {
        Track::Video(_) => {
            w.open_full(b"vmhd", 0, 1);
            w.buf.put_bytes(0, 2 + 6); // graphicsmode, opcolor
        }
        Track::Audio(_) => {
            w.open_full(b"smhd", 0, 0);
            w.buf.put_bytes(0, 4); // balance, reserved
        }
    }
    w.close();
    w.open(b"dinf");
    w.open_full(b"dref", 0, 0);
    w.buf.put_u32(1); // entry_count
    w.open_full(b"url ", 0, 1); // flags 1: media data in this file
    w.close();
    w.close(); // dref
    w.close(); // dinf

    w.open(b"stbl");
    w.open_full(b"stsd", 0, 0);
    w.buf.put_u32(1); // entry_count
    match track {
        Track::Video(v) => write_avc1(w, v),
        Track::Audio(a) => write_mp4a(w, a),
    }
    w.close(); // stsd
               // The sample tables of a fragmented file are empty: samples live in the fragments.
    for kind in [b"stts", b"stsc", b"stco"] {
        w.open_full(kind, 0, 0);
        w.buf.put_u32(0); // entry_count
        w.close();
    }
    w.open_full(b"stsz", 0, 0);
    w.buf.put_u32(0); // sample_size
    w.buf.put_u32(0); // sample_count
    w.close();
    w.close(); // stbl
    w.close(); // minf
    w.close(); // mdia
    w.close(); // trak
}

/// `avc1` VisualSampleEntry (ISO/IEC 14496-12 §12.1.3, 14496-15 §5.4.2.1) with the record verbatim.
fn write_avc1(w: &mut BoxWriter, v: &VideoConfig) {
    w.open(b"avc1");
    w.buf.put_bytes(0, 6); // reserved
    w.buf.put_u16(1); // data_reference_index
    w.buf.put_u16(0); // pre_defined
    w.buf.put_u16(0); // reserved
    w.buf.put_bytes(0, 12); // pre_defined
                            // check_video bounds both to 16 bits.
    w.buf.put_u16(v.width as u16);
    w.buf.put_u16(v.height as u16);
    w.buf.put_u32(0x0048_0000); // horizresolution 72 dpi
    w.buf.put_u32(0x0048_0000); // vertresolution 72 dpi
    w.buf.put_u32(0); // reserved
    w.buf.put_u16(1); // frame_count
    w.buf.put_bytes(0, 32); // compressorname: empty Pascal string
    w.buf.put_u16(0x0018); // depth
    w.buf.put_i16(-1); // pre_defined
    w.open(b"avcC");
    w.buf.put_slice(&v.avc_config);
    w.close();
    w.close();
}

/// `mp4a` AudioSampleEntry (ISO/IEC 14496-12 §12.2.3, 14496-14 §3.1.2) with its `esds`.
fn write_mp4a(w: &mut BoxWriter, a: &AudioConfig) {
    w.open(b"mp4a");
    w.buf.put_bytes(0, 6); // reserved
    w.buf.put_u16(1); // data_reference_index
    w.buf.put_bytes(0, 8); // reserved
    w.buf.put_u16(u16::from(a.channels));
    w.buf.put_u16(16); // samplesize
    w.buf.put_u16(0); // pre_defined
    w.buf.put_u16(0); // reserved
                      // samplerate is 16.16 fixed point; rates that do not fit are written as 0, and the decoder
                      // takes the real rate from the AudioSpecificConfig.
    let rate = if a.sample_rate <= 0xffff {
        a.sample_rate << 16
    } else {
        0
    };
    w.buf.put_u32(rate);
    write_esds(w, a);
    w.close();
}

/// Descriptor tags of ISO/IEC 14496-1 §7.2.2.1.
const ES_DESCR_TAG: u8 = 0x03;
const DECODER_CONFIG_DESCR_TAG: u8 = 0x04;
const DEC_SPECIFIC_INFO_TAG: u8 = 0x05;
const SL_CONFIG_DESCR_TAG: u8 = 0x06;
/// objectTypeIndication for ISO/IEC 14496-3 audio (MPEG-4 AAC).
const OBJECT_TYPE_MPEG4_AUDIO: u8 = 0x40;
/// streamType AudioStream (0x05) << 2 | upStream 0 | reserved 1.
const STREAM_TYPE_AUDIO: u8 = (0x05 << 2) | 1;

/// Bytes taken by a descriptor's expandable size field (14496-1 §8.3.3).
fn size_field_len(size: usize) -> usize {
    match size {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        _ => 4,
    }
}

fn put_descriptor_header(w: &mut BoxWriter, tag: u8, size: usize) {
    w.buf.put_u8(tag);
    let n = size_field_len(size);
    for i in (0..n).rev() {
        let more = if i == 0 { 0 } else { 0x80 };
        // Sizes are bounded by MAX_CODEC_CONFIG_LEN, well inside 28 bits.
        w.buf.put_u8(((size >> (7 * i)) & 0x7f) as u8 | more);
    }
}

fn descriptor_len(size: usize) -> usize {
    1 + size_field_len(size) + size
}

fn write_esds(w: &mut BoxWriter, a: &AudioConfig) {
    let dsi = a.asc.len();
    let dcd = 13 + descriptor_len(dsi);
    let sl = 1;
    let es = 3 + descriptor_len(dcd) + descriptor_len(sl);

    w.open_full(b"esds", 0, 0);
    put_descriptor_header(w, ES_DESCR_TAG, es);
    w.buf.put_u16(0); // ES_ID: 0 inside an MP4 file
    w.buf.put_u8(0); // no stream dependence, URL or OCR stream
    put_descriptor_header(w, DECODER_CONFIG_DESCR_TAG, dcd);
    w.buf.put_u8(OBJECT_TYPE_MPEG4_AUDIO);
    w.buf.put_u8(STREAM_TYPE_AUDIO);
    w.buf.put_uint(0, 3); // bufferSizeDB: unknown
    w.buf.put_u32(0); // maxBitrate: unknown
    w.buf.put_u32(0); // avgBitrate: variable
    put_descriptor_header(w, DEC_SPECIFIC_INFO_TAG, dsi);
    w.buf.put_slice(&a.asc);
    put_descriptor_header(w, SL_CONFIG_DESCR_TAG, sl);
    w.buf.put_u8(0x02); // predefined: reserved for use in MP4 files
    w.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_sizes() {
        let mut w = BoxWriter::with_capacity(16);
        put_descriptor_header(&mut w, 5, 2);
        put_descriptor_header(&mut w, 5, 200);
        put_descriptor_header(&mut w, 5, 0x4000);
        assert_eq!(&w.buf[..], &[5, 2, 5, 0x81, 0x48, 5, 0x81, 0x80, 0x00]);
        assert_eq!(descriptor_len(200), 203);
    }

    #[test]
    fn language_is_und() {
        assert_eq!(LANGUAGE_UND, 0x55c4);
    }
}
