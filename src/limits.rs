//! Resource limits on untrusted input: bounded reading of regular files, the memory available
//! to a model or dataset, and the caps on model files.
//!
//! Every file elu-lab reads (model files, IDX data, weights and checkpoints) goes through
//! [`open_regular`]: the path is followed through symlinks and must end at a regular file, which
//! is checked *before* the file is opened (so a FIFO cannot block the process and a device such
//! as `/dev/zero` is never read), and its size is checked against a cap before any byte is read.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Largest model (TOML) or other configuration file elu-lab reads: 16 MiB.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Most layers a model file may list (a Conv2D or Dense with a fused `activation` counts once).
pub const MAX_LAYERS: usize = 1000;

/// Memory assumed available where the operating system does not say (no `/proc/meminfo`).
pub const FALLBACK_MEMORY_BYTES: u64 = 16 << 30;

/// Longest excerpt of offending input that an error message quotes, in characters.
pub const MAX_EXCERPT_CHARS: usize = 300;

/// Opens `path` for reading after checking that it is (a symlink to) a regular file of at most
/// `limit` bytes; `what` names the kind of file in errors ("model file", "checkpoint").
///
/// Returns the open file and its size. A missing file is [`Error::Read`]; a directory, device,
/// FIFO or socket, or a file over the limit, is [`Error::InputFile`]. The type is checked before
/// opening: opening a FIFO for reading would wait for a writer.
pub fn open_regular(path: &Path, limit: u64, what: &str) -> Result<(File, u64)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::read(path, e))?;
    check_regular(path, &meta, what)?;
    let file = File::open(path).map_err(|e| Error::read(path, e))?;
    // The path may have been replaced between the two calls: check what was opened.
    let meta = file.metadata().map_err(|e| Error::read(path, e))?;
    check_regular(path, &meta, what)?;
    if meta.len() > limit {
        return Err(Error::InputFile {
            path: path.to_path_buf(),
            msg: format!("{what} is {} bytes, more than the {limit} bytes allowed", meta.len()),
        });
    }
    Ok((file, meta.len()))
}

fn check_regular(path: &Path, meta: &std::fs::Metadata, what: &str) -> Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    let kind = file_kind(meta);
    Err(Error::InputFile { path: path.to_path_buf(), msg: format!("{what} is {kind}, not a regular file") })
}

/// "a directory", "a FIFO", "a character device", ... for a file that is not regular.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Reads the whole of `path`, which must be a regular file of at most `limit` bytes (see
/// [`open_regular`]). A file that grows past the limit while it is read is refused too.
pub fn read_regular(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let (file, len) = open_regular(path, limit, what)?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Error::read(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(Error::InputFile {
            path: path.to_path_buf(),
            msg: format!("{what} grew past the {limit} bytes allowed while it was read"),
        });
    }
    Ok(bytes)
}

/// Reads `path` as UTF-8 text, a regular file of at most [`MAX_CONFIG_BYTES`].
pub fn read_config_text(path: &Path, what: &str) -> Result<String> {
    let bytes = read_regular(path, MAX_CONFIG_BYTES, what)?;
    String::from_utf8(bytes).map_err(|e| {
        Error::read(path, io::Error::new(io::ErrorKind::InvalidData, format!("{what} is not UTF-8 text ({e})")))
    })
}

/// Bytes of memory this process may still use: `MemAvailable` of `/proc/meminfo`, lowered to
/// what is left under a cgroup (v2) memory limit when there is one; [`FALLBACK_MEMORY_BYTES`]
/// where neither can be read.
pub fn available_memory() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| mem_available(&t));
    let cgroup = cgroup_headroom();
    match (meminfo, cgroup) {
        (Some(m), Some(c)) => m.min(c),
        (Some(m), None) => m,
        (None, Some(c)) => c,
        (None, None) => FALLBACK_MEMORY_BYTES,
    }
}

/// `MemAvailable` (in bytes) from the text of `/proc/meminfo`.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut words = line.split_whitespace().skip(1);
    let n: u64 = words.next()?.parse().ok()?;
    let unit = match words.next() {
        Some("kB") => 1024,
        None => 1,
        Some(_) => return None,
    };
    n.checked_mul(unit)
}

