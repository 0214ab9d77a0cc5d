//! In-memory image datasets: validation, Keras-style validation split, batch filling, and loading
//! the four MNIST IDX files of a directory.

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{bundled, idx};
use crate::error::{Error, Result};
use crate::kernels::elementwise;
use crate::kernels::sparse::SparseColumns;

/// Number of MNIST's classes (digits 0-9). Other datasets may have more or fewer: a label is a
/// class number, checked against the model's outputs by [`Dataset::check_labels`].
pub const NUM_CLASSES: usize = 10;

/// Labelled grayscale images, kept as bytes; scaled to `[0, 1]` only when a batch is filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    images: Vec<u8>,
    labels: Vec<u8>,
    rows: usize,
    cols: usize,
}

/// The first label that is not below `classes`, as `(index, value)`.
fn first_bad_label(labels: &[u8], classes: usize) -> Option<(usize, u8)> {
    labels.iter().position(|&l| usize::from(l) >= classes).map(|i| (i, labels[i]))
}

impl Dataset {
    /// A dataset of `labels.len()` images of `rows` x `cols` bytes each, stored image after image.
    ///
    /// Fails with [`Error::DataMismatch`] if `images.len()` is not `labels.len() * rows * cols`
    /// or if the image size is zero. Labels are class numbers (0-255); [`Dataset::check_labels`]
    /// checks them against a model's number of classes.
    pub fn new(images: Vec<u8>, labels: Vec<u8>, rows: usize, cols: usize) -> Result<Dataset> {
        if rows == 0 || cols == 0 {
            return Err(Error::DataMismatch { msg: format!("image size {rows}x{cols} is empty") });
        }
        let expected = rows.checked_mul(cols).and_then(|n| n.checked_mul(labels.len()));
        if expected != Some(images.len()) {
            return Err(Error::DataMismatch {
                msg: format!(
                    "{} image bytes do not make {} images of {rows}x{cols} (one per label)",
                    images.len(),
                    labels.len()
                ),
            });
        }
        Ok(Dataset { images, labels, rows, cols })
    }

