//! The IDX file format of MNIST: reading (transparently gunzipping), validating, parsing and encoding.
//!
//! Layout: a big-endian `u32` magic number (2051 for images, 2049 for labels), a big-endian `u32`
//! count, for images also `u32` rows and `u32` cols, then the `u8` payload in row-major order.

use std::io::{BufRead, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Magic number of an IDX image file (unsigned bytes, three dimensions).
pub const IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX label file (unsigned bytes, one dimension).
pub const LABELS_MAGIC: u32 = 2049;
/// Header length of an IDX image file in bytes.
pub const IMAGES_HEADER_LEN: usize = 16;
/// Header length of an IDX label file in bytes.
pub const LABELS_HEADER_LEN: usize = 8;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Most bytes reserved for a payload before any of it has arrived (the bundled training images,
/// 47 MB, fit; larger payloads grow the buffer as they are read).
const INITIAL_CAPACITY: usize = 64 << 20;

/// The content of an IDX image file: `count` images of `rows` x `cols` bytes each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Image height in pixels.
    pub rows: usize,
    /// Image width in pixels.
    pub cols: usize,
    /// `count * rows * cols` pixels, image after image, each row-major.
    pub pixels: Vec<u8>,
}

/// Reads the IDX file `path`, gunzipping the content if it starts with the gzip magic bytes
/// `1f 8b`, and returns its (decompressed) bytes: header and payload.
///
/// Whether a file is gzipped is decided by its content, not its name. The file must be a regular
/// file (or a symlink to one; [`Error::InputFile`] otherwise). Memory is bounded by what the
/// header promises, whatever the file holds: the header is read first, the payload size it
/// promises (`count * rows * cols` bytes for images, `count` for labels) is computed with checked
/// arithmetic and must fit in the available memory, and then exactly that many bytes are read or
/// decompressed. More data than that is [`Error::Corrupt`] ("has more data than its header
/// promises"), so a gzip bomb is never expanded past the header's size. A file whose magic number
/// is neither IDX images nor labels is returned up to its first 16 bytes, enough for
/// [`parse_images`] and [`parse_labels`] to name the wrong magic number. A missing or unreadable
/// file is [`Error::Read`]; a truncated or damaged gzip stream is [`Error::Corrupt`].
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let (file, _) = crate::limits::open_regular(path, u64::MAX, "data file")?;
    let mut raw = std::io::BufReader::new(file);
    let gzipped = raw.fill_buf().map_err(|e| Error::read(path, e))?.starts_with(&GZIP_MAGIC);
    if gzipped {
        let gz = flate2::bufread::GzDecoder::new(raw);
        read_promised(gz, path).map_err(|e| match e {
            ReadError::Io(e) => Error::corrupt(path, format!("truncated or damaged gzip data ({e})")),
            ReadError::Lib(e) => e,
        })
    } else {
        read_promised(raw, path).map_err(|e| match e {
            ReadError::Io(e) => Error::read(path, e),
            ReadError::Lib(e) => e,
        })
    }
}

