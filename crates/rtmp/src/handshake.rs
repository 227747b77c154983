//! Server side of the handshake (RTMP 1.0 §5.2), plus the digest ("complex", Flash Player 9)
//! handshake that the 2012 spec does not describe but FFmpeg, librtmp and Flash clients send.
//!
//! Digest form: C1 carries a 32-byte HMAC-SHA256 digest at an offset derived from four bytes of
//! one of its two 764-byte halves (scheme 0: bytes 8..12, scheme 1: bytes 772..776), keyed with the
//! first 30 bytes of the "Genuine Adobe Flash Player 001" key. We answer with an S1 signed the same
//! way with the first 36 bytes of the "Genuine Adobe Flash Media Server 001" key, and an S2 whose
//! last 32 bytes are an HMAC keyed with HMAC(full server key, C1 digest). A C1 without a valid
//! digest gets the plain §5.2.3 answer: a random S1 and an S2 echoing C1.

use crate::RtmpError;
use bytes::{BufMut, BytesMut};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Length of C1, C2, S1 and S2 (§5.2.3).
pub const HANDSHAKE_SIZE: usize = 1536;
/// The only version this server speaks (§5.2.2).
pub const RTMP_VERSION: u8 = 3;
/// Length of an HMAC-SHA256 digest.
const DIGEST_LEN: usize = 32;

/// "Genuine Adobe Flash Player 001" followed by 32 constant bytes.
pub(crate) const CLIENT_KEY: [u8; 62] = *b"Genuine Adobe Flash Player 001\
\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";
/// "Genuine Adobe Flash Media Server 001" followed by the same 32 bytes.
pub(crate) const SERVER_KEY: [u8; 68] = *b"Genuine Adobe Flash Media Server 001\
\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";
/// C1 digests are keyed with the text part of the client key only.
pub(crate) const CLIENT_KEY_SIGNING_LEN: usize = 30;
/// S1 digests are keyed with the text part of the server key only.
pub(crate) const SERVER_KEY_SIGNING_LEN: usize = 36;
/// Version field of a digest S1, as FMS-compatible servers send a non-zero one.
const SERVER_VERSION: [u8; 4] = [0x0D, 0x0E, 0x0A, 0x0D];

