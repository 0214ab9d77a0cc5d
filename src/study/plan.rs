//! A sweep's plan: the trials of a grid of settings × seeds, each identified by its config.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::train::RunConfig;

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// A hash of the full run config (seed included): the same config is the same trial, in
    /// whichever sweep or order it comes.
    pub id: String,
    /// The value of each swept setting (e.g. `activation = relu`), in the plan's axis order.
    pub settings: Vec<(String, String)>,
    pub seed: u64,
    pub config: RunConfig,
}

impl Trial {
    /// A trial of `config` with its `settings`.
    pub fn new(settings: Vec<(String, String)>, config: RunConfig) -> Trial {
        Trial { id: trial_id(&config), settings, seed: config.seed, config }
    }

    /// The settings as `name=value` joined by spaces, e.g. `activation=relu init=he_normal`.
    pub fn label(&self) -> String {
        self.settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    }
}

/// The stable id of a run config: the first 12 hex digits of the SHA-256 of its TOML.
pub fn trial_id(config: &RunConfig) -> String {
    let digest = Sha256::digest(config.to_toml().as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The trials of a sweep, in a fixed order: the grid's axes (first axis slowest), then seeds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepPlan {
    /// Each swept setting with its values, in order.
    pub axes: Vec<(String, Vec<String>)>,
    pub seeds: Vec<u64>,
    /// The command line settings every trial shares (for the record).
    pub fixed: Vec<(String, String)>,
    pub trials: Vec<Trial>,
    /// The named study the plan is, whose report has a part of its own (`paper-mnist`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub study: Option<String>,
}

impl SweepPlan {
    /// Rejects an empty plan, empty or duplicated values, and duplicate trials.
    pub fn validate(&self) -> Result<()> {
        if self.trials.is_empty() {
            return Err(Error::config("sweep", "the plan has no trials"));
        }
        if self.seeds.is_empty() {
            return Err(Error::config("seeds", "at least one seed is needed"));
        }
        let mut seen = BTreeSet::new();
        for s in &self.seeds {
            if !seen.insert(*s) {
                return Err(Error::config("seeds", format!("seed {s} is listed twice")));
            }
        }
        for (name, values) in &self.axes {
            let mut seen = BTreeSet::new();
            for v in values {
                if v.is_empty() {
                    return Err(Error::config(name.as_str(), "an empty entry in the list"));
                }
                if !seen.insert(v) {
                    return Err(Error::config(name.as_str(), format!("{v} is listed twice")));
                }
            }
        }
        let mut ids = BTreeSet::new();
        for t in &self.trials {
            if !ids.insert(&t.id) {
                return Err(Error::config(
                    "sweep",
                    format!("two trials have the same config ({}): the lists name one setting twice", t.label()),
                ));
            }
        }
        Ok(())
    }

    /// The ids of the trials.
    pub fn ids(&self) -> BTreeSet<&str> {
        self.trials.iter().map(|t| t.id.as_str()).collect()
    }

    /// The plan as TOML (DIR/sweep.toml).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Parses a plan written by [`SweepPlan::to_toml`]; `path` names it in errors.
    pub fn from_toml(text: &str, path: &std::path::Path) -> Result<SweepPlan> {
        toml::from_str(text).map_err(|e| {
            let msg: String = e.to_string().chars().take(300).collect();
            Error::corrupt(path, format!("not a sweep plan: {msg}"))
        })
    }

    /// Merges `other` into this plan (for `--extend`): its new trials are appended, axes
    /// and seeds take the union.
    pub fn extend(&mut self, other: &SweepPlan) {
        for (name, values) in &other.axes {
            match self.axes.iter_mut().find(|(n, _)| n == name) {
                Some((_, mine)) => {
                    for v in values {
                        if !mine.contains(v) {
                            mine.push(v.clone());
                        }
                    }
                }
                None => self.axes.push((name.clone(), values.clone())),
            }
        }
        for s in &other.seeds {
            if !self.seeds.contains(s) {
                self.seeds.push(*s);
            }
        }
        let have: BTreeSet<String> = self.trials.iter().map(|t| t.id.clone()).collect();
        self.trials.extend(other.trials.iter().filter(|t| !have.contains(&t.id)).cloned());
    }
}

/// One of `count` parts of a plan: the trials whose index in the plan is ≡ `index` mod `count`
/// (so each part mixes every configuration, and the parts never overlap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// A shard, checked: `count` ≥ 1 and `index` < `count`. `what` names the source in errors.
    pub fn new(index: usize, count: usize, what: &str) -> Result<Shard> {
        if count == 0 {
            return Err(Error::config(what, format!("the number of shards must be at least 1, got {index}/{count}")));
        }
        if index >= count {
            return Err(Error::config(
                what,
                format!("the shard index must be below the number of shards (0 ≤ I < N), got {index}/{count}"),
            ));
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N` (e.g. `0/4`).
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = || Error::config("shard", format!("must be I/N with 0 ≤ I < N (e.g. 0/4), got {text:?}"));
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse::<usize>().map_err(|_| bad())?;
        let n = n.trim().parse::<usize>().map_err(|_| bad())?;
        Shard::new(i, n, "shard")
    }

    /// The shard of a Slurm array task, from `SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_MIN` and
    /// `SLURM_ARRAY_TASK_COUNT` as `var` gives them (`std::env::var` in a job): task id − min of
    /// count. `None` outside an array job.
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        let Some(id) = var("SLURM_ARRAY_TASK_ID") else { return Ok(None) };
        let num = |name: &str, v: Option<String>| -> Result<usize> {
            let v = v.ok_or_else(|| Error::config(name, "is not set, but SLURM_ARRAY_TASK_ID is"))?;
            v.trim().parse().map_err(|_| Error::config(name, format!("must be a whole number, got {v:?}")))
        };
        let id = num("SLURM_ARRAY_TASK_ID", Some(id))?;
        let min = num("SLURM_ARRAY_TASK_MIN", var("SLURM_ARRAY_TASK_MIN"))?;
        let count = num("SLURM_ARRAY_TASK_COUNT", var("SLURM_ARRAY_TASK_COUNT"))?;
        if id < min {
            return Err(Error::config(
                "SLURM_ARRAY_TASK_ID",
                format!("the array task id {id} is below SLURM_ARRAY_TASK_MIN {min}"),
            ));
        }
        Shard::new(id - min, count, "SLURM_ARRAY_TASK_ID").map(Some)
    }

    /// Whether the trial at `position` in the plan belongs to this shard.
    pub fn contains(&self, position: usize) -> bool {
        position % self.count == self.index
    }

    /// Rejects a shard that holds no trial of a plan of `trials` trials (an array task beyond
    /// the plan).
    pub fn check(&self, trials: usize) -> Result<()> {
        if self.index >= trials {
            return Err(Error::config(
                "shard",
                format!(
                    "shard {}/{} holds no trial: the plan has {trials} (an array task outside the plan; use at most {trials} tasks)",
                    self.index, self.count
                ),
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(seed: u64, act: &str) -> Trial {
        let mut c = RunConfig::article();
        c.seed = seed;
        c.epochs = if act == "relu" { 3 } else { 2 };
        Trial::new(vec![("activation".into(), act.into())], c)
    }

    #[test]
    fn ids_follow_the_config_not_the_position() {
        let (a, b) = (trial(1, "elu"), trial(1, "elu"));
        assert_eq!(a.id, b.id);
        assert_eq!(a.id.len(), 12);
        assert_ne!(trial(2, "elu").id, a.id);
        assert_ne!(trial(1, "relu").id, a.id);
    }

    #[test]
    fn plans_round_trip_and_reject_duplicates() {
        let plan = SweepPlan {
            axes: vec![("activation".into(), vec!["elu".into(), "relu".into()])],
            seeds: vec![1, 2],
            fixed: vec![("epochs".into(), "2".into())],
            trials: vec![trial(1, "elu"), trial(2, "elu"), trial(1, "relu"), trial(2, "relu")],
            study: Some("paper-mnist".into()),
        };
        plan.validate().unwrap();
        assert_eq!(SweepPlan::from_toml(&plan.to_toml(), std::path::Path::new("s.toml")).unwrap(), plan);
        let mut dup = plan.clone();
        dup.seeds = vec![1, 1];
        assert!(dup.validate().unwrap_err().to_string().contains("seed 1 is listed twice"));
        let mut dup = plan.clone();
        dup.axes[0].1.push("elu".into());
        assert!(dup.validate().unwrap_err().to_string().contains("elu is listed twice"));
        let mut dup = plan.clone();
        dup.trials.push(trial(1, "elu"));
        assert!(dup.validate().is_err());
        let mut grown = plan.clone();
        let more = SweepPlan { seeds: vec![3], trials: vec![trial(3, "elu"), trial(1, "elu")], ..plan.clone() };
        grown.extend(&more);
        assert_eq!(grown.trials.len(), 5);
        assert_eq!(grown.seeds, [1, 2, 3]);
    }

    #[test]
    fn shards_split_the_plan_without_overlap_and_refuse_bad_input() {
        let s = Shard::parse("1/3").unwrap();
        assert_eq!(s, Shard { index: 1, count: 3 });
        assert_eq!((0..8).filter(|&i| s.contains(i)).collect::<Vec<_>>(), [1, 4, 7]);
        let all: usize = (0..3).map(|i| (0..8).filter(|&p| Shard { index: i, count: 3 }.contains(p)).count()).sum();
        assert_eq!(all, 8);
        for (bad, needle) in [("3/2", "got 3/2"), ("0/0", "at least 1"), ("1", "I/N"), ("a/2", "I/N"), ("-1/2", "I/N")]
        {
            let err = Shard::parse(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
        assert!(Shard::parse("2/4").unwrap().check(2).unwrap_err().to_string().contains("holds no trial"));
        Shard::parse("1/4").unwrap().check(2).unwrap();
    }

    #[test]
    fn the_shard_of_an_array_task_comes_from_slurm_variables() {
        fn env(id: &'static str, min: &'static str, count: &'static str) -> impl Fn(&str) -> Option<String> {
            let vars = [("SLURM_ARRAY_TASK_ID", id), ("SLURM_ARRAY_TASK_MIN", min), ("SLURM_ARRAY_TASK_COUNT", count)];
            move |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
        }
        assert_eq!(Shard::from_slurm(|_| None).unwrap(), None);
        assert_eq!(Shard::from_slurm(env("7", "5", "4")).unwrap(), Some(Shard { index: 2, count: 4 }));
        assert!(Shard::from_slurm(env("9", "5", "4")).unwrap_err().to_string().contains("got 4/4"));
        assert!(Shard::from_slurm(env("3", "5", "4")).unwrap_err().to_string().contains("below"));
        assert!(Shard::from_slurm(env("x", "0", "4")).unwrap_err().to_string().contains("whole number"));
    }
}
