//! The ZFS agent's wire protocol (spec `zfs.md` §6, §8): one request per connection, each
//! request and reply one line of ASCII-only JSON.
//!
//! ```text
//! → {"action":"create","dataset":"tank/lake/my_dataset/archive","props":{"recordsize":"128K"},"exist_ok":true}
//! ← {"ok":true}
//! ← {"ok":false,"error":"zfs create failed: permission denied"}
//! ```
//!
//! An omitted `exist_ok` means true; the client never sends an owner (the agent decides it).

use std::fmt::Write as _;
use std::io;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

use super::ZfsError;
use super::layout::Properties;
use super::validate::{RequestError, check_dataset, check_property};

/// Cap of one line, `\n` included: 64 KiB (spec `zfs.md` §8.2).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Create `dataset` with `props`; with `exist_ok`, an existing dataset is a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    /// The full ZFS dataset path, e.g. `tank/lake/my_dataset/archive`.
    pub dataset: String,
    /// The `-o` properties, in order.
    pub props: Properties,
    /// Whether an existing dataset counts as success.
    pub exist_ok: bool,
}

/// What an agent accepts beyond the fixed rules (spec `zfs.md` §8.4, §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The only subtree datasets may be created in, e.g. `zpools/tank/lakehouse`.
    pub pool: String,
    /// Properties allowed on top of [`ALLOWED_PROPERTIES`](super::validate::ALLOWED_PROPERTIES).
    pub extra_properties: Vec<String>,
}

impl CreateRequest {
    /// The request line, `\n`-terminated, props in order.
    pub fn to_line(&self) -> String {
        let props: Map<String, Value> = self.props.iter().map(|(n, v)| (n.to_string(), Value::from(v))).collect();
        ascii_line(&json!({"action": "create", "dataset": self.dataset, "props": props, "exist_ok": self.exist_ok}))
    }

    /// Parses and validates one request line (raw bytes, with or without the `\n`), in the order
    /// of spec `zfs.md` §8.3, the first failure winning: a JSON object; `action` exactly
    /// `"create"`; `dataset` a string (missing = `""`) passing
    /// [`check_dataset`] under `policy.pool`; `props` absent, JSON-falsy or an object whose
    /// entries pass [`check_property`]; `exist_ok` absent (= true) or a boolean. Other fields
    /// are ignored; of duplicate keys the last wins.
    ///
    /// # Errors
    /// The [`RequestError`] the agent replies with.
    pub fn parse(line: &[u8], policy: &Policy) -> Result<CreateRequest, RequestError> {
        let value: Value = serde_json::from_slice(line).map_err(|e| RequestError::InvalidJson(e.to_string()))?;
        let Value::Object(request) = value else {
            return Err(RequestError::NotAnObject);
        };
        match request.get("action") {
            Some(Value::String(action)) if action == "create" => {}
            other => return Err(RequestError::UnknownAction(python_repr(other))),
        }
        let dataset = match request.get("dataset") {
            None => "",
            Some(Value::String(dataset)) => dataset.as_str(),
            Some(other) => return Err(RequestError::DatasetNotString(python_type(other))),
        };
        check_dataset(dataset, Some(&policy.pool))?;
        let mut props = Properties::new();
        match request.get("props") {
            Some(Value::Object(map)) => {
                for (name, value) in map {
                    props.set(name, &check_property(name, value, &policy.extra_properties)?);
                }
            }
            Some(other) if truthy(other) => return Err(RequestError::PropsNotObject),
            _ => {}
        }
        let exist_ok = match request.get("exist_ok") {
            None => true,
            Some(Value::Bool(exist_ok)) => *exist_ok,
            Some(_) => return Err(RequestError::ExistOkNotBool),
        };
        Ok(CreateRequest { dataset: dataset.to_string(), props, exist_ok })
    }
}

/// An agent's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `{"ok": true}`: the dataset exists now.
    Ok,
    /// `{"ok": false, "error": …}`.
    Error(String),
}

impl Reply {
    /// The reply line, `\n`-terminated.
    pub fn to_line(&self) -> String {
        match self {
            Reply::Ok => ascii_line(&json!({"ok": true})),
            Reply::Error(error) => ascii_line(&json!({"ok": false, "error": error})),
        }
    }

