//! Library errors and transport limits as gRPC statuses. The caller's faults get the code
//! that tells them what to fix; internal faults become `INTERNAL` and are logged here,
//! once.

use tonic::codegen::http;
use tonic::{Code, Status};
use tracing::error;

use crate::error::Error;

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let message = err.to_string();
        match err {
            Error::DuplicateId { .. } => Status::already_exists(message),
            Error::NotFound { .. } => Status::not_found(message),
            // Other faults of the caller (a bad field, a bad setting) and, for variants
            // added later, whatever `is_user_error` says.
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
    Status::resource_exhausted(format!(
        "request message too large ({detail}); see max_message_bytes"
    ))
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
        assert!(Status::from(Error::input("text", "has no words")).message().contains("text"));
    }

    #[test]
    fn oversize_becomes_resource_exhausted() {
        let tonic_status = Status::out_of_range(
            "Error, decoded message length too large: found 9000 bytes, the limit is: 4096 bytes",
        );
        let status = oversize_as_exhausted(tonic_status);
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("found 9000 bytes"), "{}", status.message());
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
