//! Client side: answering a challenge (load generator, trunks).

use crate::challenge::Challenge;
use crate::credentials::{NonceCount, Qop};
use crate::hash::{Ha1, QopAuth, request_digest};
use crate::parse::push_quoted;

/// What a client needs besides the challenge.
#[derive(Debug, Clone, Copy)]
pub struct ClientRequest<'a> {
    /// The SIP method of the request being authorised.
    pub method: &'a str,
    /// The digest-uri: the Request-URI of the request, as written in it.
    pub uri: &'a str,
    /// The authentication username.
    pub username: &'a str,
    /// The password.
    pub password: &'a str,
    /// A client nonce — fresh per nonce; any printable text (it is quoted).
    pub cnonce: &'a str,
    /// The nonce count: 1 for the first request with this nonce, then 2, 3…
    pub nc: u32,
}

/// The `Authorization`/`Proxy-Authorization` value answering `challenge`.
///
/// With `qop=auth` in the challenge:
/// `Digest username="…", realm="…", nonce="…", uri="…", response="…", algorithm=…, cnonce="…"[, opaque="…"], qop=auth, nc=…`.
/// Without qop (RFC 2069 servers) `cnonce`, `qop` and `nc` are left out.
pub fn authorization_value(challenge: &Challenge<'_>, request: &ClientRequest<'_>) -> String {
    let ha1 = Ha1::from_password(
        challenge.algorithm,
        request.username,
        &challenge.realm,
        request.password,
    );
    let ClientRequest {
        method,
        uri,
        username,
        cnonce,
        ..
    } = *request;
    let nc = NonceCount::new(request.nc);
    let qop = challenge.qop.map(|Qop::Auth| QopAuth {
        nc: nc.text(),
        cnonce,
    });
    let response = request_digest(&ha1, method, uri, &challenge.nonce, qop).to_hex();

    let mut out = String::with_capacity(
        160 + username.len()
            + challenge.realm.len()
            + challenge.nonce.len()
            + uri.len()
            + cnonce.len(),
    );
    out.push_str("Digest username=");
    push_quoted(&mut out, username);
    out.push_str(", realm=");
    push_quoted(&mut out, &challenge.realm);
    out.push_str(", nonce=");
    push_quoted(&mut out, &challenge.nonce);
    out.push_str(", uri=");
    push_quoted(&mut out, uri);
    out.push_str(", response=\"");
    out.push_str(response.as_str());
    out.push_str("\", algorithm=");
    out.push_str(challenge.algorithm.as_str());
    if challenge.qop.is_some() {
        out.push_str(", cnonce=");
        push_quoted(&mut out, cnonce);
    }
    if let Some(opaque) = &challenge.opaque {
        out.push_str(", opaque=");
        push_quoted(&mut out, opaque);
    }
    if challenge.qop.is_some() {
        out.push_str(", qop=auth, nc=");
        out.push_str(nc.as_str());
    }
    out
}
