//! `onMetaData` properties (FLV 10.1 §E.5) into [`StreamMetadata`].

use ferrocast_amf0::Value;
use ferrocast_media::StreamMetadata;

/// Longest encoder name kept, in bytes; it only goes into logs.
pub const MAX_ENCODER_NAME_LEN: usize = 256;

/// Reads the fields we use out of onMetaData properties.
///
/// Keys match ASCII case-insensitively. Numbers must be finite (and, for sizes and rates, not
/// negative) to count. `has_video`/`has_audio` come from `hasVideo`/`hasAudio` when present, else
/// `Some(true)` when `videocodecid`/`audiocodecid` is present, else `None`. Unknown keys are ignored.
pub fn parse_metadata(properties: &[(String, Value)]) -> StreamMetadata {
    let mut m = StreamMetadata::default();
    let (mut has_video_flag, mut has_audio_flag) = (None, None);
    let (mut video_codec, mut audio_codec) = (false, false);
    for (key, value) in properties {
        let key = key.to_ascii_lowercase();
        match key.as_str() {
            "framerate" | "fps" => m.frame_rate = m.frame_rate.or(non_negative(value)),
            "videodatarate" => m.video_kbps = non_negative(value),
            "audiodatarate" => m.audio_kbps = non_negative(value),
            "width" => m.width = non_negative(value),
            "height" => m.height = non_negative(value),
            "videocodecid" => video_codec = !matches!(value, Value::Null | Value::Undefined),
            "audiocodecid" => audio_codec = !matches!(value, Value::Null | Value::Undefined),
            "hasvideo" => has_video_flag = boolean(value),
            "hasaudio" => has_audio_flag = boolean(value),
            "encoder" => m.encoder = string(value).map(truncate_name),
            _ => {}
        }
    }
    m.has_video = has_video_flag.or(video_codec.then_some(true));
    m.has_audio = has_audio_flag.or(audio_codec.then_some(true));
    m
}

fn non_negative(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) if n.is_finite() && *n >= 0.0 => Some(*n),
        _ => None,
    }
}

fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Boolean(b) => Some(*b),
        Value::Number(n) if n.is_finite() => Some(*n != 0.0),
        _ => None,
    }
}

fn string(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) | Value::LongString(s) => Some(s),
        _ => None,
    }
}

fn truncate_name(s: &str) -> String {
    let mut end = s.len().min(MAX_ENCODER_NAME_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(list: &[(&str, Value)]) -> Vec<(String, Value)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn obs_style_metadata() {
        let m = parse_metadata(&props(&[
            ("duration", Value::Number(0.0)),
            ("width", Value::Number(1920.0)),
            ("height", Value::Number(1080.0)),
            ("videodatarate", Value::Number(6000.0)),
            ("framerate", Value::Number(30.0)),
            ("videocodecid", Value::Number(7.0)),
            ("audiodatarate", Value::Number(160.0)),
            ("audiosamplerate", Value::Number(48000.0)),
            ("audiocodecid", Value::Number(10.0)),
            (
                "encoder",
                Value::String("obs-output module (libobs version 30.0.0)".into()),
            ),
        ]));
        assert_eq!(
            m,
            StreamMetadata {
                frame_rate: Some(30.0),
                video_kbps: Some(6000.0),
                audio_kbps: Some(160.0),
                width: Some(1920.0),
                height: Some(1080.0),
                has_video: Some(true),
                has_audio: Some(true),
                encoder: Some("obs-output module (libobs version 30.0.0)".into()),
            }
        );
    }

    #[test]
    fn flags_override_codec_ids_and_garbage_is_ignored() {
        let m = parse_metadata(&props(&[
            ("videocodecid", Value::String("avc1".into())),
            ("hasVideo", Value::Boolean(false)),
            ("hasAudio", Value::Number(1.0)),
            ("width", Value::Number(f64::NAN)),
            ("height", Value::Number(-5.0)),
            ("framerate", Value::String("30".into())),
            ("encoder", Value::Number(3.0)),
        ]));
        assert_eq!(m.has_video, Some(false));
        assert_eq!(m.has_audio, Some(true));
        assert_eq!(
            (m.width, m.height, m.frame_rate, m.encoder),
            (None, None, None, None)
        );
        assert_eq!(parse_metadata(&[]), StreamMetadata::default());
    }

    #[test]
    fn long_encoder_names_are_cut_on_a_char_boundary() {
        let name = "é".repeat(200); // 400 bytes
        let m = parse_metadata(&props(&[("encoder", Value::LongString(name))]));
        let got = m.encoder.unwrap();
        assert!(got.len() <= MAX_ENCODER_NAME_LEN && got.len() >= MAX_ENCODER_NAME_LEN - 1);
        assert!(got.chars().all(|c| c == 'é'));
    }
}
