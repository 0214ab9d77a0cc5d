//! The whole training set's loss and accuracy in inference mode before training and after every
//! epoch (the ELU paper's training curves), with the validation figures beside them.

use std::path::PathBuf;

use super::{Callback, Control, EpochEnd, TrainBegin};
use crate::data::Dataset;
use crate::error::Result;
use crate::model::{Engine, Sequential};
use crate::report::atomic_write;
use crate::train::fit::evaluate;

/// The columns of `train_eval.csv`.
pub const CSV_COLUMNS: &str = "epoch,train_loss,train_accuracy,val_loss,val_accuracy";

/// Samples per inference batch.
const BATCH: usize = 1000;

/// One line of `train_eval.csv`: after `epoch` epochs (0: before training), the training set's
/// loss and accuracy in inference mode (the weights at the end of the epoch, no dropout), and
/// the validation set's (NaN without validation data).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainEvalRow {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
}

impl TrainEvalRow {
    /// The rows of a `train_eval.csv` text (the header and malformed lines skipped).
    pub fn parse_csv(text: &str) -> Vec<TrainEvalRow> {
        text.lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.trim_end().split(',').collect();
                let num = |s: &str| if s.is_empty() { Some(f64::NAN) } else { s.parse::<f64>().ok() };
                match f[..] {
                    [e, tl, ta, vl, va] => Some(TrainEvalRow {
                        epoch: e.parse().ok()?,
                        train_loss: num(tl)?,
                        train_accuracy: num(ta)?,
                        val_loss: num(vl)?,
                        val_accuracy: num(va)?,
                    }),
                    _ => None,
                }
            })
            .collect()
    }

    fn to_csv(self) -> String {
        let num = |v: f64| if v.is_nan() { String::new() } else { format!("{v}") };
        format!(
            "{},{},{},{},{}",
            self.epoch,
            num(self.train_loss),
            num(self.train_accuracy),
            num(self.val_loss),
            num(self.val_accuracy)
        )
    }
}

/// Writes `train_eval.csv` ([`CSV_COLUMNS`]) before training and after every epoch. A resumed
/// run keeps the rows of the epochs before the interruption.
pub struct TrainEval {
    path: PathBuf,
    train: Option<Dataset>,
    val: Option<Dataset>,
    engine: Option<Engine>,
    rows: Vec<TrainEvalRow>,
}

impl TrainEval {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        TrainEval { path: path.into(), train: None, val: None, engine: None, rows: Vec::new() }
    }

    /// Evaluates `params` after `epoch` epochs; `val` given (from the epoch's logs) or computed.
    fn measure(&mut self, epoch: usize, model: &Sequential, params: &[f32], val: Option<(f64, f64)>) -> Result<()> {
        let (Some(train), Some(engine)) = (&self.train, &mut self.engine) else { return Ok(()) };
        let (train_loss, train_accuracy) = evaluate(engine, model, params, train);
        let (val_loss, val_accuracy) = match (val, &self.val) {
            (Some(v), _) => v,
            (None, Some(data)) => evaluate(engine, model, params, data),
            (None, None) => (f64::NAN, f64::NAN),
        };
        self.rows.retain(|r| r.epoch < epoch);
        self.rows.push(TrainEvalRow { epoch, train_loss, train_accuracy, val_loss, val_accuracy });
        let mut text = format!("{CSV_COLUMNS}\n");
        for r in &self.rows {
            text.push_str(&r.to_csv());
            text.push('\n');
        }
        atomic_write(&self.path, text.as_bytes())
    }
}

impl Callback for TrainEval {
    fn reads_gradients(&self) -> bool {
        false
    }
    fn on_train_begin(&mut self, begin: &TrainBegin) -> Result<()> {
        self.train = Some(begin.train.clone());
        self.val = begin.val.cloned();
        self.engine = Some(Engine::new(begin.model, BATCH.min(begin.train.len()).max(1), false));
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        self.rows = TrainEvalRow::parse_csv(&text).into_iter().filter(|r| r.epoch <= begin.start_epoch).collect();
        if begin.start_epoch == 0 || !self.rows.iter().any(|r| r.epoch == begin.start_epoch) {
            self.measure(begin.start_epoch, begin.model, begin.params, None)?;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, end: &EpochEnd) -> Result<Control> {
        let val = end.logs.val_loss.zip(end.logs.val_accuracy);
        self.measure(end.epoch + 1, end.model, end.params, val)?;
        Ok(Control::Continue)
    }
}
