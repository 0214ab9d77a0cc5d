//! Evaluation of a trained model on a labelled set: loss and accuracy (the numbers training
//! reports), per-class precision, recall and F1, and the confusion matrix.

use serde::Serialize;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::loss::argmax;
use crate::model::{Engine, Sequential};

/// The results of [`evaluate`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    pub samples: usize,
    /// Mean categorical cross-entropy, computed as training computes its test loss.
    pub loss: f64,
    pub accuracy: f64,
    /// `confusion[t][p]`: samples of class `t` predicted as `p`.
    pub confusion: Vec<Vec<usize>>,
}

/// Precision, recall and F1 of one class (0 where undefined: no prediction or no sample).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassMetrics {
    pub class: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Samples of this class.
    pub support: usize,
}

/// Evaluates `params` on `data` in batches of `batch_size` (the run's own batch size repeats
/// its test loss and accuracy bitwise). Call it inside the thread pool that should run it.
///
/// Loss and accuracy come from [`crate::train::evaluate`], the function training uses; the
/// confusion matrix from [`Engine::infer`] on the same batches, which computes the same
/// probabilities, so its diagonal holds exactly the correct predictions.
pub fn evaluate(model: &Sequential, params: &[f32], data: &Dataset, batch_size: usize) -> Result<Evaluation> {
    let classes = model.output_shape().len();
    model.check_trainable(classes)?;
    if let Some(&bad) = data.labels().iter().find(|&&l| l as usize >= classes) {
        return Err(Error::DataMismatch { msg: format!("a label is {bad} but the model has {classes} classes") });
    }
    if data.image_len() != model.input_shape().len() {
        let s = model.input_shape();
        return Err(Error::DataMismatch {
            msg: format!(
                "the images are {}x{}x1 but the model takes {}x{}x{}",
                data.rows(),
                data.cols(),
                s.h,
                s.w,
                s.c
            ),
        });
    }
    let batch_size = batch_size.max(1);
    let mut engine = Engine::new(model, batch_size, false);
    let (loss, accuracy) = crate::train::evaluate(&mut engine, model, params, data);
    let mut confusion = vec![vec![0usize; classes]; classes];
    let mut x = vec![0.0; batch_size * data.image_len()];
    let mut y = vec![0u8; batch_size];
    let ids: Vec<usize> = (0..data.len()).collect();
    for idx in ids.chunks(batch_size) {
        data.fill_batch(idx, &mut x, &mut y);
        let probs = engine.infer(model, params, &x[..idx.len() * data.image_len()])?;
        for (p, &label) in probs.chunks_exact(classes).zip(&y) {
            confusion[label as usize][argmax(p)] += 1;
        }
    }
    Ok(Evaluation { samples: data.len(), loss, accuracy, confusion })
}

impl Evaluation {
    /// Per-class precision, recall, F1 and support.
    pub fn per_class(&self) -> Vec<ClassMetrics> {
        let k = self.confusion.len();
        (0..k)
            .map(|c| {
                let tp = self.confusion[c][c] as f64;
                let support: usize = self.confusion[c].iter().sum();
                let predicted: usize = self.confusion.iter().map(|row| row[c]).sum();
                let ratio = |a: f64, b: usize| if b == 0 { 0.0 } else { a / b as f64 };
                let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
                let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
                ClassMetrics { class: c, precision, recall, f1, support }
            })
            .collect()
    }

    /// Correct predictions (the confusion matrix's diagonal).
    pub fn correct(&self) -> usize {
        (0..self.confusion.len()).map(|c| self.confusion[c][c]).sum()
    }

    /// `per_class.csv`: `class,precision,recall,f1,support`.
    pub fn per_class_csv(&self) -> String {
        let mut s = String::from("class,precision,recall,f1,support\n");
        for m in self.per_class() {
            s.push_str(&format!("{},{},{},{},{}\n", m.class, m.precision, m.recall, m.f1, m.support));
        }
        s
    }

    /// `confusion.csv`: one row per true class (`label` column), one column per predicted class.
    pub fn confusion_csv(&self) -> String {
        let k = self.confusion.len();
        let mut s = String::from("label");
        (0..k).for_each(|c| s.push_str(&format!(",{c}")));
        s.push('\n');
        for (t, row) in self.confusion.iter().enumerate() {
            s.push_str(&t.to_string());
            row.iter().for_each(|n| s.push_str(&format!(",{n}")));
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_class_metrics_follow_the_confusion_matrix() {
        // Class 0: 3 samples, 2 right, 1 called 1; class 1: 1 sample, right; class 2: none,
        // never predicted.
        let e = Evaluation {
            samples: 4,
            loss: 0.0,
            accuracy: 0.75,
            confusion: vec![vec![2, 1, 0], vec![0, 1, 0], vec![0, 0, 0]],
        };
        let m = e.per_class();
        assert_eq!((m[0].precision, m[0].recall, m[0].support), (1.0, 2.0 / 3.0, 3));
        assert!((m[0].f1 - 0.8).abs() < 1e-12);
        assert_eq!((m[1].precision, m[1].recall), (0.5, 1.0));
        assert_eq!((m[2].precision, m[2].recall, m[2].f1, m[2].support), (0.0, 0.0, 0.0, 0));
        assert_eq!(e.correct(), 3);
        assert_eq!(e.confusion_csv(), "label,0,1,2\n0,2,1,0\n1,0,1,0\n2,0,0,0\n");
        assert!(e.per_class_csv().starts_with("class,precision,recall,f1,support\n0,1,0.6666666666666666,"));
    }

    #[test]
    fn the_confusion_diagonal_is_the_accuracy_evaluate_reports() {
        let model = Sequential::from_spec(&crate::model::ModelSpec::article()).unwrap();
        let params = model.init_params(3);
        let mut rng = crate::rng::Rng::from_seed(2);
        let n = 70;
        let images = (0..n * 784).map(|_| (rng.next_u64() % 256) as u8).collect();
        let data = Dataset::new(images, (0..n).map(|i| (i % 10) as u8).collect(), 28, 28).unwrap();
        let e = evaluate(&model, &params, &data, 25).unwrap();
        assert_eq!(e.samples, n);
        assert_eq!(e.confusion.iter().flatten().sum::<usize>(), n);
        assert_eq!(e.correct() as f64 / n as f64, e.accuracy);
        let mut engine = Engine::new(&model, 25, false);
        assert_eq!(crate::train::evaluate(&mut engine, &model, &params, &data), (e.loss, e.accuracy));
    }
}
