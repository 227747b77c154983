//! Box writing helpers over a growable buffer, for the init segment.

use bytes::{BufMut, BytesMut};

/// Writes nested boxes, patching each box's size when it is closed.
pub(crate) struct BoxWriter {
    pub(crate) buf: BytesMut,
    open: Vec<usize>,
}

impl BoxWriter {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(capacity),
            open: Vec::new(),
        }
    }

    /// Opens a box: a size placeholder and the four-character type.
    pub(crate) fn open(&mut self, kind: &[u8; 4]) {
        self.open.push(self.buf.len());
        self.buf.put_u32(0);
        self.buf.put_slice(kind);
    }

    /// Opens a full box: a box header, then version and 24-bit flags.
    pub(crate) fn open_full(&mut self, kind: &[u8; 4], version: u8, flags: u32) {
        self.open(kind);
        self.buf
            .put_u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
    }

    /// Closes the innermost open box, writing its size. Sizes of the init segment's boxes are
    /// bounded by the callers' input checks, far below `u32::MAX`.
    pub(crate) fn close(&mut self) {
        if let Some(start) = self.open.pop() {
            let size = (self.buf.len() - start) as u32;
            if let Some(field) = self.buf.get_mut(start..start + 4) {
                field.copy_from_slice(&size.to_be_bytes());
            }
        }
    }

    pub(crate) fn finish(self) -> BytesMut {
        debug_assert!(self.open.is_empty(), "unclosed boxes");
        self.buf
    }
}

/// The unity transformation matrix of `mvhd` and `tkhd` (ISO/IEC 14496-12 §8.2.2.3).
pub(crate) const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];
