//! The `-q` query string (Aleph-style, spec `interfaces.md` §2.3), the subset the store filters
//! support today: `filter:schema`, `filter:schemata`, `filter:id` (`_id`, `entity_id`),
//! `filter:context.origin`, `filter:properties.<prop>` (repeated keys: any of the values),
//! `limit` and `offset`. Other `filter:`, `exclude:`, `empty:` and `sort` keys are refused with
//! a clear error rather than silently ignored; keys the grammar does not know are ignored, as
//! the reference does.

use crate::error::{Error, Result};
use crate::storage::statements::{Filter, PropertyFilter};

/// A parsed query: which entities, and which slice of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The entities and statements the `filter:` keys select.
    pub filter: Filter,
    /// At most this many entities.
    pub limit: Option<usize>,
    /// Skip this many entities first.
    pub offset: usize,
}

/// Decodes `%XX` escapes (`+` stays `+`).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_error(message: String) -> Error {
    Error::InvalidQuery(message)
}

fn single(key: &str, values: &[String]) -> Result<usize> {
    match values {
        [value] => value.parse().map_err(|_| query_error(format!("`{key}` must be an integer, got {value:?}"))),
        _ => Err(query_error(format!("`{key}` takes a single value"))),
    }
}

/// Parses a `-q` string.
///
/// # Errors
/// [`Error::InvalidQuery`] naming an unknown schema or property, an unsupported key, or a bad
/// `limit`/`offset`.
pub fn parse_query(q: &str) -> Result<Query> {
    let model = ftm::model();
    let mut keys: Vec<(String, Vec<String>)> = Vec::new();
    for part in q.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let value = percent_decode(value);
        match keys.iter_mut().find(|(k, _)| k == key) {
            Some((_, values)) => values.push(value),
            None => keys.push((key.to_string(), vec![value])),
        }
    }
    let mut query = Query::default();
    for (key, values) in keys {
        match key.as_str() {
            "limit" => query.limit = Some(single(&key, &values)?),
            "offset" => query.offset = single(&key, &values)?,
            "filter:schema" | "filter:schemata" => {
                for v in &values {
                    if model.get(v).is_none() {
                        return Err(query_error(format!("Invalid schema: `{v}`")));
                    }
                }
                let target = if key == "filter:schema" { &mut query.filter.schema } else { &mut query.filter.schemata };
                target.extend(values);
            }
            "filter:id" | "filter:_id" | "filter:entity_id" => query.filter.entity_ids.extend(values),
            "filter:context.origin" => query.filter.origins.extend(values),
            k if k.starts_with("filter:properties.") => {
                let prop = &k["filter:properties.".len()..];
                if !model.qnames().values().any(|p| p.name == prop) {
                    return Err(query_error(format!("Invalid prop: `{prop}`")));
                }
                query.filter.properties.push(PropertyFilter { prop: prop.to_string(), values });
            }
            k if k.starts_with("filter:") || k.starts_with("exclude:") || k.starts_with("empty:") || k == "sort" => {
                return Err(query_error(format!(
                    "`{k}` is not supported yet; supported: filter:schema, filter:schemata, filter:id, filter:context.origin, filter:properties.<prop>, limit, offset"
                )));
            }
            _ => {}
        }
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_supported_keys() {
        let q = parse_query("filter:schema=Person&filter:schema=Organization&filter:properties.name=Frau%20Lina&limit=2&offset=1&other=x").unwrap();
        assert_eq!(q.filter.schema, ["Person", "Organization"]);
        assert_eq!(q.filter.properties, [PropertyFilter { prop: "name".into(), values: vec!["Frau Lina".into()] }]);
        assert_eq!((q.limit, q.offset), (Some(2), 1));
        let q = parse_query("filter:schemata=LegalEntity&filter:context.origin=bulk&filter:id=a").unwrap();
        assert_eq!((q.filter.schemata.len(), q.filter.origins.len(), q.filter.entity_ids.len()), (1, 1, 1));
        assert_eq!(parse_query("").unwrap(), Query::default());
    }

    #[test]
    fn refuses_clearly() {
        assert_eq!(parse_query("filter:schema=Foo").unwrap_err().to_string(), "Invalid query: Invalid schema: `Foo`");
        assert!(
            parse_query("filter:properties.colour=red").unwrap_err().to_string().contains("Invalid prop: `colour`")
        );
        assert!(parse_query("limit=x").is_err());
        assert!(parse_query("limit=1&limit=2").is_err());
        assert!(parse_query("sort=properties.name").unwrap_err().to_string().contains("not supported yet"));
    }
}
