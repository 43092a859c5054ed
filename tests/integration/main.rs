//! End-to-end tests, built as one binary: exact laws (proptest), the CLI against real
//! files, and accuracy on the shared evaluation corpora when they are present.

mod cli;
mod common;
mod properties;
