//! Opens a run directory written by `elu-lab train` and classifies an image of a digit.
//!
//!     cargo run --release -- train --out runs/article
//!     cargo run --release --example classify -- runs/article tests/fixtures/digits/paper-00.png

use std::path::PathBuf;

use elu_lab::infer::{load_input, open_trained, Preprocess};
use elu_lab::loss::argmax;
use elu_lab::model::Engine;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(run), Some(image)) = (args.next(), args.next()) else {
        return Err("usage: classify RUN_DIR IMAGE".into());
    };
    // The model file and weights of the run.
    let (_spec, model, params) = open_trained(&run)?;
    // The image, made MNIST-style: grayscale, white on black, cropped, 20x20 centred in 28x28.
    let x = load_input(&image, &model, Preprocess::MnistStyle)?;
    // One image through the fast engine: the probability of each class.
    let mut engine = Engine::new(&model, 1, false);
    let probs = engine.infer(&model, &params, &x)?;
    let class = argmax(&probs);
    println!("{}: {class} (probability {:.4})", image.display(), probs[class]);
    Ok(())
}
