//! HTTP/JSON requests as in-process gRPC calls. A request's JSON becomes the proto
//! request message (proto3 JSON mapping, through the embedded descriptors), framed as a
//! gRPC message and sent through the same tower stack as a gRPC client's call: the
//! request log line and metrics, the token check, the in-flight limit, the message size
//! limit and the RPC itself. The answer comes back as proto3 JSON (lowerCamelCase
//! names, every field present), or a gRPC status becomes an HTTP code with a JSON error
//! body naming the field. Nothing about a request is decided here.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use prost_reflect::{DynamicMessage, SerializeOptions};
use tonic::codegen::http::{self, HeaderValue, StatusCode, header};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Code, Status};
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::service::convert::message_descriptor;
use crate::service::status::field_of;

/// The gRPC routes behind their layers, as one service.
pub(crate) type Grpc =
    BoxCloneSyncService<http::Request<Body>, http::Response<tonic::body::Body>, Infallible>;

/// Length of a gRPC message frame's header: a compression flag and a big-endian length.
const FRAME_HEADER: usize = 5;

/// Makes the gRPC call `method` of the Deduplicator with `message`, on behalf of the
/// HTTP request whose head is `from` (its token and peer go along), and answers with
/// the response message (of proto type `response`) as JSON.
pub(crate) async fn unary<M: prost::Message>(
    grpc: &Grpc,
    method: &str,
    message: &M,
    response: &str,
    from: &http::request::Parts,
) -> Response {
    let request = grpc_request(method, message, from);
    let Ok(answer) = grpc.clone().oneshot(request).await;
    let (parts, body) = answer.into_parts();
    if let Some(status) = Status::from_header_map(&parts.headers) {
        return error(&status);
    }
    let collected = match body.collect().await {
        Ok(collected) => collected,
        Err(status) => return error(&status),
    };
    let status = collected.trailers().and_then(Status::from_header_map);
    if let Some(status) = status.filter(|s| s.code() != Code::Ok) {
        return error(&status);
    }
    let bytes = collected.to_bytes();
    match bytes.get(FRAME_HEADER..).map(|payload| json_of(payload, response)) {
        Some(Ok(json)) => json_response(StatusCode::OK, &json),
        Some(Err(status)) => error(&status),
        None => error(&Status::internal(format!("{method} answered without a message"))),
    }
}

fn grpc_request<M: prost::Message>(
    method: &str,
    message: &M,
    from: &http::request::Parts,
) -> http::Request<Body> {
    let length = message.encoded_len();
    let mut frame = Vec::with_capacity(FRAME_HEADER + length);
    frame.push(0); // not compressed
    frame.extend_from_slice(&u32::try_from(length).unwrap_or(u32::MAX).to_be_bytes());
    message.encode(&mut frame).expect("a Vec grows as needed");
    let mut request = http::Request::new(Body::from(frame));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = format!("/{}/{method}", crate::service::SERVICE_NAME)
        .parse()
        .expect("service and method names are valid paths");
    *request.version_mut() = http::Version::HTTP_2;
    let headers = request.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    if let Some(token) = from.headers.get(header::AUTHORIZATION) {
        headers.insert(header::AUTHORIZATION, token.clone());
    }
    // The peer, for the request's log line.
    let extensions = request.extensions_mut();
    if let Some(info) = from.extensions.get::<TcpConnectInfo>() {
        extensions.insert(info.clone());
    }
    if let Some(info) = from.extensions.get::<TlsConnectInfo<TcpConnectInfo>>() {
        extensions.insert(info.clone());
    }
    request
}

/// The proto message `full_name` from its proto3 JSON. Unknown fields are refused.
pub(crate) fn message_of<M: prost::Message + Default>(
    json: &[u8],
    full_name: &str,
) -> Result<M, Status> {
    let descriptor = message_descriptor(full_name).map_err(Status::from)?;
    let mut reader = serde_json::Deserializer::from_slice(json);
    let dynamic = DynamicMessage::deserialize(descriptor, &mut reader)
        .and_then(|message| reader.end().map(|()| message))
        .map_err(|e| {
            let status = Status::invalid_argument(format!(
                "the request body is not a {full_name} in proto3 JSON: {e}"
            ));
            crate::service::status::naming(status, "body")
        })?;
    dynamic
        .transcode_to()
        .map_err(|e| Status::internal(format!("{full_name} does not transcode: {e}")))
}

