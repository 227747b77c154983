//! Golden command lines for every encoder, and the planning and validation rules.
//!
//! `UPDATE_GOLDEN=1 cargo test -p ferrocast-ladder --test args` rewrites `tests/golden/`.

use ferrocast_ladder::{
    ffmpeg_args, plan, Encoder, IoSpec, Ladder, LadderError, PlannedRung, Rung, SourceInfo,
    DEFAULT_VAAPI_DEVICE, MAX_RUNGS,
};

fn enabled() -> Ladder {
    Ladder {
        enabled: true,
        ..Ladder::default()
    }
}

fn source(width: u32, height: u32, frame_rate: f64, has_audio: bool) -> SourceInfo {
    SourceInfo {
        width,
        height,
        frame_rate,
        has_audio,
    }
}

fn sockets(plan: &[PlannedRung]) -> IoSpec {
    IoSpec::new(
        plan.iter()
            .map(|r| format!("unix:/run/ferrocast/transcode/{}.sock", r.name)),
    )
}

fn args_for(encoder: &Encoder, source: &SourceInfo) -> Vec<String> {
    let plan = plan(&enabled(), source);
    ffmpeg_args(&plan, encoder, &sockets(&plan)).unwrap()
}

fn check_golden(name: &str, args: &[String]) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    let actual = args.join("\n") + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}; run with UPDATE_GOLDEN=1 to create it"));
    assert!(
        actual == expected,
        "{name} differs from its golden file; run with UPDATE_GOLDEN=1 to accept:\n{actual}"
    );
}

fn encoders() -> [(&'static str, Encoder); 4] {
    [
        ("x264", Encoder::X264),
        ("nvenc", Encoder::Nvenc),
        (
            "vaapi",
            Encoder::Vaapi {
                device: DEFAULT_VAAPI_DEVICE.into(),
            },
        ),
        ("qsv", Encoder::Qsv),
    ]
}

#[test]
fn golden_command_lines() {
    let source = source(1920, 1080, 30.0, true);
    for (name, encoder) in encoders() {
        check_golden(&format!("{name}.args"), &args_for(&encoder, &source));
        check_golden(&format!("{name}-probe.args"), &encoder.probe_args());
    }
}

#[test]
fn golden_with_frame_rate_reduction_and_no_audio() {
    let source = source(1920, 1080, 60.0, false);
    check_golden(
        "x264-60fps-no-audio.args",
        &args_for(&Encoder::X264, &source),
    );
}

/// The value after each occurrence of `flag`.
fn values<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].as_str())
        .collect()
}

#[test]
fn arguments_are_deterministic_and_complete() {
    let source = source(1920, 1080, 30.0, true);
    for (_, encoder) in encoders() {
        let args = args_for(&encoder, &source);
        assert_eq!(args, args_for(&encoder, &source));
        assert_eq!(values(&args, "-c:v"), vec![encoder.ffmpeg_name(); 3]);
        assert_eq!(values(&args, "-bf"), vec!["0"; 3]);
        assert_eq!(values(&args, "-force_key_frames:v"), vec!["source"; 3]);
        assert_eq!(values(&args, "-b:v"), vec!["3000k", "1400k", "800k"]);
        assert_eq!(values(&args, "-bufsize"), vec!["6000k", "2800k", "1600k"]);
        assert_eq!(values(&args, "-b:a"), vec!["128k", "96k", "96k"]);
        assert_eq!(values(&args, "-i"), vec!["pipe:0"]);
        assert_eq!(
            values(&args, "-protocol_whitelist"),
            vec!["pipe", "unix", "unix", "unix"]
        );
        let graph = values(&args, "-filter_complex")[0];
        assert!(graph.contains("split=3[s0][s1][s2]"), "{graph}");
        assert!(graph.contains("asplit=3[a0][a1][a2]"), "{graph}");
        assert!(!graph.contains("select="), "{graph}");
    }
}

