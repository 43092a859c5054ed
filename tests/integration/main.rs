//! x
#[cfg(all(feature = "server", feature = "cli"))]
mod grpc;
