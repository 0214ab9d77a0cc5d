//! Property-based fuzzing of every parser of untrusted input: IDX files (raw and gzipped),
//! model files (TOML, then building the model and a training step on it), safetensors
//! weights and checkpoints, and the image files `predict` reads. The property is always the same: any input gives `Ok` or `Err`,
//! never a panic (and an `Ok` is self-consistent).
//!
//! The case counts keep the whole file well under a minute (`cargo test --release --test fuzz`);
//! set `PROPTEST_CASES` for a longer run. `tests/corpus/` holds interesting inputs, replayed
//! by `corpus_replays_without_panics`; `cargo test --release --test fuzz -- --ignored
//! write_corpus` regenerates it.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use elu_lab::activations::Activation;
use elu_lab::data::{idx, Dataset};
use elu_lab::init::Init;
use elu_lab::layers::Padding;
use elu_lab::model::ActivationArg;
use elu_lab::model::{LayerSpec, ModelSpec, Sequential};
use elu_lab::optim::{Optimizer, OptimizerConfig};
use elu_lab::train::callbacks::{Callback, CallbackState};
use elu_lab::train::checkpoint::{self, Checkpoint};
use elu_lab::train::{EpochMetrics, FitConfig, History, Trainer};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn cases(n: u32) -> Config {
    let n = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(n);
    // Failure persistence files would land in the source tree; failures print the input anyway.
    Config { cases: n, failure_persistence: None, ..Config::default() }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// One edit of a byte string: flip a bit, overwrite a byte, truncate, insert, or overwrite a
/// big-endian u32 (IDX header fields) or little-endian u64 (safetensors' header length).
#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    U32(usize, u32),
    U64(usize, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let word =
        prop_oneof![Just(0u32), Just(1), Just(2049), Just(2051), Just(u32::MAX), Just(0x8000_0000), any::<u32>()];
    let dword = prop_oneof![Just(0u64), Just(1), Just(u64::MAX), Just(1 << 40), any::<u64>(), 0u64..512];
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::Set(i, v)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, v)| Mutation::Insert(i, v)),
        (0usize..4, word).prop_map(|(f, w)| Mutation::U32(f * 4, w)),
        (0usize..2, dword).prop_map(|(f, w)| Mutation::U64(f * 8, w)),
    ]
}