    /// Reads a reply line as a client does (spec `zfs.md` §6): `ok` truthy is [`Reply::Ok`];
    /// otherwise [`Reply::Error`] with the `error` field (its JSON text if not a string,
    /// `unknown` if missing).
    ///
    /// # Errors
    /// [`ZfsError::CreateFailed`]: `no response from agent` for an empty line,
    /// `malformed response: <parser message>` for invalid JSON, `malformed response` for
    /// JSON that is not an object.
    pub fn parse(line: &[u8]) -> Result<Reply, ZfsError> {
        if line.is_empty() {
            return Err(ZfsError::CreateFailed("no response from agent".into()));
        }
        let value: Value =
            serde_json::from_slice(line).map_err(|e| ZfsError::CreateFailed(format!("malformed response: {e}")))?;
        let Value::Object(reply) = value else {
            return Err(ZfsError::CreateFailed("malformed response".into()));
        };
        if reply.get("ok").is_some_and(truthy) {
            return Ok(Reply::Ok);
        }
        Ok(Reply::Error(match reply.get("error") {
            None => "unknown".into(),
            Some(Value::String(error)) => error.clone(),
            Some(other) => other.to_string(),
        }))
    }
}

/// Reads one line: the bytes up to and including the first `\n`, or up to EOF, but at most
/// `max + 1` bytes, so a result longer than `max` is a line over the cap. Empty at immediate EOF.
///
/// # Errors
/// The reader's I/O error.
pub async fn read_line<R: AsyncRead + Unpin>(reader: R, max: usize) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    BufReader::new(reader.take(max as u64 + 1)).read_until(b'\n', &mut line).await?;
    Ok(line)
}

/// `value` as compact JSON with every non-ASCII character `\u`-escaped, plus `\n`.
fn ascii_line(value: &Value) -> String {
    let mut line = String::new();
    for c in value.to_string().chars() {
        if c.is_ascii() {
            line.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                let _ = write!(line, "\\u{unit:04x}");
            }
        }
    }
    line.push('\n');
    line
}

/// Python's truth value of a JSON value: false for `null`, `false`, `0`, `""`, `[]`, `{}`.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// How Python's `repr` shows a JSON value (`'create'`, `None`, `True`, `5`); arrays and objects
/// as JSON.
fn python_repr(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "None".into(),
        Some(Value::String(s)) => format!("'{s}'"),
        Some(Value::Bool(true)) => "True".into(),
        Some(Value::Bool(false)) => "False".into(),
        Some(other) => other.to_string(),
    }
}

