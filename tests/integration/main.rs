//! End-to-end tests, built as one binary: exact laws (proptest), the CLI against real
//! files in every input format, the gRPC service in-process and its HTTP/JSON face, the stories page in headless Chromium, the durable store on real
//! files and processes, the service as operators run it (metrics, logs, config file, CLI
//! client), matching in every writing system, `scan --explain`, the stage tables of
//! `scan --emit-parquet`, and accuracy on the
//! shared evaluation corpora when they are present.

#[cfg(all(feature = "server", feature = "cli"))]
mod browser;
mod cli;
mod common;
#[cfg(all(feature = "server", feature = "cli"))]
mod crash;
#[cfg(feature = "cli")]
mod emit;
mod explain;
#[cfg(all(feature = "server", feature = "cli"))]
mod grpc;
#[cfg(all(feature = "server", feature = "cli"))]
mod http;
#[cfg(feature = "cli")]
mod inputs;
#[cfg(all(feature = "server", feature = "cli"))]
mod online;
#[cfg(all(feature = "server", feature = "cli"))]
mod ops;
mod properties;
mod scan;
#[cfg(all(feature = "server", feature = "cli"))]
mod secure;
mod store;
mod synd;
mod writing_systems;
