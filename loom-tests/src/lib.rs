//! loom models of masu-core's concurrent protocols.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p masu-loom-tests --release`.
//! The models arrive with the verification issue; the crate exists now so the
//! workspace layout is final.
