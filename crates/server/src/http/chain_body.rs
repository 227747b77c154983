//! An HTTP body over a [`ByteChain`]: a segment is sent as the frames it references, never copied
//! into one buffer. The exact size hint keeps `Content-Length` on every response.

use bytes::Bytes;
use ferrocast_media::ByteChain;
use http_body::{Body, Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The parts of a chain (or a byte range of it), yielded one frame each.
pub struct ChainBody {
    parts: std::vec::IntoIter<Bytes>,
    remaining: u64,
}

impl ChainBody {
    /// The whole chain.
    pub fn new(chain: &ByteChain) -> Self {
        Self::from_parts(chain.parts().to_vec())
    }

    /// Already-sliced parts (a byte range).
    pub fn from_parts(parts: Vec<Bytes>) -> Self {
        let remaining = parts.iter().map(|p| p.len() as u64).sum();
        Self {
            parts: parts.into_iter(),
            remaining,
        }
    }
}

impl Body for ChainBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.parts.next();
        if let Some(part) = &next {
            self.remaining -= part.len() as u64;
        }
        Poll::Ready(next.map(|p| Ok(Frame::data(p))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