    /// Checks that every label is a class `0..classes`; [`Error::Label`] names the first that is
    /// not, with `path` (the label file, when known).
    pub fn check_labels(&self, classes: usize, path: Option<&Path>) -> Result<()> {
        match first_bad_label(&self.labels, classes) {
            Some((index, value)) => Err(Error::Label { path: path.map(Path::to_path_buf), index, value, classes }),
            None => Ok(()),
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image height in pixels.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Image width in pixels.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Pixels per image (`rows * cols`; one channel).
    pub fn image_len(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `i`, row-major.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// The label of sample `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// All labels, in sample order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// All pixels, image after image.
    pub fn pixels(&self) -> &[u8] {
        &self.images
    }

    /// The samples `start..end` as a new dataset (the caller keeps `start <= end <= len`).
    fn slice(&self, start: usize, end: usize) -> Dataset {
        let n = self.image_len();
        Dataset {
            images: self.images[start * n..end * n].to_vec(),
            labels: self.labels[start..end].to_vec(),
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// The samples `indices`, in that order, as a new dataset.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        Dataset {
            images: indices.iter().flat_map(|&i| self.image(i).iter().copied()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// The first `min(n, len)` samples (for `--limit`).
    pub fn take(&self, n: usize) -> Dataset {
        self.slice(0, n.min(self.len()))
    }

    /// Splits off a validation set with Keras's `validation_split` semantics.
    ///
    /// With `split_at = floor(len * (1 - fraction))`, the training set is the first `split_at`
    /// samples and the validation set the last `len - split_at`, taken before any shuffling.
    /// `fraction` must lie in `(0, 1)`, and neither part may be empty ([`Error::Config`]).
    pub fn split_validation(&self, fraction: f64) -> Result<(Dataset, Dataset)> {
        let split_at = self.split_point(fraction)?;
        Ok((self.slice(0, split_at), self.slice(split_at, self.len())))
    }

    /// As [`Dataset::split_validation`], consuming the dataset: the training part keeps its
    /// memory and only the validation part is copied, so the peak is the dataset plus the
    /// validation part rather than twice the dataset.
    pub fn into_split_validation(mut self, fraction: f64) -> Result<(Dataset, Dataset)> {
        let split_at = self.split_point(fraction)?;
        let images = self.images.split_off(split_at * self.image_len());
        let labels = self.labels.split_off(split_at);
        let val = Dataset { images, labels, rows: self.rows, cols: self.cols };
        self.images.shrink_to_fit();
        self.labels.shrink_to_fit();
        Ok((self, val))
    }

    /// Keras's split point for `validation_split = fraction`, or why there is none.
    fn split_point(&self, fraction: f64) -> Result<usize> {
        split_point(self.len(), fraction)
    }

    /// Asks the processor to bring the images of `indices` into its caches, without
    /// waiting for them: the trainer calls it for the next batch before each step, so that the
    /// next [`Dataset::fill_batch`] (random images of a set larger than the caches) finds them
    /// there. A hint only: it changes no value, and an index out of range is passed over.
    pub fn prefetch(&self, indices: &[usize]) {
        let n = self.image_len();
        for &i in indices.iter().filter(|&&i| i < self.len()) {
            for line in self.images[i * n..(i + 1) * n].chunks(64) {
                prefetch(line.as_ptr());
            }
        }
    }

    /// Writes the samples `indices` into a batch: pixels scaled to `[0, 1]` (`p as f32 / 255.0`)
    /// into `x`, NHWC with one channel, and labels into `y`.
    ///
    /// `x` must hold at least `indices.len() * image_len()` values and `y` at least `indices.len()`
    /// (checked in debug builds only); only those leading parts are written, so a buffer sized for
    /// a full batch can take a shorter last batch. Does not allocate.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn fill_batch(&self, indices: &[usize], x: &mut [f32], y: &mut [u8]) {
        let n = self.image_len();
        debug_assert!(
            x.len() >= indices.len() * n,
            "batch buffer x is too short: {} < {} samples x {n}",
            x.len(),
            indices.len()
        );
        debug_assert!(y.len() >= indices.len(), "batch buffer y is too short: {} < {} samples", y.len(), indices.len());
        for ((&i, dst), label) in indices.iter().zip(x.chunks_exact_mut(n)).zip(y.iter_mut()) {
            let src = &self.images[i * n..(i + 1) * n];
            elementwise::bytes_to_unit(dst, src);
            *label = self.labels[i];
        }
    }

    /// The samples `indices`' nonzero pixels, listed column by column into `lists` (the lists
    /// [`SparseColumns::set`] makes of what [`Dataset::fill_batch`] writes, without converting
    /// the zeros), and their labels into `y` (at least `indices.len()` long).
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn list_batch(&self, indices: &[usize], lists: &mut SparseColumns, y: &mut [u8]) {
        lists.set_bytes(&self.images, indices, self.image_len());
        for (&i, label) in indices.iter().zip(y.iter_mut()) {
            *label = self.labels[i];
        }
    }
}

/// A hint to bring the cache line holding `p` into the level-2 cache (nothing where there is no
/// such instruction).
#[inline]
fn prefetch(p: *const u8) {
    // SAFETY: SSE, which the instruction needs, is part of every x86-64 processor (the target's
    // baseline), and a prefetch reads nothing the program sees and cannot fault, whatever `p`.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The MNIST training and test sets.
#[derive(Debug, Clone)]
pub struct Mnist {
    /// The 60,000 training samples (validation is split off later).
    pub train: Dataset,
    /// The 10,000 test samples.
    pub test: Dataset,
    /// The label files (training, test) the sets were read from, for error messages.
    pub label_files: [Option<PathBuf>; 2],
}

/// Keras's split point for `validation_split = fraction` of `len` samples (the training part is
/// the first `split_at`), or why there is none: `fraction` outside (0, 1) or an empty part.
pub fn split_point(len: usize, fraction: f64) -> Result<usize> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(Error::config("data.validation_split", format!("must be in (0, 1), got {fraction}")));
    }
    // Same arithmetic as Keras: int(math.floor(len * (1.0 - validation_split))).
    let split_at = (len as f64 * (1.0 - fraction)).floor() as usize;
    let empty = match split_at {
        0 => Some("training"),
        s if s >= len => Some("validation"),
        _ => None,
    };
    if let Some(which) = empty {
        return Err(Error::config(
            "data.validation_split",
            format!(
                "{len} samples are not enough to split with validation_split={fraction}: the {which} set would be empty"
            ),
        ));
    }
    Ok(split_at)
}

/// The four MNIST files by canonical name (hyphen spelling, without `.gz`), with the alternative
/// dot spelling.
const FILES: [(&str, &str); 4] = [
    ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
];

/// Finds the file for `canonical` (or its dot spelling `alt`) in `dir`, preferring `.gz`.
fn find_file(dir: &Path, canonical: &str, alt: &str) -> Result<PathBuf> {
    let candidates = [format!("{canonical}.gz"), format!("{alt}.gz"), canonical.to_string(), alt.to_string()];
    // The first that exists, whatever it is: reading refuses what is not a regular file (a FIFO,
    // a device), which then gets its own error rather than "no file".
    candidates.iter().map(|name| dir.join(name)).find(|p| p.metadata().is_ok()).ok_or_else(|| {
        Error::read(
            &dir.join(&candidates[0]),
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no file {canonical}[.gz] or {alt}[.gz] in {}", dir.display()),
            ),
        )
    })
}

/// The four IDX files of `dir` (training images, training labels, test images, test labels),
/// as [`load_dir`] finds them.
pub fn data_files(dir: &Path) -> Result<Vec<PathBuf>> {
    FILES.iter().map(|(canonical, alt)| find_file(dir, canonical, alt)).collect()
}

/// A fingerprint of the data in `dir`: each file's name, size and SHA-256 of its bytes as
/// stored, one `name size sha256` line per file. Cheap to recompute (about 11 MB of hashing for
/// MNIST), so a resumed run can check that its data did not change.
pub fn fingerprint(dir: &Path) -> Result<String> {
    let mut out = String::new();
    for path in data_files(dir)? {
        // Streamed: memory stays small whatever the file's size.
        let mut hasher = Sha256::new();
        let size = std::fs::File::open(&path)
            .and_then(|mut f| io::copy(&mut f, &mut hasher))
            .map_err(|e| Error::read(&path, e))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        out.push_str(&format!("{name} {size} {:x}\n", hasher.finalize()));
    }
    Ok(out)
}

/// Reads one file, verifying the SHA-256 of its decompressed content against the bundled sum for
/// `canonical` if `verify`.
fn read_checked(path: &Path, canonical: &str, verify: bool) -> Result<Vec<u8>> {
    let bytes = idx::read_file(path)?;
    if verify {
        let actual = format!("{:x}", Sha256::digest(&bytes));
        let expected = bundled::expected_sha256(canonical).unwrap_or_default();
        if actual != expected {
            return Err(Error::Checksum { path: path.to_path_buf(), expected: expected.to_string(), actual });
        }
    }
    Ok(bytes)
}

/// Reads and parses one images/labels pair and checks that they fit together.
fn load_pair(images: (&Path, &str), labels: (&Path, &str), verify: bool) -> Result<(idx::IdxImages, Vec<u8>)> {
    let img = read_checked(images.0, images.1, verify).and_then(|b| idx::parse_images_owned(b, images.0))?;
    let lab = read_checked(labels.0, labels.1, verify).and_then(|b| idx::parse_labels_owned(b, labels.0))?;
    if img.count != lab.len() {
        return Err(Error::corrupt(
            labels.0,
            format!("has {} labels but {} has {} images", lab.len(), images.0.display(), img.count),
        ));
    }
    Ok((img, lab))
}

/// Loads MNIST from the four IDX files in `dir`.
///
/// Each file may be spelled `train-images-idx3-ubyte` or `train-images.idx3-ubyte` (likewise
/// for the others), gzipped (`.gz`, preferred when both exist) or not. Checks that images and
/// labels agree in number, that labels are digits, and that training and test images have the
/// same size. With `verify_checksums`, the SHA-256 of each file's decompressed content must match
/// [`bundled::SHA256`] ([`Error::Checksum`] otherwise).
pub fn load_dir(dir: &Path, verify_checksums: bool) -> Result<Mnist> {
    match std::fs::metadata(dir) {
        Err(e) => return Err(Error::read(dir, e)),
        Ok(m) if !m.is_dir() => {
            return Err(Error::read(dir, io::Error::new(io::ErrorKind::NotADirectory, "not a directory")))
        }
        Ok(_) => {}
    }
    let mut paths = Vec::with_capacity(FILES.len());
    for (canonical, alt) in FILES {
        paths.push(find_file(dir, canonical, alt)?);
    }
    let v = verify_checksums;
    // The test pair is small (8 MB) and loads on its own thread while the training pair loads here.
    let (train, test) = std::thread::scope(|s| {
        let test_job = s.spawn(|| load_pair((&paths[2], FILES[2].0), (&paths[3], FILES[3].0), v));
        let train = load_pair((&paths[0], FILES[0].0), (&paths[1], FILES[1].0), v);
        let test = test_job.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (train, test)
    });
    let ((train_img, train_lab), (test_img, test_lab)) = (train?, test?);
    if (test_img.rows, test_img.cols) != (train_img.rows, train_img.cols) {
        return Err(Error::corrupt(
            &paths[2],
            format!(
                "test images are {}x{} but training images in {} are {}x{}",
                test_img.rows,
                test_img.cols,
                paths[0].display(),
                train_img.rows,
                train_img.cols
            ),
        ));
    }
    Ok(Mnist {
        train: Dataset::new(train_img.pixels, train_lab, train_img.rows, train_img.cols)?,
        test: Dataset::new(test_img.pixels, test_lab, test_img.rows, test_img.cols)?,
        label_files: [Some(paths[1].clone()), Some(paths[3].clone())],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The bundled MNIST of the repository.
    fn bundled_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
    }

    /// A dataset of `n` 2x3 images whose pixels all equal the sample index, labels `i % 10`.
    fn numbered(n: usize) -> Dataset {
        let images = (0..n).flat_map(|i| [i as u8; 6]).collect();
        let labels = (0..n).map(|i| (i % 10) as u8).collect();
        Dataset::new(images, labels, 2, 3).unwrap()
    }

    fn ids(d: &Dataset) -> Vec<u8> {
        (0..d.len()).map(|i| d.image(i)[0]).collect()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// The IDX files of a small MNIST-like set: `n` images of 4x4 (pixel = index), labels `i % 10`.
    fn pair(n: usize) -> (Vec<u8>, Vec<u8>) {
        let pixels: Vec<u8> = (0..n).flat_map(|i| [i as u8; 16]).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        (idx::encode_images(n, 4, 4, &pixels), idx::encode_labels(&labels))
    }

    /// Writes `content` as `dir/name`, gzipped (adding `.gz`) if `gz`.
    fn put(dir: &Path, name: &str, content: &[u8], gz: bool) {
        if gz {
            std::fs::write(dir.join(format!("{name}.gz")), gzip(content)).unwrap();
        } else {
            std::fs::write(dir.join(name), content).unwrap();
        }
    }

    /// Writes a 12-sample training and 5-sample test set into `dir` with the given spelling.
    fn write_fixture(dir: &Path, dot: bool, gz: bool) {
        let (train_img, train_lab) = pair(12);
        let (test_img, test_lab) = pair(5);
        let files = [train_img, train_lab, test_img, test_lab];
        for ((canonical, alt), content) in FILES.iter().zip(&files) {
            put(dir, if dot { alt } else { canonical }, content, gz);
        }
    }

    fn mismatch_msg(err: Error) -> String {
        match err {
            Error::DataMismatch { msg } => msg,
            other => panic!("expected a data-mismatch error, got {other:?}"),
        }
    }

    fn config_msg(err: Error) -> String {
        match err {
            Error::Config { what, msg } => {
                assert_eq!(what, "data.validation_split");
                msg
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn accessors() {
        let d = numbered(4);
        assert_eq!((d.len(), d.is_empty(), d.rows(), d.cols(), d.image_len()), (4, false, 2, 3, 6));
        assert_eq!(d.image(2), &[2; 6]);
        assert_eq!(d.label(3), 3);
        assert_eq!(d.labels(), &[0, 1, 2, 3]);
        assert_eq!(d.pixels().len(), 24);
        let empty = Dataset::new(Vec::new(), Vec::new(), 28, 28).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn listed_batches_hold_the_filled_batches_nonzeros() {
        // Images with zeros and every byte value, picked out of order and twice.
        let images: Vec<u8> = (0..5 * 6).map(|i| if i % 3 == 0 { 0 } else { (i * 37 % 256) as u8 }).collect();
        let d = Dataset::new(images, vec![4, 3, 2, 1, 0], 2, 3).unwrap();
        let picks = [4, 1, 1, 0];
        let (mut x, mut y) = (vec![0.0; 24], vec![0; 4]);
        d.fill_batch(&picks, &mut x, &mut y);
        let (mut want, mut got, mut labels) = (SparseColumns::default(), SparseColumns::default(), vec![9; 4]);
        want.set(&x, 6);
        d.list_batch(&picks, &mut got, &mut labels);
        assert_eq!(labels, y);
        assert_eq!((got.rows(), got.width(), got.nonzeros()), (4, 6, want.nonzeros()));
        for j in 0..6 {
            assert_eq!(got.col(j), want.col(j), "column {j}");
        }
    }

    #[test]
    fn new_checks_sizes() {
        let msg = mismatch_msg(Dataset::new(vec![0; 10], vec![1, 2], 2, 3).unwrap_err());
        assert!(msg.contains("10 image bytes") && msg.contains("2 images of 2x3"), "{msg}");
        let msg = mismatch_msg(Dataset::new(Vec::new(), Vec::new(), 0, 28).unwrap_err());
        assert!(msg.contains("0x28"), "{msg}");
        assert!(Dataset::new(vec![0; 8], vec![0, 0], usize::MAX, 2).is_err());
    }

    #[test]
    fn labels_beyond_the_classes_are_rejected() {
        let d = Dataset::new(vec![0; 4], vec![9, 3, 10, 200], 1, 1).unwrap();
        let err = d.check_labels(10, None).unwrap_err();
        assert!(matches!(err, Error::Label { path: None, index: 2, value: 10, classes: 10 }), "{err:?}");
        assert_eq!(err.to_string(), "label 10 at index 2 is not a class of the model (0-9)");
        assert!(err.hint().is_some_and(|h| h.contains("class") && !h.contains("truncated")), "{:?}", err.hint());
        // A dataset of more classes is fine for a model with as many outputs.
        d.check_labels(201, None).unwrap();
        assert!(d.check_labels(200, None).is_err());
    }

    #[test]
    fn take_keeps_the_first_samples() {
        let d = numbered(10);
        assert_eq!(ids(&d.take(3)), vec![0, 1, 2]);
        assert_eq!(d.take(3).labels(), &[0, 1, 2]);
        assert_eq!(d.take(100), d);
        assert!(d.take(0).is_empty());
    }

    #[test]
    fn owned_split_equals_the_borrowed_one() {
        let d = numbered(10);
        assert_eq!(d.clone().into_split_validation(0.25).unwrap(), d.split_validation(0.25).unwrap());
        assert!(d.into_split_validation(1.5).is_err());
    }

    #[test]
    fn split_validation_takes_the_last_samples() {
        let d = numbered(10);
        let (train, val) = d.split_validation(0.2).unwrap();
        assert_eq!(ids(&train), (0..8).collect::<Vec<u8>>());
        assert_eq!(ids(&val), vec![8, 9]);
        assert_eq!(val.labels(), &[8, 9]);
        assert_eq!((val.rows(), val.cols()), (2, 3));
        // floor(10 * 0.75) = floor(7.5) = 7
        let (train, val) = d.split_validation(0.25).unwrap();
        assert_eq!((train.len(), val.len()), (7, 3));
        assert_eq!(ids(&val), vec![7, 8, 9]);
        // MNIST with Keras's validation_split=0.1: 54000 + 6000.
        let big = Dataset::new(vec![0; 60000], vec![0; 60000], 1, 1).unwrap();
        let (train, val) = big.split_validation(0.1).unwrap();
        assert_eq!((train.len(), val.len()), (54000, 6000));
        let (train, val) = big.split_validation(0.2).unwrap();
        assert_eq!((train.len(), val.len()), (48000, 12000));
    }

    #[test]
    fn split_validation_rejects_bad_fractions() {
        let d = numbered(10);
        for f in [0.0, 1.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            let msg = config_msg(d.split_validation(f).unwrap_err());
            assert!(msg.contains("must be in (0, 1)"), "{f}: {msg}");
        }
        let msg = config_msg(d.split_validation(-0.1).unwrap_err());
        assert!(msg.contains("got -0.1"), "{msg}");
    }

    #[test]
    fn split_validation_rejects_too_little_data() {
        // floor(60 * 0.001) = 0: nothing left to train on.
        let msg = config_msg(numbered(60).split_validation(0.999).unwrap_err());
        assert_eq!(
            msg,
            "60 samples are not enough to split with validation_split=0.999: the training set would be empty"
        );
        // 1 - 1e-20 rounds to 1.0, so split_at = len: nothing left to validate on.
        let msg = config_msg(numbered(60).split_validation(1e-20).unwrap_err());
        assert!(msg.starts_with("60 samples are not enough to split"), "{msg}");
        assert!(msg.ends_with("the validation set would be empty"), "{msg}");
        let msg = config_msg(numbered(1).split_validation(0.5).unwrap_err());
        assert!(msg.contains("the training set would be empty"), "{msg}");
        // floor(60 * 0.999) = 59: one validation sample is enough.
        let (train, val) = numbered(60).split_validation(0.001).unwrap();
        assert_eq!((train.len(), val.len()), (59, 1));
        assert!(numbered(0).split_validation(0.5).is_err());
        assert!(numbered(2).split_validation(0.5).is_ok());
    }

    #[test]
    fn prefetch_is_only_a_hint() {
        let d = Dataset::new(vec![0, 255, 51, 102], vec![7, 3], 1, 2).unwrap();
        d.prefetch(&[1, 0, 5, usize::MAX]);
        let (mut x, mut y) = (vec![0.0f32; 2], vec![0u8; 1]);
        d.fill_batch(&[1], &mut x, &mut y);
        assert_eq!((x, y), (vec![0.2, 0.4], vec![3]));
    }

    #[test]
    fn fill_batch_scales_and_follows_indices() {
        let images = vec![0, 255, 51, 102, 255, 0, 1, 254];
        let d = Dataset::new(images, vec![7, 3, 5, 1], 1, 2).unwrap();
        let mut x = vec![-1.0f32; 6];
        let mut y = vec![99u8; 3];
        d.fill_batch(&[1, 3, 1], &mut x, &mut y);
        assert_eq!(y, vec![3, 1, 3]);
        assert_eq!(x, vec![0.2, 0.4, 1.0 / 255.0, 254.0 / 255.0, 0.2, 0.4]);
        d.fill_batch(&[0, 2, 0], &mut x, &mut y);
        assert_eq!(&x[..4], &[0.0, 1.0, 1.0, 0.0]);
        assert_eq!(y, vec![7, 5, 7]);
        for v in 0..=255u8 {
            let d = Dataset::new(vec![v], vec![0], 1, 1).unwrap();
            let (mut x, mut y) = ([0.0f32], [0u8]);
            d.fill_batch(&[0], &mut x, &mut y);
            assert_eq!(x[0], f32::from(v) / 255.0);
            assert!((0.0..=1.0).contains(&x[0]));
        }
        d.fill_batch(&[], &mut [], &mut []);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "batch buffer x is too short")]
    fn fill_batch_checks_lengths_in_debug_builds() {
        let d = numbered(3);
        d.fill_batch(&[0, 1], &mut [0.0; 11], &mut [0; 2]);
    }

    #[test]
    fn fill_batch_leaves_the_rest_of_larger_buffers_alone() {
        let d = numbered(3);
        let mut x = [-1.0f32; 4 * 6];
        let mut y = [99u8; 4];
        d.fill_batch(&[2, 0], &mut x, &mut y);
        assert_eq!(&x[..6], &[2.0 / 255.0; 6]);
        assert_eq!(&x[6..12], &[0.0; 6]);
        assert!(x[12..].iter().all(|&v| v == -1.0));
        assert_eq!(y, [2, 0, 99, 99]);
    }

    #[test]
    fn loads_both_spellings_raw_and_gzipped() {
        for dot in [false, true] {
            for gz in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                write_fixture(dir.path(), dot, gz);
                let m = load_dir(dir.path(), false).unwrap();
                assert_eq!((m.train.len(), m.test.len()), (12, 5), "dot {dot}, gz {gz}");
                assert_eq!((m.train.rows(), m.train.cols()), (4, 4));
                assert_eq!(m.train.image(11), &[11; 16]);
                assert_eq!(m.test.labels(), &[0, 1, 2, 3, 4]);
            }
        }
        // Mixed spellings across the four files are fine too.
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), false, true);
        let from = dir.path().join("t10k-labels-idx1-ubyte.gz");
        std::fs::rename(&from, dir.path().join("t10k-labels.idx1-ubyte.gz")).unwrap();
        assert_eq!(load_dir(dir.path(), false).unwrap().test.len(), 5);
    }

    #[test]
    fn prefers_gzipped_file() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), false, true);
        // A stale raw file beside the .gz one is ignored.
        put(dir.path(), "train-images-idx3-ubyte", b"stale", false);
        assert_eq!(load_dir(dir.path(), false).unwrap().train.len(), 12);
        assert_eq!(
            find_file(dir.path(), FILES[0].0, FILES[0].1).unwrap(),
            dir.path().join("train-images-idx3-ubyte.gz")
        );
    }

    #[test]
    fn missing_directory_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir");
        let err = load_dir(&missing, false).unwrap_err();
        assert!(matches!(&err, Error::Read { path, .. } if *path == missing), "{err:?}");
        assert!(err.to_string().contains("no-such-dir"), "{err}");
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let err = load_dir(&file, false).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    #[test]
    fn missing_file_names_file_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), false, true);
        std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
        let err = load_dir(dir.path(), false).unwrap_err();
        match &err {
            Error::Read { path, source } => {
                assert_eq!(*path, dir.path().join("t10k-labels-idx1-ubyte.gz"));
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("expected a read error, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("no file t10k-labels-idx1-ubyte[.gz] or t10k-labels.idx1-ubyte[.gz]"), "{text}");
        assert!(text.contains(&format!("in {}", dir.path().display())), "{text}");
        let empty = tempfile::tempdir().unwrap();
        let text = load_dir(empty.path(), false).unwrap_err().to_string();
        assert!(text.contains("no file train-images-idx3-ubyte[.gz]"), "{text}");
    }

    #[test]
    fn count_mismatch_between_files_names_both() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), false, true);
        put(dir.path(), "train-labels-idx1-ubyte", &pair(11).1, true);
        let err = load_dir(dir.path(), false).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Corrupt { .. }), "{text}");
        assert!(text.contains("train-labels-idx1-ubyte.gz: has 11 labels"), "{text}");
        assert!(text.contains("train-images-idx3-ubyte.gz has 12 images"), "{text}");

        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), true, false);
        put(dir.path(), "t10k-images.idx3-ubyte", &pair(6).0, false);
        let text = load_dir(dir.path(), false).unwrap_err().to_string();
        assert!(text.contains("has 5 labels") && text.contains("t10k-images.idx3-ubyte has 6 images"), "{text}");
    }

    #[test]
    fn image_size_mismatch_between_train_and_test() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), false, true);
        put(dir.path(), "t10k-images-idx3-ubyte", &idx::encode_images(5, 2, 8, &[0; 80]), true);
        let err = load_dir(dir.path(), false).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Corrupt { .. }), "{text}");
        assert!(text.contains("test images are 2x8") && text.contains("are 4x4"), "{text}");
    }

    #[test]
    fn bad_label_in_file_is_a_label_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), false, true);
        put(dir.path(), "t10k-labels-idx1-ubyte", &idx::encode_labels(&[0, 1, 2, 10, 4]), true);
        let mnist = load_dir(dir.path(), false).unwrap();
        let err = mnist.test.check_labels(10, mnist.label_files[1].as_deref()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Label { index: 3, value: 10, .. }), "{text}");
        assert!(text.contains("t10k-labels-idx1-ubyte.gz: label 10 at index 3"), "{text}");
        assert!(!err.hint().unwrap_or_default().contains("truncated"), "{:?}", err.hint());
    }

    #[test]
    fn corrupt_files_are_reported_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), false, true);
        let path = dir.path().join("train-images-idx3-ubyte.gz");
        let gz = std::fs::read(&path).unwrap();
        std::fs::write(&path, &gz[..gz.len() - 5]).unwrap();
        let text = load_dir(dir.path(), false).unwrap_err().to_string();
        assert!(text.contains("train-images-idx3-ubyte.gz") && text.contains("gzip"), "{text}");
        // Not gzip despite the name, and not IDX either.
        std::fs::write(&path, b"not an idx file at all").unwrap();
        let text = load_dir(dir.path(), false).unwrap_err().to_string();
        assert!(text.contains("train-images-idx3-ubyte.gz: wrong magic number"), "{text}");
    }

    #[test]
    fn checksum_mismatch_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), true, true);
        let (images, _) = pair(12);
        let actual = format!("{:x}", Sha256::digest(&images));
        match load_dir(dir.path(), true).unwrap_err() {
            Error::Checksum { path, expected, actual: found } => {
                assert_eq!(path, dir.path().join("train-images.idx3-ubyte.gz"));
                assert_eq!(expected, bundled::SHA256[0].1);
                assert_eq!(found, actual);
            }
            other => panic!("expected a checksum error, got {other:?}"),
        }
    }

    #[test]
    fn bundled_mnist_loads_and_verifies() {
        let start = std::time::Instant::now();
        let m = load_dir(&bundled_dir(), true).unwrap();
        eprintln!("bundled MNIST loaded and verified in {:?}", start.elapsed());
        assert_eq!((m.train.len(), m.test.len()), (60000, 10000));
        assert_eq!((m.train.rows(), m.train.cols(), m.test.rows(), m.test.cols()), (28, 28, 28, 28));
        let count = |d: &Dataset| {
            let mut c = [0usize; 10];
            d.labels().iter().for_each(|&l| c[usize::from(l)] += 1);
            c
        };
        assert_eq!(count(&m.train), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
        assert_eq!(count(&m.test), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    }

    #[test]
    fn bundled_mnist_verifies_in_dot_spelling_uncompressed() {
        let dir = tempfile::tempdir().unwrap();
        for (canonical, alt) in FILES {
            let content = idx::read_file(&bundled_dir().join(format!("{canonical}.gz"))).unwrap();
            std::fs::write(dir.path().join(alt), content).unwrap();
        }
        let m = load_dir(dir.path(), true).unwrap();
        assert_eq!((m.train.len(), m.test.len()), (60000, 10000));
    }
}
