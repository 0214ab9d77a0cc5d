//! Fixed-width vectors of f32 for the hand-blocked kernels: arrays of [`LANES`] values that the
//! compiler keeps in vector registers, with loads and stores that are single vector moves
//! when a block is whole.

/// Values per vector (one AVX-512 register of f32).
pub const LANES: usize = 16;

/// Up to [`LANES`] channels of one value; the tile transforms work on whole vectors of these,
/// which the compiler keeps in vector registers.
pub type Lanes = [f32; LANES];

/// src[..LANES] as a vector: a fixed-size load (src must hold at least LANES values).
#[inline(always)]
pub fn whole(src: &[f32]) -> Lanes {
    let mut a = [0.0; LANES];
    a.copy_from_slice(&src[..LANES]);
    a
}

/// src[..cw], zero-padded to a full vector; a whole block is a fixed-size load.
#[inline(always)]
pub fn load(src: &[f32], cw: usize) -> Lanes {
    if cw == LANES {
        whole(src)
    } else {
        let mut a = [0.0; LANES];
        a[..cw].copy_from_slice(&src[..cw]);
        a
    }
}

/// dst[..cw] ← v[..cw]; a whole block is a fixed-size store.
#[inline(always)]
pub fn store(dst: &mut [f32], v: &Lanes, cw: usize) {
    if cw == LANES {
        dst[..LANES].copy_from_slice(v);
    } else {
        dst[..cw].copy_from_slice(&v[..cw]);
    }
}

/// dst[..cw] += v[..cw].
#[inline(always)]
pub fn add_to(dst: &mut [f32], v: &Lanes, cw: usize) {
    if cw == LANES {
        for (d, x) in dst[..LANES].iter_mut().zip(v) {
            *d += x;
        }
    } else {
        for (d, x) in dst[..cw].iter_mut().zip(v) {
            *d += x;
        }
    }
}

#[inline(always)]
pub fn add(a: Lanes, b: Lanes) -> Lanes {
    std::array::from_fn(|l| a[l] + b[l])
}

#[inline(always)]
pub fn sub(a: Lanes, b: Lanes) -> Lanes {
    std::array::from_fn(|l| a[l] - b[l])
}

#[inline(always)]
pub fn neg(a: Lanes) -> Lanes {
    std::array::from_fn(|l| -a[l])
}

/// The element-wise maximum of four vectors, and the index of the first vector that holds it
/// (as f32). Written as whole-vector selects so that it compiles to vector compares and blends.
#[inline(always)]
pub fn max_and_position(ys: &[Lanes; 4]) -> (Lanes, Lanes) {
    let (mut best, mut pos) = (ys[0], [0.0f32; LANES]);
    for (q, yq) in ys.iter().enumerate().skip(1) {
        let more: [bool; LANES] = std::array::from_fn(|l| yq[l] > best[l]);
        pos = std::array::from_fn(|l| if more[l] { q as f32 } else { pos[l] });
        best = std::array::from_fn(|l| if more[l] { yq[l] } else { best[l] });
    }
    (best, pos)
}