#[test]
fn a_720p_source_gets_only_480p_and_360p() {
    let p = plan(&enabled(), &source(1280, 720, 30.0, true));
    let sizes: Vec<_> = p
        .iter()
        .map(|r| (r.name.as_str(), r.width, r.height))
        .collect();
    assert_eq!(sizes, vec![("480p", 854, 480), ("360p", 640, 360)]);
    let args = ffmpeg_args(&p, &Encoder::X264, &sockets(&p)).unwrap();
    assert_eq!(values(&args, "-map"), vec!["[v0]", "[a0]", "[v1]", "[a1]"]);
}

#[test]
fn an_audio_less_source_maps_no_audio() {
    let p = plan(&enabled(), &source(1920, 1080, 30.0, false));
    assert!(p.iter().all(|r| r.audio_bitrate_kbps.is_none()));
    let args = ffmpeg_args(&p, &Encoder::X264, &sockets(&p)).unwrap();
    assert_eq!(values(&args, "-map"), vec!["[v0]", "[v1]", "[v2]"]);
    assert!(values(&args, "-c:a").is_empty());
    assert!(!values(&args, "-filter_complex")[0].contains("0:a"));
}

#[test]
fn a_60fps_source_gets_a_frame_rate_reducer() {
    let p = plan(&enabled(), &source(1920, 1080, 60.0, true));
    assert!(p
        .iter()
        .all(|r| r.frame_rate == 30.0 && r.reduced_from == Some(60.0)));
    let args = ffmpeg_args(&p, &Encoder::X264, &sockets(&p)).unwrap();
    let graph = values(&args, "-filter_complex")[0];
    assert_eq!(graph.matches("select='if(key+").count(), 3, "{graph}");
    assert!(graph.contains("[s0]select="), "{graph}");
    assert_eq!(values(&args, "-r:v"), vec!["30"; 3]);
    // A source at the rungs' rate keeps every frame.
    let p = plan(&enabled(), &source(1920, 1080, 30.0, true));
    assert!(p.iter().all(|r| r.reduced_from.is_none()));
}

#[test]
fn a_disabled_ladder_plans_nothing() {
    assert!(plan(&Ladder::default(), &source(1920, 1080, 30.0, true)).is_empty());
    assert!(plan(&enabled(), &source(640, 360, 30.0, true)).is_empty());
    assert_eq!(
        ffmpeg_args(&[], &Encoder::X264, &IoSpec::default()),
        Err(LadderError::EmptyPlan)
    );
}

#[test]
fn outputs_must_match_the_plan() {
    let p = plan(&enabled(), &source(1920, 1080, 30.0, true));
    assert_eq!(
        ffmpeg_args(&p, &Encoder::X264, &IoSpec::new(["pipe:3"])),
        Err(LadderError::OutputCountMismatch {
            rungs: 3,
            outputs: 1
        })
    );
    let io = IoSpec::new(["pipe:3", "pipe:4", "file:/tmp/x.flv"]);
    let args = ffmpeg_args(&p, &Encoder::X264, &io).unwrap();
    assert_eq!(
        values(&args, "-protocol_whitelist"),
        vec!["pipe", "pipe", "pipe", "file"]
    );
    let io = IoSpec::new(["pipe:3", "pipe:1", "pipe:5"]);
    assert!(matches!(
        ffmpeg_args(&p, &Encoder::X264, &io),
        Err(LadderError::InvalidOutput { .. })
    ));
    let bad_device = Encoder::Vaapi {
        device: "/dev/dri/x,y".into(),
    };
    assert!(matches!(
        ffmpeg_args(&p, &bad_device, &sockets(&p)),
        Err(LadderError::InvalidDevice { .. })
    ));
}