/// Python's type name of a JSON value: `NoneType`, `bool`, `int`, `float`, `str`, `list`, `dict`.
fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy { pool: "tank/lakehouse".into(), extra_properties: vec![] }
    }

    fn refusal(line: &str) -> String {
        CreateRequest::parse(line.as_bytes(), &policy()).unwrap_err().to_string()
    }

    #[test]
    fn a_request_round_trips() {
        let props = [("recordsize", "128K"), ("compression", "zstd-9")].into_iter().collect();
        let request = CreateRequest { dataset: "tank/lakehouse/ds/archive".into(), props, exist_ok: false };
        let line = request.to_line();
        assert_eq!(
            line,
            "{\"action\":\"create\",\"dataset\":\"tank/lakehouse/ds/archive\",\
             \"props\":{\"recordsize\":\"128K\",\"compression\":\"zstd-9\"},\"exist_ok\":false}\n"
        );
        assert_eq!(CreateRequest::parse(line.as_bytes(), &policy()), Ok(request));
    }

    #[test]
    fn defaults_and_lenient_framing() {
        let parsed = CreateRequest::parse(b" {\"action\":\"create\",\"dataset\":\"tank/lakehouse/ds\"}\r\n", &policy());
        let expected = CreateRequest { dataset: "tank/lakehouse/ds".into(), props: Properties::new(), exist_ok: true };
        assert_eq!(parsed, Ok(expected.clone()));
        for falsy in ["null", "{}", "[]", "\"\"", "0", "false"] {
            let line = format!(
                "{{\"action\":\"create\",\"dataset\":\"tank/lakehouse/ds\",\"props\":{falsy},\"owner\":\"0:0\"}}"
            );
            assert_eq!(CreateRequest::parse(line.as_bytes(), &policy()), Ok(expected.clone()), "{falsy}");
        }
        let duplicate = br#"{"action":"create","dataset":"x/y","dataset":"tank/lakehouse/ds"}"#;
        assert_eq!(CreateRequest::parse(duplicate, &policy()), Ok(expected));
    }

    #[test]
    fn every_refusal_in_order() {
        assert!(refusal("not json").starts_with("invalid JSON: "));
        assert!(refusal("\n").starts_with("invalid JSON: "));
        assert!(
            CreateRequest::parse(b"{\"a\":\"\xff\"}", &policy()).unwrap_err().to_string().starts_with("invalid JSON")
        );
        for not_object in ["null", "[]", "5", "\"hi\"", "true"] {
            assert_eq!(refusal(not_object), "request must be a JSON object");
        }
        assert_eq!(refusal(r#"{"action":"destroy","dataset":"../x"}"#), "unknown action: 'destroy'");
        assert_eq!(refusal(r#"{"action":"Create"}"#), "unknown action: 'Create'");
        assert_eq!(refusal(r#"{"dataset":"tank/lakehouse/ds"}"#), "unknown action: None");
        assert_eq!(refusal(r#"{"action":null}"#), "unknown action: None");
        assert_eq!(refusal(r#"{"action":5}"#), "unknown action: 5");
        for (dataset, kind) in [("123", "int"), ("1.5", "float"), ("[]", "list"), ("null", "NoneType"), ("{}", "dict")]
        {
            let line = format!(r#"{{"action":"create","dataset":{dataset},"props":[1]}}"#);
            assert_eq!(refusal(&line), format!("dataset must be a string, got {kind}"));
        }
        assert_eq!(refusal(r#"{"action":"create","dataset":true}"#), "dataset must be a string, got bool");
        assert_eq!(refusal(r#"{"action":"create"}"#), "empty dataset name");
        assert_eq!(
            refusal(r#"{"action":"create","dataset":"tank/ds; rm -rf /"}"#),
            "invalid path component: 'ds; rm -rf '"
        );
        assert_eq!(
            refusal(r#"{"action":"create","dataset":"rogue/pool","props":[1]}"#),
            "dataset 'rogue/pool' not under pool 'tank/lakehouse'"
        );
        assert_eq!(refusal(r#"{"action":"create","dataset":"tank/lakehouse/ds","props":[1]}"#), "props must be a dict");
        assert_eq!(refusal(r#"{"action":"create","dataset":"tank/lakehouse/ds","props":"x"}"#), "props must be a dict");
        assert_eq!(
            refusal(r#"{"action":"create","dataset":"tank/lakehouse/ds","props":{"mountpoint":"/etc"},"exist_ok":1}"#),
            "property not allowed: 'mountpoint'"
        );
        assert_eq!(
            refusal(r#"{"action":"create","dataset":"tank/lakehouse/ds","props":{"copies":true}}"#),
            "invalid value for property 'copies'"
        );
        assert_eq!(
            refusal(r#"{"action":"create","dataset":"tank/lakehouse/ds","props":{"compression":"a b"},"exist_ok":1}"#),
            "invalid value for property 'compression': 'a b'"
        );
        for exist_ok in ["\"yes\"", "null", "1"] {
            let line = format!(r#"{{"action":"create","dataset":"tank/lakehouse/ds","exist_ok":{exist_ok}}}"#);
            assert_eq!(refusal(&line), "exist_ok must be a boolean");
        }
    }

    #[test]
    fn props_are_forwarded_in_order_as_text() {
        let line = br#"{"action":"create","dataset":"tank/lakehouse/ds","props":{"copies":2,"compression":"zstd"}}"#;
        let request = CreateRequest::parse(line, &policy()).unwrap();
        assert_eq!(request.props.iter().collect::<Vec<_>>(), [("copies", "2"), ("compression", "zstd")]);
        let extra = Policy { extra_properties: vec!["canmount".into()], ..policy() };
        let line = br#"{"action":"create","dataset":"tank/lakehouse/ds","props":{"canmount":"off"}}"#;
        assert!(CreateRequest::parse(line, &extra).is_ok());
    }

    #[test]
    fn replies_are_ascii_lines_and_clients_read_them() {
        assert_eq!(Reply::Ok.to_line(), "{\"ok\":true}\n");
        let error = Reply::Error("invalid dataset name: 'ä\n'".into());
        assert_eq!(error.to_line(), "{\"ok\":false,\"error\":\"invalid dataset name: '\\u00e4\\n'\"}\n");
        assert_eq!(Reply::parse(error.to_line().as_bytes()).unwrap(), error);
        assert_eq!(Reply::Error("𝄞".into()).to_line(), "{\"ok\":false,\"error\":\"\\ud834\\udd1e\"}\n");
        assert_eq!(Reply::parse(b"{\"ok\": true}").unwrap(), Reply::Ok);
        assert_eq!(Reply::parse(b"{\"ok\": 0}\n").unwrap(), Reply::Error("unknown".into()));
        assert_eq!(Reply::parse(b"{\"ok\": false, \"error\": 5}").unwrap(), Reply::Error("5".into()));
        let failed = |line: &[u8]| Reply::parse(line).unwrap_err().to_string();
        assert_eq!(failed(b""), "zfs create failed: no response from agent");
        assert!(failed(b"nope\n").starts_with("zfs create failed: malformed response: "));
        assert_eq!(failed(b"[true]\n"), "zfs create failed: malformed response");
    }

    #[tokio::test]
    async fn lines_stop_at_the_newline_or_one_past_the_cap() {
        assert_eq!(read_line(&b"{}\nrest"[..], 10).await.unwrap(), b"{}\n");
        assert_eq!(read_line(&b"{}"[..], 10).await.unwrap(), b"{}");
        assert_eq!(read_line(&b""[..], 10).await.unwrap(), b"");
        assert_eq!(read_line(&[b'x'; 50][..], 10).await.unwrap().len(), 11);
    }
}
