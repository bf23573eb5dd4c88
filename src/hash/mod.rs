//! Hashing object bodies on the PUT path: MD5 kernels and the per-core batcher that hashes
//! the uploads of one core side by side.

pub(crate) mod md5_batch;
pub mod md5_kernel;
