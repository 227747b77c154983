//! End-to-end tests through the real binary with real peers (ffmpeg, ffprobe, GStreamer).
//! One test binary for the crate keeps link time down.
#![allow(missing_docs, clippy::print_stdout, clippy::print_stderr)]

mod accounts;
mod api;
mod browser;
mod channel_ladder;
mod chat;
mod chat_client;
mod chat_modes;
mod harness;
mod ladder;
mod lowlatency;
mod playback;
mod publish;
mod resilience;
mod studio;
mod vod;
mod vod_api;
mod vod_ops;
mod vod_s3;
mod webapp;
