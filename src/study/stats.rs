//! Statistics over repeated runs: summaries and two-sample comparisons that match SciPy.
//!
//! Every function takes plain `&[f64]` samples (one value per run, e.g. the final test accuracy
//! of each seed) and returns [`Stat`]: the value, or [`Undefined`] saying why the statistic does
//! not exist for this input (too few runs, no variation, a NaN). Nothing here panics on data.
//!
//! What each function matches (checked by `tests/stats.rs` against golden values computed with
//! SciPy 1.17.1 and NumPy 2.4.6 by `tests/fixtures/stats/make_goldens.py`):
//!
//! | function                 | reference                                                                |
//! |--------------------------|--------------------------------------------------------------------------|
//! | [`mean`], [`sd`]         | `numpy.mean`, `numpy.std(ddof=1)`                                         |
//! | [`t_interval`]           | `scipy.stats.t.interval(level, n-1, loc=mean, scale=sd/sqrt(n))`          |
//! | [`bootstrap_interval`]   | percentile bootstrap, `numpy.percentile(method='linear')` of the means   |
//! | [`welch_t_test`]         | `scipy.stats.ttest_ind(a, b, equal_var=False)`                            |
//! | [`mean_difference`]      | the same, `.confidence_interval(level)`                                   |
//! | [`paired_t_test`]        | `scipy.stats.ttest_rel(a, b)`                                             |
//! | [`mann_whitney_u`]       | `scipy.stats.mannwhitneyu(a, b, alternative='two-sided')` (method auto)   |
//! | [`hedges_g`]             | Cohen's d (pooled sd) times the exact correction J (Hedges 1981)          |
//! | [`prob_superiority`]     | fraction of pairs with a > b, ties counting 1/2                           |
//! | [`holm`]                 | `statsmodels.stats.multitest.multipletests(p, method='holm')[1]`          |
//!
//! The t and normal distributions come from `statrs`. [`compare`] runs every two-sample
//! statistic at once and [`verdict`] turns a comparison into one plain sentence.

use std::cmp::Ordering;

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use statrs::function::gamma::ln_gamma;

use crate::rng::Rng;

/// The confidence level used by [`summarize`] and [`compare`].
pub const DEFAULT_LEVEL: f64 = 0.95;

/// The significance level of [`verdict`]: a (Holm-adjusted) p below it is a detected difference.
pub const ALPHA: f64 = 0.05;

/// The number of bootstrap resamples used by [`summarize`].
pub const BOOTSTRAP_RESAMPLES: usize = 10_000;

/// Mixed into the caller's seed so that the bootstrap's numbers are its own ("bootstrp" in
/// ASCII); `tests/fixtures/stats/make_goldens.py` replays the bootstrap with the same constant.
pub const BOOTSTRAP_DOMAIN: u64 = 0x626F_6F74_7374_7270;

/// Why a statistic is not defined for the given samples.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum Undefined {
    /// Fewer values than the statistic needs (an sd needs 2; a t-test 2 per sample).
    #[error("needs at least {need} values, got {got}")]
    TooFew { need: usize, got: usize },
    /// A value is NaN or infinite (a diverged run, say).
    #[error("value {index} is {value}, not a finite number")]
    NotFinite { index: usize, value: f64 },
    /// Every value is the same, so there is no spread to scale by (both samples, for Welch).
    #[error("no run-to-run variation: every value is the same")]
    NoVariation,
    /// Paired samples must have one value per shared seed.
    #[error("paired samples differ in length: {a} and {b}")]
    LengthMismatch { a: usize, b: usize },
    /// A confidence level outside (0, 1).
    #[error("confidence level must be in (0, 1), got {0}")]
    Level(f64),
    /// A p-value outside [0, 1] given to [`holm`].
    #[error("p-value must be in [0, 1], got {0}")]
    NotProbability(f64),
    /// A bootstrap with zero resamples.
    #[error("the bootstrap needs at least 1 resample")]
    NoResamples,
}

/// A statistic, or why it is undefined.
pub type Stat<T> = std::result::Result<T, Undefined>;

/// A two-sided confidence interval `[lo, hi]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

/// The result of a t-test: statistic, degrees of freedom and two-sided p-value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TTest {
    pub t: f64,
    pub df: f64,
    pub p: f64,
}

