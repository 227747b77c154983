//! The renditions as the studio's health view shows them.

use super::{variant, Output};

/// A rendition's state for the studio.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RenditionState {
    /// Rendition name.
    pub name: String,
    /// Picture width, once a segment exists.
    pub width: Option<u32>,
    /// Picture height, once a segment exists.
    pub height: Option<u32>,
    /// Peak bits per second as the multivariant playlist states it.
    pub bandwidth: Option<u64>,
    /// Frames per second.
    pub frame_rate: Option<f64>,
    /// `starting` (no segment yet), `live` or `ended`.
    pub state: &'static str,
}

impl Output {
    /// Every rendition as the studio's health view shows it, the source first.
    pub fn rendition_states(&self) -> Vec<RenditionState> {
        let source = self.source.clone();
        std::iter::once(source)
            .chain(self.rungs())
            .map(|r| {
                let w = r.read();
                let frame_rate = w.frame_rate.or(w.rung.map(|i| i.frame_rate));
                let v = variant(&w.window, frame_rate, w.rung, &r.name);
                RenditionState {
                    name: r.name.clone(),
                    width: v.as_ref().and_then(|v| v.resolution).map(|(w, _)| w),
                    height: v.as_ref().and_then(|v| v.resolution).map(|(_, h)| h),
                    bandwidth: v.as_ref().map(|v| v.bandwidth),
                    frame_rate,
                    state: if w.window.is_ended() {
                        "ended"
                    } else if v.is_none() {
                        "starting"
                    } else {
                        "live"
                    },
                }
            })
            .collect()
    }
}
