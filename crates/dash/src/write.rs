//! The XML writer.

use crate::{AdaptationSet, ContentType, Mpd, MpdType, Period, Representation, SegmentTemplate};
use std::fmt::Write as _;

/// `xs:duration` of `seconds`, e.g. `PT1.500S` (negative and non-finite values become `PT0S`).
pub fn format_duration(seconds: f64) -> String {
    let s = if seconds.is_finite() {
        seconds.max(0.0)
    } else {
        0.0
    };
    let ms = (s * 1000.0).round() as u64;
    if ms.is_multiple_of(1000) {
        format!("PT{}S", ms / 1000)
    } else {
        format!("PT{}.{:03}S", ms / 1000, ms % 1000)
    }
}

/// Earliest instant written: 0000-01-01T00:00:00.000Z, in unix ms.
const MIN_UNIX_MS: i64 = -62_167_219_200_000;
/// Latest instant written: 9999-12-31T23:59:59.999Z, in unix ms (four-digit years only).
const MAX_UNIX_MS: i64 = 253_402_300_799_999;

/// `xs:dateTime` in UTC with milliseconds, e.g. `2026-11-24T14:00:00.000Z`. Times outside years
/// 0000..=9999 are clamped to that range.
///
/// The same spelling (and civil-date algorithm) as `ferrocast-hls` uses for
/// `EXT-X-PROGRAM-DATE-TIME`, kept as a copy on purpose: a manifest format must not depend on the
/// other one for this; a shared copy belongs in a lower crate both use, which does not exist yet.
pub fn format_time(unix_ms: i64) -> String {
    let unix_ms = unix_ms.clamp(MIN_UNIX_MS, MAX_UNIX_MS);
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

/// Escapes text for an XML attribute value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn number(value: f64) -> String {
    let v = if value.is_finite() { value } else { 0.0 };
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

pub(crate) fn mpd(mpd: &Mpd, out: &mut String) {
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"");
    out.push_str(" profiles=\"urn:mpeg:dash:profile:isoff-live:2011\"");
    match mpd.kind {
        MpdType::Dynamic => {
            let _ = write!(
                out,
                " type=\"dynamic\" availabilityStartTime=\"{}\" publishTime=\"{}\" minimumUpdatePeriod=\"{}\" timeShiftBufferDepth=\"{}\" suggestedPresentationDelay=\"{}\"",
                format_time(mpd.availability_start_ms),
                format_time(mpd.publish_ms),
                format_duration(mpd.minimum_update_period),
                format_duration(mpd.time_shift_buffer_depth),
                format_duration(mpd.suggested_presentation_delay),
            );
        }
        MpdType::Static => {
            let _ = write!(
                out,
                " type=\"static\" availabilityStartTime=\"{}\" publishTime=\"{}\"",
                format_time(mpd.availability_start_ms),
                format_time(mpd.publish_ms),
            );
            if let Some(d) = mpd.media_presentation_duration {
                let _ = write!(out, " mediaPresentationDuration=\"{}\"", format_duration(d));
            }
        }
    }
    let _ = writeln!(
        out,
        " minBufferTime=\"{}\" maxSegmentDuration=\"{}\">",
        format_duration(mpd.min_buffer_time),
        format_duration(mpd.max_segment_duration)
    );
    for p in &mpd.periods {
        period(p, out);
    }
    if let Some(url) = &mpd.utc_timing_url {
        let _ = writeln!(
            out,
            "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:http-iso:2014\" value=\"{}\"/>",
            escape(url)
        );
    }
    out.push_str("</MPD>\n");
}

fn period(p: &Period, out: &mut String) {
    let _ = writeln!(
        out,
        "  <Period id=\"{}\" start=\"{}\">",
        escape(&p.id),
        format_duration(p.start)
    );
    for set in &p.adaptation_sets {
        adaptation_set(set, out);
    }
    out.push_str("  </Period>\n");
}