/// Where the digest of a 1536-byte C1/S1 lies under `scheme` (0 or 1).
pub(crate) fn digest_offset(packet: &[u8], scheme: usize) -> usize {
    let base = if scheme == 0 { 8 } else { 772 };
    let sum: usize = packet[base..base + 4].iter().map(|&b| usize::from(b)).sum();
    base + 4 + sum % 728
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    let mut mac = hmac_with(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn hmac_with(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// The digest embedded in a digest-form C1, or `None` for a plain C1.
pub(crate) fn client_digest(c1: &[u8]) -> Option<(usize, [u8; DIGEST_LEN])> {
    // Plain clients leave the version field zero (§5.2.3: "Zero (4 bytes)").
    if c1[4..8] == [0; 4] {
        return None;
    }
    [0, 1].into_iter().find_map(|scheme| {
        let at = digest_offset(c1, scheme);
        let mut mac = hmac_with(&CLIENT_KEY[..CLIENT_KEY_SIGNING_LEN]);
        mac.update(&c1[..at]);
        mac.update(&c1[at + DIGEST_LEN..]);
        let digest: [u8; DIGEST_LEN] = c1[at..at + DIGEST_LEN].try_into().ok()?;
        // Constant-time comparison.
        mac.verify_slice(&digest).ok()?;
        Some((scheme, digest))
    })
}

/// Writes S0, S1 and S2 answering `c1`.
fn respond(c1: &[u8], out: &mut BytesMut) {
    let mut rng = rand::rng();
    let mut s1 = [0u8; HANDSHAKE_SIZE];
    rng.fill_bytes(&mut s1[8..]);
    // Time field zero (§5.2.3: "it may be 0").
    out.put_u8(RTMP_VERSION);
    match client_digest(c1) {
        Some((scheme, c1_digest)) => {
            s1[4..8].copy_from_slice(&SERVER_VERSION);
            let at = digest_offset(&s1, scheme);
            let digest = hmac_sha256(
                &SERVER_KEY[..SERVER_KEY_SIGNING_LEN],
                &[&s1[..at], &s1[at + DIGEST_LEN..]],
            );
            s1[at..at + DIGEST_LEN].copy_from_slice(&digest);
            out.put_slice(&s1);

            let mut s2 = [0u8; HANDSHAKE_SIZE];
            rng.fill_bytes(&mut s2[..HANDSHAKE_SIZE - DIGEST_LEN]);
            let key = hmac_sha256(&SERVER_KEY, &[&c1_digest]);
            let signature = hmac_sha256(&key, &[&s2[..HANDSHAKE_SIZE - DIGEST_LEN]]);
            s2[HANDSHAKE_SIZE - DIGEST_LEN..].copy_from_slice(&signature);
            out.put_slice(&s2);
        }
        None => {
            out.put_slice(&s1);
            // §5.2.3 S2 echoes C1; echoing it whole keeps clients that compare all of it happy.
            out.put_slice(c1);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for C0 and C1 (1 + 1536 bytes).
    C0C1,
    /// S0, S1, S2 sent; waiting for C2 (1536 bytes), whose content is not checked.
    C2,
    Done,
}

/// Handshake progress; input after C2 is left for the chunk reader.
#[derive(Debug)]
pub(crate) struct Handshake {
    stage: Stage,
    buf: Vec<u8>,
    /// Whether C1 carried a valid digest, for logs and tests.
    pub(crate) digest: bool,
}

impl Handshake {
    pub(crate) fn new() -> Self {
        Self {
            stage: Stage::C0C1,
            buf: Vec::with_capacity(1 + HANDSHAKE_SIZE),
            digest: false,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Consumes handshake bytes from `input`, writing S0+S1+S2 to `out` once C1 is complete.
    /// Returns true when the handshake has finished.
    pub(crate) fn handle(
        &mut self,
        input: &mut &[u8],
        out: &mut BytesMut,
    ) -> Result<bool, RtmpError> {
        loop {
            let needed = match self.stage {
                Stage::C0C1 => 1 + HANDSHAKE_SIZE,
                Stage::C2 => HANDSHAKE_SIZE,
                Stage::Done => return Ok(true),
            };
            if self.stage == Stage::C0C1 && self.buf.is_empty() {
                if let Some(&version) = input.first() {
                    // Fail on the first byte: 6/8 are RTMPE, >= 32 is likely not RTMP at all.
                    if version != RTMP_VERSION {
                        return Err(RtmpError::UnsupportedVersion { version });
                    }
                }
            }
            let take = (needed - self.buf.len()).min(input.len());
            self.buf.extend_from_slice(&input[..take]);
            *input = &input[take..];
            if self.buf.len() < needed {
                return Ok(false);
            }
            match self.stage {
                Stage::C0C1 => {
                    let c1 = &self.buf[1..];
                    self.digest = client_digest(c1).is_some();
                    respond(c1, out);
                    self.stage = Stage::C2;
                }
                Stage::C2 | Stage::Done => {
                    self.stage = Stage::Done;
                    self.buf = Vec::new();
                }
            }
            self.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_c1() -> Vec<u8> {
        let mut c1 = vec![0u8; HANDSHAKE_SIZE];
        c1[..4].copy_from_slice(&[0, 0, 0, 7]);
        for (i, b) in c1[8..].iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        c1
    }

    fn digest_c1(scheme: usize) -> Vec<u8> {
        let mut c1 = plain_c1();
        // FFmpeg's native client announces Flash Player version 9.0.124.2.
        c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
        let at = digest_offset(&c1, scheme);
        let digest = hmac_sha256(
            &CLIENT_KEY[..CLIENT_KEY_SIGNING_LEN],
            &[&c1[..at], &c1[at + DIGEST_LEN..]],
        );
        c1[at..at + DIGEST_LEN].copy_from_slice(&digest);
        c1
    }

    fn run(c1: &[u8]) -> (Handshake, BytesMut) {
        let mut hs = Handshake::new();
        let mut out = BytesMut::new();
        let mut c0c1 = vec![RTMP_VERSION];
        c0c1.extend_from_slice(c1);
        let mut input = &c0c1[..];
        assert!(!hs.handle(&mut input, &mut out).unwrap());
        assert!(input.is_empty());
        assert_eq!(out.len(), 1 + 2 * HANDSHAKE_SIZE);
        assert_eq!(out[0], RTMP_VERSION);
        (hs, out)
    }

    #[test]
    fn plain_handshake_echoes_c1_and_hands_over_trailing_bytes() {
        let c1 = plain_c1();
        let (mut hs, out) = run(&c1);
        assert!(!hs.digest);
        assert_eq!(&out[1..5], &[0, 0, 0, 0]);
        assert_eq!(&out[1 + HANDSHAKE_SIZE..], &c1[..]);
        let mut c2 = vec![0u8; HANDSHAKE_SIZE];
        c2.extend_from_slice(&[0x03, 0xAA]);
        let mut input = &c2[..];
        let mut more = BytesMut::new();
        assert!(hs.handle(&mut input, &mut more).unwrap());
        assert!(more.is_empty());
        assert_eq!(input, &[0x03, 0xAA]);
    }

    #[test]
    fn digest_handshake_signs_s1_and_s2_for_both_schemes() {
        for scheme in [0, 1] {
            let c1 = digest_c1(scheme);
            let (found_scheme, c1_digest) = client_digest(&c1).expect("valid digest");
            assert_eq!(found_scheme, scheme);
            let (hs, out) = run(&c1);
            assert!(hs.digest);
            let s1 = &out[1..1 + HANDSHAKE_SIZE];
            let s2 = &out[1 + HANDSHAKE_SIZE..];
            assert_ne!(&s1[4..8], &[0; 4]);
            // S1 digest, as FFmpeg's client validates it (it tries both schemes).
            let at = digest_offset(s1, scheme);
            let expected = hmac_sha256(
                &SERVER_KEY[..SERVER_KEY_SIGNING_LEN],
                &[&s1[..at], &s1[at + DIGEST_LEN..]],
            );
            assert_eq!(&s1[at..at + DIGEST_LEN], &expected);
            // S2 signature keyed by the C1 digest.
            let key = hmac_sha256(&SERVER_KEY, &[&c1_digest]);
            let sig = hmac_sha256(&key, &[&s2[..HANDSHAKE_SIZE - DIGEST_LEN]]);
            assert_eq!(&s2[HANDSHAKE_SIZE - DIGEST_LEN..], &sig);
        }
    }

    #[test]
    fn tampered_digest_falls_back_to_plain() {
        let mut c1 = digest_c1(0);
        let at = digest_offset(&c1, 0);
        c1[at] ^= 1;
        assert!(client_digest(&c1).is_none());
        let (hs, out) = run(&c1);
        assert!(!hs.digest);
        assert_eq!(&out[1 + HANDSHAKE_SIZE..], &c1[..]);
    }

    #[test]
    fn byte_at_a_time() {
        let mut stream = vec![RTMP_VERSION];
        stream.extend_from_slice(&digest_c1(1));
        stream.extend_from_slice(&[0x55; HANDSHAKE_SIZE]);
        let mut hs = Handshake::new();
        let mut out = BytesMut::new();
        for (i, b) in stream.iter().enumerate() {
            let mut input = std::slice::from_ref(b);
            let done = hs.handle(&mut input, &mut out).unwrap();
            assert_eq!(done, i == stream.len() - 1);
            assert_eq!(
                out.len(),
                if i >= HANDSHAKE_SIZE {
                    1 + 2 * HANDSHAKE_SIZE
                } else {
                    0
                }
            );
        }
        assert!(hs.digest);
        assert!(hs.is_done());
    }

    #[test]
    fn wrong_version_fails_on_the_first_byte() {
        for version in [0u8, 6, 8, b'G'] {
            let mut hs = Handshake::new();
            let mut input = &[version][..];
            assert!(matches!(
                hs.handle(&mut input, &mut BytesMut::new()),
                Err(RtmpError::UnsupportedVersion { version: v }) if v == version
            ));
        }
    }
}
