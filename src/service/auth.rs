//! Bearer-token authorization for the gRPC service, as a tower layer in front of every
//! route. Tokens come from a file of `token scope[,scope]` lines; only their SHA-256
//! digests are kept in memory, a presented token is hashed and compared with every
//! digest in constant time, and no token is ever logged or put in an error message.
//! Health checks and reflection stay open so probes and tools work without a token.
//! The table is shared with [`TokenFile`], which reads the file again on SIGHUP and swaps
//! the new table in only if it parses, so a bad edit never locks everyone out.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Status;
use tonic::codegen::http;
use tower::{Layer, Service};

use crate::error::{Error, Result};

/// Shortest token accepted: anything shorter can be guessed.
pub(crate) const MIN_TOKEN_BYTES: usize = 16;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `Check`, `GetCluster`, `Stats`, `ListStories`, `CompareStory`: read only.
    Check,
    /// `Ingest`, `IngestStream`: store articles.
    Ingest,
    /// `Remove` and compaction: retract or rewrite stored state.
    Admin,
}

impl Scope {
    fn bit(self) -> u8 {
        match self {
            Scope::Check => 1,
            Scope::Ingest => 2,
            Scope::Admin => 4,
        }
    }

    fn parse(name: &str) -> Option<Scope> {
        match name {
            "check" => Some(Scope::Check),
            "ingest" => Some(Scope::Ingest),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scope::Check => "check",
            Scope::Ingest => "ingest",
            Scope::Admin => "admin",
        }
    }
}

/// The scope a gRPC method needs, or `None` for the open services (health, reflection).
/// Methods of our service that are not listed (added later) need `admin`: a new RPC is
/// closed until someone decides otherwise.
pub(crate) fn required_scope(path: &str) -> Option<Scope> {
    if path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.") {
        return None;
    }
    let method = path.rsplit('/').next().unwrap_or_default();
    Some(match method {
        "Check" | "GetCluster" | "Stats" | "ListStories" | "CompareStory" => Scope::Check,
        "Ingest" | "IngestStream" => Scope::Ingest,
        _ => Scope::Admin,
    })
}

/// The known tokens, as SHA-256 digests with their scopes.
#[derive(Clone, Default)]
pub(crate) struct TokenTable {
    entries: Vec<([u8; 32], u8)>,
}

impl fmt::Debug for TokenTable {
    // Digests are not secrets, but there is nothing useful to show either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenTable").field("tokens", &self.entries.len()).finish()
    }
}

impl TokenTable {
    /// Parses a token file: one `token scope[,scope]` per line, `#` comments and blank
    /// lines ignored. Errors name the line, never the token.
    pub(crate) fn parse(text: &str) -> Result<TokenTable> {
        let bad = |line: usize, reason: &str| {
            Error::config("auth_tokens", format!("line {line}: {reason}"))
        };
        let mut entries: Vec<([u8; 32], u8)> = Vec::new();
        for (ix, line) in text.lines().enumerate() {
            let line_no = ix + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let token = parts.next().unwrap_or_default();
            let Some(scopes) = parts.next() else {
                return Err(bad(line_no, "expected `token scope[,scope]`"));
            };
            if parts.next().is_some() {
                return Err(bad(line_no, "expected `token scope[,scope]`, found more fields"));
            }
            if token.len() < MIN_TOKEN_BYTES {
                return Err(bad(
                    line_no,
                    &format!("token is shorter than {MIN_TOKEN_BYTES} characters"),
                ));
            }
            let mut bits = 0u8;
            for name in scopes.split(',') {
                let scope = Scope::parse(name).ok_or_else(|| {
                    bad(line_no, &format!("unknown scope {name:?} (check, ingest or admin)"))
                })?;
                bits |= scope.bit();
            }
            let digest = digest(token);
            if entries.iter().any(|(known, _)| bool::from(known.ct_eq(&digest))) {
                return Err(bad(line_no, "token listed twice"));
            }
            entries.push((digest, bits));
        }
        if entries.is_empty() {
            return Err(Error::config("auth_tokens", "the file lists no token"));
        }
        Ok(TokenTable { entries })
    }

