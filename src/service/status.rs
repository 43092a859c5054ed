//! Library errors and transport limits as gRPC statuses. The caller's faults get the code
//! that tells them what to fix; internal faults become `INTERNAL` and are logged here,
//! once.

use tonic::codegen::http;
use tonic::{Code, Status};
use tracing::error;

use crate::error::Error;

/// Metadata key naming the request field (or the limit) a refusal is about, as the proto
/// names it (`text`, `published_at`, `max_message_bytes`): machine-readable for clients, and
/// what the HTTP face puts in its JSON error body.
pub(crate) const FIELD_KEY: &str = "neardup-field";

/// `status` with `field` named in its metadata under [`FIELD_KEY`].
pub(crate) fn naming(mut status: Status, field: &'static str) -> Status {
    status.metadata_mut().insert(FIELD_KEY, tonic::metadata::MetadataValue::from_static(field));
    status
}

/// The field a status names, if any (see [`FIELD_KEY`]).
pub(crate) fn field_of(status: &Status) -> Option<&str> {
    status.metadata().get(FIELD_KEY).and_then(|value| value.to_str().ok())
}

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let message = err.to_string();
        match err {
            Error::DuplicateId { .. } => naming(Status::already_exists(message), "id"),
            Error::NotFound { .. } => Status::not_found(message),
            Error::InvalidInput { field, .. } | Error::InvalidConfig { field, .. } => {
                naming(Status::invalid_argument(message), field)
            }
            // Other faults of the caller and, for variants added later, whatever
            // `is_user_error` says.
            other if other.is_user_error() => Status::invalid_argument(message),
            _ => {
                error!(error = %message, "request failed");
                Status::internal(message)
            }
        }
    }
}

/// The status for a request arriving while the server shuts down.
pub(crate) fn shutting_down() -> Status {
    Status::unavailable("server is shutting down")
}

/// tonic refuses a message over the decoding limit with `OUT_OF_RANGE`; gRPC's own
/// convention (and our contract) is `RESOURCE_EXHAUSTED`, which clients treat as "too
/// big, do not retry as is". Other statuses pass through.
pub(crate) fn oversize_as_exhausted(status: Status) -> Status {
    let oversize = status.code() == Code::OutOfRange
        && status.message().contains("decoded message length too large");
    if !oversize {
        return status;
    }
    // tonic's message says "found N bytes, the limit is: L bytes"; keep it and name the
    // setting that governs it.
    let detail = status.message().trim_start_matches("Error, ");
    let message = format!("request message too large ({detail}); see max_message_bytes");
    naming(Status::resource_exhausted(message), "max_message_bytes")
}

/// Applies [`oversize_as_exhausted`] to unary responses, whose request tonic decodes
/// before our handler runs (streams map the error themselves when reading).
pub(crate) fn fix_oversize_response(
    response: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    match Status::from_header_map(response.headers()) {
        Some(status) if status.code() == Code::OutOfRange => {
            let fixed = oversize_as_exhausted(status);
            if fixed.code() == Code::OutOfRange { response } else { fixed.into_http() }
        }
        _ => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_fault() {
        let cases = [
            (Error::input("text", "has no words"), Code::InvalidArgument),
            (Error::DuplicateId { id: "a".into(), reason: "x".into() }, Code::AlreadyExists),
            (Error::NotFound { what: "cluster", id: "c".into() }, Code::NotFound),
            (Error::Internal { reason: "boom".into() }, Code::Internal),
            (Error::config("max_matches", "must be at least 1"), Code::InvalidArgument),
            (Error::io("x", std::io::ErrorKind::Other.into()), Code::Internal),
        ];
        for (err, code) in cases {
            let message = err.to_string();
            let status = Status::from(err);
            assert_eq!(status.code(), code);
            assert_eq!(status.message(), message);
        }
        let status = Status::from(Error::input("article.text", "has no words"));
        assert!(status.message().contains("article.text"));
        assert_eq!(field_of(&status), Some("article.text"));
        let over_http = Status::from_header_map(status.into_http::<()>().headers()).unwrap();
        assert_eq!(field_of(&over_http), Some("article.text"), "the field travels in metadata");
    }

    #[test]
    fn oversize_becomes_resource_exhausted() {
        let tonic_status = Status::out_of_range(
            "Error, decoded message length too large: found 9000 bytes, the limit is: 4096 bytes",
        );
        let status = oversize_as_exhausted(tonic_status);
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("found 9000 bytes"), "{}", status.message());
        assert_eq!(field_of(&status), Some("max_message_bytes"));
        let other = oversize_as_exhausted(Status::out_of_range("page 7 of 3"));
        assert_eq!(other.code(), Code::OutOfRange);

        let response = fix_oversize_response(
            Status::out_of_range(
                "Error, decoded message length too large: found 9 bytes, the limit is: 4 bytes",
            )
            .into_http(),
        );
        let fixed = Status::from_header_map(response.headers()).unwrap();
        assert_eq!(fixed.code(), Code::ResourceExhausted);
    }
}
