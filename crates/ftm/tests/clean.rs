//! Value cleaning against followthemoney's own results (`tests/fixtures/clean_cases.json`,
//! written by `tools/gen-ftm-tables.py` with followthemoney 4.11.2).

use ftm::PropertyType;
use ftm::clean::clean_text;

#[test]
fn every_case_cleans_as_followthemoney_does() {
    let cases: Vec<(String, String, Option<String>)> =
        serde_json::from_str(include_str!("fixtures/clean_cases.json")).unwrap();
    assert!(cases.len() > 5_000, "{}", cases.len());
    let mut wrong = Vec::new();
    for (kind, input, expected) in &cases {
        let kind: PropertyType = kind.parse().unwrap();
        let got = clean_text(kind, input, None);
        if &got != expected {
            wrong.push(format!("{kind} {input:?}: {got:?}, expected {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} differ:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}
