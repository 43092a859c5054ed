//! `neardup compact`: rewrites a data directory's log without removed and expired
//! articles, under the detector settings its manifest records (so no detector flag can
//! disagree with the data), and prints the library's report as JSON. It opens the
//! directory as the server does, so the chrome model is checkpointed before the records
//! it learned from are dropped.

use anyhow::{Result, bail};

use crate::args::CompactArgs;
use neardup::DurableDetector;
use neardup::store::read_manifest;

/// Runs `neardup compact`.
pub(crate) fn run(args: &CompactArgs) -> Result<()> {
    let config = args.to_config()?;
    let dir = &config.data_dir;
    let Some(manifest) = read_manifest(dir)? else {
        bail!("{} is not a data directory (no manifest)", dir.display());
    };
    let durable = DurableDetector::open(&config, manifest.detector_config(dir)?)?;
    let report = durable.compact()?;
    durable.close()?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
