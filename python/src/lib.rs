//! The compiled half of the Python package `neardup` (`neardup._neardup`): thin adapters
//! from Python values to the library's calls. Inputs and results cross as Arrow tables
//! (arrow-rs's pyarrow bridge, no copy) or as JSON text that the pure-Python half turns
//! into dicts, so the library's serde types are the one definition of every field.
//! Library errors become the exception classes of `neardup.errors`, with the library's
//! messages.

mod stages;

use std::path::PathBuf;

use arrow_array::RecordBatch;
use arrow_pyarrow::{PyArrowType, Table};
use neardup::scan::input::{DateParser, Fields, Input, ReadOptions};
use neardup::scan::{ScanOptions, ScanReport, assignment_batches};
use neardup::{Article, DetectorConfig, Error};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The exception of `neardup.errors` for a library error, carrying its fields.
fn to_py(error: Error) -> PyErr {
    Python::attach(|py| match exception(py, &error) {
        Ok(err) => err,
        Err(err) => err,
    })
}

fn exception(py: Python<'_>, error: &Error) -> PyResult<PyErr> {
    let kwargs = PyDict::new(py);
    let class = match error {
        Error::InvalidConfig { field, .. } => {
            kwargs.set_item("field", *field)?;
            "InvalidConfig"
        }
        Error::InvalidInput { field, .. } => {
            kwargs.set_item("field", *field)?;
            "InvalidInput"
        }
        Error::DuplicateId { id, .. } => {
            kwargs.set_item("id", id)?;
            "DuplicateId"
        }
        Error::BadRecord { path, line, .. } => {
            kwargs.set_item("path", path.to_string_lossy())?;
            kwargs.set_item("line", *line)?;
            "BadRecord"
        }
        Error::BadRow { path, row, .. } => {
            kwargs.set_item("path", path.to_string_lossy())?;
            kwargs.set_item("row", *row)?;
            "BadRecord"
        }
        Error::BadFile { path, .. } => {
            kwargs.set_item("path", path.to_string_lossy())?;
            "BadFile"
        }
        Error::NotFound { what, id } => {
            kwargs.set_item("what", *what)?;
            kwargs.set_item("id", id)?;
            "NotFound"
        }
        Error::Io { path, .. } => {
            kwargs.set_item("path", path.to_string_lossy())?;
            "StorageError"
        }
        Error::ContractMismatch { file, key, expected, found } => {
            kwargs.set_item("path", file)?;
            kwargs.set_item("key", key)?;
            kwargs.set_item("expected", expected)?;
            kwargs.set_item("found", found)?;
            "ContractMismatch"
        }
        _ if error.is_user_error() => "NeardupError",
        _ => "InternalError",
    };
    let class = py.import("neardup.errors")?.getattr(class)?;
    Ok(PyErr::from_value(class.call((error.to_string(),), Some(&kwargs))?))
}

/// The config a JSON object gives (the format of `neardup --config`), over the defaults,
/// validated.
fn config(json: Option<&str>) -> PyResult<DetectorConfig> {
    let config = match json {
        None => DetectorConfig::default(),
        Some(json) => serde_json::from_str(json)
            .map_err(|e| to_py(Error::InvalidConfig { field: "config", reason: e.to_string() }))?,
    };
    config.validate().map_err(to_py)?;
    Ok(config)
}

