//! Hostile input, fuzzed (issue "reliability and security, measured"): property-based tests of
//! every reader of outside input. Each must return a value or a clear error for any input —
//! never panic, never overflow the stack — and what a reader accepts must be safe to use: a
//! validated key has no `..` segment, a parsed query serialises and reads back the same.
//!
//! `PROPTEST_CASES` sets the cases per property (256 by default; CI runs the default, a deeper
//! run sets thousands). A failure prints the input that caused it, shrunk.

use lakehouse::Settings;
use lakehouse::error::Error;
use lakehouse::model::DatasetName;
use lakehouse::model::file::{file_id, validate_checksum, validate_relative_path, validate_segment};
use lakehouse::model::mapping::DatasetMapping;
use lakehouse::model::origin::validate_origin;
use lakehouse::model::query::Query;
use lakehouse::model::queue::QueueAction;
use lakehouse::operation::import::{ImportOptions, import_statements};
use lakehouse::repository::{Catalog, DatasetConfig, EntityRepository, WriteOptions};
use lakehouse::storage::Location;
use lakehouse::storage::journal::wire;
use proptest::prelude::*;

/// Text that leans towards what the parsers look for: their punctuation and keywords, control
/// characters, escapes, and any other character now and then.
fn texty() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        4 => proptest::sample::select(vec![
            "{", "}", "[", "]", ":", ",", "\"", "'", "=", "&", "(", ")", "/", "\\", "..", ".", "-", "\n", "\t", " ",
            "\0", "#", "%", "*", "id", "schema", "properties", "Person", "name", "filter:", "exclude:", "empty:",
            "sort=", "limit=", "offset=", "select", "and(", "or(", "not(", "eq", "in", "gte", "like", "null",
            "true", "1e999", "-0", "\u{feff}", "\u{202e}", "é", "𝔘",
        ])
        .prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(pieces, 0..40).prop_map(|parts| parts.concat())
}

/// A journal body of one statement.
fn valid_body() -> &'static [u8] {
    static BODY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BODY.get_or_init(|| {
        let mut statement = ftm::Statement::new("ds", "p1", "Person", "name", "name", "Alice");
        statement.origin = Some("bulk".into());
        (statement.first_seen, statement.last_seen) = (Some(chrono::Utc::now()), Some(chrono::Utc::now()));
        wire::encode(&[statement]).unwrap()
    })
}

proptest! {
    // Failures print the shrunk input; nothing is written beside the sources.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn entity_json_lines_never_panic(line in texty()) {
        let _ = ftm::Entity::from_json_str(ftm::model(), &line);
    }

    #[test]
    fn entity_json_objects_never_panic(
        id in proptest::option::of(texty()),
        schema in proptest::sample::select(vec!["Person", "Company", "Payment", "Document", "Thing", "Nope", ""]),
        props in proptest::collection::vec((texty(), proptest::collection::vec(texty(), 0..3)), 0..4),
    ) {
        let properties: serde_json::Map<String, serde_json::Value> =
            props.into_iter().map(|(k, v)| (k, serde_json::json!(v))).collect();
        let value = serde_json::json!({"id": id, "schema": schema, "properties": properties});
        let _ = ftm::Entity::from_json(ftm::model(), &value);
        let _ = ftm::Entity::from_json_lenient(ftm::model(), &value);
    }

    #[test]
    fn config_yaml_never_panics_and_round_trips(text in texty()) {
        if let Ok(config) = DatasetConfig::from_yaml(&text) {
            let again = DatasetConfig::from_yaml(&config.to_yaml());
            prop_assert!(again.is_ok(), "{:?}", again);
            let _ = config.model();
        }
    }

    #[test]
    fn mapping_yaml_never_panics(text in texty()) {
        let _ = DatasetMapping::from_yaml(&text, "fuzz.yml", None, "ds");
        let document = format!("queries:\n  - entities:\n      a:\n        schema: Person\n        keys: [{text}]\n");
        let _ = DatasetMapping::from_yaml(&document, "fuzz.yml", None, "ds");
    }

    #[test]
    fn queries_never_panic_and_read_back_from_json(text in texty()) {
        for query in [Query::from_flat(&text), Query::from_rql(&text)].into_iter().flatten() {
            prop_assert_eq!(Query::from_json(&query.to_json()).ok(), Some(query));
        }
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
            let _ = Query::from_json(&value);
        }
    }

    #[test]
    fn journal_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8)) {
        let _ = wire::decode(&bytes);
        // A valid body with bytes flipped, which gets past the stream's magic.
        let mut body = valid_body().to_vec();
        for (at, byte) in flips {
            let at = at.index(body.len());
            body[at] ^= byte;
        }
        let _ = wire::decode(&body);
    }

    #[test]
    fn queue_items_never_panic(text in texty()) {
        let _ = QueueAction::from_json("fuzz", text.as_bytes());
    }

    #[test]
    fn accepted_names_are_safe(text in texty()) {
        if let Ok(path) = validate_relative_path("key", &text) {
            prop_assert!(path.split('/').all(|s| !s.is_empty() && s != "." && s != ".."), "{:?}", path);
            prop_assert!(!path.contains('\0') && !path.contains('\\'), "{:?}", path);
        }
        if let Ok(segment) = validate_segment("name", &text) {
            prop_assert!(!segment.contains('/') && segment != ".." && segment != ".", "{:?}", segment);
        }
        if let Ok(checksum) = validate_checksum(&text) {
            prop_assert!(checksum.bytes().all(|b| b.is_ascii_hexdigit()), "{:?}", checksum);
        }
        let _ = validate_origin(&text);
        let _ = DatasetName::new(&text);
        let id = file_id(&text, "ab");
        prop_assert!(id == "ab" || (id.starts_with("file-") && id.len() == 69), "{:?}", id);
    }
}

