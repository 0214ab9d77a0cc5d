//! Seeded, portable random numbers: one independent stream per purpose, derived from `--seed`.
//!
//! The generator is xoshiro256++ seeded through SplitMix64. It is written out here (a few lines)
//! so that the numbers a seed produces never change with a dependency's version. Streams are
//! keyed by `(seed, purpose, index...)`: dropout for sample `i` of step `t` draws from its own
//! stream, so results do not depend on how a batch is split across threads, and a resumed run
//! needs only the epoch and step counters to continue exactly.

/// The purposes that get their own stream; adding one never shifts the numbers of another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    Init = 1,
    Shuffle = 2,
    Dropout = 3,
    Test = 4,
    /// The sample of training images diagnostics measure.
    Diagnostics = 5,
}

/// SplitMix64 finaliser: a strong 64-bit mixing function.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 32-bit bijective integer hash (Wellons' "lowbias32"): a counter-based source of random
/// bits that vectorises, used where each element needs one independent draw (dropout masks).
#[inline(always)]
pub fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^= x >> 16;
    x
}

/// xoshiro256++ (Blackman & Vigna), 256 bits of state.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator seeded from one 64-bit value (expanded by SplitMix64).
    pub fn from_seed(seed: u64) -> Self {
        let mut x = seed;
        let mut s = [0u64; 4];
        for w in &mut s {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            *w = mix64(x);
        }
        Rng { s }
    }

    /// The stream for `purpose` under `seed`, further keyed by `keys` (epoch, step, sample...).
    pub fn stream(seed: u64, purpose: Stream, keys: &[u64]) -> Self {
        let mut h = mix64(seed ^ mix64(purpose as u64));
        for &k in keys {
            h = mix64(h ^ mix64(k.wrapping_add(0x632B_E59B_D9B4_E019)));
        }
        Rng::from_seed(h)
    }

    /// Two 32-bit keys for counter-based draws: element j's bits are
    /// `hash32(hash32(j ^ k0).wrapping_add(k1))`.
    pub fn key32(seed: u64, purpose: Stream, keys: &[u64]) -> (u32, u32) {
        let k = Rng::stream(seed, purpose, keys).next_u64();
        (k as u32, (k >> 32) as u32)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, 1) as f32 with 24 random bits.
    pub fn uniform_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Uniform integer in [0, n), without modulo bias (Lemire's method).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        let n = n as u64;
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            let lo = m as u64;
            if lo >= n.wrapping_neg() % n {
                return (m >> 64) as usize;
            }
        }
    }

    /// Standard normal by the Box–Muller transform (one value per call).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Fisher–Yates shuffle in place.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_and_streams_differ() {
        let a: Vec<u64> = (0..5).scan(Rng::from_seed(7), |r, _| Some(r.next_u64())).collect();
        let b: Vec<u64> = (0..5).scan(Rng::from_seed(7), |r, _| Some(r.next_u64())).collect();
        assert_eq!(a, b);
        let mut s1 = Rng::stream(7, Stream::Init, &[]);
        let mut s2 = Rng::stream(7, Stream::Shuffle, &[]);
        assert_ne!(s1.next_u64(), s2.next_u64());
        let mut k1 = Rng::stream(7, Stream::Dropout, &[0, 1]);
        let mut k2 = Rng::stream(7, Stream::Dropout, &[1, 0]);
        assert_ne!(k1.next_u64(), k2.next_u64());
    }

    #[test]
    fn uniform_and_normal_moments() {
        let mut r = Rng::from_seed(1);
        let n = 200_000;
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let x = r.normal();
            s += x;
            s2 += x * x;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
        let u: f64 = (0..n).map(|_| r.uniform()).sum::<f64>() / n as f64;
        assert!((u - 0.5).abs() < 0.005, "uniform mean {u}");
    }

    #[test]
    fn hash32_bits_are_balanced() {
        let (k0, k1) = Rng::key32(1, Stream::Dropout, &[0, 0, 0]);
        let n = 1 << 16;
        let mut ones = [0u32; 32];
        for j in 0..n {
            let h = hash32(hash32(j ^ k0).wrapping_add(k1));
            for (b, o) in ones.iter_mut().enumerate() {
                *o += (h >> b) & 1;
            }
        }
        for o in ones {
            let f = o as f64 / n as f64;
            assert!((f - 0.5).abs() < 0.01, "bit frequency {f}");
        }
    }

    #[test]
    fn below_is_in_range_and_shuffle_is_a_permutation() {
        let mut r = Rng::from_seed(3);
        for n in [1usize, 2, 3, 10, 1000] {
            for _ in 0..100 {
                assert!(r.below(n) < n);
            }
        }
        let mut v: Vec<usize> = (0..100).collect();
        r.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(v, sorted);
    }
}
