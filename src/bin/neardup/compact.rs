//! `neardup compact`: rewrites a data directory's log without removed and expired
//! articles, under the detector settings its manifest records (so no detector flag can
//! disagree with the data), and prints the library's report as JSON.

use anyhow::{Result, bail};

use crate::args::CompactArgs;
use neardup::store::{Store, read_manifest};

/// Runs `neardup compact`.
pub(crate) fn run(args: &CompactArgs) -> Result<()> {
    let config = args.to_config()?;
    let dir = &config.data_dir;
    let Some(manifest) = read_manifest(dir)? else {
        bail!("{} is not a data directory (no manifest)", dir.display());
    };
    let detector = manifest.detector_config(dir)?;
    let (store, recovered) = Store::open(&config, &detector)?;
    // Compaction works on the log; the articles recovered to build an index are not needed.
    drop(recovered);
    let report = store.compact()?;
    store.close()?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
