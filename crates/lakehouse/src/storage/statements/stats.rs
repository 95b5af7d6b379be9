//! `stats()`: entity counts, schema and country facets and the date range of a dataset (spec
//! `exports-and-operations.md` §7.1–§7.2, `storage-format.md` §6.3).
//!
//! Folded over every live entity: `things` are entities whose schema is a `Thing`, `intervals`
//! those that are an `Interval` (five schemata are both). Per group: entities per schema, and
//! per country code the entities having it in any country-typed property. `start`/`end` are the
//! min/max of every non-hidden date property's values (string order).

use std::collections::{BTreeMap, BTreeSet};

use ftm::{EntityRecord, PropertyType};
use serde::Serialize;

use super::{Filter, StatementStore};
use crate::error::Result;

/// A schema facet entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaCount {
    /// The schema name, e.g. `Person`.
    pub name: String,
    /// Entities of exactly this schema in the group.
    pub count: u64,
    /// The schema's label (the name for a schema the model lacks).
    pub label: String,
    /// The schema's plural label (the name for a schema the model lacks).
    pub plural: String,
}

/// A country facet entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CountryCount {
    /// The FtM country code, e.g. `de`.
    pub code: String,
    /// Entities of the group with this code in any country-typed property.
    pub count: u64,
    /// The country's English name (the code when FtM has none).
    pub label: String,
}

/// The facets of one group (`things` or `intervals`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct StatsGroup {
    /// Entities in the group: the sum of the schema counts.
    pub total: u64,
    /// Sorted by code.
    pub countries: Vec<CountryCount>,
    /// Sorted by schema name.
    pub schemata: Vec<SchemaCount>,
}

/// Dataset statistics, serialised in the reference's key order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DatasetStats {
    /// Entities whose schema is a `Thing`.
    pub things: StatsGroup,
    /// Entities whose schema is an `Interval`.
    pub intervals: StatsGroup,
    /// Every entity counted, whatever its group.
    pub entity_count: u64,
    /// The smallest value of any non-hidden date property (string order); absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// The largest value of any non-hidden date property (string order); absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Union of both groups' country codes, sorted.
    pub countries: Vec<String>,
}

#[derive(Default)]
struct GroupCounter {
    schemata: BTreeMap<String, u64>,
    countries: BTreeMap<String, u64>,
}

/// Adds one to `key`'s count, allocating the key only the first time.
fn count(counts: &mut BTreeMap<String, u64>, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.to_string(), 1);
        }
    }
}

impl GroupCounter {
    fn finish(self) -> StatsGroup {
        let model = ftm::model();
        let schemata: Vec<SchemaCount> = self
            .schemata
            .into_iter()
            .map(|(name, count)| {
                let schema = model.get(&name);
                SchemaCount {
                    label: schema.map_or_else(|| name.clone(), |s| s.label.clone()),
                    plural: schema.map_or_else(|| name.clone(), |s| s.plural.clone()),
                    name,
                    count,
                }
            })
            .collect();
        let countries = self
            .countries
            .into_iter()
            .map(|(code, count)| CountryCount {
                label: ftm::countries::country_name(&code).unwrap_or(&code).to_string(),
                code,
                count,
            })
            .collect();
        StatsGroup { total: schemata.iter().map(|s| s.count).sum(), countries, schemata }
    }
}

/// Accumulates [`DatasetStats`] over aggregated entities.
#[derive(Default)]
pub struct StatsBuilder {
    things: GroupCounter,
    intervals: GroupCounter,
    entity_count: u64,
    start: Option<String>,
    end: Option<String>,
}

impl StatsBuilder {
    /// Counts one entity.
    pub fn add(&mut self, entity: &EntityRecord<'_>) {
        let schema = entity.schema;
        self.entity_count += 1;
        let mut countries = BTreeSet::new();
        for (prop, values) in entity.properties() {
            let Some(p) = schema.property(prop) else { continue };
            match p.type_ {
                PropertyType::Country => countries.extend(values.iter().map(AsRef::as_ref)),
                PropertyType::Date if !p.hidden => {
                    for v in values.iter().map(AsRef::<str>::as_ref) {
                        if self.start.as_deref().is_none_or(|s| v < s) {
                            self.start = Some(v.to_string());
                        }
                        if self.end.as_deref().is_none_or(|e| v > e) {
                            self.end = Some(v.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        for (group, applies) in
            [(&mut self.things, schema.is_a("Thing")), (&mut self.intervals, schema.is_a("Interval"))]
        {
            if applies {
                count(&mut group.schemata, &schema.name);
                for code in &countries {
                    count(&mut group.countries, code);
                }
            }
        }
    }

    /// The statistics so far.
    pub fn finish(self) -> DatasetStats {
        let things = self.things.finish();
        let intervals = self.intervals.finish();
        let countries: BTreeSet<String> =
            things.countries.iter().chain(&intervals.countries).map(|c| c.code.clone()).collect();
        DatasetStats {
            things,
            intervals,
            entity_count: self.entity_count,
            start: self.start,
            end: self.end,
            countries: countries.into_iter().collect(),
        }
    }
}

impl StatementStore {
    /// Statistics over every live entity (a full scan).
    ///
    /// # Errors
    /// As [`StatementStore::scan`].
    pub async fn stats(&self) -> Result<DatasetStats> {
        let mut builder = StatsBuilder::default();
        let mut stream = self.scan(&Filter::default()).await?;
        while let Some(entity) = stream.next_entity().await? {
            builder.add(&entity);
        }
        Ok(builder.finish())
    }
}
