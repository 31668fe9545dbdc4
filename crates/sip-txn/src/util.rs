//! Small text helpers sip-msg does not offer (yet): splitting a header line
//! into its comma-separated values without breaking quoted strings or
//! `<...>` URIs.

/// Splits a header value on top-level commas (outside quotes and angle
/// brackets), trimming each part and dropping empty parts.
pub(crate) fn split_values(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in line.char_indices() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                let part = line[start..i].trim();
                if !part.is_empty() {
                    out.push(part);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    let part = line[start..].trim();
    if !part.is_empty() {
        out.push(part);
    }
    out
}

/// Every value of every line of `name`, in order.
pub(crate) fn all_values<'a>(
    headers: &'a sip_msg::Headers,
    name: &'a sip_msg::HeaderName,
) -> Vec<&'a str> {
    headers.get_all(name).flat_map(split_values).collect()
}

/// The first value of the first line of `name`, as written.
pub(crate) fn first_value<'a>(
    headers: &'a sip_msg::Headers,
    name: &sip_msg::HeaderName,
) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|l| split_values(l).into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::split_values;

    #[test]
    fn commas_inside_quotes_and_angle_brackets_do_not_split() {
        assert_eq!(
            split_values(r#""a, \"b\"" <sip:x@y;p=1,2>;lr , <sip:z>,"#),
            vec![r#""a, \"b\"" <sip:x@y;p=1,2>;lr"#, "<sip:z>"]
        );
        assert_eq!(
            split_values("SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b"),
            vec!["SIP/2.0/UDP a;branch=z9hG4bK1", "SIP/2.0/UDP b"]
        );
    }
}
