//! Integration tests of `elu-lab evaluate` and `elu-lab predict`: the real binary on a run
//! trained once here (two quick epochs on 20,000 MNIST images) and on the handwritten digits of
//! tests/fixtures/digits (made from MNIST test images by tests/fixtures/make_digits.py).

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;

/// The run directory of one quick training run, shared by the tests (trained on first use,
/// under Cargo's target directory), and the last line `train` printed.
fn trained() -> (&'static Path, &'static str) {
    static RUN: OnceLock<(PathBuf, String)> = OnceLock::new();
    let (dir, line) = RUN.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("infer-run");
        let _ = std::fs::remove_dir_all(&dir);
        let o = elu_lab(&[
            "train",
            "--limit",
            "20000",
            "--epochs",
            "2",
            "--batch-size",
            "50",
            "--validation-split",
            "0",
            "--verbose",
            "0",
            "--out",
            s(&dir),
        ]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "training failed\nstdout: {out}\nstderr: {err}");
        (dir, out.lines().last().unwrap_or_default().to_string())
    });
    (dir, line)
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/digits")
}

/// (file, label) of every fixture digit.
fn labelled_digits() -> Vec<(String, usize)> {
    let csv = std::fs::read_to_string(fixtures().join("labels.csv")).unwrap();
    csv.lines()
        .skip(1)
        .map(|l| {
            let (f, label) = l.split_once(',').unwrap();
            (f.to_string(), label.parse().unwrap())
        })
        .collect()
}

/// One CSV row of `predict`: file, class, probabilities p0..p9.
type Row = (String, usize, Vec<f64>);

/// Runs `predict --csv` on `files`; returns (success, rows, stderr).
fn predict_csv(run: &Path, files: &[PathBuf], extra: &[&str]) -> (bool, Vec<Row>, String) {
    let mut args = vec!["predict".to_string(), s(run).to_string(), "--csv".to_string()];
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend(files.iter().map(|f| s(f).to_string()));
    let o = elu_lab(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (out, err) = text(&o);
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    assert_eq!(header, "file,class,probability,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9", "stderr: {err}");
    let rows = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let p: Vec<f64> = f[3..].iter().map(|v| v.parse().unwrap()).collect();
            assert_eq!(p.len(), 10, "{l}");
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{l}");
            let class: usize = f[1].parse().unwrap();
            assert_eq!(f[2].parse::<f64>().unwrap(), p[class], "{l}");
            (f[0].to_string(), class, p)
        })
        .collect();
    (o.status.success(), rows, err)
}

