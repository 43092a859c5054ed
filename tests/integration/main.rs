//! End-to-end tests: one test binary, one module per area.

mod explain;
mod scripts;
mod synd;
