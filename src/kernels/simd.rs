//! The instruction set the kernels run with, chosen once at run time from what the processor has.
//!
//! The element-wise and transform kernels are plain loops written to be auto-vectorised. Each
//! hot one is compiled several times, once per [`Level`] (with `#[target_feature]`), by the
//! `multiversion!` macro, and the copy for the level in force is called. So one portable binary
//! (built for baseline x86-64) runs AVX-512 or AVX2+FMA code where the processor has it, and
//! never executes an instruction the processor lacks.
//!
//! The level in force is [`Level::current`]: the best the processor supports, or the lower one
//! that the environment variable `ELU_LAB_SIMD` (`baseline`, `avx2`, `avx512`) asks for. Asking
//! for a level the processor lacks is an error from [`Level::from_env`] (the command line reports
//! it and stops); a library caller that never calls it gets the best supported level below the
//! request, with a warning on standard error. Each multiversioned kernel also takes the level as
//! its first argument (`*_at` functions), so tests run every supported level against the naive
//! references; given a level the processor lacks, such a function runs the best one it has (the
//! check is a cached load, made on every call, which is what makes the `*_at` functions safe).
//!
//! On aarch64, NEON is part of the baseline: there is one level, [`Level::Baseline`].

use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The environment variable that forces a lower level.
pub const ENV_VAR: &str = "ELU_LAB_SIMD";

