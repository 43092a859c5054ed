//! Placeholder; the criterion benches land in the next commit.
fn main() {}
