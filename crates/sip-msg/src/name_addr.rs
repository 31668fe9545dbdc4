use memchr::memchr;

use crate::parser::{
    is_token_char, is_ws, parse_generic_params, quoted_check, scan_generic_params, trim_ws, unquote,
};
use crate::uri::{UriRef, parse_uri_ref};
use crate::{ParseError, ParseErrorKind, Uri};

/// A From/To/Contact/Route value: optional display name, URI, header params
/// (RFC 3261 §20.10, §20.20, §20.39). Both name-addr and addr-spec forms are
/// accepted; in addr-spec form, `;params` after the URI are header params.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted and unescaped.
    pub display: Option<String>,
    pub uri: Uri,
    /// Header parameters (`;tag=…`, `;expires=…`, `;q=…`), in order.
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    ///
    /// Strict where RFC 4475 allows either: a display name must be a quoted
    /// string or tokens (baddn → error), no whitespace inside `<…>`
    /// (badaspec → error), an addr-spec must not contain `,` or `?`
    /// (regbadct → error). No LWS is needed between a quoted display name
    /// and `<` (lwsdisp is accepted).
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        parse_name_addr_ref(s).map(|n| n.build()).map_err(|offset| {
            crate::parser::err(ParseErrorKind::BadHeader { name: "name-addr" }, offset)
        })
    }
    /// A name-addr with no display name and no parameters.
    pub fn from_uri(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Vec::new(),
        }
    }
    /// First header parameter named `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }
}

impl std::fmt::Display for NameAddr {
    /// Always writes name-addr form (`"display" <uri>;params`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(d) = &self.display {
            f.write_str("\"")?;
            for c in d.chars() {
                match c {
                    '"' | '\\' => write!(f, "\\{c}")?,
                    // CR/LF cannot appear even escaped; never emit them.
                    '\r' | '\n' => f.write_str(" ")?,
                    _ => write!(f, "{c}")?,
                }
            }
            f.write_str("\" ")?;
        }
        write!(f, "<{}>", self.uri)?;
        for (name, value) in &self.params {
            match value {
                Some(v) => write!(f, ";{name}={v}")?,
                None => write!(f, ";{name}")?,
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for ContactValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContactValue::Star => f.write_str("*"),
            ContactValue::Addr(a) => write!(f, "{a}"),
        }
    }
}

/// The display name of a [`NameAddrRef`] as written.
#[derive(Debug, Clone, Copy)]
enum DisplayRef<'a> {
    /// The text between the quotes, quoted-pairs still escaped.
    Quoted(&'a str),
    /// `*(token LWS)`, trimmed.
    Tokens(&'a str),
}

/// A checked name-addr / addr-spec value as slices of its text: what
/// [`NameAddr::parse`] accepts, without allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NameAddrRef<'a> {
    display: Option<DisplayRef<'a>>,
    uri: UriRef<'a>,
    /// The checked `;name[=value]…` header-parameter text.
    params: &'a str,
}

impl<'a> NameAddrRef<'a> {
    pub(crate) fn uri(&self) -> UriRef<'a> {
        self.uri
    }
    pub(crate) fn build(&self) -> NameAddr {
        NameAddr {
            display: self.display.map(|d| match d {
                DisplayRef::Quoted(inner) => unquote(inner),
                DisplayRef::Tokens(t) => t.to_owned(),
            }),
            uri: self.uri.build(),
            params: parse_generic_params(self.params).unwrap_or_default(),
        }
    }
}

/// Parses a name-addr / addr-spec value without allocating; the error is a
/// byte offset in the trimmed value.
pub(crate) fn parse_name_addr_ref(s: &str) -> Result<NameAddrRef<'_>, usize> {
    let s = trim_ws(s);
    let b = s.as_bytes();
    let (display, uri, params_text) = if b.first() == Some(&b'"') {
        let used = quoted_check(s).ok_or(0usize)?;
        let display = DisplayRef::Quoted(&s[1..used - 1]);
        let rest = s[used..].trim_start_matches([' ', '\t']);
        let off = s.len() - rest.len();
        let inner = rest.strip_prefix('<').ok_or(off)?;
        let close = memchr(b'>', inner.as_bytes()).ok_or(off)?;
        (Some(display), &inner[..close], &inner[close + 1..])
    } else if let Some(lt) = memchr(b'<', b) {
        let dn = trim_ws(&s[..lt]);
        let display = if dn.is_empty() {
            None
        } else {
            // display-name = *(token LWS): tokens separated by whitespace.
            if !dn.bytes().all(|c| is_token_char(c) || is_ws(c)) {
                return Err(0);
            }
            Some(DisplayRef::Tokens(dn))
        };
        let close = memchr(b'>', &b[lt..]).ok_or(lt)? + lt;
        (display, &s[lt + 1..close], &s[close + 1..])
    } else {
        // addr-spec: the URI ends at the first ';' (what follows are
        // header parameters, RFC 3261 §20.10).
        let end = memchr(b';', b).unwrap_or(s.len());
        let uri = trim_ws(&s[..end]);
        if uri.bytes().any(|c| matches!(c, b',' | b'?')) {
            return Err(0);
        }
        (None, uri, &s[end..])
    };
    if uri.is_empty() || uri.bytes().any(|c| c <= b' ') {
        return Err(0);
    }
    let uri = parse_uri_ref(uri)?;
    if !scan_generic_params(params_text, |_, _| true) {
        return Err(s.len() - params_text.len());
    }
    Ok(NameAddrRef {
        display,
        uri,
        params: params_text,
    })
}

/// One Contact value: `*` or a name-addr.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "public API shape fixed; Star is rare"
)]
pub enum ContactValue {
    Star,
    Addr(NameAddr),
}