#[test]
fn evaluate_repeats_the_test_loss_and_accuracy_of_training_and_writes_its_files() {
    let (run, train_line) = trained();
    let out = tempfile::tempdir().unwrap();
    let o = elu_lab(&["evaluate", s(run), "--out", s(out.path())]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.lines().any(|l| l == train_line), "evaluate should print {train_line:?}:\n{stdout}");

    let json = |p: &Path| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
    let summary = json(&run.join("summary.json"));
    let eval = json(&out.path().join("evaluation.json"));
    assert_eq!(eval["samples"], 10_000);
    assert_eq!(eval["accuracy"].as_f64(), summary["test_accuracy"].as_f64(), "bitwise the same accuracy");
    assert_eq!(eval["loss"].as_f64(), summary["test_loss"].as_f64(), "bitwise the same loss");

    let confusion = std::fs::read_to_string(out.path().join("confusion.csv")).unwrap();
    let rows: Vec<Vec<usize>> =
        confusion.lines().skip(1).map(|l| l.split(',').skip(1).map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 10);
    let diagonal: usize = (0..10).map(|c| rows[c][c]).sum();
    assert_eq!(diagonal as f64 / 10_000.0, summary["test_accuracy"].as_f64().unwrap());
    assert_eq!(rows.iter().flatten().sum::<usize>(), 10_000);
    let per_class = std::fs::read_to_string(out.path().join("per_class.csv")).unwrap();
    assert_eq!(per_class.lines().next().unwrap(), "class,precision,recall,f1,support");
    assert_eq!(per_class.lines().count(), 11);
    let png = std::fs::read(out.path().join("confusion.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn predict_reads_handwritten_digits_in_every_style_at_least_95_percent_right() {
    let (run, _) = trained();
    let digits = labelled_digits();
    assert_eq!(digits.len(), 200);
    let files: Vec<PathBuf> = digits.iter().map(|(f, _)| fixtures().join(f)).collect();
    let (ok, rows, err) = predict_csv(run, &files, &[]);
    assert!(ok, "{err}");
    assert_eq!(rows.len(), 200);
    let mut right = std::collections::BTreeMap::<&str, (usize, usize)>::new();
    for ((file, label), (shown, class, _)) in digits.iter().zip(&rows) {
        assert!(shown.ends_with(file.as_str()), "{shown} vs {file}");
        let style = right.entry(file.split('-').next().unwrap()).or_default();
        style.0 += usize::from(class == label);
        style.1 += 1;
        if class != label {
            eprintln!("{file}: {class}, labelled {label}");
        }
    }
    let correct: usize = right.values().map(|v| v.0).sum();
    eprintln!("right per style: {right:?}; {correct} of 200");
    assert_eq!(right.len(), 5);
    assert!(correct as f64 / 200.0 >= 0.95, "{correct} of 200 right: {right:?}");
    assert!(right.values().all(|&(r, n)| r as f64 / n as f64 >= 0.85), "a style does badly: {right:?}");
}

#[test]
fn without_preprocessing_native_mnist_images_are_read_as_they_are_and_others_refused() {
    let (run, _) = trained();
    let native: Vec<(String, usize)> = labelled_digits().into_iter().filter(|(f, _)| f.starts_with("native")).collect();
    let files: Vec<PathBuf> = native.iter().map(|(f, _)| fixtures().join(f)).collect();
    let (ok, rows, err) = predict_csv(run, &files, &["--no-preprocess"]);
    assert!(ok, "{err}");
    let correct = native.iter().zip(&rows).filter(|((_, label), (_, class, _))| class == label).count();
    assert!(correct >= 36, "{correct} of {} native digits right", native.len());
    // A 300x300 sheet is refused without preprocessing, by name.
    let (ok, rows, err) = predict_csv(run, &[fixtures().join("paper-00.png")], &["--no-preprocess"]);
    assert!(!ok && rows.is_empty());
    assert!(err.contains("paper-00.png") && err.contains("300x300"), "{err}");
}

/// CRC-32 (IEEE) of `bytes`, as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG whose (valid) header claims `w`×`h` 8-bit gray pixels, with a tiny data chunk.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend(data);
        png.extend(&body);
        png.extend(crc32(&body).to_be_bytes());
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    png
}

#[test]
fn bad_files_are_named_the_others_still_predicted_and_the_exit_code_is_non_zero() {
    let (run, _) = trained();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("empty.png"), b"").unwrap();
    std::fs::write(d.join("corrupt.png"), b"\x89PNG\r\n\x1a\nthis is not a PNG any more").unwrap();
    std::fs::write(d.join("text.jpg"), b"hello").unwrap();
    std::fs::write(d.join("huge.png"), png_claiming(100_000, 100_000)).unwrap();
    std::fs::create_dir(d.join("folder.png")).unwrap();
    let good = [fixtures().join("paper-00.png"), fixtures().join("native-00.pgm")];
    let files = vec![
        d.join("empty.png"),
        good[0].clone(),
        d.join("corrupt.png"),
        d.join("missing.png"),
        d.join("huge.png"),
        d.join("text.jpg"),
        d.join("folder.png"),
        good[1].clone(),
    ];
    let (ok, rows, err) = predict_csv(run, &files, &[]);
    assert!(!ok, "bad files must make the exit code non-zero");
    assert!(!err.contains("panicked"), "{err}");
    let predicted: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(predicted, [s(&good[0]), s(&good[1])], "{err}");
    for bad in ["empty.png", "corrupt.png", "missing.png", "huge.png", "text.jpg", "folder.png"] {
        let line = err.lines().find(|l| l.contains(bad)).unwrap_or_else(|| panic!("{bad} not named:\n{err}"));
        assert!(line.starts_with("error: "), "{line}");
    }
    assert!(err.contains("6 of 8 files could not be predicted"), "{err}");
    let huge = err.lines().find(|l| l.contains("huge.png")).unwrap();
    assert!(huge.to_lowercase().contains("limit"), "{huge}");
}

#[test]
fn predict_prints_the_top_classes_as_text_and_json() {
    let (run, _) = trained();
    let file = fixtures().join("paper-00.png");
    let o = elu_lab(&["predict", s(run), s(&file), "--top", "3"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let line = out.lines().next().unwrap();
    assert!(
        line.starts_with(&format!("{}: ", file.display()))
            && line.matches(" (0.").count() + line.matches(" (1.").count() == 3,
        "{line}"
    );
    let o = elu_lab(&["predict", s(run), s(&file), "--json", "--top", "2"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["top"].as_array().unwrap().len(), 2);
    assert_eq!(v[0]["probabilities"].as_array().unwrap().len(), 10);
    assert_eq!(v[0]["class"], v[0]["top"][0]["class"]);
    let o = elu_lab(&["evaluate", "/nonexistent/run"]);
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("/nonexistent/run"), "{err}");
}