/// A failure of [`read_promised`]: of the reader (its meaning depends on the reader), or one
/// already described.
enum ReadError {
    Io(std::io::Error),
    Lib(Error),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Reads the header of the IDX content of `r`, then exactly the payload it promises (see
/// [`read_file`]).
fn read_promised(mut r: impl Read, path: &Path) -> std::result::Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::with_capacity(IMAGES_HEADER_LEN);
    (&mut r).take(4).read_to_end(&mut bytes)?;
    let header_len = match (bytes.len() == 4).then(|| be_u32(&bytes, 0) as u32) {
        Some(IMAGES_MAGIC) => IMAGES_HEADER_LEN,
        Some(LABELS_MAGIC) => LABELS_HEADER_LEN,
        // Not IDX (or too short to tell): the parsers say so from these bytes.
        _ => {
            (&mut r).take((IMAGES_HEADER_LEN - bytes.len()) as u64).read_to_end(&mut bytes)?;
            return Ok(bytes);
        }
    };
    (&mut r).take((header_len - 4) as u64).read_to_end(&mut bytes)?;
    if bytes.len() < header_len {
        return Ok(bytes); // a truncated header, which the parsers report
    }
    let dims: Vec<usize> = (4..header_len).step_by(4).map(|at| be_u32(&bytes, at)).collect();
    let promised = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let shown = dims.iter().map(usize::to_string).collect::<Vec<_>>().join("x");
    let Some(promised) = promised.filter(|&n| n.checked_add(header_len).is_some()) else {
        return Err(ReadError::Lib(Error::corrupt(
            path,
            format!("header dimensions {shown} overflow the addressable size"),
        )));
    };
    let available = crate::limits::available_memory();
    if promised as u64 > available {
        return Err(ReadError::Lib(Error::InputFile {
            path: path.to_path_buf(),
            msg: format!(
                "header promises {promised} bytes of data ({shown}), more than the {} of memory available",
                crate::limits::human_bytes(available)
            ),
        }));
    }
    // The header's word is not trusted with an allocation: the vector grows as data arrives.
    bytes.reserve_exact(promised.min(INITIAL_CAPACITY));
    (&mut r).take(promised as u64).read_to_end(&mut bytes)?;
    if bytes.len() - header_len == promised {
        // One more byte would be more than promised (and reading to the end checks a gzip CRC).
        let mut extra = [0u8; 1];
        let more = loop {
            match r.read(&mut extra) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        };
        if more > 0 {
            return Err(ReadError::Lib(Error::corrupt(
                path,
                format!("has more data than its header promises ({promised} bytes for {shown})"),
            )));
        }
    }
    Ok(bytes)
}

/// Reads the big-endian `u32` at byte `offset` of `bytes` (the caller checked the length).
fn be_u32(bytes: &[u8], offset: usize) -> usize {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_be_bytes(word) as usize
}

/// Checks the magic number and header length of an IDX file of kind `what`.
fn check_header(bytes: &[u8], path: &Path, magic: u32, header_len: usize, what: &str) -> Result<()> {
    if bytes.len() < 4 {
        return Err(Error::corrupt(
            path,
            format!("truncated header: file is {} bytes, {what} header is {header_len}", bytes.len()),
        ));
    }
    let found = be_u32(bytes, 0);
    if found != magic as usize {
        let other = match found as u32 {
            IMAGES_MAGIC => "; this looks like an IDX image file",
            LABELS_MAGIC => "; this looks like an IDX label file",
            _ => "",
        };
        return Err(Error::corrupt(path, format!("wrong magic number {found}, expected {magic} ({what}){other}")));
    }
    if bytes.len() < header_len {
        return Err(Error::corrupt(
            path,
            format!("truncated header: file is {} bytes, {what} header is {header_len}", bytes.len()),
        ));
    }
    Ok(())
}

/// Checks that `payload` bytes is exactly `expected` (if that did not overflow).
fn check_payload(path: &Path, payload: usize, expected: Option<usize>, dims: &str) -> Result<()> {
    match expected {
        None => Err(Error::corrupt(path, format!("header dimensions {dims} overflow the addressable size"))),
        Some(expected) if payload != expected => {
            Err(Error::corrupt(path, format!("payload is {payload} bytes, header promises {expected} ({dims})")))
        }
        Some(_) => Ok(()),
    }
}

/// Validates an IDX image header and returns `(count, rows, cols)`.
fn image_dims(bytes: &[u8], path: &Path) -> Result<(usize, usize, usize)> {
    check_header(bytes, path, IMAGES_MAGIC, IMAGES_HEADER_LEN, "an IDX image file")?;
    let (count, rows, cols) = (be_u32(bytes, 4), be_u32(bytes, 8), be_u32(bytes, 12));
    let dims = format!("{count} images of {rows}x{cols}");
    if count == 0 || rows == 0 || cols == 0 {
        return Err(Error::corrupt(path, format!("zero dimension in header: {dims}")));
    }
    let expected = count.checked_mul(rows).and_then(|n| n.checked_mul(cols));
    check_payload(path, bytes.len() - IMAGES_HEADER_LEN, expected, &dims)?;
    Ok((count, rows, cols))
}

/// Validates an IDX label header and returns the count.
fn label_count(bytes: &[u8], path: &Path) -> Result<usize> {
    check_header(bytes, path, LABELS_MAGIC, LABELS_HEADER_LEN, "an IDX label file")?;
    let count = be_u32(bytes, 4);
    if count == 0 {
        return Err(Error::corrupt(path, "zero dimension in header: 0 labels"));
    }
    check_payload(path, bytes.len() - LABELS_HEADER_LEN, Some(count), &format!("{count} labels"))?;
    Ok(count)
}

/// Parses the bytes of an IDX image file; `path` is only used in error messages.
///
/// Checks the header length, the magic number, that no dimension is zero and that the payload is
/// exactly `count * rows * cols` bytes. Never panics, whatever the input.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<IdxImages> {
    let (count, rows, cols) = image_dims(bytes, path)?;
    Ok(IdxImages { count, rows, cols, pixels: bytes[IMAGES_HEADER_LEN..].to_vec() })
}

