//! The study: `reproduce` / `sweep` / `report` through the real binary: every report file, a
//! resumed study equal to an uninterrupted one, and bad plans refused before anything runs.

mod common;

use std::path::Path;

use common::*;

/// results.csv without its wall-clock column.
fn results_without_times(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let wall = header.iter().position(|h| *h == "wall_seconds").unwrap();
    text.lines()
        .map(|l| l.split(',').enumerate().filter(|(i, _)| *i != wall).map(|(_, v)| v).collect::<Vec<_>>().join(","))
        .collect()
}

const QUICK: [&str; 8] = ["--seeds", "2", "--epochs", "1", "--limit", "600", "--verbose", "0"];

#[test]
fn reproduce_writes_every_report_file_and_a_resumed_study_equals_an_uninterrupted_one() {
    let d = tempfile::tempdir().unwrap();
    let (whole, resumed) = (d.path().join("whole"), d.path().join("resumed"));
    let mut args = vec!["reproduce", "--out", s(&whole)];
    args.extend(QUICK);
    run_ok(&args);
    for f in ["sweep.toml", "results.csv", "summary.csv", "comparisons.csv", "REPORT.md", "REPORT.html"] {
        assert!(whole.join(f).is_file(), "{f} missing");
    }
    let results = std::fs::read_to_string(whole.join("results.csv")).unwrap();
    assert_eq!(results.lines().count(), 1 + 8, "{results}");
    assert_eq!(results.matches(",done,").count(), 8, "{results}");
    // Every finished trial has its test figures at the best validation epoch (one epoch: the same).
    let header: Vec<&str> = results.lines().next().unwrap().split(',').collect();
    let (at_best, last) = (
        header.iter().position(|h| *h == "test_accuracy_at_best").unwrap(),
        header.iter().position(|h| *h == "test_accuracy").unwrap(),
    );
    for line in results.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[at_best], cells[last], "{line}");
    }
    // Four comparisons (ELU vs ReLU at each init, He vs Glorot at each activation) per metric.
    let comparisons = std::fs::read_to_string(whole.join("comparisons.csv")).unwrap();
    assert_eq!(comparisons.lines().filter(|l| l.starts_with("test_accuracy,")).count(), 4, "{comparisons}");
    let losses: Vec<_> = comparisons.lines().filter(|l| l.starts_with("test_loss,")).collect();
    assert!(losses.len() == 4 && losses.iter().all(|l| l.contains(",exact,")), "2 vs 2 without ties is exact");
    // The HTML is well-formed, self-contained, with every figure inline and a hover title per point.
    let html = std::fs::read_to_string(whole.join("REPORT.html")).unwrap();
    let doc = roxmltree::Document::parse_with_options(
        &html,
        roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() },
    )
    .expect("REPORT.html parses");
    let svgs = doc.descendants().filter(|n| n.has_tag_name("svg")).count();
    assert_eq!(svgs, 4 * 2 + 1, "two charts per configuration and the dot plot");
    assert!(doc.descendants().filter(|n| n.has_tag_name("title")).count() > 8 * 2);
    // Nothing to fetch: no scripts, links, sources or CSS urls (the SVG namespace is a name only).
    for banned in ["<script", "href=", "src=", "url(", "<link"] {
        assert!(!html.contains(banned), "REPORT.html contains {banned}");
    }
    let md = std::fs::read_to_string(whole.join("REPORT.md")).unwrap();
    let table: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
    assert!(table.iter().all(|l| l.matches(" | ").count() == table[0].matches(" | ").count()), "{md}");
    assert_eq!(md.matches("- test_accuracy: ").count(), 4, "{md}");
    assert!(md.contains("| 0.0293 / 0.9922 |"), "the article's ELU/He figures are beside ours:\n{md}");

    // The same study, interrupted after its first trial, then run again.
    let mut args = vec!["reproduce", "--out", s(&resumed)];
    args.extend(QUICK);
    let mut child = spawn(&args);
    let first_done = || {
        std::fs::read_dir(resumed.join("trials"))
            .is_ok_and(|rd| rd.flatten().any(|e| e.path().join("summary.json").is_file()))
    };
    wait_until(&mut child, "a finished trial", first_done);
    signal(&child, "-INT");
    let o = child.wait_with_output().unwrap();
    if o.status.code() == Some(130) {
        let (_, err) = text(&o);
        assert!(err.contains("sweep interrupted") && err.contains("run the same command again"), "{err}");
    }
    run_ok(&args);
    assert_eq!(results_without_times(&resumed), results_without_times(&whole));
    let summary = |dir: &Path| std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    assert_eq!(summary(&resumed), summary(&whole));
    // Once more: everything is skipped.
    let mut again = vec!["reproduce", "--out", s(&resumed)];
    again.extend(&QUICK[..6]);
    let o = run_ok(&again);
    let (out, _) = text(&o);
    assert!(out.contains("0 trials finished now, 8 finished before"), "{out}");
}