/// An instruction-set level the kernels are compiled for, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// What every processor of the target architecture has: SSE2 on x86-64, NEON on aarch64.
    Baseline,
    /// x86-64 with AVX2 and FMA (Intel Haswell, AMD Zen 1 and later).
    Avx2,
    /// x86-64 with AVX-512 F, BW, VL and DQ, besides AVX2 and FMA (Intel Skylake-SP, AMD Zen 4
    /// and later).
    Avx512,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 3] = [Level::Baseline, Level::Avx2, Level::Avx512];

    /// The level's name as reports print it: `baseline`, `avx2+fma`, `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Baseline => "baseline",
            Level::Avx2 => "avx2+fma",
            Level::Avx512 => "avx512",
        }
    }

    /// The level `ELU_LAB_SIMD` names: `baseline`, `avx2` (or `avx2+fma`), `avx512`; any case.
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "baseline" => Some(Level::Baseline),
            "avx2" | "avx2+fma" => Some(Level::Avx2),
            "avx512" => Some(Level::Avx512),
            _ => None,
        }
    }

    /// Whether this processor can run the level's code.
    pub fn is_supported(self) -> bool {
        match self {
            Level::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => {
                Level::Avx2.is_supported()
                    && std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("avx512dq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Level::Avx2 | Level::Avx512 => false,
        }
    }

    /// The best level this processor supports.
    pub fn detect() -> Level {
        Level::ALL.into_iter().rev().find(|l| l.is_supported()).unwrap_or(Level::Baseline)
    }

    /// Every level this processor supports, lowest first (what the tests iterate over).
    pub fn supported() -> Vec<Level> {
        Level::ALL.into_iter().filter(|l| l.is_supported()).collect()
    }

    /// The level `ELU_LAB_SIMD` asks for, or the best supported one when it is unset or empty.
    ///
    /// # Errors
    /// [`Error::Config`] when the variable names no level, or a level this processor lacks.
    pub fn from_env() -> Result<Level> {
        let value = std::env::var(ENV_VAR).unwrap_or_default();
        Level::resolve(&value)
    }

    /// The level a value of `ELU_LAB_SIMD` asks for (see [`Level::from_env`]).
    ///
    /// # Errors
    /// [`Error::Config`] when `value` names no level, or a level this processor lacks.
    pub fn resolve(value: &str) -> Result<Level> {
        if value.trim().is_empty() {
            return Ok(Level::detect());
        }
        let names = Level::supported().iter().map(|l| l.name()).collect::<Vec<_>>().join(", ");
        let Some(level) = Level::parse(value) else {
            let msg = format!("expected baseline, avx2 or avx512, got {value:?} (this processor supports: {names})");
            return Err(Error::config(ENV_VAR, msg));
        };
        if !level.is_supported() {
            let msg = format!("this processor cannot run {} code (it supports: {names})", level.name());
            return Err(Error::config(ENV_VAR, msg));
        }
        Ok(level)
    }

    /// The level in force, decided once per process: `ELU_LAB_SIMD`'s if it is valid, the best
    /// supported otherwise. An invalid value falls back to the best supported level at or below
    /// the one asked for, with a warning on standard error (the command line instead rejects it
    /// with [`Level::from_env`] before any kernel runs).
    pub fn current() -> Level {
        static CURRENT: OnceLock<Level> = OnceLock::new();
        *CURRENT.get_or_init(|| match Level::from_env() {
            Ok(level) => level,
            Err(err) => {
                let asked = std::env::var(ENV_VAR).ok().and_then(|v| Level::parse(&v)).unwrap_or(Level::Avx512);
                let level = Level::supported().into_iter().filter(|&l| l <= asked).max().unwrap_or(Level::Baseline);
                eprintln!("warning: {err}; using {}", level.name());
                level
            }
        })
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Defines `fn NAME(level: Level, args...)` that runs the body compiled for `level`'s
/// instruction set: the body becomes an `#[inline(always)]` function, called from one
/// `#[target_feature]` copy per x86-64 level, so the body and every `#[inline(always)]`
/// function it calls are vectorised for that level. Arguments are `name: Type` (no patterns).
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name(level: $crate::kernels::simd::Level, $($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }

            match level {
                // SAFETY: the guard has just found AVX-512 F/BW/VL/DQ, AVX2 and FMA on this
                // processor (`is_supported` asks the CPU, through std's cached detection), and
                // `avx512` differs from `body` only in the instructions it may use. A `Level`
                // is a plain value that anyone can construct, so the check is made here and not
                // assumed from how the level was chosen; a level the processor lacks runs the
                // best copy it can.
                #[cfg(target_arch = "x86_64")]
                $crate::kernels::simd::Level::Avx512 if $crate::kernels::simd::Level::Avx512.is_supported() => unsafe {
                    avx512($($arg),*)
                },
                // SAFETY: as above: the guard has just found AVX2 and FMA on this processor.
                #[cfg(target_arch = "x86_64")]
                $crate::kernels::simd::Level::Avx512 | $crate::kernels::simd::Level::Avx2
                    if $crate::kernels::simd::Level::Avx2.is_supported() => unsafe { avx2($($arg),*) },
                _ => body($($arg),*),
            }
        }
    };
}

pub(crate) use multiversion;

#[cfg(test)]
mod tests {
    use super::*;

    multiversion! {
        /// A dot product, to check that every copy computes and that FMA contracts only where
        /// written (`mul_add`).
        fn dot_at(a: &[f32], b: &[f32]) -> f32 {
            a.iter().zip(b).fold(0.0, |s, (x, y)| x.mul_add(*y, s))
        }
    }

    #[test]
    fn names_parse_back_and_levels_are_ordered() {
        for l in Level::ALL {
            assert_eq!(Level::parse(l.name()), Some(l));
        }
        assert_eq!(Level::parse(" AVX2 "), Some(Level::Avx2));
        assert_eq!(Level::parse("sse4"), None);
        assert!(Level::Baseline < Level::Avx2 && Level::Avx2 < Level::Avx512);
    }

    #[test]
    fn detected_level_is_supported_and_the_best() {
        let best = Level::detect();
        assert!(best.is_supported());
        assert_eq!(Level::supported().last(), Some(&best));
        assert_eq!(Level::supported()[0], Level::Baseline);
        assert!(Level::ALL.iter().filter(|l| **l > best).all(|l| !l.is_supported()));
        eprintln!("supported: {:?}", Level::supported());
    }

    #[test]
    fn resolve_accepts_supported_levels_and_rejects_the_rest_clearly() {
        assert_eq!(Level::resolve("").unwrap(), Level::detect());
        for l in Level::ALL {
            match Level::resolve(l.name()) {
                Ok(got) => assert!(l.is_supported() && got == l),
                Err(e) => {
                    assert!(!l.is_supported());
                    assert!(e.to_string().contains("cannot run") && e.to_string().contains(ENV_VAR), "{e}");
                }
            }
        }
        let e = Level::resolve("sse9").unwrap_err().to_string();
        assert!(e.contains("ELU_LAB_SIMD") && e.contains("\"sse9\"") && e.contains("baseline"), "{e}");
    }

    #[test]
    fn every_supported_copy_gives_the_same_bits_for_exact_arithmetic() {
        // Small integers: every product and sum is exact, so all copies must agree exactly.
        let a: Vec<f32> = (0..37).map(|i| (i % 5) as f32).collect();
        let b: Vec<f32> = (0..37).map(|i| (i % 3) as f32 - 1.0).collect();
        let expected: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        for level in Level::supported() {
            assert_eq!(dot_at(level, &a, &b), expected, "{level}");
        }
    }
}