/// Like [`parse_images`], reusing the buffer for the pixels instead of copying them.
pub(crate) fn parse_images_owned(mut bytes: Vec<u8>, path: &Path) -> Result<IdxImages> {
    let (count, rows, cols) = image_dims(&bytes, path)?;
    bytes.drain(..IMAGES_HEADER_LEN);
    Ok(IdxImages { count, rows, cols, pixels: bytes })
}

/// Parses the bytes of an IDX label file into the labels; `path` is only used in error messages.
///
/// Checks the header length, the magic number, that the count is not zero and that the payload is
/// exactly `count` bytes. The label values are not checked here. Never panics.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    label_count(bytes, path)?;
    Ok(bytes[LABELS_HEADER_LEN..].to_vec())
}

/// Like [`parse_labels`], reusing the buffer instead of copying it.
pub(crate) fn parse_labels_owned(mut bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    label_count(&bytes, path)?;
    bytes.drain(..LABELS_HEADER_LEN);
    Ok(bytes)
}

/// Reads and parses an IDX image file, gzipped or not.
pub fn read_images(path: &Path) -> Result<IdxImages> {
    parse_images_owned(read_file(path)?, path)
}

/// Reads and parses an IDX label file, gzipped or not.
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    parse_labels_owned(read_file(path)?, path)
}

