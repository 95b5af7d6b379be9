//! The server's settings: `LAKEHOUSE_API_*` (spec `interfaces.md` §4.3), plus the credentials
//! and limits the reference leaves to a reverse proxy.
//!
//! Names are matched case-insensitively, as pydantic-settings does for the reference. A value
//! that does not parse is an error naming the variable.

use std::collections::HashMap;
use std::time::Duration;

use lakehouse::{Error, Result};

/// What the server is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// The OpenAPI title (`LAKEHOUSE_API_TITLE`).
    pub title: String,
    /// The OpenAPI description (`LAKEHOUSE_API_DESCRIPTION`, default the content of
    /// `./README.md`, else empty).
    pub description: String,
    /// The OpenAPI contact (`LAKEHOUSE_API_CONTACT__NAME`, `__URL`, `__EMAIL`).
    pub contact: [Option<String>; 3],
    /// Most values one `in`/`not_in` leaf of a query body may list
    /// (`LAKEHOUSE_API_QUERY_MAX_IN_VALUES`, 10,000).
    pub query_max_in_values: usize,
    /// Most leaves one query body may hold (`LAKEHOUSE_API_QUERY_MAX_FILTER_KEYS`, 20).
    pub query_max_filter_keys: usize,
    /// `LAKEHOUSE_API_KEY` and `LAKEHOUSE_API_SECRET`: when both are set, every request must
    /// carry them as `X-Api-Key` and `X-Api-Secret` (the reference sends them and never checks).
    pub credentials: Option<(String, String)>,
    /// Largest request body, bytes (`LAKEHOUSE_API_MAX_BODY_SIZE`, a byte size such as `4GiB`;
    /// default 4 GiB); larger bodies get 413.
    pub max_body_bytes: usize,
    /// How long a request may take (`LAKEHOUSE_API_REQUEST_TIMEOUT`, seconds; default 21,600,
    /// the reference client's own timeout; 0 = none); slower ones get 408.
    pub request_timeout: Option<Duration>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            title: "FollowTheMoney Data Lakehouse Api".into(),
            description: String::new(),
            contact: [None, None, None],
            query_max_in_values: 10_000,
            query_max_filter_keys: 20,
            credentials: None,
            max_body_bytes: 4 << 30,
            request_timeout: Some(Duration::from_secs(6 * 3600)),
        }
    }
}

fn invalid(var: &str, value: &str, reason: &'static str) -> Error {
    Error::InvalidSetting { var: var.to_string(), value: value.to_string(), reason }
}

/// A byte size: a number with an optional unit (`b`, `k`/`kb`, `kib`, `m`/`mb`, `mib`, `g`/`gb`,
/// `gib`, `t`/`tb`, `tib`; decimal and binary, case-insensitive; a bare number is bytes).
fn byte_size(var: &str, value: &str) -> Result<usize> {
    let text = value.trim().to_ascii_lowercase();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| invalid(var, value, "not a byte size such as 512MiB"))?;
    let factor: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(invalid(var, value, "not a byte size such as 512MiB")),
    };
    Ok((number * factor) as usize)
}

impl ApiSettings {
    /// Settings from the process environment, `./.env` and `/run/secrets`
    /// ([`lakehouse::settings::setting_sources`]) and `./README.md`.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming the variable whose value does not parse.
    pub fn from_env() -> Result<ApiSettings> {
        let readme = std::fs::read_to_string("README.md").unwrap_or_default();
        ApiSettings::from_vars(lakehouse::settings::setting_sources(), readme)
    }

    /// Settings from `(name, value)` pairs, `readme` the default description.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming the variable whose value does not parse.
    pub fn from_vars<K: AsRef<str>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
        readme: String,
    ) -> Result<ApiSettings> {
        let vars: HashMap<String, String> =
            vars.into_iter().map(|(k, v)| (k.as_ref().to_ascii_uppercase(), v.into())).collect();
        let get = |name: &str| vars.get(name).filter(|v| !v.is_empty()).map(|v| (name.to_string(), v.as_str()));
        let count = |name: &str, default: usize| -> Result<usize> {
            get(name).map_or(Ok(default), |(k, v)| {
                v.trim().parse().map_err(|_| invalid(&k, v, "not a non-negative integer"))
            })
        };
        let mut s = ApiSettings { description: readme, ..ApiSettings::default() };
        if let Some((_, v)) = get("LAKEHOUSE_API_TITLE") {
            s.title = v.to_string();
        }
        if let Some((_, v)) = get("LAKEHOUSE_API_DESCRIPTION") {
            s.description = v.to_string();
        }
        for (slot, name) in s.contact.iter_mut().zip(["NAME", "URL", "EMAIL"]) {
            *slot = get(&format!("LAKEHOUSE_API_CONTACT__{name}")).map(|(_, v)| v.to_string());
        }
        s.query_max_in_values = count("LAKEHOUSE_API_QUERY_MAX_IN_VALUES", s.query_max_in_values)?;
        s.query_max_filter_keys = count("LAKEHOUSE_API_QUERY_MAX_FILTER_KEYS", s.query_max_filter_keys)?;
        if let (Some((_, key)), Some((_, secret))) = (get("LAKEHOUSE_API_KEY"), get("LAKEHOUSE_API_SECRET")) {
            s.credentials = Some((key.to_string(), secret.to_string()));
        }
        if let Some((k, v)) = get("LAKEHOUSE_API_MAX_BODY_SIZE") {
            s.max_body_bytes = byte_size(&k, v)?;
        }
        let timeout = count("LAKEHOUSE_API_REQUEST_TIMEOUT", 6 * 3600)?;
        s.request_timeout = (timeout > 0).then(|| Duration::from_secs(timeout as u64));
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_errors() {
        let s = ApiSettings::from_vars([("HOME", "/")], "# Lake".into()).unwrap();
        assert_eq!((s.description.as_str(), s.query_max_filter_keys, s.credentials), ("# Lake", 20, None));
        let s = ApiSettings::from_vars(
            [
                ("lakehouse_api_key", "k"),
                ("LAKEHOUSE_API_SECRET", "s"),
                ("LAKEHOUSE_API_MAX_BODY_SIZE", "2MiB"),
                ("LAKEHOUSE_API_REQUEST_TIMEOUT", "0"),
                ("LAKEHOUSE_API_CONTACT__EMAIL", "a@b.c"),
            ],
            String::new(),
        )
        .unwrap();
        assert_eq!(s.credentials, Some(("k".into(), "s".into())));
        assert_eq!((s.max_body_bytes, s.request_timeout), (2 << 20, None));
        assert_eq!(s.contact[2].as_deref(), Some("a@b.c"));
        // A key without a secret checks nothing, as the reference's client sends neither then.
        let s = ApiSettings::from_vars([("LAKEHOUSE_API_KEY", "k")], String::new()).unwrap();
        assert_eq!(s.credentials, None);
        for (var, bad) in [("LAKEHOUSE_API_MAX_BODY_SIZE", "10%"), ("LAKEHOUSE_API_QUERY_MAX_IN_VALUES", "-1")] {
            let err = ApiSettings::from_vars([(var, bad)], String::new()).unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
        }
        assert_eq!(byte_size("X", "1.5kb").unwrap(), 1500);
    }
}