    /// Number of tokens.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Decides a request from its `authorization` header value: `UNAUTHENTICATED` when
    /// it has no bearer token or an unknown one, `PERMISSION_DENIED` when the token lacks
    /// `needed`.
    pub(crate) fn authorize(
        &self,
        authorization: Option<&[u8]>,
        needed: Scope,
    ) -> Result<(), Status> {
        let Some(token) = authorization.and_then(bearer) else {
            return Err(Status::unauthenticated("missing bearer token (authorization header)"));
        };
        let presented = digest_bytes(token);
        // Every digest is compared, so the time taken does not depend on which one (if
        // any) matches; comparing digests rather than tokens also hides token lengths.
        let mut scopes = 0u8;
        let mut found = subtle::Choice::from(0);
        for (known, bits) in &self.entries {
            let hit = known.ct_eq(&presented);
            found |= hit;
            scopes |= bits & (hit.unwrap_u8().wrapping_neg());
        }
        if !bool::from(found) {
            return Err(Status::unauthenticated("unknown token"));
        }
        if scopes & needed.bit() == 0 {
            return Err(Status::permission_denied(format!(
                "token lacks the {:?} scope",
                needed.name()
            )));
        }
        Ok(())
    }
}

fn digest(token: &str) -> [u8; 32] {
    digest_bytes(token.as_bytes())
}