#[test]
fn presets_are_checked_per_encoder() {
    let mut ladder = enabled();
    ladder.rungs[1].preset = Some("faster".into());
    assert_eq!(ladder.validate(), Ok(()));
    assert_eq!(ladder.validate_for(&Encoder::X264), Ok(()));
    assert_eq!(ladder.validate_for(&Encoder::Qsv), Ok(()));
    let nvenc_error = LadderError::PresetNotSupported {
        rung: "480p".into(),
        preset: "faster".into(),
        encoder: "h264_nvenc",
    };
    assert_eq!(
        ladder.validate_for(&Encoder::Nvenc),
        Err(nvenc_error.clone())
    );
    let p = plan(&ladder, &source(1920, 1080, 30.0, true));
    assert_eq!(
        ffmpeg_args(&p, &Encoder::Nvenc, &sockets(&p)),
        Err(nvenc_error)
    );
    let args = ffmpeg_args(&p, &Encoder::X264, &sockets(&p)).unwrap();
    assert_eq!(
        values(&args, "-preset"),
        vec!["veryfast", "faster", "veryfast"]
    );
    ladder.rungs[1].preset = Some("p9".into());
    assert!(matches!(
        ladder.validate(),
        Err(LadderError::UnknownPreset { .. })
    ));
}

#[test]
fn validation_errors() {
    assert_eq!(Ladder::default().validate(), Ok(()));
    assert_eq!(enabled().validate(), Ok(()));
    let with = |f: &dyn Fn(&mut Rung)| {
        let mut ladder = enabled();
        f(&mut ladder.rungs[0]);
        ladder.validate()
    };
    let named = |name: &str| Err(LadderError::InvalidName { name: name.into() });
    assert_eq!(with(&|r| r.name = String::new()), named(""));
    assert_eq!(with(&|r| r.name = "HD".into()), named("HD"));
    assert_eq!(with(&|r| r.name = "a b".into()), named("a b"));
    assert_eq!(with(&|r| r.name = "x".repeat(33)), named(&"x".repeat(33)));
    assert_eq!(with(&|r| r.name = "a_b-9".repeat(6)), Ok(()));
    assert_eq!(
        with(&|r| r.name = "source".into()),
        Err(LadderError::ReservedName {
            name: "source".into()
        })
    );
    assert_eq!(
        with(&|r| r.name = "480p".into()),
        Err(LadderError::DuplicateName {
            name: "480p".into()
        })
    );
    for height in [142, 145, 2162, 0] {
        assert_eq!(
            with(&|r| r.height = height),
            Err(LadderError::InvalidHeight {
                rung: "720p".into(),
                height
            })
        );
    }
    assert_eq!(with(&|r| r.height = 144), Ok(()));
    assert_eq!(with(&|r| r.height = 2160), Ok(()));
    assert!(matches!(
        with(&|r| r.video_bitrate_kbps = 99),
        Err(LadderError::VideoBitrateOutOfRange { kbps: 99, .. })
    ));
    assert!(matches!(
        with(&|r| r.audio_bitrate_kbps = 321),
        Err(LadderError::AudioBitrateOutOfRange { kbps: 321, .. })
    ));
    assert!(matches!(
        with(&|r| r.frame_rate = 0),
        Err(LadderError::FrameRateOutOfRange { fps: 0, .. })
    ));
    let mut ladder = enabled();
    ladder.rungs = (0..=MAX_RUNGS)
        .map(|i| Rung {
            name: format!("r{i}"),
            ..ladder.rungs[0].clone()
        })
        .collect();
    assert_eq!(
        ladder.validate(),
        Err(LadderError::TooManyRungs { count: 9, max: 8 })
    );
    ladder.rungs.clear();
    assert_eq!(ladder.validate(), Err(LadderError::NoRungs));
    ladder.enabled = false;
    assert_eq!(ladder.validate(), Ok(()));
}

