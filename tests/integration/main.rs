//! End-to-end tests, built as one binary: exact laws (proptest), the CLI against real
//! files, accuracy on the shared evaluation corpora when they are present, and the
//! durable store on real files and processes.

mod cli;
mod common;
mod properties;
mod store;
