//! `masu`: masu for Rust programs on Linux.
//!
//! This crate is a placeholder until the std-shim work lands: it re-exports
//! the core so that the workspace layout is final from the first commit.
#![deny(unsafe_op_in_unsafe_fn)]

pub use masu_core as core;