/// How [`mann_whitney_u`] computed its p-value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MwuMethod {
    /// From the exact distribution of U (no ties, at least one sample of 8 or fewer).
    Exact,
    /// Normal approximation with tie and continuity correction.
    Asymptotic,
}

/// The result of a Mann–Whitney U test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannWhitney {
    /// U of the first sample (SciPy's `statistic`): pairs with a > b, ties counting 1/2.
    pub u: f64,
    /// Two-sided p-value.
    pub p: f64,
    pub method: MwuMethod,
}

/// A difference of means `mean(a) - mean(b)` with its Welch confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Difference {
    pub estimate: f64,
    pub ci: Interval,
}

/// Everything the summary table reports about one configuration's runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub sd: Stat<f64>,
    pub t_interval: Stat<Interval>,
    pub bootstrap: Stat<Interval>,
    pub min: f64,
    pub max: f64,
}

/// Every two-sample statistic of `a` against `b` (see [`compare`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    pub n_a: usize,
    pub n_b: usize,
    /// `mean(a) - mean(b)` with its Welch 95% interval.
    pub difference: Stat<Difference>,
    pub welch: Stat<TTest>,
    pub mann_whitney: Stat<MannWhitney>,
    /// The paired t-test, present when the runs share their seeds.
    pub paired: Option<Stat<TTest>>,
    pub hedges_g: Stat<f64>,
    /// P(A>B): the chance that a random run of A beats a random run of B.
    pub p_a_gt_b: Stat<f64>,
}

/// Checks that `xs` has at least `need` values, all finite.
fn check(xs: &[f64], need: usize) -> Stat<()> {
    if let Some((index, &value)) = xs.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(Undefined::NotFinite { index, value });
    }
    if xs.len() < need {
        return Err(Undefined::TooFew { need, got: xs.len() });
    }
    Ok(())
}

fn check_level(level: f64) -> Stat<()> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(Undefined::Level(level))
    }
}

/// Whether every value equals the first (a sample with no spread).
fn is_constant(xs: &[f64]) -> bool {
    xs.iter().all(|&x| x == xs[0])
}

/// The two-sided quantile `t` with `P(|T| <= t) = level` for Student's t with `df` degrees of
/// freedom (`df > 0`, `level` in (0, 1)).
fn t_quantile(level: f64, df: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => t.inverse_cdf(0.5 + level / 2.0),
        Err(_) => f64::NAN,
    }
}

/// The two-sided p-value `P(|T| >= |t|)` for Student's t with `df` degrees of freedom.
fn t_two_sided_p(t: f64, df: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => (2.0 * dist.sf(t.abs())).min(1.0),
        Err(_) => f64::NAN,
    }
}

/// The arithmetic mean, as `numpy.mean` (needs 1 value).
pub fn mean(xs: &[f64]) -> Stat<f64> {
    check(xs, 1)?;
    Ok(xs.iter().sum::<f64>() / xs.len() as f64)
}

/// The sample variance with divisor n − 1, as `numpy.var(ddof=1)`; exactly 0 for a constant
/// sample (needs 2 values).
fn variance(xs: &[f64]) -> Stat<f64> {
    check(xs, 2)?;
    if is_constant(xs) {
        return Ok(0.0);
    }
    let m = mean(xs)?;
    Ok(xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64)
}

/// The sample standard deviation with divisor n − 1, as `numpy.std(ddof=1)` (needs 2 values;
/// exactly 0 for a constant sample).
pub fn sd(xs: &[f64]) -> Stat<f64> {
    variance(xs).map(f64::sqrt)
}

/// The t-interval of the mean at `level` (0.95 for 95%), as
/// `scipy.stats.t.interval(level, n - 1, loc=mean, scale=sd / sqrt(n))` (needs 2 values). A
/// constant sample gives the zero-width interval `[mean, mean]`.
pub fn t_interval(xs: &[f64], level: f64) -> Stat<Interval> {
    check_level(level)?;
    let m = mean(xs)?;
    let se = sd(xs)? / (xs.len() as f64).sqrt();
    if se == 0.0 {
        return Ok(Interval { lo: m, hi: m });
    }
    let q = t_quantile(level, (xs.len() - 1) as f64);
    Ok(Interval { lo: m - q * se, hi: m + q * se })
}