#[test]
fn the_paper_experiment_writes_curves_panels_and_a_verdict_per_claim() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("paper");
    let args = [
        "reproduce",
        "--paper-mnist",
        "--out",
        s(&out),
        "--seeds",
        "2",
        "--epochs",
        "2",
        "--limit",
        "600",
        "--verbose",
        "0",
    ];
    run_ok(&args);
    let plan = std::fs::read_to_string(out.join("sweep.toml")).unwrap();
    assert!(plan.contains("study = \"paper-mnist\""), "{plan}");
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(results.matches(",done,").count(), 8, "{results}");
    // The trials' settings: paper_fc, SGD 0.01 without momentum, batch 64, 1/6 held out (500 of
    // 600 images train), LeakyReLU's slope 0.1, diagnostics and the training set's loss on.
    for entry in std::fs::read_dir(out.join("trials")).unwrap() {
        let dir = entry.unwrap().path();
        let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
        for needle in [
            "batch_size = 64",
            "name = \"sgd\"",
            "momentum = 0.0",
            "diagnostics = true",
            "evaluate_training_set = true",
        ] {
            assert!(config.contains(needle), "{needle} not in {config}");
        }
        if config.contains("leaky_relu") {
            assert!(config.contains("negative_slope = 0.10000000149011612"), "{config}");
        }
        let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
        assert!(summary.contains("\"train_samples\": 500") || summary.contains("\"train_samples\":500"), "{summary}");
        assert_eq!(std::fs::read_to_string(dir.join("train_eval.csv")).unwrap().lines().count(), 1 + 3);
    }
    let curves = std::fs::read_to_string(out.join("curves.csv")).unwrap();
    let mut lines = curves.lines();
    assert_eq!(
        lines.next(),
        Some("activation,seed,epoch,train_loss,val_loss,val_accuracy,median_unit_mean,dead_fraction")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4 * 2 * 3, "4 activations x 2 seeds x epochs 0..=2");
    for act in ["elu", "relu", "leaky_relu", "srelu"] {
        for epoch in ["0", "1", "2"] {
            assert_eq!(rows.iter().filter(|r| r[0] == act && r[2] == epoch).count(), 2, "{act} {epoch}");
        }
    }
    for r in &rows {
        let v: Vec<f64> = r[3..].iter().map(|x| x.parse().unwrap()).collect();
        assert!(v.iter().all(|x| x.is_finite()), "{r:?}");
        assert!((0.0..=1.0).contains(&v[2]) && (0.0..=1.0).contains(&v[4]), "{r:?}");
    }
    let md = std::fs::read_to_string(out.join("PAPER.md")).unwrap();
    for needle in ["### Lower median unit mean", "### Training loss falls faster", "figures/paper-median-unit-mean.svg"]
    {
        assert!(md.contains(needle), "{needle} not in\n{md}");
    }
    let verdicts: Vec<&str> = md.lines().filter(|l| l.starts_with("- ELU vs ")).collect();
    assert_eq!(verdicts.len(), 2 * 3, "{md}");
    assert!(verdicts.iter().all(|v| v.contains(": Holds: ") || v.contains(": Fails: ")), "{md}");
    let html = std::fs::read_to_string(out.join("PAPER.html")).unwrap();
    let doc = roxmltree::Document::parse_with_options(
        &html,
        roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() },
    )
    .expect("PAPER.html parses");
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("svg")).count(), 3);
    // The sweep's own report aggregates the diagnostics over seeds: per configuration, the
    // median unit mean and the dead fraction of each layer.
    let report = std::fs::read_to_string(out.join("REPORT.html")).unwrap();
    let doc = roxmltree::Document::parse_with_options(
        &report,
        roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() },
    )
    .expect("REPORT.html parses");
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("svg")).count(), 4 * 4 + 1);
    assert!(std::fs::read_to_string(out.join("REPORT.md")).unwrap().contains("figures/median-unit-mean-1.svg"));
    // `report` rewrites the same curves.
    std::fs::remove_file(out.join("curves.csv")).unwrap();
    run_ok(&["report", s(&out)]);
    assert_eq!(std::fs::read_to_string(out.join("curves.csv")).unwrap(), curves);
}