/// Encoded proto `payload` of type `full_name` as proto3 JSON: lowerCamelCase names,
/// every field, 64-bit integers as strings (as the mapping says).
fn json_of(payload: &[u8], full_name: &str) -> Result<serde_json::Value, Status> {
    let descriptor = message_descriptor(full_name).map_err(Status::from)?;
    let dynamic = DynamicMessage::decode(descriptor, payload)
        .map_err(|e| Status::internal(format!("{full_name} does not decode: {e}")))?;
    let options = SerializeOptions::new().skip_default_fields(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| Status::internal(format!("{full_name} as JSON: {e}")))
}

fn json_response(code: StatusCode, json: &serde_json::Value) -> Response {
    let body = serde_json::to_vec(json).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The HTTP code of a gRPC status: the mapping of Google's API design guide (and
/// grpc-gateway), except a message over `max_message_bytes`, which is 413.
pub(crate) fn http_code(status: &Status) -> StatusCode {
    match status.code() {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted if field_of(status) == Some("max_message_bytes") => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Cancelled => StatusCode::from_u16(499).expect("499 is a valid code"),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A status as an HTTP error: `{"error": {"code", "status", "message", "field"}}`, with
/// `field` the request field (or limit) at fault when the status names one.
pub(crate) fn error(status: &Status) -> Response {
    let code = http_code(status);
    let status_name = format!("{:?}", status.code());
    let json = serde_json::json!({
        "error": {
            "code": code.as_u16(),
            "status": screaming_snake(&status_name),
            "message": status.message(),
            "field": field_of(status),
        }
    });
    let mut response = json_response(code, &json);
    if code == StatusCode::UNAUTHORIZED {
        let challenge = HeaderValue::from_static("Bearer");
        response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}

/// `InvalidArgument` → `INVALID_ARGUMENT`, the gRPC code names clients know.
fn screaming_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (ix, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && ix > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::pb;

    #[test]
    fn codes_map_as_the_api_guide_says() {
        let cases = [
            (Status::invalid_argument("x"), 400),
            (Status::unauthenticated("x"), 401),
            (Status::permission_denied("x"), 403),
            (Status::not_found("x"), 404),
            (Status::already_exists("x"), 409),
            (Status::resource_exhausted("busy"), 429),
            (
                crate::service::status::oversize_as_exhausted(Status::out_of_range(
                    "Error, decoded message length too large: found 9 bytes, the limit is: 4 bytes",
                )),
                413,
            ),
            (Status::unavailable("x"), 503),
            (Status::internal("x"), 500),
        ];
        for (status, code) in cases {
            assert_eq!(http_code(&status).as_u16(), code, "{status:?}");
        }
        assert_eq!(screaming_snake("InvalidArgument"), "INVALID_ARGUMENT");
        assert_eq!(screaming_snake("Internal"), "INTERNAL");
    }

    #[test]
    fn json_follows_the_proto_mapping() {
        let article: pb::Article = message_of(
            br#"{"id": "a", "text": "t", "publishedAt": "2022-01-28T20:15:00Z", "labels": {"k": "v"}}"#,
            "neardup.v1.Article",
        )
        .unwrap();
        assert_eq!(article.published_at.unwrap().seconds, 1_643_400_900);
        assert_eq!(article.labels["k"], "v");
        let by_proto_name: pb::Article = message_of(
            br#"{"id": "a", "published_at": "2022-01-28T20:15:00Z"}"#,
            "neardup.v1.Article",
        )
        .unwrap();
        assert!(by_proto_name.published_at.is_some(), "proto names are accepted too");
        for bad in [&br#"{"id": 1}"#[..], br#"{"nope": 1}"#, b"{", br#"{"id": "a"} x"#] {
            let status = message_of::<pb::Article>(bad, "neardup.v1.Article").unwrap_err();
            assert_eq!((status.code(), field_of(&status)), (Code::InvalidArgument, Some("body")));
        }
        let stats = pb::StatsResponse { documents: 3, ..Default::default() };
        let json =
            json_of(&prost::Message::encode_to_vec(&stats), "neardup.v1.StatsResponse").unwrap();
        assert_eq!(json["documents"], "3");
        assert_eq!(json["memoryBytes"], "0", "default values are present");
    }
}
