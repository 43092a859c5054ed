//! The chrome checkpoint: the learned chrome model as it stood after every record of
//! the segments up to a number, so that a restart learns the same model a server that
//! never stopped has. Every insert record carries the line profile the model learned
//! from; opening loads the checkpoint and learns again from the records after it, in
//! log order (removed and expired articles included: the running server learned from
//! them too). A checkpoint is written before a compaction drops any record it covers,
//! so the records a restart needs are always still in the log.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chrome::ChromeModel;
use crate::error::{Error, Result};

use super::manifest::sync_dir;

/// File name of the checkpoint inside the data directory.
pub(crate) const CHROME_FILE: &str = "chrome.json";

/// The model after every record in segments numbered up to `covers_through`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ChromeCheckpoint {
    pub(crate) covers_through: u64,
    pub(crate) model: ChromeModel,
}

/// Writes the checkpoint crash-safely (temp file, fsync, rename, fsync directory).
pub(crate) fn write(dir: &Path, covers_through: u64, model: &ChromeModel) -> Result<()> {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        covers_through: u64,
        model: &'a ChromeModel,
    }
    let path = dir.join(CHROME_FILE);
    let tmp = dir.join(format!("{CHROME_FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut out = BufWriter::new(File::create(&tmp)?);
        serde_json::to_writer(&mut out, &Borrowed { covers_through, model })?;
        out.write_all(b"\n")?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()
    };
    write().map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    sync_dir(dir)
}

/// The checkpoint in `dir`, if any. One that does not parse is an error: records it
/// covers may have been compacted away, so the model cannot be learned again.
pub(crate) fn read(dir: &Path) -> Result<Option<ChromeCheckpoint>> {
    let path = dir.join(CHROME_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(Error::io(&path, error)),
    };
    serde_json::from_reader(BufReader::new(file)).map(Some).map_err(|error| Error::BadLogRecord {
        path,
        offset: error.column() as u64,
        reason: error.to_string(),
    })
}
