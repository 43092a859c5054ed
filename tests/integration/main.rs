//! x
mod store;