fn json(value: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// The online detector (`neardup::Detector`); `neardup.Detector` wraps it.
#[pyclass(frozen, module = "neardup._neardup")]
struct Detector {
    inner: neardup::Detector,
}

#[pymethods]
impl Detector {
    #[new]
    #[pyo3(signature = (config_json=None))]
    fn new(config_json: Option<&str>) -> PyResult<Self> {
        let inner = neardup::Detector::new(config(config_json)?).map_err(to_py)?;
        Ok(Detector { inner })
    }

    /// The validated config, as JSON.
    fn config_json(&self) -> PyResult<String> {
        json(self.inner.config())
    }

    #[pyo3(signature = (id, text, source, published))]
    fn ingest(
        &self,
        py: Python<'_>,
        id: &str,
        text: &str,
        source: &str,
        published: Option<i64>,
    ) -> PyResult<String> {
        let article = Article { id, text, source, published };
        let verdict = py.detach(|| self.inner.ingest(&article)).map_err(to_py)?;
        json(&verdict)
    }

    #[pyo3(signature = (id, text, source, published))]
    fn check(
        &self,
        py: Python<'_>,
        id: &str,
        text: &str,
        source: &str,
        published: Option<i64>,
    ) -> PyResult<String> {
        let article = Article { id, text, source, published };
        let verdict = py.detach(|| self.inner.check(&article)).map_err(to_py)?;
        json(&verdict)
    }

    fn remove(&self, py: Python<'_>, id: &str) -> bool {
        py.detach(|| self.inner.remove(id))
    }

    fn cluster(&self, id: &str) -> PyResult<String> {
        json(&self.inner.cluster(id).map_err(to_py)?)
    }

    fn stats(&self) -> PyResult<String> {
        json(&self.inner.stats())
    }

    fn __len__(&self) -> usize {
        self.inner.stats().documents
    }

    fn __contains__(&self, id: &str) -> bool {
        self.inner.contains(id)
    }
}

/// A date as the scan reads it (RFC 3339, a date, epoch numbers...), in Unix
/// milliseconds; `None` for an empty string.
#[pyfunction]
fn parse_date(text: &str) -> PyResult<Option<i64>> {
    DateParser::default()
        .parse_str(text)
        .map_err(|reason| to_py(Error::InvalidInput { field: "published", reason }))
}

/// How `neardup.scan` reads its inputs.
#[derive(FromPyObject)]
struct ReadArgs {
    #[pyo3(item)]
    id_field: String,
    #[pyo3(item)]
    text_field: String,
    #[pyo3(item)]
    date_field: String,
    #[pyo3(item)]
    source_field: String,
    #[pyo3(item)]
    date_format: Option<String>,
    #[pyo3(item)]
    skip_invalid: bool,
}

impl ReadArgs {
    fn options(self) -> ScanOptions {
        let read = ReadOptions {
            fields: Fields {
                id: self.id_field,
                text: self.text_field,
                date: self.date_field,
                source: self.source_field,
            },
            date_format: self.date_format,
            ..ReadOptions::default()
        };
        ScanOptions { read, skip_invalid: self.skip_invalid, ..ScanOptions::default() }
    }
}

/// What a scan gives Python: the assignments, warnings, and the rejected records.
type ScanResult = (PyArrowType<Table>, Vec<String>, Vec<String>);

fn scan_result(report: ScanReport, config: &DetectorConfig) -> PyResult<ScanResult> {
    let batches: Vec<RecordBatch> =
        assignment_batches(&report, config).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let schema = batches[0].schema();
    let table =
        Table::try_new(batches, schema).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let rejects = report.invalid.iter().map(ToString::to_string).collect();
    Ok((PyArrowType(table), report.warnings, rejects))
}

/// Scans files (any format `neardup scan` reads; directories expand to their files).
#[pyfunction]
#[pyo3(signature = (paths, config_json, read))]
fn scan_paths(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    config_json: Option<&str>,
    read: ReadArgs,
) -> PyResult<ScanResult> {
    let config = config(config_json)?;
    let options = read.options();
    let report = py.detach(|| neardup::scan(&paths, &config, &options)).map_err(to_py)?;
    scan_result(report, &config)
}

/// Scans an Arrow table (its rows in order) as `neardup scan` scans a Parquet file.
#[pyfunction]
#[pyo3(signature = (table, name, config_json, read))]
fn scan_table(
    py: Python<'_>,
    table: PyArrowType<Table>,
    name: &str,
    config_json: Option<&str>,
    read: ReadArgs,
) -> PyResult<ScanResult> {
    let config = config(config_json)?;
    let options = read.options();
    let (batches, schema) = table.0.into_inner();
    let report = py
        .detach(|| {
            let input = Input::from_batches(name, &batches, &schema, &options.read)?;
            neardup::scan::scan_opened(vec![input], &config, &options)
        })
        .map_err(to_py)?;
    scan_result(report, &config)
}

#[pymodule]
fn _neardup(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Detector>()?;
    module.add_function(wrap_pyfunction!(parse_date, module)?)?;
    module.add_function(wrap_pyfunction!(scan_paths, module)?)?;
    module.add_function(wrap_pyfunction!(scan_table, module)?)?;
    stages::register(module)?;
    Ok(())
}
