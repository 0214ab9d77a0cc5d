//! The MNIST dataset shipped in the repository under `data/mnist/`: where it is and its checksums.

use std::path::{Path, PathBuf};

use super::dataset::{load_dir, Mnist};
use crate::error::Result;

/// SHA-256 of the decompressed content of each bundled file, keyed by its canonical name
/// (hyphen spelling, without `.gz`).
pub const SHA256: [(&str, &str); 4] = [
    ("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    ("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    ("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    ("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
];

/// The recorded SHA-256 for a file name in either spelling (`train-images-idx3-ubyte` or
/// `train-images.idx3-ubyte`), with or without `.gz`; `None` for a name not in [`SHA256`].
pub fn expected_sha256(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix(".gz").unwrap_or(name);
    let canonical = name.replacen(".idx", "-idx", 1);
    SHA256.iter().find(|(file, _)| *file == canonical).map(|&(_, sum)| sum)
}

/// The bundled data directory: `data/mnist` if it exists relative to the current directory,
/// else `data/mnist` in the source tree this crate was built from.
pub fn default_dir() -> PathBuf {
    let local = Path::new("data/mnist");
    if local.is_dir() {
        local.to_path_buf()
    } else {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist"))
    }
}

/// Loads the bundled MNIST from [`default_dir`], verifying the checksums.
pub fn load() -> Result<Mnist> {
    load_dir(&default_dir(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_sha256_accepts_both_spellings() {
        let sum = SHA256[0].1;
        for name in [
            "train-images-idx3-ubyte",
            "train-images.idx3-ubyte",
            "train-images-idx3-ubyte.gz",
            "train-images.idx3-ubyte.gz",
        ] {
            assert_eq!(expected_sha256(name), Some(sum), "{name}");
        }
        assert_eq!(expected_sha256("t10k-labels.idx1-ubyte"), Some(SHA256[3].1));
        assert_eq!(expected_sha256("other-idx1-ubyte"), None);
    }

    #[test]
    fn sums_are_lowercase_sha256_hex() {
        for (name, sum) in SHA256 {
            assert_eq!(sum.len(), 64, "{name}");
            assert!(sum.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{name}");
        }
    }
}