proptest! {
    // Each case imports into a lake of its own in memory: fewer cases.
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn statement_csv_never_panics_and_a_failure_stores_nothing(rows in proptest::collection::vec(proptest::collection::vec(texty(), 0..10), 0..6)) {
        let mut text = String::from("entity_id,prop,schema,dataset,value,first_seen,origin\n");
        for row in rows {
            text.push_str(&row.join(","));
            text.push('\n');
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let root = Location::parse(&format!("memory://fuzz-{}/lake", uuid::Uuid::new_v4().simple())).unwrap();
            let dataset = Catalog::new(root, Settings::default()).dataset(DatasetName::new("ds").unwrap(), None).unwrap();
            let repo = EntityRepository::open(&dataset).await.unwrap();
            let options = ImportOptions::new(WriteOptions::origin("bulk"));
            let result = import_statements(&repo, text.as_bytes(), "fuzz.csv", &options, |_| {}).await;
            if let Err(error) = result {
                let message = error.to_string();
                assert!(message.contains("fuzz.csv") && !message.contains('\n'), "{message}");
            }
        });
    }
}

#[test]
fn deep_and_huge_json_are_errors_not_crashes() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let err = ftm::Entity::from_json_str(ftm::model(), &deep).unwrap_err();
    assert!(matches!(&err, ftm::FtmError::InvalidEntity(m) if m.contains("recursion limit exceeded")), "{err}");
    let nested = format!(
        r#"{{"id": "p1", "schema": "Person", "properties": {{"name": {}"x"{}}}}}"#,
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let err = ftm::Entity::from_json_str(ftm::model(), &nested).unwrap_err();
    assert!(matches!(&err, ftm::FtmError::InvalidEntity(m) if m.contains("recursion limit exceeded")), "{err}");
    let _ = Query::from_flat(&"filter:name=x&".repeat(20_000));
    let result = Query::from_rql(&format!("{}eq(name,x){}", "and(".repeat(20_000), ")".repeat(20_000)));
    assert!(matches!(&result, Err(Error::InvalidQuery(m)) if m.contains("nesting deeper than")), "{result:?}");
    let huge = format!(r#"{{"id": "p1", "schema": "Person", "properties": {{"name": ["{}"]}}}}"#, "x".repeat(16 << 20));
    let entity = ftm::Entity::from_json_str(ftm::model(), &huge).unwrap();
    assert_eq!(entity.get("name")[0].len(), 16 << 20);
}