#[test]
fn bad_sweeps_are_refused_before_anything_runs() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("sweep");
    for (args, needles) in [
        (vec!["--activation", "relu,swish"], vec!["swish"]),
        (vec!["--activation", "relu,,elu"], vec!["--activation", "empty entry"]),
        (vec!["--activation", "relu,relu"], vec!["relu is listed twice"]),
        (vec!["--seeds", "0"], vec!["--seeds", "at least 1"]),
        (vec!["--seed", "3,3"], vec!["seed 3 is listed twice"]),
        (vec!["--dropout", "0.25,1.5"], vec!["dropout", "1.5"]),
        (vec!["--jobs", "many"], vec!["--jobs", "many"]),
    ] {
        let mut all = vec!["sweep", "--out", s(&out), "--epochs", "1", "--limit", "300"];
        all.extend(args.iter());
        let err = assert_clean_error(&elu_lab(&all), &needles);
        assert!(!out.join("trials").exists(), "{args:?} ran something: {err}");
    }
    // A grid file with an unknown key.
    let grid = d.path().join("grid.toml");
    std::fs::write(&grid, "activation = [\"relu\", \"elu\"]\nlearning_rate = 0.1\n").unwrap();
    assert_clean_error(
        &elu_lab(&["sweep", "--out", s(&out), "--grid-file", s(&grid)]),
        &["unknown key `learning_rate`"],
    );
    // An existing sweep with another plan: refused unless --extend.
    run_ok(&["sweep", "--out", s(&out), "--epochs", "1", "--limit", "300", "--verbose", "0"]);
    let other = ["sweep", "--out", s(&out), "--epochs", "1", "--limit", "300", "--seeds", "2", "--verbose", "0"];
    assert_clean_error(&elu_lab(&other), &["its plan has 1 trials", "--extend"]);
    let mut extend = other.to_vec();
    extend.push("--extend");
    run_ok(&extend);
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(results.matches(",done,").count(), 2, "{results}");
}

/// The browser to render the HTML report with: Debian's `chromium` (`.ci/run` installs it).
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| std::process::Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
}

#[test]
fn the_html_report_renders_in_a_headless_browser_with_every_figure_and_no_console_error() {
    let Some(browser) = chromium() else {
        // CI installs chromium, so there this test always runs; elsewhere it says why it did not.
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is needed in CI to render REPORT.html (apt-get install chromium)"
        );
        eprintln!("skipped: no chromium to render REPORT.html (apt-get install chromium)");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("sweep");
    run_ok(&[
        "sweep",
        "--out",
        s(&out),
        "--activation",
        "relu,elu",
        "--epochs",
        "1",
        "--limit",
        "300",
        "--verbose",
        "0",
    ]);
    let url = format!("file://{}", s(&out.join("REPORT.html")));
    let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"];
    let dom = std::process::Command::new(browser).args(flags).arg("--dump-dom").arg(&url).output().unwrap();
    assert!(dom.status.success(), "{:?}", text(&dom));
    let (html, log) = text(&dom);
    // Two charts per configuration and the dot plot, as rendered, and the verdicts.
    assert_eq!(html.matches("<svg").count(), 2 * 2 + 1, "{html}");
    assert!(html.contains("test_accuracy: elu vs relu"), "{html}");
    // The page logs nothing to its console (chromium prints console messages as CONSOLE lines).
    assert!(!log.contains("CONSOLE"), "console messages:\n{log}");
    let png = d.path().join("report.png");
    let shot = std::process::Command::new(browser)
        .args(&flags[..3])
        .args(["--window-size=1200,3000", &format!("--screenshot={}", s(&png)), &url])
        .output()
        .unwrap();
    assert!(shot.status.success(), "{:?}", text(&shot));
    assert!(std::fs::metadata(&png).unwrap().len() > 20_000, "the screenshot is blank");
}