#[test]
fn error_messages_name_the_limits() {
    let rung = || "720p".to_owned();
    let messages = [
        (
            LadderError::InvalidName { name: "HD".into() },
            "rung name \"HD\" is not 1 to 32 of a-z, 0-9, '_' and '-'",
        ),
        (
            LadderError::InvalidHeight {
                rung: rung(),
                height: 145,
            },
            "rung 720p: height 145 is not an even number in 144..=2160",
        ),
        (
            LadderError::VideoBitrateOutOfRange {
                rung: rung(),
                kbps: 99,
            },
            "rung 720p: video bitrate 99 kbit/s is outside 100..=50000",
        ),
        (
            LadderError::AudioBitrateOutOfRange {
                rung: rung(),
                kbps: 321,
            },
            "rung 720p: audio bitrate 321 kbit/s is outside 32..=320",
        ),
        (
            LadderError::FrameRateOutOfRange {
                rung: rung(),
                fps: 0,
            },
            "rung 720p: frame rate 0 is outside 1..=120",
        ),
    ];
    for (error, message) in messages {
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn serde_shape() {
    let ladder: Ladder = serde_json::from_str(r#"{"enabled": true}"#).unwrap();
    assert_eq!(ladder, enabled());
    let json = r#"{"rungs": [{"name": "240p", "height": 240, "video_bitrate_kbps": 400,
        "audio_bitrate_kbps": 64, "frame_rate": 15, "preset": "fast"}]}"#;
    let ladder: Ladder = serde_json::from_str(json).unwrap();
    assert!(!ladder.enabled);
    assert_eq!(ladder.rungs[0].preset.as_deref(), Some("fast"));
    let back: Ladder = serde_json::from_value(serde_json::to_value(&ladder).unwrap()).unwrap();
    assert_eq!(back, ladder);
    assert!(serde_json::from_str::<Ladder>(r#"{"enabled": true, "rung": []}"#).is_err());
    let unknown_rung_field = r#"{"rungs": [{"name": "a", "height": 240, "video_bitrate_kbps": 400,
        "audio_bitrate_kbps": 64, "frame_rate": 15, "crf": 20}]}"#;
    assert!(serde_json::from_str::<Ladder>(unknown_rung_field).is_err());
    let encoder: Encoder =
        serde_json::from_str(r#"{"vaapi": {"device": "/dev/dri/renderD129"}}"#).unwrap();
    assert_eq!(
        encoder,
        Encoder::Vaapi {
            device: "/dev/dri/renderD129".into()
        }
    );
    assert_eq!(
        serde_json::from_str::<Encoder>(r#""nvenc""#).unwrap(),
        Encoder::Nvenc
    );
}

#[test]
fn auto_pick_order() {
    let order = Encoder::preference_order("/dev/dri/renderD128");
    let names: Vec<_> = order.iter().map(Encoder::ffmpeg_name).collect();
    assert_eq!(names, ["h264_nvenc", "h264_qsv", "h264_vaapi", "libx264"]);
    let mut tried = Vec::new();
    let picked = Encoder::pick("/dev/dri/renderD128", |e| {
        tried.push(e.ffmpeg_name());
        matches!(e, Encoder::Vaapi { .. } | Encoder::X264)
    });
    assert!(matches!(picked, Some(Encoder::Vaapi { .. })));
    assert_eq!(tried, ["h264_nvenc", "h264_qsv", "h264_vaapi"]);
    assert_eq!(Encoder::pick("/dev/dri/renderD128", |_| false), None);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any valid-looking source gets even sizes below it, never above the rung's rate.
        #[test]
        fn plans_never_upscale(width in 2u32..8000, height in 2u32..4400, fps in 0.0f64..240.0) {
            let source = source(width, height, fps, true);
            for r in plan(&enabled(), &source) {
                prop_assert!(r.height < height);
                prop_assert!(r.width % 2 == 0 && r.width >= 2);
                prop_assert!(r.frame_rate <= 30.0 * 1.05);
                prop_assert!(r.frame_rate > 0.0);
            }
        }
    }
}
