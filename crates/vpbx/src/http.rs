//! A minimal HTTP/1.1 GET to the running server's API on loopback (`[http] listen`): the
//! CLI needs no HTTP client library for one request. Used by `trace` and `calls`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Result, anyhow};
use pbx_core::ServerConfig;

/// Where the server's HTTP API listens; a wildcard listen address is reached on 127.0.0.1.
pub(crate) fn server_target(cfg: &ServerConfig) -> SocketAddr {
    let addr = cfg.http.listen;
    if addr.ip().is_unspecified() {
        SocketAddr::new([127, 0, 0, 1].into(), addr.port())
    } else {
        addr
    }
}

/// Connects to the server, or says why not (the caller words the error).
pub(crate) fn connect(target: SocketAddr) -> std::io::Result<TcpStream> {
    TcpStream::connect_timeout(&target, Duration::from_secs(3))
}

/// The one-line error for "no server answers".
pub(crate) fn unreachable(target: SocketAddr, e: &std::io::Error) -> anyhow::Error {
    anyhow!("cannot reach the server at http://{target} ({e}); is `vpbx serve` running?")
}

/// Percent-encodes one path segment (RFC 3986 unreserved characters and `@` stay).
pub(crate) fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Sends `GET path` on `stream` and returns the status code and the (de-chunked) body.
pub(crate) fn get(mut stream: TcpStream, target: SocketAddr, path: &str) -> Result<(u16, String)> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = Vec::new();
    stream.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("bad HTTP answer from the server"))?;
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| anyhow!("bad HTTP status line from the server"))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((len, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(len.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n"), "[1,2]");
    }

    #[test]
    fn path_segments_escape_slashes_and_spaces() {
        assert_eq!(path_segment("a b/c@d.e"), "a%20b%2Fc@d.e");
    }
}