fn mutate(mut bytes: Vec<u8>, edits: &[Mutation]) -> Vec<u8> {
    for m in edits {
        let n = bytes.len();
        match m {
            Mutation::Flip(i, b) if n > 0 => bytes[i % n] ^= 1 << b,
            Mutation::Set(i, v) if n > 0 => bytes[i % n] = *v,
            Mutation::Truncate(i) => bytes.truncate(i % (n + 1)),
            Mutation::Insert(i, v) => {
                let at = i % (n + 1);
                bytes.splice(at..at, v.iter().copied());
            }
            Mutation::U32(at, w) if at + 4 <= n => bytes[*at..at + 4].copy_from_slice(&w.to_be_bytes()),
            Mutation::U64(at, w) if at + 8 <= n => bytes[*at..at + 8].copy_from_slice(&w.to_le_bytes()),
            _ => {}
        }
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// IDX files.

fn check_images(bytes: &[u8]) {
    if let Ok(img) = idx::parse_images(bytes, Path::new("fuzz-idx3-ubyte")) {
        assert!(img.count > 0 && img.rows > 0 && img.cols > 0);
        assert_eq!(img.pixels.len(), img.count * img.rows * img.cols);
        assert_eq!(bytes.len(), idx::IMAGES_HEADER_LEN + img.pixels.len());
    }
}

fn check_labels(bytes: &[u8]) {
    if let Ok(labels) = idx::parse_labels(bytes, Path::new("fuzz-idx1-ubyte")) {
        assert!(!labels.is_empty());
        assert_eq!(bytes.len(), idx::LABELS_HEADER_LEN + labels.len());
    }
}

/// A valid IDX image or label file of a few small images.
fn valid_idx() -> impl Strategy<Value = Vec<u8>> {
    (1usize..6, 1usize..6, 1usize..6, any::<bool>(), any::<u8>()).prop_map(|(count, rows, cols, images, seed)| {
        if images {
            let pixels: Vec<u8> = (0..count * rows * cols).map(|i| (i as u8).wrapping_mul(seed)).collect();
            idx::encode_images(count, rows, cols, &pixels)
        } else {
            idx::encode_labels(&(0..count).map(|i| (i % 10) as u8).collect::<Vec<_>>())
        }
    })
}

proptest! {
    #![proptest_config(cases(3000))]

    #[test]
    fn idx_parsers_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        check_images(&bytes);
        check_labels(&bytes);
    }

    #[test]
    fn idx_parsers_never_panic_on_mutated_valid_files(
        file in valid_idx(),
        edits in prop::collection::vec(mutation(), 0..4),
    ) {
        let bytes = mutate(file, &edits);
        check_images(&bytes);
        check_labels(&bytes);
    }
}

proptest! {
    #![proptest_config(cases(600))]

    /// Through the file reader: gzipped (then damaged) or raw, by content.
    #[test]
    fn idx_file_reader_never_panics_on_damaged_gzip(
        file in valid_idx(),
        inner in prop::collection::vec(mutation(), 0..2),
        outer in prop::collection::vec(mutation(), 0..3),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f-idx-ubyte.gz");
        std::fs::write(&path, mutate(gzip(&mutate(file, &inner)), &outer)).unwrap();
        if let Ok(bytes) = idx::read_file(&path) {
            check_images(&bytes);
            check_labels(&bytes);
        }
        let _ = idx::read_images(&path);
        let _ = idx::read_labels(&path);
    }
}

proptest! {
    #![proptest_config(cases(600))]

    /// Data beyond what the header promises (a gzip bomb in small) is refused, whether gzipped or
    /// not, and the reader never returns more than header plus promise.
    #[test]
    fn idx_file_reader_refuses_data_past_the_header(
        file in valid_idx(),
        extra in prop::collection::vec(any::<u8>(), 1..2000),
        gzipped in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f-idx-ubyte");
        let long = [&file[..], &extra[..]].concat();
        std::fs::write(&path, if gzipped { gzip(&long) } else { long }).unwrap();
        let err = idx::read_file(&path).unwrap_err().to_string();
        prop_assert!(err.contains("has more data than its header promises"), "{}", err);
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile files: devices, FIFOs, symlinks to devices, directories, huge sparse files.

/// Every reader of untrusted files, each giving `Ok(())` or the error's text.
fn every_reader(path: &Path) -> Vec<(&'static str, Result<(), String>)> {
    let model = tiny_model();
    let text = |r: Result<(), elu_lab::Error>| r.map_err(|e| e.to_string());
    vec![
        ("idx::read_file", text(idx::read_file(path).map(drop))),
        ("idx::read_images", text(idx::read_images(path).map(drop))),
        ("idx::read_labels", text(idx::read_labels(path).map(drop))),
        ("ModelSpec::load", text(ModelSpec::load(path).map(drop))),
        ("load_weights", text(checkpoint::load_weights(path, &model).map(drop))),
        ("load_checkpoint", text(checkpoint::load_checkpoint(path, &model).map(drop))),
        ("checkpoint_metadata", text(checkpoint::checkpoint_metadata(path).map(drop))),
    ]
}

/// Devices, FIFOs (which would block a reader that opened them) and directories are refused
/// by every reader before it opens them, directly or through a symlink; a 4 GiB sparse file
/// is refused by its size or by what its header promises, without being read.
#[test]
fn hostile_files_are_refused_by_every_reader_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(PathBuf, &str)> = vec![(dir.path().to_path_buf(), "a directory")];
    #[cfg(unix)]
    {
        if Path::new("/dev/zero").exists() {
            cases.push((PathBuf::from("/dev/zero"), "a character device"));
            let link = dir.path().join("zero-link");
            std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
            cases.push((link, "a character device"));
        }
        let fifo = dir.path().join("fifo");
        if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
            let link = dir.path().join("fifo-link");
            std::os::unix::fs::symlink(&fifo, &link).unwrap();
            cases.push((fifo, "a FIFO"));
            cases.push((link, "a FIFO"));
        }
    }
    for (path, kind) in &cases {
        for (reader, result) in every_reader(path) {
            let err = result.expect_err(reader);
            assert!(err.contains(kind) && err.contains("not a regular file"), "{reader} on {}: {err}", path.display());
        }
    }
    // A sparse 4 GiB file behind a valid label header (1,000 labels promised).
    let sparse = dir.path().join("sparse-idx1-ubyte");
    std::fs::write(&sparse, idx::encode_labels(&[1; 1000])).unwrap();
    std::fs::File::options().write(true).open(&sparse).unwrap().set_len(4 << 30).unwrap();
    for (reader, result) in every_reader(&sparse) {
        let err = result.expect_err(reader);
        let why = if reader.starts_with("idx") {
            "has more data than its header promises"
        } else if reader != "load_weights" && reader != "ModelSpec::load" {
            // Checkpoints are read header first.
            "not a valid safetensors file"
        } else {
            "bytes allowed"
        };
        assert!(err.contains(why), "{reader}: {err}");
    }
}

/// A model of 16,000 layers is refused before it is built, and a model of 1,000 layers (the
/// limit) builds in linear time: names are counted, not searched.
#[test]
fn deep_models_are_capped_and_build() {
    let relus =
        |n: usize| ModelSpec { input_shape: [2, 2, 1], layers: vec![LayerSpec::Activation(Activation::Relu); n] };
    let err = Sequential::from_spec(&relus(16_000)).unwrap_err().to_string();
    assert!(err.contains("16000 layers, more than the 1000 allowed"), "{err}");
    let text = format!("input_shape = [2, 2, 1]\n{}", "[[layers]]\ntype = \"relu\"\n".repeat(16_000));
    let err = ModelSpec::parse(&text, Path::new("deep.toml")).unwrap_err().to_string();
    assert!(err.starts_with("deep.toml") && err.contains("more than the 1000 allowed"), "{err}");
    let m = Sequential::from_spec(&relus(1000)).unwrap();
    assert_eq!(m.names().last().map(String::as_str), Some("re_lu_999"));
}

// ---------------------------------------------------------------------------------------------
// Model files.

/// Builds the model of `spec` and, when it is small and trainable on 1-channel images, trains
/// it for an epoch on three samples: building and running must fail cleanly or work.
fn exercise(spec: &ModelSpec) {
    let _ = spec.to_toml();
    let Ok(model) = Sequential::from_spec(spec) else { return };
    let _ = model.summary();
    let _ = model.macs_per_sample();
    if model.check_trainable(10).is_err() || spec.input_shape[2] != 1 || model.param_count() > 50_000 {
        return;
    }
    let widest = model.layers().iter().map(|l| l.out_shape().len()).max().unwrap_or(0);
    if widest > 20_000 {
        return;
    }
    let [h, w, _] = spec.input_shape;
    let pixels: Vec<u8> = (0..3 * h * w).map(|i| (i * 41 % 256) as u8).collect();
    let data = Dataset::new(pixels, vec![1, 7, 3], h, w).unwrap();
    let mut trainer = Trainer::new(&model, OptimizerConfig::adam(1e-3), 2, 5);
    let cfg = FitConfig { epochs: 1, batch_size: 2, seed: 5, shuffle: true };
    let mut none: Vec<Box<dyn Callback>> = Vec::new();
    let mut hook = |_: &Trainer, _: &History, _: &[Box<dyn Callback>], _: bool| Ok(());
    match trainer.fit(&data, Some(&data), &cfg, 0, &mut History::default(), &mut none, &mut hook, None) {
        Ok(_) | Err(elu_lab::Error::NonFinite { .. }) => {}
        Err(e) => panic!("training a valid model failed: {e}"),
    }
    let (loss, acc) = trainer.evaluate(&data);
    assert!((0.0..=1.0).contains(&acc), "accuracy {acc}, loss {loss}");
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 1usize..7, 1 => Just(0usize), 1 => Just(1usize << 31), 1 => Just(usize::MAX), 1 => Just(1usize << 62)]
}