/// Encodes `count` images of `rows` x `cols` pixels as the bytes of an IDX image file.
///
/// The dimensions are written as given (truncated to `u32`), even if they disagree with
/// `pixels.len()`, so that tests can build inconsistent files.
pub fn encode_images(count: usize, rows: usize, cols: usize, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(IMAGES_HEADER_LEN + pixels.len());
    out.extend_from_slice(&IMAGES_MAGIC.to_be_bytes());
    for dim in [count, rows, cols] {
        out.extend_from_slice(&(dim as u32).to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Encodes `labels` as the bytes of an IDX label file.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LABELS_HEADER_LEN + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn p() -> &'static Path {
        Path::new("x-idx3-ubyte")
    }

    fn corrupt_msg(err: Error) -> String {
        match err {
            Error::Corrupt { msg, .. } => msg,
            other => panic!("expected a corrupt-file error, got {other:?}"),
        }
    }

    #[test]
    fn images_round_trip() {
        let pixels: Vec<u8> = (0..2 * 3 * 4).map(|i| (i * 10) as u8).collect();
        let bytes = encode_images(2, 3, 4, &pixels);
        assert_eq!(bytes.len(), 16 + 24);
        assert_eq!(&bytes[..4], &[0, 0, 8, 3]);
        let img = parse_images(&bytes, p()).unwrap();
        assert_eq!(img, IdxImages { count: 2, rows: 3, cols: 4, pixels: pixels.clone() });
        assert_eq!(parse_images_owned(bytes, p()).unwrap().pixels, pixels);
    }

    #[test]
    fn labels_round_trip() {
        let labels = vec![0, 9, 3, 3, 7];
        let bytes = encode_labels(&labels);
        assert_eq!(&bytes[..8], &[0, 0, 8, 1, 0, 0, 0, 5]);
        assert_eq!(parse_labels(&bytes, p()).unwrap(), labels);
        assert_eq!(parse_labels_owned(bytes, p()).unwrap(), labels);
    }

    #[test]
    fn wrong_magic_names_both_numbers() {
        let msg = corrupt_msg(parse_images(&encode_labels(&[1, 2]), p()).unwrap_err());
        assert!(msg.contains("wrong magic number 2049, expected 2051 (an IDX image file)"), "{msg}");
        assert!(msg.contains("label file"), "{msg}");
        let msg = corrupt_msg(parse_labels(&encode_images(1, 1, 1, &[0]), p()).unwrap_err());
        assert!(msg.contains("wrong magic number 2051, expected 2049 (an IDX label file)"), "{msg}");
        let msg = corrupt_msg(parse_labels(b"PK\x03\x04rest", p()).unwrap_err());
        assert!(msg.contains("wrong magic number 1347093252"), "{msg}");
    }

    #[test]
    fn truncated_header_is_rejected() {
        let full = encode_images(1, 2, 2, &[1, 2, 3, 4]);
        for len in 0..16 {
            let msg = corrupt_msg(parse_images(&full[..len], p()).unwrap_err());
            assert!(msg.contains("truncated header"), "{len}: {msg}");
            assert!(msg.contains(&format!("file is {len} bytes")), "{len}: {msg}");
        }
        let full = encode_labels(&[1]);
        for len in 0..8 {
            let msg = corrupt_msg(parse_labels(&full[..len], p()).unwrap_err());
            assert!(msg.contains("truncated header"), "{len}: {msg}");
        }
    }

    #[test]
    fn truncated_payload_is_rejected() {
        let pixels = vec![7u8; 10 * 28 * 28];
        let bytes = encode_images(10, 28, 28, &pixels);
        let msg = corrupt_msg(parse_images(&bytes[..16 + 1000], p()).unwrap_err());
        assert!(msg.contains("payload is 1000 bytes, header promises 7840"), "{msg}");
        let bytes = encode_labels(&[1, 2, 3]);
        let msg = corrupt_msg(parse_labels(&bytes[..10], p()).unwrap_err());
        assert!(msg.contains("payload is 2 bytes, header promises 3"), "{msg}");
    }

    #[test]
    fn payload_too_long_is_rejected() {
        let mut bytes = encode_images(1, 2, 2, &[1, 2, 3, 4]);
        bytes.push(0);
        let msg = corrupt_msg(parse_images(&bytes, p()).unwrap_err());
        assert!(msg.contains("payload is 5 bytes, header promises 4"), "{msg}");
        let mut bytes = encode_labels(&[1, 2]);
        bytes.push(3);
        let msg = corrupt_msg(parse_labels(&bytes, p()).unwrap_err());
        assert!(msg.contains("payload is 3 bytes, header promises 2"), "{msg}");
    }

    #[test]
    fn zero_dimensions_are_rejected() {
        for (c, r, k) in [(0, 28, 28), (1, 0, 28), (1, 28, 0)] {
            let msg = corrupt_msg(parse_images(&encode_images(c, r, k, &[]), p()).unwrap_err());
            assert!(msg.contains("zero dimension"), "{msg}");
        }
        let msg = corrupt_msg(parse_labels(&encode_labels(&[]), p()).unwrap_err());
        assert!(msg.contains("zero dimension"), "{msg}");
    }

    #[test]
    fn count_overflow_does_not_panic() {
        let max = u32::MAX as usize;
        let bytes = encode_images(max, max, max, &[0; 8]);
        let msg = corrupt_msg(parse_images(&bytes, p()).unwrap_err());
        assert!(msg.contains("overflow"), "{msg}");
        // Large but not overflowing: an honest size mismatch.
        let bytes = encode_images(max, max, 1, &[0; 8]);
        let msg = corrupt_msg(parse_images(&bytes, p()).unwrap_err());
        assert!(msg.contains("payload is 8 bytes"), "{msg}");
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let _ = parse_images(&bytes, p());
            let _ = parse_labels(&bytes, p());
            let mut with_magic = encode_images(0, 0, 0, &[]);
            with_magic.truncate(4);
            with_magic.extend_from_slice(&bytes);
            let _ = parse_images(&with_magic, p());
        }
    }

    #[test]
    fn reads_raw_and_gzipped_files() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = encode_images(3, 2, 2, &(0..12).collect::<Vec<u8>>());
        let raw = dir.path().join("a-idx3-ubyte");
        let gz = dir.path().join("a-idx3-ubyte.gz");
        std::fs::write(&raw, &bytes).unwrap();
        std::fs::write(&gz, gzip(&bytes)).unwrap();
        assert_eq!(read_file(&raw).unwrap(), bytes);
        assert_eq!(read_file(&gz).unwrap(), bytes);
        assert_eq!(read_images(&gz).unwrap(), read_images(&raw).unwrap());
        let labels = dir.path().join("l-idx1-ubyte.gz");
        std::fs::write(&labels, gzip(&encode_labels(&[4, 2]))).unwrap();
        assert_eq!(read_labels(&labels).unwrap(), vec![4, 2]);
    }

    #[test]
    fn gz_name_without_gzip_content() {
        let dir = tempfile::tempdir().unwrap();
        // Raw IDX under a .gz name: the content decides, so it still loads.
        let path = dir.path().join("l-idx1-ubyte.gz");
        std::fs::write(&path, encode_labels(&[1, 2, 3])).unwrap();
        assert_eq!(read_labels(&path).unwrap(), vec![1, 2, 3]);
        // Something else under a .gz name: an IDX error naming the file.
        std::fs::write(&path, b"<html>not found</html>").unwrap();
        let err = read_labels(&path).unwrap_err();
        assert!(err.to_string().contains("l-idx1-ubyte.gz"), "{err}");
        assert!(corrupt_msg(err).contains("wrong magic number"));
    }

    #[test]
    fn truncated_or_damaged_gzip_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..50 * 28 * 28).map(|i| (i % 251) as u8).collect();
        let gz = gzip(&encode_images(50, 28, 28, &pixels));
        let path = dir.path().join("t-idx3-ubyte.gz");
        for cut in [2, 10, 30, gz.len() / 2, gz.len() - 8, gz.len() - 1] {
            std::fs::write(&path, &gz[..cut]).unwrap();
            let err = read_file(&path).unwrap_err();
            assert!(err.to_string().contains("t-idx3-ubyte.gz"), "{err}");
            let msg = corrupt_msg(err);
            assert!(msg.contains("gzip"), "cut at {cut}: {msg}");
        }
        // A flipped byte in the middle is caught by the deflate decoder or the CRC.
        let mut bad = gz.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        std::fs::write(&path, &bad).unwrap();
        assert!(corrupt_msg(read_file(&path).unwrap_err()).contains("gzip"));
    }

    #[test]
    fn a_gzip_bomb_is_not_expanded_past_what_its_header_promises() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb-idx1-ubyte.gz");
        // A header promising 1,000 labels, then 64 MiB of zeros: a 64 KB file.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&encode_labels(&[0; 1000])).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&zeros).unwrap();
        }
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
        let msg = corrupt_msg(read_file(&path).unwrap_err());
        assert!(msg.contains("has more data than its header promises (1000 bytes for 1000)"), "{msg}");
        // The same for a raw file with trailing data.
        let raw = dir.path().join("long-idx3-ubyte");
        let mut bytes = encode_images(2, 2, 2, &[1; 8]);
        bytes.extend_from_slice(&[0; 4096]);
        std::fs::write(&raw, &bytes).unwrap();
        let msg = corrupt_msg(read_images(&raw).unwrap_err());
        assert!(msg.contains("has more data than its header promises (8 bytes for 2x2x2)"), "{msg}");
    }

    #[test]
    fn a_header_promising_more_than_memory_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge-idx3-ubyte");
        // 2^32-1 images of 2^16-1 x 2^16-1: about 2^64 bytes, more than any memory.
        let max = u32::MAX as usize;
        std::fs::write(&path, encode_images(max, 65_535, 65_535, &[0; 64])).unwrap();
        match read_images(&path).unwrap_err() {
            Error::InputFile { msg, .. } => {
                assert!(msg.contains("more than the") && msg.contains("available"), "{msg}")
            }
            Error::Corrupt { msg, .. } => assert!(msg.contains("overflow"), "{msg}"),
            other => panic!("{other:?}"),
        }
        std::fs::write(&path, encode_images(max, max, max, &[0; 64])).unwrap();
        assert!(corrupt_msg(read_images(&path).unwrap_err()).contains("overflow"));
    }

    #[test]
    fn devices_and_fifos_are_refused_not_read() {
        if std::path::Path::new("/dev/zero").exists() {
            assert!(matches!(read_images(Path::new("/dev/zero")), Err(Error::InputFile { .. })));
        }
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("train-images-idx3-ubyte");
        if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
            let err = read_images(&fifo).unwrap_err().to_string();
            assert!(err.contains("FIFO"), "{err}");
        }
    }

    #[test]
    fn unknown_content_is_read_only_as_far_as_the_magic_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("page.html");
        std::fs::write(&path, "<html>".repeat(10_000)).unwrap();
        assert_eq!(read_file(&path).unwrap().len(), 16);
        assert!(corrupt_msg(read_images(&path).unwrap_err()).contains("wrong magic number"));
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope-idx1-ubyte");
        match read_labels(&path).unwrap_err() {
            Error::Read { path: p, source } => {
                assert_eq!(p, path);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected a read error, got {other:?}"),
        }
    }
}
