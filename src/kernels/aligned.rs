//! Vectors of f32 that start at a cache line.

use std::ops::{Deref, DerefMut};

/// One 64-byte cache line of f32 values, aligned to a line.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([f32; 16]);

const _: () = assert!(size_of::<Line>() == 16 * size_of::<f32>() && align_of::<Line>() == 64);

/// A vector of f32 values whose first value starts a 64-byte cache line, read and written as a
/// slice. The trainer keeps the weights and their gradient in these while it trains: the
/// engine's column step (two threads writing the two column blocks of each kernel) can then cut
/// every row of a kernel at a line boundary, so that no line is written by both threads.
#[derive(Clone)]
pub struct LineAligned {
    lines: Vec<Line>,
    len: usize,
}

impl LineAligned {
    /// `len` zeros.
    pub fn zeros(len: usize) -> Self {
        LineAligned { lines: vec![Line([0.0; 16]); len.div_ceil(16)], len }
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[f32]) -> Self {
        let mut v = Self::zeros(values.len());
        v.copy_from_slice(values);
        v
    }
}

impl Deref for LineAligned {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` over [f32; 16] with no padding (its size is 16 values,
        // asserted above), so the lines are lines.len()·16 ≥ len initialised f32 values in a row,
        // aligned for f32; the borrow of `self` keeps them alive and unwritten.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }
}

impl DerefMut for LineAligned {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, with the exclusive borrow of `self` making the slice unique; any
        // f32 bit pattern is a valid value of a line.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

impl std::fmt::Debug for LineAligned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_a_line_and_holds_exactly_its_values() {
        for len in [0, 1, 15, 16, 17, 217_354] {
            let values: Vec<f32> = (0..len).map(|i| i as f32 * 0.5 - 3.0).collect();
            let mut v = LineAligned::from_slice(&values);
            assert_eq!(v.len(), len);
            assert_eq!(&v[..], &values[..]);
            assert_eq!(v.as_ptr() as usize % 64, 0, "{len} values");
            if len > 0 {
                v[len - 1] = 7.0;
                assert_eq!(v.clone()[len - 1], 7.0);
            }
            assert_eq!(LineAligned::zeros(len).iter().filter(|&&x| x == 0.0).count(), len);
        }
    }
}
