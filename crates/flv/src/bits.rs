//! A bounds-checked MSB-first bit reader with Exp-Golomb codes (ITU-T H.264 §7.2, §9.1).

/// Reading ran past the end of the data, or a code was longer than 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BitError {
    /// No more bits.
    Eof,
    /// An Exp-Golomb code with more leading zeros than a `u32` can hold.
    CodeTooLong,
}

impl BitError {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Eof => "ends early",
            Self::CodeTooLong => "Exp-Golomb code longer than 32 bits",
        }
    }
}

pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn bit(&mut self) -> Result<bool, BitError> {
        let byte = self.data.get(self.pos / 8).ok_or(BitError::Eof)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Reads `n` (at most 32) bits as an unsigned big-endian number.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, BitError> {
        debug_assert!(n <= 32);
        let mut v: u64 = 0;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        // At most 32 bits were shifted in.
        Ok(v as u32)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), BitError> {
        let end = self.pos.checked_add(n).ok_or(BitError::Eof)?;
        if end > self.data.len().saturating_mul(8) {
            return Err(BitError::Eof);
        }
        self.pos = end;
        Ok(())
    }

    /// ue(v): unsigned Exp-Golomb.
    pub(crate) fn ue(&mut self) -> Result<u32, BitError> {
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(BitError::CodeTooLong);
            }
        }
        let rest = u64::from(self.bits(zeros)?);
        let v = (1u64 << zeros) - 1 + rest;
        u32::try_from(v).map_err(|_| BitError::CodeTooLong)
    }

    /// se(v): signed Exp-Golomb.
    pub(crate) fn se(&mut self) -> Result<i32, BitError> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(v).map_err(|_| BitError::CodeTooLong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_table() {
        // 1 | 010 | 011 | 00100 | 00101 -> ue 0,1,2,3,4
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0010, 0b1000_0000]);
        assert_eq!(r.ue(), Ok(0));
        assert_eq!(r.ue(), Ok(1));
        assert_eq!(r.ue(), Ok(2));
        assert_eq!(r.ue(), Ok(3));
        assert_eq!(r.ue(), Ok(4));
        // se: 010 -> 1, 011 -> -1, 00100 -> 2
        let mut r = BitReader::new(&[0b0100_1100, 0b1000_0000]);
        assert_eq!(r.se(), Ok(1));
        assert_eq!(r.se(), Ok(-1));
        assert_eq!(r.se(), Ok(2));
    }

    #[test]
    fn longest_codes() {
        // 31 zeros, a one, 31 ones: 2^32 - 2, the largest ue a u32 holds.
        let mut data = vec![0u8, 0, 0, 1];
        data.extend([0xff; 4]);
        let mut r = BitReader::new(&data);
        assert_eq!(r.ue(), Ok(u32::MAX - 1));
        // 32 zeros is too long.
        let mut r = BitReader::new(&[0, 0, 0, 0, 0xff]);
        assert_eq!(r.ue(), Err(BitError::CodeTooLong));
        let mut r = BitReader::new(&[0, 0]);
        assert_eq!(r.ue(), Err(BitError::Eof));
    }

    #[test]
    fn skip_is_bounded() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.skip(8), Ok(()));
        assert_eq!(r.skip(1), Err(BitError::Eof));
        assert_eq!(r.skip(usize::MAX), Err(BitError::Eof));
        assert_eq!(r.bits(1), Err(BitError::Eof));
    }
}