fn float() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -1.0f32..2.0,
        1 => Just(0.0f32),
        1 => Just(1.0f32),
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(-f32::INFINITY),
        1 => Just(f32::MAX),
    ]
}

fn fused() -> impl Strategy<Value = Option<ActivationArg>> {
    prop_oneof![
        Just(None),
        Just(Some(ActivationArg::Softmax)),
        activation().prop_map(|a| Some(ActivationArg::Function(a))),
    ]
}

/// Any activation, with parameters in and out of its domain.
fn activation() -> impl Strategy<Value = Activation> {
    prop_oneof![
        3 => prop::sample::select(Activation::ALL.to_vec()),
        1 => float().prop_map(|alpha| Activation::Elu { alpha }),
        1 => float().prop_map(|negative_slope| Activation::LeakyRelu { negative_slope }),
        1 => float().prop_map(|init| Activation::Prelu { init }),
    ]
}

fn init() -> impl Strategy<Value = Init> {
    prop_oneof![
        Just(Init::HeNormal),
        Just(Init::HeUniform),
        Just(Init::GlorotUniform),
        Just(Init::GlorotNormal),
        Just(Init::LecunNormal),
        Just(Init::Zeros),
    ]
}

fn layer() -> impl Strategy<Value = LayerSpec> {
    let padding = prop_oneof![Just(Padding::Valid), Just(Padding::Same)];
    prop_oneof![
        3 => (size(), [size(), size()], [size(), size()], padding, any::<bool>(), init(), fused()).prop_map(
            |(filters, kernel_size, strides, padding, use_bias, kernel_initializer, activation)| LayerSpec::Conv2d {
                filters,
                kernel_size,
                strides,
                padding,
                use_bias,
                kernel_initializer,
                activation,
            }
        ),
        2 => ([size(), size()], prop::option::of([size(), size()]))
            .prop_map(|(pool_size, strides)| LayerSpec::MaxPooling2d { pool_size, strides }),
        1 => float().prop_map(|rate| LayerSpec::Dropout { rate }),
        1 => Just(LayerSpec::Flatten),
        2 => (size(), any::<bool>(), init(), fused()).prop_map(|(units, use_bias, kernel_initializer, activation)| {
            LayerSpec::Dense { units, use_bias, kernel_initializer, activation }
        }),
        5 => activation().prop_map(LayerSpec::Activation),
        1 => Just(LayerSpec::Softmax),
    ]
}