#[test]
fn shards_and_slurm_scripts_refuse_bad_input_and_write_nothing() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("sweep");
    let grid = ["--activation", "relu,elu", "--epochs", "1", "--limit", "300", "--verbose", "0"];
    let with = |more: &[&'static str]| -> Vec<String> {
        let mut all = vec!["sweep", "--out", s(&out)];
        all.extend(grid);
        all.extend(more);
        all.into_iter().map(String::from).collect()
    };
    for (more, needles) in [
        (vec!["--shard", "3/2"], vec!["shard", "got 3/2"]),
        (vec!["--shard", "0/0"], vec!["shard", "at least 1"]),
        (vec!["--shard", "two"], vec!["I/N", "\"two\""]),
        (vec!["--shard", "2/4"], vec!["shard 2/4 holds no trial: the plan has 2"]),
        (vec!["--slurm", "--trials-per-task", "0"], vec!["--trials-per-task", "at least 1"]),
        (vec!["--slurm", "--shard", "0/2"], vec!["--shard and --slurm"]),
        (vec!["--slurm", "--sbatch-arg", "requeue"], vec!["--sbatch-arg", "\"requeue\""]),
        (vec!["--submit"], vec!["--slurm"]),
    ] {
        let o = bin().args(with(&more)).output().unwrap();
        let (_, err) = text(&o);
        assert!(!o.status.success() && err.contains("error"), "{more:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{more:?} should say {n:?}: {err}");
        }
        assert!(!out.exists(), "{more:?} wrote something");
    }
    // An array task outside the plan (from Slurm's variables).
    let o = bin()
        .args(with(&[]))
        .env("SLURM_ARRAY_TASK_ID", "9")
        .env("SLURM_ARRAY_TASK_MIN", "0")
        .env("SLURM_ARRAY_TASK_COUNT", "10")
        .output()
        .unwrap();
    assert_clean_error(&o, &["shard 9/10 holds no trial: the plan has 2"]);
    assert!(!out.exists());
    // No sbatch to submit with: a clear error, before anything is written.
    let o = bin().args(with(&["--slurm", "--submit"])).env("PATH", d.path()).output().unwrap();
    assert_clean_error(&o, &["sbatch is not on PATH", "hint:", "without --submit"]);
    assert!(!out.exists());
    // --resume needs a stored plan and takes no grid flags.
    assert_clean_error(&elu_lab(&["sweep", "--out", s(&out), "--resume"]), &["has no sweep plan", "sweep.toml"]);
    assert_clean_error(
        &bin().args(with(&["--resume"])).output().unwrap(),
        &["--resume runs the plan stored", "--activation"],
    );
    // Without --submit the script is written, with a warning for a node-local directory.
    let o = run_ok(&with(&["--slurm", "--trials-per-task", "2", "--cpus-per-task", "2", "--time", "10:00"]));
    let (stdout, stderr) = text(&o);
    assert!(stderr.contains("warning:") && stderr.contains("node-local"), "{stderr}");
    assert!(stdout.contains("sbatch ") && stdout.contains("sweep.sbatch"), "{stdout}");
    let script = std::fs::read_to_string(out.join("sweep.sbatch")).unwrap();
    for line in [
        "#SBATCH --array=0\n",
        "#SBATCH --cpus-per-task=2\n",
        "#SBATCH --time=10:00\n",
        "--resume --shard \"${SLURM_ARRAY_TASK_ID}/1\"",
    ] {
        assert!(script.contains(line), "{line:?} not in\n{script}");
    }
    assert!(!out.join("trials").exists(), "--slurm runs nothing here");
}

#[test]
fn shards_started_together_share_one_directory_and_equal_a_whole_sweep() {
    let d = tempfile::tempdir().unwrap();
    let (whole, shared) = (d.path().join("whole"), d.path().join("shared"));
    let grid = ["--activation", "relu,elu", "--seeds", "2", "--epochs", "1", "--limit", "600", "--threads", "1"];
    let mut args = vec!["sweep", "--verbose", "0", "--out"];
    let shard_args = |i: &'static str| {
        let mut a = args.clone();
        a.push(s(&shared));
        a.extend(grid);
        a.extend(["--shard", i]);
        a
    };
    let mut shards: Vec<_> = ["0/3", "1/3", "2/3"].into_iter().map(|i| spawn(&shard_args(i))).collect();
    for child in shards.iter_mut() {
        assert!(child.wait().unwrap().success());
    }
    assert!(!shared.join("results.csv").exists(), "a shard writes no report");
    let st = text(&run_ok(&["status", s(&shared)])).0;
    assert!(st.contains("4 trials: 4 done, 0 failed, 0 running, 0 interrupted, 0 pending"), "{st}");
    let all = text(&run_ok(&["status", s(&shared), "--all"])).0;
    assert_eq!(all.lines().filter(|l| l.ends_with(": done")).count(), 4, "{all}");
    assert_clean_error(&elu_lab(&["status", s(d.path())]), &["not a sweep directory"]);
    run_ok(&["report", s(&shared)]);
    args.push(s(&whole));
    args.extend(grid);
    run_ok(&args);
    assert_eq!(results_without_times(&whole), results_without_times(&shared));
}