/// The percentile bootstrap interval of the mean at `level`, deterministic for a given `seed`
/// (needs 1 value; [`BOOTSTRAP_RESAMPLES`] = 10,000 resamples is the report's choice).
///
/// Each of the `resamples` resamples draws `n` values with replacement (uniform indices from
/// [`Rng::below`], the generator seeded with `seed ^ BOOTSTRAP_DOMAIN`) and takes their mean,
/// summed left to right. The interval is the `(1 − level)/2` and `(1 + level)/2` quantiles of
/// those means with linear interpolation between order statistics, as `numpy.percentile`'s
/// default `method='linear'`; `scipy.stats.bootstrap(method='percentile')` gives the same
/// method with other random numbers.
pub fn bootstrap_interval(xs: &[f64], level: f64, resamples: usize, seed: u64) -> Stat<Interval> {
    check_level(level)?;
    check(xs, 1)?;
    if resamples == 0 {
        return Err(Undefined::NoResamples);
    }
    let n = xs.len();
    let mut rng = Rng::from_seed(seed ^ BOOTSTRAP_DOMAIN);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let mut sum = 0.0;
            for _ in 0..n {
                sum += xs[rng.below(n)];
            }
            sum / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    Ok(Interval { lo: quantile_linear(&means, (1.0 - level) / 2.0), hi: quantile_linear(&means, (1.0 + level) / 2.0) })
}