fn adaptation_set(set: &AdaptationSet, out: &mut String) {
    let (kind, mime) = match set.content_type {
        ContentType::Video => ("video", "video/mp4"),
        ContentType::Audio => ("audio", "audio/mp4"),
    };
    let _ = write!(
        out,
        "    <AdaptationSet id=\"{}\" contentType=\"{kind}\" mimeType=\"{mime}\" segmentAlignment=\"true\" startWithSAP=\"1\"",
        set.id
    );
    if let Some(lang) = &set.lang {
        let _ = write!(out, " lang=\"{}\"", escape(lang));
    }
    out.push_str(">\n");
    template(&set.template, out);
    for r in &set.representations {
        representation(r, out);
    }
    out.push_str("    </AdaptationSet>\n");
}

fn template(t: &SegmentTemplate, out: &mut String) {
    let _ = writeln!(
        out,
        "      <SegmentTemplate timescale=\"{}\" initialization=\"{}\" media=\"{}\" startNumber=\"{}\" presentationTimeOffset=\"{}\">",
        t.timescale.max(1),
        escape(&t.initialization),
        escape(&t.media),
        t.start_number,
        t.presentation_time_offset
    );
    out.push_str("        <SegmentTimeline>\n");
    let mut i = 0;
    while i < t.timeline.len() {
        let first = t.timeline[i];
        // Runs of equal, contiguous durations collapse into one `S` with a repeat count.
        let mut repeat = 0;
        while let Some(next) = t.timeline.get(i + repeat + 1) {
            let prev = t.timeline[i + repeat];
            let contiguous = prev.start.checked_add(prev.duration) == Some(next.start);
            if next.duration != first.duration || !contiguous {
                break;
            }
            repeat += 1;
        }
        let _ = write!(
            out,
            "          <S t=\"{}\" d=\"{}\"",
            first.start, first.duration
        );
        if repeat > 0 {
            let _ = write!(out, " r=\"{repeat}\"");
        }
        out.push_str("/>\n");
        i += repeat + 1;
    }
    out.push_str("        </SegmentTimeline>\n");
    out.push_str("      </SegmentTemplate>\n");
}

fn representation(r: &Representation, out: &mut String) {
    let _ = write!(
        out,
        "      <Representation id=\"{}\" codecs=\"{}\" bandwidth=\"{}\"",
        escape(&r.id),
        escape(&r.codecs),
        r.bandwidth
    );
    if let Some((w, h)) = r.resolution {
        let _ = write!(out, " width=\"{w}\" height=\"{h}\"");
    }
    if let Some(fps) = r.frame_rate {
        let _ = write!(out, " frameRate=\"{}\"", number(fps));
    }
    if let Some(rate) = r.audio_sampling_rate {
        let _ = write!(out, " audioSamplingRate=\"{rate}\"");
    }
    match r.audio_channels {
        Some(channels) => {
            out.push_str(">\n");
            let _ = writeln!(
                out,
                "        <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"{channels}\"/>"
            );
            out.push_str("      </Representation>\n");
        }
        None => out.push_str("/>\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!(format_duration(2.0), "PT2S");
        assert_eq!(format_duration(1.5), "PT1.500S");
        assert_eq!(format_duration(f64::NAN), "PT0S");
        assert_eq!(format_duration(-3.0), "PT0S");
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        assert_eq!(format_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(escape("a\"<&>'\u{7}"), "a&quot;&lt;&amp;&gt;&apos;");
    }

    #[test]
    fn times_outside_four_digit_years_are_clamped() {
        assert_eq!(format_time(i64::MIN), "0000-01-01T00:00:00.000Z");
        assert_eq!(format_time(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_time(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn timeline_ends_beyond_u64_break_the_run_instead_of_overflowing() {
        let entry = |start, duration| crate::TimelineEntry { start, duration };
        let t = SegmentTemplate {
            timescale: 1,
            initialization: String::new(),
            media: String::new(),
            start_number: 0,
            presentation_time_offset: 0,
            timeline: vec![entry(u64::MAX - 1, 5), entry(3, 5), entry(8, 5)],
        };
        let mut out = String::new();
        template(&t, &mut out);
        assert!(out.contains(
            "<S t=\"18446744073709551614\" d=\"5\"/>\n          <S t=\"3\" d=\"5\" r=\"1\"/>\n"
        ));
    }
}
