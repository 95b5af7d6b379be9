//! Which entities and statements a read returns.
//!
//! A [`Filter`] is a conjunction. `entity_ids` and `origins` select statement rows (and prune
//! shards and partitions); `schemata` and `properties` select whole entities: an entity is
//! returned with all its rows when its live rows satisfy them. Schema filters include
//! descendants (`LegalEntity` matches `Person` and `Company`).

use std::collections::BTreeSet;

use deltalake::datafusion::prelude::{Expr, col, lit};
use ftm::StatementFields;

use crate::error::Result;
use crate::model::shard;

/// A property condition: the entity has a live statement of `prop` whose value is one of
/// `values` (any value when `values` is empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PropertyFilter {
    /// The property name, e.g. `name`.
    pub prop: String,
    /// Accepted values, compared exactly; empty accepts any.
    pub values: Vec<String>,
}

/// A read filter; the default selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    /// Only these entity ids.
    pub entity_ids: Vec<String>,
    /// Only entities whose schema is one of these or descends from one.
    pub schemata: Vec<String>,
    /// Only entities whose schema is exactly one of these.
    pub schema: Vec<String>,
    /// Only statements of these origins.
    pub origins: Vec<String>,
    /// Only entities meeting every property condition.
    pub properties: Vec<PropertyFilter>,
}

fn in_list(column: &str, values: impl IntoIterator<Item = String>) -> Expr {
    col(column).in_list(values.into_iter().map(lit).collect(), false)
}

impl Filter {
    /// A filter for one entity id.
    pub fn entity(id: &str) -> Filter {
        Filter { entity_ids: vec![id.to_string()], ..Filter::default() }
    }

    /// The schema names the schema filter accepts (each filter schema and its descendants).
    ///
    /// # Errors
    /// [`Error::Ftm`](crate::error::Error::Ftm) for an unknown schema.
    pub fn schema_names(&self) -> Result<BTreeSet<String>> {
        let mut names = BTreeSet::new();
        for name in &self.schemata {
            let schema = ftm::model().schema(name)?;
            names.insert(schema.name.clone());
            names.extend(schema.descendants().iter().cloned());
        }
        Ok(names)
    }

    /// The row predicate: entity ids (with their shards, for partition pruning) and origins.
    pub(crate) fn row_predicate(&self, shards: u32) -> Option<Expr> {
        let mut parts = Vec::new();
        if !self.entity_ids.is_empty() {
            let shard_set: BTreeSet<String> = self.entity_ids.iter().map(|id| shard(id, shards)).collect();
            parts.push(in_list("shard", shard_set));
            parts.push(in_list("entity_id", self.entity_ids.iter().cloned()));
        }
        if !self.origins.is_empty() {
            parts.push(in_list("origin", self.origins.iter().cloned()));
        }
        parts.into_iter().reduce(Expr::and)
    }

    /// Predicates whose matching rows' entity ids select whole entities (semi joins).
    pub(crate) fn entity_predicates(&self) -> Result<Vec<Expr>> {
        let mut out = Vec::new();
        if !self.schemata.is_empty() {
            out.push(in_list("schema", self.schema_names()?));
        }
        if !self.schema.is_empty() {
            out.push(in_list("schema", self.schema.iter().cloned()));
        }
        for p in &self.properties {
            let prop = col("prop").eq(lit(p.prop.clone()));
            out.push(if p.values.is_empty() { prop } else { prop.and(in_list("value", p.values.iter().cloned())) });
        }
        Ok(out)
    }

    /// Whether [`Filter::matches`] accepts every entity: no schema or property condition.
    pub fn selects_all(&self) -> bool {
        self.schemata.is_empty() && self.schema.is_empty() && self.properties.is_empty()
    }

    /// Whether an entity's live rows satisfy the schema and property conditions.
    pub fn matches<'a, S: StatementFields<'a>>(&self, rows: &[S]) -> bool {
        let model = ftm::model();
        let schema_ok = (self.schemata.is_empty() && self.schema.is_empty()) || {
            let mut names: Vec<&str> = rows.iter().map(|s| s.schema()).collect();
            names.sort_unstable();
            names.dedup();
            let merged = names.iter().filter_map(|n| model.get(n)).try_fold(None, |acc, s| match acc {
                None => Some(Some(s)),
                Some(a) => model.merge_schema(a, s).ok().map(Some),
            });
            merged.flatten().is_some_and(|s| {
                (self.schemata.is_empty() || self.schemata.iter().any(|f| s.is_a(f)))
                    && (self.schema.is_empty() || self.schema.contains(&s.name))
            })
        };
        schema_ok
            && self.properties.iter().all(|p| {
                rows.iter()
                    .any(|s| s.prop() == p.prop && (p.values.is_empty() || p.values.iter().any(|v| v == s.value())))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftm::Statement;

    #[test]
    fn entity_matching() {
        let statements = [
            Statement::new("ds", "e1", "Person", "name", "name", "Alice"),
            Statement::new("ds", "e1", "LegalEntity", "country", "country", "de"),
        ];
        let rows: Vec<&Statement> = statements.iter().collect();
        let by_schema = |s: &str| Filter { schemata: vec![s.into()], ..Filter::default() };
        assert!(by_schema("LegalEntity").matches(&rows));
        assert!(by_schema("Person").matches(&rows));
        assert!(!by_schema("Company").matches(&rows));
        let by_prop = |p: &str, v: &[&str]| Filter {
            properties: vec![PropertyFilter { prop: p.into(), values: v.iter().map(|s| s.to_string()).collect() }],
            ..Filter::default()
        };
        assert!(by_prop("country", &["de", "fr"]).matches(&rows));
        assert!(by_prop("name", &[]).matches(&rows));
        assert!(!by_prop("country", &["fr"]).matches(&rows));
        assert!(Filter::default().matches(&rows));
        assert!(by_schema("Nope").schema_names().is_err());
        let exact = |s: &str| Filter { schema: vec![s.into()], ..Filter::default() };
        assert!(exact("Person").matches(&rows));
        assert!(!exact("LegalEntity").matches(&rows));
        assert!(by_schema("LegalEntity").schema_names().unwrap().contains("Company"));
    }
}
