//! E-mail addresses and URLs, validated and normalised as followthemoney 4.11.2 does.

use crate::ids::python_strip;

/// Whether `host` is a domain name: two or more labels of letters, digits and inner hyphens,
/// each at most 63 characters, ending in a top-level label of two or more characters that is
/// not all digits. Non-ASCII letters are allowed (internationalised names stay as written).
fn is_domain(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.chars().count() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let tld = labels.last().copied().unwrap_or_default();
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && tld.chars().count() >= 2
        && !tld.chars().all(|c| c.is_ascii_digit())
}

/// An e-mail address: stripped, without a `mailto:` prefix, one `@` between a local part
/// without spaces or brackets and a domain ([`is_domain`], a trailing dot dropped); the domain
/// is lower-cased, the local part kept.
pub(super) fn email(text: &str) -> Option<String> {
    let text = python_strip(text);
    let text = text.strip_prefix("mailto:").unwrap_or(text);
    let (local, domain) = text.split_once('@')?;
    let forbidden = |c: char| c.is_whitespace() || "<>()[],;:\"@\\".contains(c);
    let domain = domain.strip_suffix('.').unwrap_or(domain).to_lowercase();
    (!local.is_empty() && !local.contains(forbidden) && is_domain(&domain)).then(|| format!("{local}@{domain}"))
}

/// An `http`/`https` URL: a missing scheme becomes `http://` (`//host` → `http://host`), the
/// scheme is lower-cased, the host must be a domain, `localhost` or an IPv4 address (case
/// kept), a port at most 65535, and an empty path becomes `/`. Other schemes are refused.
pub(super) fn url(text: &str) -> Option<String> {
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => (scheme.to_lowercase(), rest),
        _ => {
            if let Some(rest) = text.strip_prefix("//") {
                ("http".to_string(), rest)
            } else if has_other_scheme(text) {
                return None;
            } else {
                ("http".to_string(), text)
            }
        }
    };
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) => {
            port.parse::<u16>().ok()?;
            host
        }
        None => host_port,
    };
    let host_ok = host == "localhost" || host.parse::<std::net::Ipv4Addr>().is_ok() || is_domain(host);
    if !host_ok {
        return None;
    }
    let slash = if path.starts_with('/') { "" } else { "/" };
    Some(format!("{scheme}://{authority}{slash}{path}"))
}

/// A URL scheme: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// Whether `text` starts with a scheme that is not followed by `//` (`mailto:…`,
/// `javascript:…`), as opposed to a host and port (`x.org:8080`).
fn has_other_scheme(text: &str) -> bool {
    let end = text.find(['/', '?', '#']).unwrap_or(text.len());
    match text[..end].split_once(':') {
        Some((scheme, after)) => {
            is_scheme(scheme) && !scheme.contains('.') && !after.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}