/// Random layers, usually ending like a classifier (flatten, dense 10, softmax) so that many
/// models are trainable and get trained.
fn model_spec() -> impl Strategy<Value = ModelSpec> {
    let dims = (
        prop_oneof![6 => 1usize..14, 1 => size()],
        prop_oneof![6 => 1usize..14, 1 => size()],
        prop_oneof![
            6 => Just(1usize),
            1 => size()
        ],
    );
    (dims, prop::collection::vec(layer(), 0..6), any::<bool>()).prop_map(|((h, w, c), mut layers, head)| {
        if head {
            layers.push(LayerSpec::Flatten);
            layers.push(LayerSpec::Dense {
                units: 10,
                use_bias: true,
                kernel_initializer: Init::GlorotUniform,
                activation: Some(ActivationArg::Softmax),
            });
        }
        ModelSpec { input_shape: [h, w, c], layers }
    })
}

/// One edit of a model file's text, line by line.
#[derive(Clone, Debug)]
enum TextEdit {
    Delete(usize),
    Duplicate(usize),
    Insert(usize, String),
    /// Replace the value after `=` on a line.
    Value(usize, String),
}

fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("9223372036854775807".to_string()),
        Just("-9223372036854775808".to_string()),
        Just("4294967296".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("1e39".to_string()),
        Just("0.999999".to_string()),
        Just("[0, 0]".to_string()),
        Just("[100000, 100000]".to_string()),
        Just("[1]".to_string()),
        Just("[1, 2, 3]".to_string()),
        Just("[]".to_string()),
        Just("\"same\"".to_string()),
        Just("\"valid\"".to_string()),
        Just("\"softmax\"".to_string()),
        Just("\"lstm\"".to_string()),
        Just("\"flatten\"".to_string()),
        Just("\"relu\"".to_string()),
        Just("\"prelu\"".to_string()),
        Just("true".to_string()),
        Just("{}".to_string()),
        Just("\"".to_string()),
        (0u64..100).prop_map(|n| n.to_string()),
        "[a-z_\"\\[\\]{}=., 0-9-]{0,12}",
    ]
}

fn text_edit() -> impl Strategy<Value = TextEdit> {
    let line = prop_oneof![
        Just("[[layers]]".to_string()),
        Just("type = \"dense\"".to_string()),
        Just("type = \"conv2d\"".to_string()),
        Just("units = 3".to_string()),
        Just("input_shape = [28, 28, 1]".to_string()),
        Just("strides = [2, 2]".to_string()),
        Just("padding = \"same\"".to_string()),
        Just("alpha = 0.1".to_string()),
        Just("rate = 0.5".to_string()),
        Just("[layers]".to_string()),
        Just("[[input_shape]]".to_string()),
        "[ -~]{0,24}",
    ];
    prop_oneof![
        1 => any::<usize>().prop_map(TextEdit::Delete),
        1 => any::<usize>().prop_map(TextEdit::Duplicate),
        1 => (any::<usize>(), line).prop_map(|(i, l)| TextEdit::Insert(i, l)),
        3 => (any::<usize>(), toml_value()).prop_map(|(i, v)| TextEdit::Value(i, v)),
    ]
}

fn edit_text(text: &str, edits: &[TextEdit]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for e in edits {
        let n = lines.len();
        match e {
            TextEdit::Delete(i) if n > 0 => {
                lines.remove(i % n);
            }
            TextEdit::Duplicate(i) if n > 0 => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            TextEdit::Insert(i, l) => lines.insert(i % (n + 1), l.clone()),
            TextEdit::Value(i, v) => {
                // Only lines with a value: the i-th of them.
                let with_value: Vec<usize> = (0..n).filter(|&k| lines[k].contains('=')).collect();
                if let Some(&k) = with_value.get(i % with_value.len().max(1)) {
                    let key = lines[k].split('=').next().unwrap_or_default().to_string();
                    lines[k] = format!("{key}= {v}");
                }
            }
            _ => {}
        }
    }
    lines.join("\n")
}

