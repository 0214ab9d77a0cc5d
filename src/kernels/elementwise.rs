//! Element-wise loops of the engine and the layers (activations, masks, sums), compiled per
//! instruction-set [`Level`].
//!
//! Each function runs with [`Level::current`]; its `*_at` twin takes the level, which the tests
//! use to run every level the processor supports against the plain scalar loop.

use super::simd::{multiversion, Level};
use crate::activations::Activation;

/// out = f(inp), element-wise ([`Activation::forward_slice`], vectorised for the level in force).
pub fn activation_forward(act: Activation, out: &mut [f32], inp: &[f32]) {
    activation_forward_at(Level::current(), act, out, inp)
}

multiversion! {
    /// [`activation_forward`] compiled for `level`.
    pub fn activation_forward_at(act: Activation, out: &mut [f32], inp: &[f32]) {
        act.forward_slice(out, inp)
    }
}

/// dinp = dout · f'(inp), element-wise ([`Activation::backward_slice`], vectorised for the level
/// in force).
pub fn activation_backward(act: Activation, dinp: &mut [f32], dout: &[f32], inp: &[f32], out: &[f32]) {
    activation_backward_at(Level::current(), act, dinp, dout, inp, out)
}

multiversion! {
    /// [`activation_backward`] compiled for `level`.
    pub fn activation_backward_at(act: Activation, dinp: &mut [f32], dout: &[f32], inp: &[f32], out: &[f32]) {
        act.backward_slice(dinp, dout, inp, out)
    }
}

/// out = x · m, element-wise, over the shortest of the three.
pub fn mul(out: &mut [f32], x: &[f32], m: &[f32]) {
    mul_at(Level::current(), out, x, m)
}

multiversion! {
    /// [`mul`] compiled for `level`.
    pub fn mul_at(out: &mut [f32], x: &[f32], m: &[f32]) {
        for ((y, &x), &m) in out.iter_mut().zip(x).zip(m) {
            *y = x * m;
        }
    }
}

/// dst += src, element-wise, over the shorter of the two.
pub fn add_assign(dst: &mut [f32], src: &[f32]) {
    add_assign_at(Level::current(), dst, src)
}

multiversion! {
    /// [`add_assign`] compiled for `level`.
    pub fn add_assign_at(dst: &mut [f32], src: &[f32]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d += s;
        }
    }
}

/// dst = src / 255 (bytes to [0, 1], as `f32::from(b) / 255.0`), over the shorter of the two.
pub fn bytes_to_unit(dst: &mut [f32], src: &[u8]) {
    bytes_to_unit_at(Level::current(), dst, src)
}

multiversion! {
    /// [`bytes_to_unit`] compiled for `level`: eight (AVX2) or sixteen (AVX-512) divisions at
    /// once, each correctly rounded, so the bits of the scalar division.
    pub fn bytes_to_unit_at(dst: &mut [f32], src: &[u8]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = f32::from(s) / 255.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn data(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::from_seed(seed);
        (0..n).map(|_| 8.0 * rng.uniform_f32() - 6.0).collect()
    }

    fn activations() -> Vec<Activation> {
        let mut all = Activation::ALL.to_vec();
        all.push(Activation::Celu { alpha: 0.5 });
        all
    }

    #[test]
    fn every_level_gives_the_scalar_loops_bits() {
        // Odd lengths leave a remainder after every vector width.
        for n in [0, 1, 7, 15, 17, 33, 1001] {
            let (x, dy) = (data(n, 1), data(n, 2));
            for act in activations() {
                let y_ref: Vec<f32> = x.iter().map(|&v| act.value(v)).collect();
                let dx_ref: Vec<f32> =
                    x.iter().zip(&y_ref).zip(&dy).map(|((&v, &y), &d)| d * act.derivative(v, y)).collect();
                for level in Level::supported() {
                    let mut y = vec![f32::NAN; n];
                    activation_forward_at(level, act, &mut y, &x);
                    assert_eq!(
                        y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        y_ref.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        "{act:?} forward at {level}, n = {n}"
                    );
                    if act.derivative_from_output() {
                        // From the output alone, as a layer keeping only its output takes it.
                        let mut dx = vec![f32::NAN; n];
                        activation_backward_at(level, act, &mut dx, &dy, &y, &y);
                        assert!(
                            dx.iter().zip(&dx_ref).all(|(a, b)| a.to_bits() == b.to_bits()),
                            "{act:?} backward from the output at {level}"
                        );
                    }
                    let mut dx = vec![f32::NAN; n];
                    activation_backward_at(level, act, &mut dx, &dy, &x, &y);
                    assert_eq!(
                        dx.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        dx_ref.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        "{act:?} backward at {level}, n = {n}"
                    );
                }
            }
            for level in Level::supported() {
                let mut out = vec![f32::NAN; n];
                mul_at(level, &mut out, &x, &dy);
                assert!(
                    out.iter().zip(x.iter().zip(&dy)).all(|(o, (a, b))| o.to_bits() == (a * b).to_bits()),
                    "mul at {level}"
                );
                let bytes: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).chain([0, 1, 254, 255]).collect();
                let mut unit = vec![f32::NAN; bytes.len()];
                bytes_to_unit_at(level, &mut unit, &bytes);
                assert!(
                    unit.iter().zip(&bytes).all(|(u, &b)| u.to_bits() == (f32::from(b) / 255.0).to_bits()),
                    "bytes at {level}"
                );
                let mut acc = x.clone();
                add_assign_at(level, &mut acc, &dy);
                assert!(
                    acc.iter().zip(x.iter().zip(&dy)).all(|(o, (a, b))| o.to_bits() == (a + b).to_bits()),
                    "add at {level}"
                );
            }
        }
    }
}
