//! Prediction on image files: each file decoded and preprocessed into the model's input, then
//! classified; a bad file is reported by name and does not stop the others.

use std::path::{Path, PathBuf};

use super::image::{load_gray, mnist_style};
use crate::error::{Error, Result};
use crate::loss::argmax;
use crate::model::{Engine, Sequential};

/// How an image file becomes the model's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preprocess {
    /// A person's scanned or photographed digit, made MNIST-style ([`mnist_style`]).
    MnistStyle,
    /// Fed as it is: the image must have the model's input size; gray values scaled to [0, 1].
    None,
}

/// One file's class probabilities.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub file: PathBuf,
    /// Probability of each class (the model's output).
    pub probabilities: Vec<f32>,
}

impl Prediction {
    /// The most probable class (the first on ties).
    pub fn class(&self) -> usize {
        argmax(&self.probabilities)
    }

    /// The `k` most probable (class, probability) pairs, most probable first.
    pub fn top(&self, k: usize) -> Vec<(usize, f32)> {
        let mut ranked: Vec<(usize, f32)> = self.probabilities.iter().copied().enumerate().collect();
        // Stable: equal probabilities keep the lower class first.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(k);
        ranked
    }
}

/// The model input (H·W values in [0, 1]) for the image file `path`. Errors name the file.
pub fn load_input(path: &Path, model: &Sequential, preprocess: Preprocess) -> Result<Vec<f32>> {
    let s = model.input_shape();
    if s.c != 1 {
        return Err(Error::DataMismatch {
            msg: format!("predicting from image files needs a single-channel model, this one takes {} channels", s.c),
        });
    }
    let img = load_gray(path)?;
    match preprocess {
        Preprocess::MnistStyle => Ok(mnist_style(&img, s.w, s.h).map_err(|msg| Error::corrupt(path, msg))?.pixels),
        Preprocess::None if (img.width, img.height) == (s.w, s.h) => Ok(img.pixels),
        Preprocess::None => Err(Error::corrupt(
            path,
            format!(
                "the image is {}x{} but the model takes {}x{} (without preprocessing images are fed as they are)",
                img.width, img.height, s.w, s.h
            ),
        )),
    }
}

/// Classifies each file in turn: `Ok` with its probabilities, or the error that file met (the
/// others are still classified). Call it inside the thread pool that should run it.
///
/// ```no_run
/// use elu_lab::infer::{open_trained, predict_files, Preprocess};
///
/// let (_, model, params) = open_trained("runs/article".as_ref())?;
/// for result in predict_files(&model, &params, &["digit.png".into()], Preprocess::MnistStyle) {
///     match result {
///         Ok(p) => println!("{}: {}", p.file.display(), p.class()),
///         Err(e) => eprintln!("{e}"),
///     }
/// }
/// # Ok::<(), elu_lab::Error>(())
/// ```
pub fn predict_files(
    model: &Sequential,
    params: &[f32],
    files: &[PathBuf],
    preprocess: Preprocess,
) -> Vec<Result<Prediction>> {
    let loaded: Vec<Result<Vec<f32>>> = files.iter().map(|f| load_input(f, model, preprocess)).collect();
    let good: Vec<f32> = loaded.iter().filter_map(|r| r.as_ref().ok()).flatten().copied().collect();
    let mut engine = Engine::new(model, 64, false);
    let probs = match engine.infer(model, params, &good) {
        Ok(p) => p,
        Err(e) => return files.iter().map(|_| Err(Error::DataMismatch { msg: e.to_string() })).collect(),
    };
    let classes = model.output_shape().len();
    let mut rows = probs.chunks_exact(classes);
    loaded
        .into_iter()
        .zip(files)
        .map(|(r, file)| {
            r.map(|_| Prediction { file: file.clone(), probabilities: rows.next().unwrap_or_default().to_vec() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_ranks_by_probability_keeping_the_lower_class_on_ties() {
        let p = Prediction { file: "x".into(), probabilities: vec![0.1, 0.4, 0.1, 0.4] };
        assert_eq!(p.class(), 1);
        assert_eq!(p.top(3), [(1, 0.4), (3, 0.4), (0, 0.1)]);
        assert_eq!(p.top(10).len(), 4);
    }
}