/// The `q` quantile of sorted, non-empty `xs`, interpolating linearly between order statistics
/// at the virtual index `q (n − 1)`, written as NumPy's `_lerp` does.
fn quantile_linear(sorted: &[f64], q: f64) -> f64 {
    let h = q * (sorted.len() - 1) as f64;
    let i = (h.floor() as usize).min(sorted.len() - 1);
    let (a, b) = (sorted[i], sorted[(i + 1).min(sorted.len() - 1)]);
    let t = h - i as f64;
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// The summary of one configuration's runs: n, mean, sd, t-interval and bootstrap interval at
/// `level`, min and max. Needs 1 finite value; the sd and intervals report their own
/// [`Undefined`] for a single run.
pub fn summarize(xs: &[f64], level: f64, seed: u64) -> Stat<Summary> {
    let mean = mean(xs)?;
    Ok(Summary {
        n: xs.len(),
        mean,
        sd: sd(xs),
        t_interval: t_interval(xs, level),
        bootstrap: bootstrap_interval(xs, level, BOOTSTRAP_RESAMPLES, seed),
        min: xs.iter().copied().fold(f64::INFINITY, f64::min),
        max: xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

/// The standard error and Welch–Satterthwaite degrees of freedom of `mean(a) - mean(b)`.
fn welch_se_df(a: &[f64], b: &[f64]) -> Stat<(f64, f64)> {
    check(a, 2)?;
    check(b, 2)?;
    let va = variance(a)? / a.len() as f64;
    let vb = variance(b)? / b.len() as f64;
    if va + vb == 0.0 {
        return Err(Undefined::NoVariation);
    }
    let df = (va + vb) * (va + vb) / (va * va / (a.len() - 1) as f64 + vb * vb / (b.len() - 1) as f64);
    Ok(((va + vb).sqrt(), df))
}

/// Welch's unequal-variance t-test, as `scipy.stats.ttest_ind(a, b, equal_var=False)`: the
/// statistic, the Welch–Satterthwaite df and the two-sided p. Needs 2 values per sample and
/// some variation in at least one ([`Undefined::NoVariation`] otherwise).
pub fn welch_t_test(a: &[f64], b: &[f64]) -> Stat<TTest> {
    let (se, df) = welch_se_df(a, b)?;
    let t = (mean(a)? - mean(b)?) / se;
    Ok(TTest { t, df, p: t_two_sided_p(t, df) })
}

/// `mean(a) - mean(b)` with its Welch confidence interval at `level`, as
/// `scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)`. Undefined where
/// [`welch_t_test`] is.
pub fn mean_difference(a: &[f64], b: &[f64], level: f64) -> Stat<Difference> {
    check_level(level)?;
    let (se, df) = welch_se_df(a, b)?;
    let estimate = mean(a)? - mean(b)?;
    let half = t_quantile(level, df) * se;
    Ok(Difference { estimate, ci: Interval { lo: estimate - half, hi: estimate + half } })
}

/// The paired t-test on `a[i] - b[i]` (runs sharing seed i), as `scipy.stats.ttest_rel(a, b)`.
/// Needs equal lengths of at least 2 and differences that are not all equal.
pub fn paired_t_test(a: &[f64], b: &[f64]) -> Stat<TTest> {
    if a.len() != b.len() {
        return Err(Undefined::LengthMismatch { a: a.len(), b: b.len() });
    }
    check(a, 2)?;
    check(b, 2)?;
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let v = variance(&d)?;
    if v == 0.0 {
        return Err(Undefined::NoVariation);
    }
    let t = mean(&d)? / (v / d.len() as f64).sqrt();
    let df = (d.len() - 1) as f64;
    Ok(TTest { t, df, p: t_two_sided_p(t, df) })
}

/// The two-sided Mann–Whitney U test, as `scipy.stats.mannwhitneyu(a, b,
/// alternative='two-sided')` with its defaults `method='auto'`, `use_continuity=True`.
///
/// SciPy 1.17.1's 'auto' rule (`_mwu_choose_method`): the normal approximation when both
/// samples have more than 8 values or when any values tie, the exact distribution otherwise.
/// Exact: p = 2 P(U ≥ max(U₁, U₂)) under the null, capped at 1. Approximate: z = (max(U₁, U₂)
/// − n₁n₂/2 − 1/2) / σ with the tie-corrected σ² = n₁n₂/12 · ((n + 1) − Σ(t³ − t)/(n(n − 1))),
/// p = 2 P(Z ≥ z) capped at 1; when every value ties (σ = 0) p is 1, as in SciPy. Needs 1
/// value per sample.
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> Stat<MannWhitney> {
    check(a, 1)?;
    check(b, 1)?;
    let (n1, n2) = (a.len(), b.len());
    let n = n1 + n2;
    // Average ranks (1-based) of the pooled sample, and the size of each group of ties.
    let mut order: Vec<(f64, bool)> = a.iter().map(|&x| (x, true)).chain(b.iter().map(|&x| (x, false))).collect();
    order.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (mut rank_sum_a, mut tie_term, mut ties) = (0.0, 0.0, false);
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && order[j].0 == order[i].0 {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        let from_a = order[i..j].iter().filter(|v| v.1).count();
        rank_sum_a += avg_rank * from_a as f64;
        let t = (j - i) as f64;
        tie_term += t * t * t - t;
        ties |= j - i > 1;
        i = j;
    }
    let u1 = rank_sum_a - (n1 * (n1 + 1)) as f64 / 2.0;
    let u_max = u1.max((n1 * n2) as f64 - u1);
    let (method, p) = if (n1 > 8 && n2 > 8) || ties {
        let mu = (n1 * n2) as f64 / 2.0;
        let nf = n as f64;
        let s = ((n1 * n2) as f64 / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)))).sqrt();
        let p = if s > 0.0 { 2.0 * Normal::standard().sf((u_max - mu - 0.5) / s) } else { 1.0 };
        (MwuMethod::Asymptotic, p)
    } else {
        // Without ties U is an integer; P(U >= u_max) = P(U <= n1 n2 - u_max) by symmetry.
        let u_min = n1 * n2 - u_max as usize;
        (MwuMethod::Exact, 2.0 * mwu_exact_cdf(u_min, n1, n2))
    };
    Ok(MannWhitney { u: u1, p: p.min(1.0), method })
}

/// P(U ≤ k) under the null hypothesis for samples of sizes `n1` and `n2` without ties.
///
/// Each of the C(n1 + n2, n1) orderings of the pooled sample is equally likely, and the number
/// with U = u is the number of partitions of u into at most m = min(n1, n2) parts, each at most
/// n = max(n1, n2) (the Young diagrams inside an m × n box). With f(i, j; u) that number for an
/// i × j box, removing a largest part of size j gives the counting recursion
/// f(i, j; u) = f(i, j − 1; u) + f(i − 1, j; u − j), run here for u ≤ k only. The counts are
/// sums of positive terms, kept in f64 (exact up to 2^53, relative error ~1e-16 beyond).
/// Cost: m · min(n, k) · k additions.
fn mwu_exact_cdf(k: usize, n1: usize, n2: usize) -> f64 {
    let (m, n) = (n1.min(n2), n1.max(n2));
    // rows[i][u] = f(i, j; u) for the current column count j, starting from j = 0.
    let mut rows = vec![vec![0.0f64; k + 1]; m + 1];
    for row in &mut rows {
        row[0] = 1.0;
    }
    for j in 1..=n.min(k) {
        for i in 1..=m {
            let (done, rest) = rows.split_at_mut(i);
            let (prev, row) = (&done[i - 1], &mut rest[0]);
            for u in j..=k {
                row[u] += prev[u - j];
            }
        }
    }
    let below: f64 = rows[m].iter().sum();
    // C(n1 + n2, m) = prod_{i=1}^{m} (n + i) / i.
    let total: f64 = (1..=m).map(|i| (n + i) as f64 / i as f64).product();
    below / total
}

/// Hedges' g: Cohen's d = (mean(a) − mean(b)) / s_p with the pooled sd
/// s_p² = ((n_a − 1) s_a² + (n_b − 1) s_b²) / (n_a + n_b − 2), times the exact small-sample
/// correction J(ν) = Γ(ν/2) / (√(ν/2) Γ((ν − 1)/2)), ν = n_a + n_b − 2 (Hedges 1981; the
/// common approximation is 1 − 3/(4ν − 1)). Needs 2 values per sample and s_p > 0.
pub fn hedges_g(a: &[f64], b: &[f64]) -> Stat<f64> {
    check(a, 2)?;
    check(b, 2)?;
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let nu = na + nb - 2.0;
    let pooled = (((na - 1.0) * variance(a)? + (nb - 1.0) * variance(b)?) / nu).sqrt();
    if pooled == 0.0 {
        return Err(Undefined::NoVariation);
    }
    let j = (ln_gamma(nu / 2.0) - ln_gamma((nu - 1.0) / 2.0)).exp() / (nu / 2.0).sqrt();
    Ok((mean(a)? - mean(b)?) / pooled * j)
}

/// P(A>B), the common-language effect size: the fraction of pairs (a_i, b_j) with a_i > b_j,
/// ties counting 1/2 (equals U₁ / (n_a n_b)). Needs 1 value per sample.
pub fn prob_superiority(a: &[f64], b: &[f64]) -> Stat<f64> {
    check(a, 1)?;
    check(b, 1)?;
    let wins: f64 = a
        .iter()
        .flat_map(|x| {
            b.iter().map(move |y| match x.total_cmp(y) {
                Ordering::Greater => 1.0,
                Ordering::Equal => 0.5,
                Ordering::Less => 0.0,
            })
        })
        .sum();
    Ok(wins / (a.len() * b.len()) as f64)
}

/// Holm–Bonferroni adjusted p-values, as `statsmodels.stats.multitest.multipletests(p,
/// method='holm')[1]`: sorted ascending, the i-th smallest (from 0) becomes
/// `max_{j<=i} min(1, (m − j) p_(j))`, returned in the input order.
///
/// A NaN p (a comparison whose test is undefined) stays NaN and is not counted in the family
/// size m. Any other value outside [0, 1] is an error.
pub fn holm(p: &[f64]) -> Stat<Vec<f64>> {
    if let Some(&bad) = p.iter().find(|x| !x.is_nan() && !(0.0..=1.0).contains(*x)) {
        return Err(Undefined::NotProbability(bad));
    }
    let mut idx: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    idx.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let m = idx.len();
    let mut out = vec![f64::NAN; p.len()];
    let mut running = 0.0f64;
    for (rank, &i) in idx.iter().enumerate() {
        running = running.max((m - rank) as f64 * p[i]);
        out[i] = running.min(1.0);
    }
    Ok(out)
}

/// Every two-sample statistic of `a` against `b` at the 95% level. With `paired` (the runs
/// share their seeds, `a[i]` and `b[i]` from seed i) the paired t-test is included too.
pub fn compare(a: &[f64], b: &[f64], paired: bool) -> Comparison {
    Comparison {
        n_a: a.len(),
        n_b: b.len(),
        difference: mean_difference(a, b, DEFAULT_LEVEL),
        welch: welch_t_test(a, b),
        mann_whitney: mann_whitney_u(a, b),
        paired: paired.then(|| paired_t_test(a, b)),
        hedges_g: hedges_g(a, b),
        p_a_gt_b: prob_superiority(a, b),
    }
}

/// One plain sentence for a comparison of A (`name_a`) against B, e.g.
/// "ELU vs ReLU with He init: +0.00040 (95% CI −0.00050 to +0.00130), p = 0.41 over 5 seeds: no
/// detectable difference".
///
/// `context` (e.g. "with He init") follows the names when not empty. The rules:
/// - the difference mean(A) − mean(B) and its Welch 95% interval are printed with as many
///   decimals as give the interval's half-width two significant digits (at most 12), with a
///   sign ('+' or the minus sign U+2212; none for a value that rounds to zero);
/// - p is Welch's, to two significant digits, "p < 0.001" below that; `p_holm`, when given, is
///   printed after it and decides instead of the raw p;
/// - the runs: "over N seeds" when paired with equal counts, "over N runs each" for equal
///   unpaired counts, "over N and M runs" otherwise;
/// - the conclusion: p ≥ [`ALPHA`] (0.05) → "no detectable difference"; below → "A higher" or
///   "A lower";
/// - undefined tests say why: "cannot compare (needs at least 2 values, got 1)", or, when no
///   run varies at all, what the constant values give.
pub fn verdict(name_a: &str, name_b: &str, context: &str, cmp: &Comparison, p_holm: Option<f64>) -> String {
    let head =
        if context.is_empty() { format!("{name_a} vs {name_b}") } else { format!("{name_a} vs {name_b} {context}") };
    let runs = match (cmp.n_a == cmp.n_b, cmp.paired.is_some()) {
        (true, true) => format!("{} seeds", cmp.n_a),
        (true, false) => format!("{} runs each", cmp.n_a),
        (false, _) => format!("{} and {} runs", cmp.n_a, cmp.n_b),
    };
    let (diff, welch) = match (cmp.difference, cmp.welch) {
        (Ok(d), Ok(w)) => (d, w),
        (Err(Undefined::NoVariation), _) | (_, Err(Undefined::NoVariation)) => {
            return no_variation_verdict(&head, name_a, &runs, cmp);
        }
        (Err(why), _) | (_, Err(why)) => return format!("{head}: cannot compare ({why})"),
    };
    let half = (diff.ci.hi - diff.ci.lo) / 2.0;
    let decimals =
        if half.is_finite() && half > 0.0 { (1.0 - half.log10().floor()).clamp(0.0, 12.0) as usize } else { 4 };
    let mut p_text = format!("p {}", p_value(welch.p));
    if let Some(ph) = p_holm {
        p_text.push_str(&format!(" (Holm-adjusted p {})", p_value(ph)));
    }
    let decisive = p_holm.unwrap_or(welch.p);
    let conclusion = if decisive.is_nan() || decisive >= ALPHA {
        "no detectable difference".to_string()
    } else if diff.estimate > 0.0 {
        format!("{name_a} higher")
    } else {
        format!("{name_a} lower")
    };
    format!(
        "{head}: {} (95% CI {} to {}), {p_text} over {runs}: {conclusion}",
        signed(diff.estimate, decimals),
        signed(diff.ci.lo, decimals),
        signed(diff.ci.hi, decimals)
    )
}

/// The verdict when neither sample varies: the difference is known exactly but untestable.
fn no_variation_verdict(head: &str, name_a: &str, runs: &str, cmp: &Comparison) -> String {
    let order = match cmp.p_a_gt_b {
        Ok(p) if p > 0.5 => "higher",
        Ok(p) if p < 0.5 => "lower",
        Ok(_) => return format!("{head}: the same value in every run over {runs}: no difference"),
        Err(why) => return format!("{head}: cannot compare ({why})"),
    };
    format!("{head}: no run-to-run variation in either over {runs}, no test possible: {name_a} {order} in every run")
}

/// A p-value with its relation, to two significant digits: "= 0.41", "= 0.032", "= 0.0041",
/// "< 0.001"; "undefined" for NaN.
fn p_value(p: f64) -> String {
    if p.is_nan() {
        "undefined".into()
    } else if p < 0.001 {
        "< 0.001".into()
    } else if p >= 0.1 {
        format!("= {p:.2}")
    } else if p >= 0.01 {
        format!("= {p:.3}")
    } else {
        format!("= {p:.4}")
    }
}

/// `x` with `decimals` places and an explicit sign ('+' or the minus sign U+2212); a value that
/// rounds to zero gets no sign.
fn signed(x: f64, decimals: usize) -> String {
    let body = format!("{:.*}", decimals, x.abs());
    if body.bytes().all(|c| c == b'0' || c == b'.') {
        body
    } else if x > 0.0 {
        format!("+{body}")
    } else {
        format!("\u{2212}{body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ELU: [f64; 5] = [0.9912, 0.9908, 0.9915, 0.9910, 0.9917];
    const RELU: [f64; 5] = [0.9905, 0.9911, 0.9903, 0.9909, 0.9907];

    #[test]
    fn degenerate_inputs_are_undefined_with_a_reason() {
        assert_eq!(mean(&[]), Err(Undefined::TooFew { need: 1, got: 0 }));
        assert_eq!(sd(&[1.0]), Err(Undefined::TooFew { need: 2, got: 1 }));
        assert_eq!(sd(&[0.1, 0.1, 0.1]), Ok(0.0));
        let nan = [0.99, f64::NAN, 0.98];
        assert!(matches!(mean(&nan), Err(Undefined::NotFinite { index: 1, .. })));
        assert!(matches!(welch_t_test(&nan, &RELU), Err(Undefined::NotFinite { index: 1, .. })));
        assert!(matches!(mann_whitney_u(&RELU, &[f64::INFINITY]), Err(Undefined::NotFinite { index: 0, .. })));
        assert_eq!(welch_t_test(&[1.0], &RELU), Err(Undefined::TooFew { need: 2, got: 1 }));
        assert_eq!(welch_t_test(&[0.3; 3], &[0.3; 4]), Err(Undefined::NoVariation));
        assert_eq!(mean_difference(&[0.3; 3], &[0.2; 4], 0.95), Err(Undefined::NoVariation));
        assert_eq!(hedges_g(&[0.3; 3], &[0.2; 4]), Err(Undefined::NoVariation));
        assert_eq!(paired_t_test(&ELU, &ELU), Err(Undefined::NoVariation));
        assert_eq!(paired_t_test(&ELU, &RELU[..4]), Err(Undefined::LengthMismatch { a: 5, b: 4 }));
        assert_eq!(t_interval(&ELU, 1.0), Err(Undefined::Level(1.0)));
        assert!(matches!(t_interval(&ELU, f64::NAN), Err(Undefined::Level(_))));
        assert_eq!(t_interval(&[0.5; 4], 0.95), Ok(Interval { lo: 0.5, hi: 0.5 }));
        assert_eq!(bootstrap_interval(&ELU, 0.95, 0, 1), Err(Undefined::NoResamples));
        assert_eq!(bootstrap_interval(&[0.7], 0.95, 100, 1), Ok(Interval { lo: 0.7, hi: 0.7 }));
        assert_eq!(holm(&[0.5, 1.2]), Err(Undefined::NotProbability(1.2)));
        // All values tied: no evidence of a difference, as SciPy says (p = 1).
        let all_tied = mann_whitney_u(&[1.0, 1.0], &[1.0]).unwrap();
        assert_eq!((all_tied.p, all_tied.method), (1.0, MwuMethod::Asymptotic));
    }

    #[test]
    fn summary_of_one_run_has_mean_min_max_but_no_spread() {
        let s = summarize(&[0.991], DEFAULT_LEVEL, 3).unwrap();
        assert_eq!((s.n, s.mean, s.min, s.max), (1, 0.991, 0.991, 0.991));
        assert_eq!(s.sd, Err(Undefined::TooFew { need: 2, got: 1 }));
        assert!(s.t_interval.is_err());
        let s = summarize(&ELU, DEFAULT_LEVEL, 3).unwrap();
        assert_eq!((s.min, s.max), (0.9908, 0.9917));
        let (t, b) = (s.t_interval.unwrap(), s.bootstrap.unwrap());
        assert!(t.lo < s.mean && s.mean < t.hi && b.lo < s.mean && s.mean < b.hi);
        // The bootstrap ignores the small-sample t factor, so it is narrower at n = 5.
        assert!(b.hi - b.lo < t.hi - t.lo);
    }

    #[test]
    fn bootstrap_is_deterministic_per_seed() {
        // Irregular values, so that resample means rarely coincide and the seed shows.
        let xs: Vec<f64> = (1..=12).map(|i| (i as f64).sqrt().sin()).collect();
        let a = bootstrap_interval(&xs, 0.95, 2000, 7).unwrap();
        assert_eq!(a, bootstrap_interval(&xs, 0.95, 2000, 7).unwrap());
        let others: Vec<Interval> = (8..12).map(|s| bootstrap_interval(&xs, 0.95, 2000, s).unwrap()).collect();
        assert!(others.iter().any(|o| *o != a), "the seed changes the resamples");
    }

    #[test]
    fn exact_mann_whitney_counts_match_brute_force() {
        // Enumerate every split of 0..n1+n2 into A (n1 values) and B and count U <= k.
        for (n1, n2) in [(1, 1), (2, 3), (3, 3), (4, 2), (5, 5), (3, 7)] {
            let n = n1 + n2;
            let mut counts = vec![0u64; n1 * n2 + 1];
            let mut total = 0u64;
            for mask in 0u32..(1 << n) {
                if mask.count_ones() as usize != n1 {
                    continue;
                }
                let u: usize = (0..n)
                    .filter(|&i| mask >> i & 1 == 1)
                    .map(|i| (0..i).filter(|&j| mask >> j & 1 == 0).count())
                    .sum();
                counts[u] += 1;
                total += 1;
            }
            let mut cum = 0;
            for (k, c) in counts.iter().enumerate() {
                cum += c;
                let exact = cum as f64 / total as f64;
                assert!((mwu_exact_cdf(k, n1, n2) - exact).abs() < 1e-15, "n1 {n1} n2 {n2} k {k}");
            }
        }
    }

    #[test]
    fn holm_keeps_nan_out_of_the_family() {
        let adj = holm(&[0.01, f64::NAN, 0.04]).unwrap();
        assert_eq!(adj[0], 0.02);
        assert!(adj[1].is_nan());
        assert_eq!(adj[2], 0.04);
        assert_eq!(holm(&[]).unwrap(), Vec::<f64>::new());
    }

    #[test]
    fn verdicts_follow_the_wording_rules() {
        let cmp = compare(&ELU, &RELU, true);
        let v = verdict("ELU", "ReLU", "with He init", &cmp, None);
        // Welch p = 0.037 for these samples (goldens.json).
        assert_eq!(
            v,
            "ELU vs ReLU with He init: +0.00054 (95% CI +0.00004 to +0.00104), p = 0.037 over 5 seeds: ELU higher"
        );
        let v = verdict("ReLU", "ELU", "", &compare(&RELU, &ELU, false), Some(0.11));
        assert!(v.starts_with("ReLU vs ELU: \u{2212}0.00054 (95% CI \u{2212}0.00104 to \u{2212}0.00004)"), "{v}");
        assert!(v.ends_with("p = 0.037 (Holm-adjusted p = 0.11) over 5 runs each: no detectable difference"), "{v}");
        let v = verdict("ELU", "ReLU", "", &compare(&ELU, &RELU[..3], false), None);
        assert!(v.contains("over 5 and 3 runs"), "{v}");
        let v = verdict("ELU", "ReLU", "", &compare(&ELU, &[0.99], false), None);
        assert_eq!(v, "ELU vs ReLU: cannot compare (needs at least 2 values, got 1)");
        let v = verdict("ELU", "ReLU", "", &compare(&[0.99; 3], &[0.99; 3], true), None);
        assert_eq!(v, "ELU vs ReLU: the same value in every run over 3 seeds: no difference");
        let v = verdict("ELU", "ReLU", "", &compare(&[0.98; 3], &[0.99; 3], true), None);
        assert!(v.ends_with("no test possible: ELU lower in every run"), "{v}");
    }

    #[test]
    fn signed_numbers_and_p_values_read_plainly() {
        assert_eq!(signed(0.00042, 4), "+0.0004");
        assert_eq!(signed(-0.00049, 4), "\u{2212}0.0005");
        assert_eq!(signed(-0.00001, 4), "0.0000");
        assert_eq!(p_value(0.4123), "= 0.41");
        assert_eq!(p_value(0.0321), "= 0.032");
        assert_eq!(p_value(0.00412), "= 0.0041");
        assert_eq!(p_value(0.0004), "< 0.001");
        assert_eq!(p_value(f64::NAN), "undefined");
    }
}
