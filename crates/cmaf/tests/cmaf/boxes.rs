//! A test-only box walker and the fixtures' configurations.

use bytes::Bytes;
use ferrocast_flv::{FlvReader, TagDemuxer};
use ferrocast_media::{AudioConfig, Frame, MediaEvent, VideoConfig};

// ---------------------------------------------------------------------------------------------
// A test-only box walker.

/// A parsed box: its type, its payload (after the header) and, for containers, its children.
#[derive(Debug)]
pub(crate) struct Mp4Box<'a> {
    pub(crate) kind: [u8; 4],
    /// Offset of the box header in the walked buffer.
    pub(crate) offset: usize,
    pub(crate) payload: &'a [u8],
    pub(crate) children: Vec<Mp4Box<'a>>,
}

impl<'a> Mp4Box<'a> {
    pub(crate) fn kind(&self) -> &str {
        std::str::from_utf8(&self.kind).unwrap()
    }
    pub(crate) fn child(&self, kind: &str) -> &Mp4Box<'a> {
        self.children
            .iter()
            .find(|b| b.kind() == kind)
            .unwrap_or_else(|| panic!("no {kind} in {}", self.kind()))
    }
    pub(crate) fn children_named(&self, kind: &str) -> Vec<&Mp4Box<'a>> {
        self.children.iter().filter(|b| b.kind() == kind).collect()
    }
    pub(crate) fn path(&self, path: &str) -> &Mp4Box<'a> {
        path.split('/').fold(self, |b, k| b.child(k))
    }
    pub(crate) fn child_kinds(&self) -> Vec<&str> {
        self.children.iter().map(Mp4Box::kind).collect()
    }
    pub(crate) fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }
    pub(crate) fn u16_at(&self, at: usize) -> u16 {
        u16::from_be_bytes(self.payload[at..at + 2].try_into().unwrap())
    }
    pub(crate) fn u64_at(&self, at: usize) -> u64 {
        u64::from_be_bytes(self.payload[at..at + 8].try_into().unwrap())
    }
    /// Version and flags of a full box.
    pub(crate) fn version_flags(&self) -> (u8, u32) {
        let v = self.u32_at(0);
        ((v >> 24) as u8, v & 0x00ff_ffff)
    }
}

/// Bytes before a container's children: none for plain containers, the fields of sample entries
/// and of full boxes that hold boxes.
pub(crate) fn children_start(kind: &[u8; 4]) -> Option<usize> {
    match kind {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"dinf" | b"stbl" | b"mvex" | b"moof" | b"traf" => {
            Some(0)
        }
        b"stsd" | b"dref" => Some(8),
        b"avc1" => Some(78),
        b"mp4a" => Some(28),
        _ => None,
    }
}

pub(crate) fn walk(data: &[u8], base: usize) -> Vec<Mp4Box<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        assert!(
            data.len() - pos >= 8,
            "truncated box header at {}",
            base + pos
        );
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().unwrap();
        assert!(
            size >= 8 && pos + size <= data.len(),
            "bad size {size} at {}",
            base + pos
        );
        let payload = &data[pos + 8..pos + size];
        let children = match children_start(&kind) {
            Some(skip) => walk(&payload[skip..], base + pos + 8 + skip),
            None => Vec::new(),
        };
        out.push(Mp4Box {
            kind,
            offset: base + pos,
            payload,
            children,
        });
        pos += size;
    }
    out
}

/// A parsed trun: per-sample (duration, size, flags, composition offset) and the data offset.
pub(crate) fn read_trun(trun: &Mp4Box<'_>) -> (i32, Vec<(u32, u32, u32, i32)>) {
    let (version, flags) = trun.version_flags();
    assert_eq!(version, 1);
    assert_eq!(
        flags & 0xf01 & !0x800,
        0x701,
        "data offset, duration, size and flags present"
    );
    let count = trun.u32_at(4) as usize;
    let data_offset = trun.u32_at(8) as i32;
    let with_cto = flags & 0x800 != 0;
    let per = if with_cto { 16 } else { 12 };
    assert_eq!(trun.payload.len(), 12 + count * per);
    let samples = (0..count)
        .map(|i| {
            let at = 12 + i * per;
            let cto = if with_cto {
                trun.u32_at(at + 12) as i32
            } else {
                0
            };
            (
                trun.u32_at(at),
                trun.u32_at(at + 4),
                trun.u32_at(at + 8),
                cto,
            )
        })
        .collect();
    (data_offset, samples)
}

// ---------------------------------------------------------------------------------------------
// Configurations from the fixtures.

pub(crate) fn fixture(name: &str) -> Bytes {
    let path = format!("{}/../../testdata/flv/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .into()
}

pub(crate) struct Demuxed {
    pub(crate) video: Option<VideoConfig>,
    pub(crate) audio: Option<AudioConfig>,
    pub(crate) frames: Vec<Frame>,
}

pub(crate) fn demux(name: &str) -> Demuxed {
    let mut d = Demuxed {
        video: None,
        audio: None,
        frames: Vec::new(),
    };
    let mut demuxer = TagDemuxer::new();
    for tag in FlvReader::new(fixture(name)).unwrap() {
        match demuxer.tag(&tag.unwrap()).unwrap() {
            Some(MediaEvent::VideoConfig(c)) => d.video = Some(c),
            Some(MediaEvent::AudioConfig(c)) => d.audio = Some(c),
            Some(MediaEvent::Frame(f)) => d.frames.push(f),
            _ => {}
        }
    }
    d
}

pub(crate) fn brands(ftyp: &Mp4Box<'_>) -> Vec<String> {
    ftyp.payload
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}
