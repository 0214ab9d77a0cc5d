//! Categorical cross-entropy on a softmax output, fused with the softmax for the backward pass.

/// Loss and gradient for a slice of the batch.
///
/// `logits`, `probs`: (n, classes), the softmax's input and output; `labels`: (n) class indices.
/// The loss of a sample is −log softmax(z)\[label\], computed as logsumexp(z) − z\[label\] (what
/// TensorFlow computes for Keras's softmax + categorical_crossentropy, without clipping).
/// With `dlogits`, writes ∂L/∂z = (p − onehot(label))·`scale` (scale = 1 / batch size for a
/// batch mean). Returns (sum of per-sample losses, number of correct argmax predictions).
pub fn softmax_cross_entropy(
    dlogits: Option<&mut [f32]>,
    probs: &[f32],
    logits: &[f32],
    labels: &[u8],
    classes: usize,
    scale: f32,
) -> (f64, usize) {
    let n = labels.len();
    let mut loss = 0.0f64;
    let mut correct = 0usize;
    for i in 0..n {
        let z = &logits[i * classes..(i + 1) * classes];
        let p = &probs[i * classes..(i + 1) * classes];
        let label = labels[i] as usize;
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = max as f64 + z.iter().map(|&v| ((v - max) as f64).exp()).sum::<f64>().ln();
        loss += lse - z[label] as f64;
        if argmax(p) == label {
            correct += 1;
        }
    }
    if let Some(d) = dlogits {
        for i in 0..n {
            let label = labels[i] as usize;
            for (j, (d, &p)) in d[i * classes..(i + 1) * classes].iter_mut().zip(&probs[i * classes..]).enumerate() {
                *d = (p - if j == label { 1.0 } else { 0.0 }) * scale;
            }
        }
    }
    (loss, correct)
}

/// Index of the largest value, the first one on ties (numpy's and Keras's argmax).
pub fn argmax(xs: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::softmax::softmax_row;

    #[test]
    fn gradient_matches_finite_differences_of_the_loss() {
        let classes = 4;
        let logits = [0.3f32, -1.2, 2.0, 0.5, 1.0, 1.0, -0.5, 0.0];
        let labels = [2u8, 0];
        let probs_of = |z: &[f32]| {
            let mut p = vec![0.0; z.len()];
            for (p, z) in p.chunks_mut(classes).zip(z.chunks(classes)) {
                softmax_row(p, z);
            }
            p
        };
        let probs = probs_of(&logits);
        let mut d = vec![0.0; 8];
        let scale = 0.5;
        softmax_cross_entropy(Some(&mut d), &probs, &logits, &labels, classes, scale);
        let h = 1e-3;
        for i in 0..8 {
            let mut z = logits;
            z[i] += h;
            let (lp, _) = softmax_cross_entropy(None, &probs_of(&z), &z, &labels, classes, 1.0);
            z[i] -= 2.0 * h;
            let (lm, _) = softmax_cross_entropy(None, &probs_of(&z), &z, &labels, classes, 1.0);
            let fd = (lp - lm) / (2.0 * h as f64) * scale as f64;
            assert!((fd - d[i] as f64).abs() < 1e-4, "logit {i}: fd {fd} vs {}", d[i]);
        }
    }

    #[test]
    fn known_loss_and_accuracy() {
        // Uniform prediction over 10 classes: loss ln(10), argmax picks class 0.
        let z = [0.0f32; 10];
        let p = [0.1f32; 10];
        let (l, c) = softmax_cross_entropy(None, &p, &z, &[0], 10, 1.0);
        assert!((l - 10f64.ln()).abs() < 1e-9);
        assert_eq!(c, 1);
        // Huge logits do not overflow.
        let z = [1000.0f32, 0.0];
        let p = [1.0f32, 0.0];
        let (l, _) = softmax_cross_entropy(None, &p, &z, &[1], 2, 1.0);
        assert!((l - 1000.0).abs() < 1e-3);
    }
}