/// `memory.max - memory.current` of this process's cgroup (v2), if it has a limit.
fn cgroup_headroom() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let dir = Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/'));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok()?.trim().parse::<u64>().ok();
    let max = read("memory.max")?; // "max" (no limit) does not parse
    Some(max.saturating_sub(read("memory.current").unwrap_or(0)))
}

/// At most [`MAX_EXCERPT_CHARS`] characters of `text`, with `…` where it was cut.
pub fn excerpt(text: &str) -> String {
    excerpt_to(text, MAX_EXCERPT_CHARS)
}

/// At most `max` characters of `text`, with `…` where it was cut.
pub fn excerpt_to(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A byte count for people: "512 B", "1.5 KB", "51.9 GB" (powers of 1000, as `ls -h --si`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input_msg(err: Error) -> String {
        match err {
            Error::InputFile { msg, .. } => msg,
            other => panic!("expected an input-file error, got {other:?}"),
        }
    }

    #[test]
    fn regular_files_within_the_limit_are_read() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.toml");
        std::fs::write(&p, "abc").unwrap();
        assert_eq!(read_regular(&p, 3, "model file").unwrap(), b"abc");
        let msg = input_msg(read_regular(&p, 2, "model file").unwrap_err());
        assert!(msg.contains("model file is 3 bytes, more than the 2 bytes allowed"), "{msg}");
        // Through a symlink, the target counts.
        #[cfg(unix)]
        {
            let link = d.path().join("link.toml");
            std::os::unix::fs::symlink(&p, &link).unwrap();
            assert_eq!(read_config_text(&link, "model file").unwrap(), "abc");
        }
    }

    #[test]
    fn directories_devices_and_fifos_are_refused_before_opening() {
        let d = tempfile::tempdir().unwrap();
        let msg = input_msg(read_regular(d.path(), 100, "model file").unwrap_err());
        assert!(msg.contains("is a directory, not a regular file"), "{msg}");
        #[cfg(unix)]
        {
            if Path::new("/dev/zero").exists() {
                let msg = input_msg(read_regular(Path::new("/dev/zero"), 100, "checkpoint").unwrap_err());
                assert!(msg.contains("checkpoint is a character device"), "{msg}");
                let link = d.path().join("zero");
                std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
                let msg = input_msg(read_regular(&link, 100, "checkpoint").unwrap_err());
                assert!(msg.contains("a character device"), "{msg}");
            }
            // A FIFO without a writer: opening it would block this test forever.
            let fifo = d.path().join("fifo");
            if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
                let msg = input_msg(read_regular(&fifo, 100, "model file").unwrap_err());
                assert!(msg.contains("is a FIFO"), "{msg}");
            }
        }
        match read_regular(&d.path().join("missing"), 100, "model file").unwrap_err() {
            Error::Read { source, .. } => assert_eq!(source.kind(), io::ErrorKind::NotFound),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_utf8_text_is_a_read_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.toml");
        std::fs::write(&p, [0xff, 0xfe, 0x00]).unwrap();
        let err = read_config_text(&p, "model file").unwrap_err().to_string();
        assert!(err.contains("not UTF-8"), "{err}");
    }

    #[test]
    fn mem_available_parses_meminfo() {
        let text = "MemTotal:       24683568 kB\nMemFree: 1 kB\nMemAvailable:   23835016 kB\n";
        assert_eq!(mem_available(text), Some(23_835_016 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(mem_available("MemAvailable: lots kB\n"), None);
        assert!(available_memory() > 0);
    }

    #[test]
    fn excerpts_are_cut_on_character_boundaries() {
        assert_eq!(excerpt_to("abc", 3), "abc");
        assert_eq!(excerpt_to("abcd", 3), "abc…");
        assert_eq!(excerpt_to("ééééé", 2), "éé…");
        assert_eq!(excerpt(&"x".repeat(10_000)).chars().count(), MAX_EXCERPT_CHARS + 1);
    }

    #[test]
    fn human_bytes_uses_si_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1500), "1.5 KB");
        assert_eq!(human_bytes(51_916_800_000), "51.9 GB");
    }
}