fn digest_bytes(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// The token of `Bearer <token>` (scheme case-insensitive, as RFC 7235 says).
fn bearer(header: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer ";
    if header.len() <= SCHEME.len() || !header[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let token = header[SCHEME.len()..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// The token table in force, swapped whole on reload.
type Shared = Arc<RwLock<Arc<TokenTable>>>;

/// The token file and the table read from it, shared with every [`Auth`] service.
#[derive(Debug, Clone)]
pub(crate) struct TokenFile {
    path: PathBuf,
    table: Shared,
}

impl TokenFile {
    /// Reads and parses the token file at `path`.
    pub(crate) fn load(path: &Path) -> Result<TokenFile> {
        let table = read_table(path)?;
        Ok(TokenFile { path: path.to_owned(), table: Arc::new(RwLock::new(Arc::new(table))) })
    }

    /// Reads the file again and puts its tokens in force; on an error the tokens in
    /// force stay as they were. Returns the number of tokens.
    pub(crate) fn reload(&self) -> Result<usize> {
        let table = read_table(&self.path)?;
        let count = table.len();
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
        Ok(count)
    }

    /// Number of tokens in force.
    pub(crate) fn len(&self) -> usize {
        self.current().len()
    }

    fn current(&self) -> Arc<TokenTable> {
        Arc::clone(&self.table.read().unwrap_or_else(|e| e.into_inner()))
    }
}

fn read_table(path: &Path) -> Result<TokenTable> {
    let text = std::fs::read_to_string(path).map_err(|cause| Error::io(path, cause))?;
    TokenTable::parse(&text)
}

/// Tower layer that checks every request against the tokens of a [`TokenFile`]; without
/// one (no `auth_tokens` configured) every request passes.
#[derive(Debug, Clone)]
pub(crate) struct AuthLayer {
    tokens: Option<TokenFile>,
}

impl AuthLayer {
    pub(crate) fn new(tokens: Option<TokenFile>) -> Self {
        AuthLayer { tokens }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth { inner, tokens: self.tokens.clone() }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub(crate) struct Auth<S> {
    inner: S,
    tokens: Option<TokenFile>,
}

type Response = http::Response<tonic::body::Body>;

impl<S, B> Service<http::Request<B>> for Auth<S>
where
    S: Service<http::Request<B>, Response = Response>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if let (Some(tokens), Some(needed)) = (&self.tokens, required_scope(request.uri().path())) {
            let header = request.headers().get(http::header::AUTHORIZATION).map(|v| v.as_bytes());
            // The request's log line (`observe.rs`) reports the refusal, at warn level.
            if let Err(status) = tokens.current().authorize(header, needed) {
                return Box::pin(std::future::ready(Ok(status.into_http())));
            }
        }
        Box::pin(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    const READER: &str = "reader-token-0123456789";
    const WRITER: &str = "writer-token-0123456789";
    const ROOT: &str = "admin-token-0123456789";

    fn table() -> TokenTable {
        TokenTable::parse(&format!(
            "# comment\n\n{READER} check\n{WRITER} check,ingest\n  {ROOT}   admin  \n"
        ))
        .unwrap()
    }

    fn header(token: &str) -> Vec<u8> {
        format!("Bearer {token}").into_bytes()
    }

    #[test]
    fn scopes_decide() {
        let tokens = table();
        assert_eq!(tokens.len(), 3);
        let cases = [
            (None, Scope::Check, Some(Code::Unauthenticated)),
            (Some(header("not-a-known-token-at-all")), Scope::Check, Some(Code::Unauthenticated)),
            (Some(b"Basic abc".to_vec()), Scope::Check, Some(Code::Unauthenticated)),
            (Some(b"Bearer ".to_vec()), Scope::Check, Some(Code::Unauthenticated)),
            (Some(header(READER)), Scope::Check, None),
            (Some(header(READER)), Scope::Ingest, Some(Code::PermissionDenied)),
            (Some(header(WRITER)), Scope::Ingest, None),
            (Some(header(WRITER)), Scope::Admin, Some(Code::PermissionDenied)),
            (Some(format!("bearer  {ROOT} ").into_bytes()), Scope::Admin, None),
            (Some(header(ROOT)), Scope::Check, Some(Code::PermissionDenied)),
        ];
        for (header, needed, expected) in cases {
            let outcome = tokens.authorize(header.as_deref(), needed);
            assert_eq!(outcome.as_ref().err().map(Status::code), expected, "{header:?} {needed:?}");
            if let Err(status) = outcome {
                for secret in [READER, WRITER, ROOT] {
                    assert!(!status.message().contains(secret), "{}", status.message());
                }
            }
        }
    }

    #[test]
    fn methods_map_to_scopes() {
        let service = "/neardup.v1.Deduplicator";
        for (method, scope) in [
            ("Check", Scope::Check),
            ("GetCluster", Scope::Check),
            ("Stats", Scope::Check),
            ("ListStories", Scope::Check),
            ("CompareStory", Scope::Check),
            ("Ingest", Scope::Ingest),
            ("IngestStream", Scope::Ingest),
            ("Remove", Scope::Admin),
            ("Compact", Scope::Admin),
        ] {
            assert_eq!(required_scope(&format!("{service}/{method}")), Some(scope), "{method}");
        }
        assert_eq!(required_scope("/grpc.health.v1.Health/Check"), None);
        assert_eq!(
            required_scope("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
            None
        );
    }

    #[test]
    fn a_reload_swaps_the_table_only_when_the_file_parses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, format!("{READER} check\n")).unwrap();
        let tokens = TokenFile::load(&path).unwrap();
        let check = |tokens: &TokenFile, token: &str| {
            tokens.current().authorize(Some(&header(token)), Scope::Check).is_ok()
        };
        assert!(check(&tokens, READER));
        std::fs::write(&path, format!("{WRITER} check\n{ROOT} admin\n")).unwrap();
        assert_eq!(tokens.reload().unwrap(), 2);
        assert!(check(&tokens, WRITER) && !check(&tokens, READER));
        std::fs::write(&path, "short check\n").unwrap();
        assert!(tokens.reload().is_err());
        assert!(check(&tokens, WRITER), "a bad file leaves the tokens in force");
        std::fs::remove_file(&path).unwrap();
        assert!(tokens.reload().is_err());
        assert_eq!(tokens.len(), 2);
    }

    #[test]
    fn bad_files_name_the_line_not_the_token() {
        let secret = "s3cret-s3cret-s3cret";
        let cases = [
            (format!("{secret}\n"), "line 1"),
            (format!("# c\n{secret} read\n"), "line 2: unknown scope"),
            (format!("{secret} check extra\n"), "line 1"),
            ("short check\n".to_owned(), "shorter than 16"),
            (format!("{secret} check\n{secret} admin\n"), "line 2: token listed twice"),
            ("# nothing\n".to_owned(), "no token"),
        ];
        for (text, expected) in cases {
            let err = TokenTable::parse(&text).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(err.contains("auth_tokens"), "{err}");
            assert!(!err.contains(secret), "{err}");
        }
    }
}