fn check_model_text(text: &str) {
    if let Ok(spec) = ModelSpec::parse(text, Path::new("fuzz.toml")) {
        assert!(!spec.layers.is_empty());
        exercise(&spec);
    }
}

proptest! {
    #![proptest_config(cases(1500))]

    #[test]
    fn model_parser_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        check_model_text(&text);
    }

    #[test]
    fn model_parser_never_panics_on_edited_model_files(edits in prop::collection::vec(text_edit(), 1..5)) {
        check_model_text(&edit_text(elu_lab::model::presets::ARTICLE_TOML, &edits));
    }
}

proptest! {
    #![proptest_config(cases(1500))]

    /// Any model, sizes up to overflowing ones: building fails cleanly or gives a model that
    /// trains (or reports a non-finite loss), and its file round-trips.
    #[test]
    fn any_model_spec_builds_or_fails_cleanly_and_small_ones_train(spec in model_spec()) {
        exercise(&spec);
        if let Ok(again) = ModelSpec::parse(&spec.to_toml(), Path::new("round-trip.toml")) {
            exercise(&again);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Safetensors weights and checkpoints.

/// Flatten + dense softmax on 2x2 images: 50 parameters, so its files are small.
fn tiny_model() -> Sequential {
    let spec = ModelSpec {
        input_shape: [2, 2, 1],
        layers: vec![
            LayerSpec::Flatten,
            LayerSpec::Dense {
                units: 10,
                use_bias: true,
                kernel_initializer: Init::GlorotUniform,
                activation: Some(ActivationArg::Softmax),
            },
        ],
    };
    Sequential::from_spec(&spec).unwrap()
}

fn tiny_checkpoint(model: &Sequential, with_best: bool) -> Checkpoint {
    let params = model.init_params(3);
    let mut history = History::default();
    history.push(EpochMetrics { loss: 0.5, accuracy: 0.8, val_loss: Some(0.4), val_accuracy: Some(0.9), seconds: 1.0 });
    let state = CallbackState {
        json: serde_json::json!({ "wait": 0, "best": 0.4, "best_epoch": 0 }),
        tensors: vec![("best_weights".to_string(), params.clone())],
    };
    let callbacks = if with_best { BTreeMap::from([("early_stopping".to_string(), state)]) } else { BTreeMap::new() };
    Checkpoint {
        epoch: 1,
        optimizer: Optimizer::new(OptimizerConfig::adam(1e-3), params.len()),
        params,
        history,
        stopped: false,
        callbacks,
        extra: HashMap::from([("config".to_string(), "epochs = 2".to_string())]),
    }
}

/// Loads `bytes` as weights and as a checkpoint; a checkpoint that loads is consistent.
fn check_safetensors(bytes: &[u8], dir: &Path, model: &Sequential) {
    let path = dir.join("fuzz.safetensors");
    std::fs::write(&path, bytes).unwrap();
    if let Ok(p) = checkpoint::load_weights(&path, model) {
        assert_eq!(p.len(), model.param_count());
    }
    let _ = checkpoint::checkpoint_metadata(&path);
    if let Ok(ck) = checkpoint::load_checkpoint(&path, model) {
        assert_eq!(ck.params.len(), model.param_count());
        assert_eq!(ck.history.epochs(), ck.epoch);
        for state in ck.callbacks.values() {
            assert!(state.tensors.iter().all(|(_, t)| t.len() == ck.params.len()));
        }
    }
}

fn valid_safetensors() -> impl Strategy<Value = Vec<u8>> {
    (0u8..3).prop_map(|kind| {
        let model = tiny_model();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("valid.safetensors");
        match kind {
            0 => checkpoint::save_weights(&path, &model, &model.init_params(1)).unwrap(),
            k => checkpoint::save_checkpoint(&path, &model, &tiny_checkpoint(&model, k == 2)).unwrap(),
        }
        std::fs::read(&path).unwrap()
    })
}

/// Edits of the JSON header's text (offsets, shapes, dtypes, metadata), keeping its length
/// prefix right so that the edit reaches the parser behind it.
fn edit_header(bytes: &[u8], pos: usize, with: &str) -> Vec<u8> {
    if bytes.len() < 8 {
        return bytes.to_vec();
    }
    let n = (u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize).min(bytes.len() - 8);
    let header = String::from_utf8_lossy(&bytes[8..8 + n]).into_owned();
    // Replace the run of digits (or the quoted word) at a position of the header.
    let chars: Vec<char> = header.chars().collect();
    if chars.is_empty() {
        return bytes.to_vec();
    }
    let at = pos % chars.len();
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    let (mut a, mut b) = (at, at);
    while a > 0 && is_word(chars[a - 1]) {
        a -= 1;
    }
    while b < chars.len() && is_word(chars[b]) {
        b += 1;
    }
    let new_header: String =
        chars[..a].iter().chain(with.chars().collect::<Vec<_>>().iter()).chain(&chars[b..]).collect();
    let mut out = (new_header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(new_header.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

fn header_word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("1".to_string()),
        Just("18446744073709551615".to_string()),
        Just("9999999999".to_string()),
        Just("F64".to_string()),
        Just("BF16".to_string()),
        Just("U8".to_string()),
        Just("-1".to_string()),
        Just("null".to_string()),
        Just("".to_string()),
        Just("\"".to_string()),
        Just("optimizer.m".to_string()),
        Just("callbacks.early_stopping.best_weights".to_string()),
        Just("callbacks".to_string()),
        Just("epoch".to_string()),
        Just("dense.kernel".to_string()),
        (0u64..2000).prop_map(|n| n.to_string()),
    ]
}

proptest! {
    #![proptest_config(cases(1500))]

    #[test]
    fn safetensors_loaders_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let dir = tempfile::tempdir().unwrap();
        check_safetensors(&bytes, dir.path(), &tiny_model());
    }

    #[test]
    fn safetensors_loaders_never_panic_on_mutated_valid_files(
        file in valid_safetensors(),
        edits in prop::collection::vec(mutation(), 0..3),
    ) {
        let dir = tempfile::tempdir().unwrap();
        check_safetensors(&mutate(file, &edits), dir.path(), &tiny_model());
    }

    #[test]
    fn safetensors_loaders_never_panic_on_edited_headers(
        file in valid_safetensors(),
        edits in prop::collection::vec((any::<usize>(), header_word()), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let bytes = edits.iter().fold(file, |b, (pos, with)| edit_header(&b, *pos, with));
        check_safetensors(&bytes, dir.path(), &tiny_model());
    }
}

// ---------------------------------------------------------------------------------------------
// The committed corpus.

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Every file of `tests/corpus/{idx,model,safetensors}` goes through its parsers; files named
/// `ok-*` must be accepted, all others rejected with an error (safetensors files as weights if
/// their name says `weights`, as checkpoints otherwise).
#[test]
fn corpus_replays_without_panics() {
    let model = tiny_model();
    let scratch = tempfile::tempdir().unwrap();
    let mut seen = 0;
    for kind in ["idx", "model", "safetensors"] {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(corpus_dir().join(kind)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        assert!(files.len() >= 5, "tests/corpus/{kind} should hold a few files");
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let ok = name.starts_with("ok-");
            let accepted = match kind {
                "idx" => {
                    let images = idx::read_images(&path);
                    let labels = idx::read_labels(&path);
                    if let Ok(bytes) = idx::read_file(&path) {
                        check_images(&bytes);
                        check_labels(&bytes);
                    }
                    images.is_ok() || labels.is_ok()
                }
                "model" => {
                    let spec = ModelSpec::load(&path);
                    if let Ok(spec) = &spec {
                        exercise(spec);
                    }
                    // Accepted: builds, and can be trained (which needs the memory to train it).
                    spec.and_then(|s| Sequential::from_spec(&s)).and_then(|m| m.check_trainable(10)).is_ok()
                }
                _ => {
                    let bytes = std::fs::read(&path).unwrap();
                    check_safetensors(&bytes, scratch.path(), &model);
                    // Weights files must load as weights, all others as checkpoints.
                    if name.contains("weights") {
                        checkpoint::load_weights(&path, &model).is_ok()
                    } else {
                        checkpoint::load_checkpoint(&path, &model).is_ok()
                    }
                }
            };
            assert_eq!(accepted, ok, "tests/corpus/{kind}/{name}: accepted {accepted}, expected {ok}");
            seen += 1;
        }
    }
    assert!(seen >= 15);
}

/// Regenerates `tests/corpus/` (run with `--ignored`; the files are committed).
#[test]
#[ignore]
fn write_corpus() {
    let root = corpus_dir();
    let put = |kind: &str, name: &str, bytes: &[u8]| {
        std::fs::create_dir_all(root.join(kind)).unwrap();
        std::fs::write(root.join(kind).join(name), bytes).unwrap();
    };
    // IDX.
    let images = idx::encode_images(3, 2, 2, &[0, 64, 128, 255, 1, 2, 3, 4, 9, 8, 7, 6]);
    let labels = idx::encode_labels(&[3, 1, 4]);
    put("idx", "ok-images-idx3-ubyte", &images);
    put("idx", "ok-labels-idx1-ubyte", &labels);
    put("idx", "ok-images-idx3-ubyte.gz", &gzip(&images));
    put("idx", "empty", b"");
    put("idx", "truncated-header-idx3-ubyte", &images[..10]);
    put("idx", "truncated-payload-idx3-ubyte", &images[..images.len() - 1]);
    put("idx", "too-long-idx1-ubyte", &[&labels[..], &[7]].concat());
    put("idx", "zero-count-idx1-ubyte", &idx::encode_labels(&[]));
    put("idx", "overflowing-dims-idx3-ubyte", &idx::encode_images(usize::MAX, usize::MAX, usize::MAX, &[1, 2, 3]));
    put("idx", "wrong-magic-html", b"<html><body>404 Not Found</body></html>");
    put("idx", "zip-magic", b"PK\x03\x04\x14\x00\x00\x00");
    let gz = gzip(&images);
    put("idx", "truncated.gz", &gz[..gz.len() / 2]);
    put("idx", "gzip-magic-only.gz", &[0x1f, 0x8b]);
    let mut bad_crc = gz.clone();
    let n = bad_crc.len();
    bad_crc[n - 6] ^= 0xff;
    put("idx", "bad-crc.gz", &bad_crc);
    let mut huge_isize = gz.clone();
    huge_isize[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    put("idx", "huge-isize-trailer.gz", &huge_isize);
    // A gzip bomb: a header promising 10 labels, then 64 MiB of zeros (65 KB compressed).
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&idx::encode_labels(&[1; 10])).unwrap();
    for _ in 0..64 {
        bomb.write_all(&[0; 1 << 20]).unwrap();
    }
    put("idx", "gzip-bomb-idx1-ubyte.gz", &bomb.finish().unwrap());
    // Model files.
    let tail = "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n";
    let model = |name: &str, body: &str| put("model", name, body.as_bytes());
    model("ok-article.toml", elu_lab::model::presets::ARTICLE_TOML);
    model("ok-same-padding-kernel-larger-than-input.toml", &format!("input_shape = [2, 2, 1]\n[[layers]]\ntype = \"conv2d\"\nfilters = 2\nkernel_size = [5, 5]\nstrides = [3, 3]\npadding = \"same\"\n{tail}"));
    model("ok-strides-larger-than-input.toml", &format!("input_shape = [3, 3, 1]\n[[layers]]\ntype = \"max_pooling2d\"\npool_size = [2, 2]\nstrides = [9, 9]\n{tail}"));
    model("empty.toml", "");
    model("no-layers.toml", "input_shape = [28, 28, 1]\nlayers = []\n");
    model("not-toml.toml", "{\"input_shape\": [28, 28, 1]}");
    model("unknown-layer.toml", "input_shape = [28, 28, 1]\n[[layers]]\ntype = \"lstm\"\n");
    model(
        "relu-with-alpha.toml",
        &format!("input_shape = [28, 28, 1]\n[[layers]]\ntype = \"relu\"\nalpha = 0.1\n{tail}"),
    );
    model(
        "nan-dropout.toml",
        &format!("input_shape = [28, 28, 1]\n[[layers]]\ntype = \"dropout\"\nrate = nan\n{tail}"),
    );
    model("zero-alpha.toml", &format!("input_shape = [28, 28, 1]\n[[layers]]\ntype = \"elu\"\nalpha = 0.0\n{tail}"));
    model("huge-filters.toml", &format!("input_shape = [28, 28, 1]\n[[layers]]\ntype = \"conv2d\"\nfilters = 9223372036854775807\nkernel_size = [3, 3]\n{tail}"));
    model("huge-same-kernel.toml", &format!("input_shape = [28, 28, 1]\n[[layers]]\ntype = \"conv2d\"\nfilters = 1\nkernel_size = [9223372036854775807, 9223372036854775807]\npadding = \"same\"\n{tail}"));
    model("overflowing-input.toml", &format!("input_shape = [9223372036854775807, 9223372036854775807, 4]\n{tail}"));
    model("huge-units.toml", "input_shape = [28, 28, 1]\n[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 4611686018427387904\n");
    model(
        "zero-strides.toml",
        &format!("input_shape = [28, 28, 1]\n[[layers]]\ntype = \"max_pooling2d\"\nstrides = [0, 0]\n{tail}"),
    );
    model(
        "negative-units.toml",
        "input_shape = [28, 28, 1]\n[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = -10\n",
    );
    let relus = "[[layers]]\ntype = \"relu\"\n";
    model("too-many-layers.toml", &format!("input_shape = [2, 2, 1]\n{}{tail}", relus.repeat(1000)));
    // Within every size limit, but 997 layers of 2^28 values need 64 TiB to train.
    model(
        "memory-deep-and-wide.toml",
        &format!(
            "input_shape = [16384, 16384, 1]\n{}[[layers]]\ntype = \"max_pooling2d\"\npool_size = [16384, 16384]\n{tail}",
            relus.repeat(997)
        ),
    );
    model("long-line.toml", &format!("input_shape = [28, 28, 1] {}\n{tail}", "x".repeat(100_000)));
    // Safetensors.
    let m = tiny_model();
    let dir = tempfile::tempdir().unwrap();
    let file = |f: &dyn Fn(&Path)| {
        let p = dir.path().join("x.safetensors");
        f(&p);
        std::fs::read(&p).unwrap()
    };
    let weights = file(&|p| checkpoint::save_weights(p, &m, &m.init_params(1)).unwrap());
    let ck = file(&|p| checkpoint::save_checkpoint(p, &m, &tiny_checkpoint(&m, true)).unwrap());
    put("safetensors", "ok-weights.safetensors", &weights);
    put("safetensors", "ok-checkpoint-with-best.safetensors", &ck);
    put("safetensors", "empty.safetensors", b"");
    put("safetensors", "header-length-max.safetensors", &[&u64::MAX.to_le_bytes()[..], b"{}"].concat());
    put("safetensors", "header-not-json.safetensors", &[&5u64.to_le_bytes()[..], b"hello"].concat());
    put("safetensors", "truncated-checkpoint.safetensors", &ck[..ck.len() - 7]);
    let swap = |bytes: &[u8], from: &str, to: &str| {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = String::from_utf8(bytes[8..8 + n].to_vec()).unwrap().replacen(from, to, 1);
        assert_eq!(header.len(), n, "keep the header's length: {from} -> {to}");
        [&bytes[..8], header.as_bytes(), &bytes[8 + n..]].concat()
    };
    put("safetensors", "weights-wrong-dtype.safetensors", &swap(&weights, "\"F32\"", "\"I32\""));
    put("safetensors", "weights-foreign-tensor-name.safetensors", &swap(&weights, "dense.kernel", "dense.kernal"));
    put("safetensors", "wrong-format.safetensors", &swap(&ck, "elu-lab-checkpoint-2", "elu-lab-checkpoint-9"));
    put("safetensors", "older-format.safetensors", &swap(&ck, "elu-lab-checkpoint-2", "elu-lab-checkpoint-1"));
    let ck_short_state = file(&|p| {
        let mut c = tiny_checkpoint(&m, true);
        c.callbacks.get_mut("early_stopping").unwrap().tensors[0].1.pop();
        checkpoint::save_checkpoint(p, &m, &c).unwrap()
    });
    put("safetensors", "callback-tensor-of-the-wrong-size.safetensors", &ck_short_state);
    let ck_history = file(&|p| {
        let mut c = tiny_checkpoint(&m, false);
        c.epoch = 3;
        checkpoint::save_checkpoint(p, &m, &c).unwrap()
    });
    put("safetensors", "history-shorter-than-epoch.safetensors", &ck_history);
    let mut nan = m.init_params(1);
    nan[7] = f32::NAN;
    put("safetensors", "weights-nan.safetensors", &file(&|p| checkpoint::save_weights(p, &m, &nan).unwrap()));
    let ck_inf = file(&|p| {
        let mut c = tiny_checkpoint(&m, true);
        c.callbacks.get_mut("early_stopping").unwrap().tensors[0].1[0] = f32::NEG_INFINITY;
        checkpoint::save_checkpoint(p, &m, &c).unwrap()
    });
    put("safetensors", "callback-best-infinite.safetensors", &ck_inf);
}

// ---------------------------------------------------------------------------------------------
// Image files for `predict`.

/// Decodes and preprocesses `bytes`; an `Ok` must be a whole MNIST-style 28×28 image in [0, 1].
fn check_image(bytes: &[u8]) {
    if let Ok(gray) = elu_lab::infer::image::decode_gray(bytes) {
        assert_eq!(gray.pixels.len(), gray.width * gray.height);
        if let Ok(x) = elu_lab::infer::image::mnist_style(&gray, 28, 28) {
            assert_eq!(x.pixels.len(), 784);
            assert!(x.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }
}

/// The smallest fixture digit of each format (PGM, BMP, JPEG, PNG).
fn image_files() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/digits");
    ["native-00.pgm", "rgb-04.bmp", "jpeg-00.jpg", "rgb-00.png"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn image_decoding_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        check_image(&bytes);
    }

    #[test]
    fn image_decoding_never_panics_on_mutated_valid_files(
        which in 0usize..4,
        edits in prop::collection::vec(mutation(), 1..4),
    ) {
        let files = image_files();
        check_image(&mutate(files[which].clone(), &edits));
    }
}
