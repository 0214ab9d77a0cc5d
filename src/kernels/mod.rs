//! Fast numeric kernels, each beside the naive reference it is tested against.

pub mod aligned;
pub mod gemm;
pub mod im2col;

pub use gemm::{sgemm, sgemm_naive};
pub use im2col::{col2im, col2im_naive, im2col, im2col_naive, ConvGeometry};
pub mod conv_pool;
pub mod elementwise;
pub mod exp;
pub mod lanes;
pub mod simd;
pub mod sparse;
pub mod special;
pub mod winograd;
