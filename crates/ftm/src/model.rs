//! Loading and resolving the FtM model from its YAML schema files.
//!
//! The 71 files of followthemoney 4.11.2 are embedded at build time (see `build.rs` and
//! `schema/README.md`); [`model()`] parses them once per process. Resolution follows spec
//! `ftm-model.md` §1.4–§1.5:
//!
//! 1. every schema is parsed with only its own properties;
//! 2. inheritance: a schema gets every property of each parent, in `extends` order, whose name it
//!    does not have yet (own definitions win, then the first listed parent);
//! 3. reverse stubs: an entity property with a `reverse` block creates a stub property of that
//!    name on its `range` schema unless the range already has one;
//! 4. every property, stubs included, is pushed into each descendant of its defining schema that
//!    lacks a property of that name.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use indexmap::IndexMap;
use rustc_hash::FxBuildHasher;
use serde::Deserialize;

use crate::error::{FtmError, Result};
use crate::schema::{Edge, Property, PropertyMap, Schema, TemporalExtent};
use crate::types::PropertyType;

include!(concat!(env!("OUT_DIR"), "/schema_files.rs"));

/// The FtM model: every schema, resolved, by name.
#[derive(Debug, Clone)]
pub struct Model {
    /// Sorted by name (inserted in order), hashed for lookups by name.
    schemata: IndexMap<String, Schema, FxBuildHasher>,
    qnames: BTreeMap<String, Arc<Property>>,
}

/// The embedded followthemoney 4.11.2 model, parsed on first use.
///
/// # Panics
/// Only if the vendored YAML files are broken, which the crate's tests rule out.
pub fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::from_yaml(SCHEMA_FILES.iter().copied()).expect("embedded FtM model"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSchema {
    label: Option<String>,
    plural: Option<String>,
    description: Option<String>,
    #[serde(default)]
    extends: Vec<String>,
    #[serde(default, rename = "abstract")]
    abstract_: bool,
    matchable: Option<bool>,
    #[serde(default)]
    generated: bool,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    deprecated: bool,
    #[serde(default)]
    featured: Vec<String>,
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    caption: Vec<String>,
    edge: Option<RawEdge>,
    temporal_extent: Option<RawTemporalExtent>,
    #[serde(default)]
    properties: IndexMap<String, RawProperty>,
}

#[derive(Deserialize)]
struct RawEdge {
    source: String,
    target: String,
    label: Option<String>,
    directed: Option<bool>,
    #[serde(default)]
    caption: Vec<String>,
}

#[derive(Deserialize)]
struct RawTemporalExtent {
    #[serde(default)]
    start: Vec<String>,
    #[serde(default)]
    end: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProperty {
    label: Option<String>,
    description: Option<String>,
    #[serde(rename = "type")]
    type_: Option<String>,
    range: Option<String>,
    reverse: Option<RawReverse>,
    matchable: Option<bool>,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    deprecated: bool,
    max_length: Option<usize>,
    format: Option<String>,
}

#[derive(Deserialize)]
struct RawReverse {
    name: String,
    label: Option<String>,
    hidden: Option<bool>,
}

/// Property names the model reserves for entity keys (spec §1.3).
const RESERVED: [&str; 6] = ["id", "caption", "schema", "schemata", "referents", "datasets"];

fn strip_all(list: Vec<String>) -> Vec<String> {
    list.into_iter().map(|s| s.trim().to_string()).collect()
}

fn valid_property_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
        && !RESERVED.contains(&name)
}

impl Model {
    /// Parses and resolves a model from `(file name, YAML text)` pairs, one or more schemata per
    /// file (`{SchemaName: {…}}`).
    ///
    /// # Errors
    /// [`FtmError::Model`] naming the file, schema or property at fault: YAML syntax, a
    /// duplicate schema, an unknown parent or range, an unknown type, an invalid property name,
    /// an inheritance cycle, or a featured/required/caption/edge property the schema lacks.
    pub fn from_yaml<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Model> {
        let mut raw: BTreeMap<String, RawSchema> = BTreeMap::new();
        for (file, text) in files {
            let parsed: IndexMap<String, RawSchema> =
                serde_norway::from_str(text).map_err(|e| FtmError::Model(format!("{file}: {e}")))?;
            for (name, spec) in parsed {
                let name = name.trim().to_string();
                if raw.insert(name.clone(), spec).is_some() {
                    return Err(FtmError::Model(format!("{file}: schema `{name}` defined twice")));
                }
            }
        }
        Resolver::new(raw)?.resolve()
    }

    /// The schema called `name`, if the model defines it.
    pub fn get(&self, name: &str) -> Option<&Schema> {
        self.schemata.get(name)
    }

    /// The schema called `name`.
    ///
    /// # Errors
    /// [`FtmError::UnknownSchema`] naming it.
    pub fn schema(&self, name: &str) -> Result<&Schema> {
        self.get(name).ok_or_else(|| FtmError::UnknownSchema(name.to_string()))
    }

    /// Every schema, sorted by name.
    pub fn schemata(&self) -> impl Iterator<Item = &Schema> {
        self.schemata.values()
    }

    /// Every distinct property (declared and stub) by qualified name, e.g. `Thing:name`.
    pub fn qnames(&self) -> &BTreeMap<String, Arc<Property>> {
        &self.qnames
    }

    /// FtM's strict `common_schema` (spec §3.5): the more specific of two schemata when one
    /// extends the other.
    ///
    /// # Errors
    /// [`FtmError::SchemaConflict`] when neither extends the other (Person + Company).
    pub fn common_schema<'m>(&'m self, a: &'m Schema, b: &'m Schema) -> Result<&'m Schema> {
        if a.is_a(&b.name) {
            Ok(a)
        } else if b.is_a(&a.name) {
            Ok(b)
        } else {
            Err(FtmError::SchemaConflict(a.name.clone(), b.name.clone()))
        }
    }

    /// The lakehouse's lenient schema merge (spec `exports-and-operations.md` §5.3): the more
    /// specific schema when one extends the other, otherwise the nearest shared ancestor: the
    /// one with the most direct parents, then the most ancestors, then the greater name
    /// (Person + Company → LegalEntity, Person + Vessel → Thing, Pages + Table → Document).
    ///
    /// # Errors
    /// [`FtmError::SchemaConflict`] when the two share no ancestor (Thing + Payment).
    pub fn merge_schema<'m>(&'m self, a: &'m Schema, b: &'m Schema) -> Result<&'m Schema> {
        if let Ok(schema) = self.common_schema(a, b) {
            return Ok(schema);
        }
        a.schemata
            .intersection(&b.schemata)
            .filter_map(|name| self.get(name))
            .max_by_key(|s| (s.extends.len(), s.schemata.len(), s.name.as_str()))
            .ok_or_else(|| FtmError::SchemaConflict(a.name.clone(), b.name.clone()))
    }
}

/// Working state while a model is being resolved.
struct Resolver {
    raw: BTreeMap<String, RawSchema>,
    /// Own properties per schema, in declaration order.
    own: BTreeMap<String, PropertyMap>,
    resolved: BTreeMap<String, PropertyMap>,
    ancestors: BTreeMap<String, BTreeSet<String>>,
}

impl Resolver {
    fn new(raw: BTreeMap<String, RawSchema>) -> Result<Self> {
        let mut own = BTreeMap::new();
        for (schema, spec) in &raw {
            let mut props = PropertyMap::default();
            for (name, p) in &spec.properties {
                let name = name.trim().to_string();
                if !valid_property_name(&name) {
                    return Err(FtmError::Model(format!("{schema}: invalid property name `{name}`")));
                }
                let type_: PropertyType = p.type_.as_deref().unwrap_or("string").trim().parse()?;
                if let Some(range) = &p.range
                    && !raw.contains_key(range.trim())
                {
                    return Err(FtmError::Model(format!("{schema}:{name}: unknown range `{range}`")));
                }
                let prop = Property {
                    qname: format!("{schema}:{name}"),
                    schema: schema.clone(),
                    label: p.label.clone().unwrap_or_else(|| name.clone()),
                    description: p.description.clone(),
                    type_,
                    range: p.range.as_ref().map(|r| r.trim().to_string()),
                    reverse: p.reverse.as_ref().map(|r| r.name.trim().to_string()),
                    matchable: p.matchable.unwrap_or(type_.matchable()),
                    hidden: p.hidden,
                    deprecated: p.deprecated,
                    stub: false,
                    max_length: p.max_length.unwrap_or(type_.max_length()),
                    format: p.format.clone(),
                    name: name.clone(),
                };
                props.insert(name, Arc::new(prop));
            }
            own.insert(schema.clone(), props);
        }
        Ok(Resolver { raw, own, resolved: BTreeMap::new(), ancestors: BTreeMap::new() })
    }

    /// Resolves inheritance for `name` (parents first), detecting cycles through `path`.
    fn inherit(&mut self, name: &str, path: &mut Vec<String>) -> Result<()> {
        if self.resolved.contains_key(name) {
            return Ok(());
        }
        if path.iter().any(|p| p == name) {
            return Err(FtmError::Model(format!("inheritance cycle: {} -> {name}", path.join(" -> "))));
        }
        let parents = strip_all(self.raw[name].extends.clone());
        path.push(name.to_string());
        let mut props = self.own[name].clone();
        let mut ancestors = BTreeSet::from([name.to_string()]);
        for parent in &parents {
            if !self.raw.contains_key(parent) {
                return Err(FtmError::Model(format!("{name}: unknown parent schema `{parent}`")));
            }
            self.inherit(parent, path)?;
            for (pname, prop) in &self.resolved[parent] {
                props.entry(pname.clone()).or_insert_with(|| prop.clone());
            }
            ancestors.extend(self.ancestors[parent].iter().cloned());
        }
        path.pop();
        self.resolved.insert(name.to_string(), props);
        self.ancestors.insert(name.to_string(), ancestors);
        Ok(())
    }

    fn resolve(mut self) -> Result<Model> {
        let names: Vec<String> = self.raw.keys().cloned().collect();
        for name in &names {
            self.inherit(name, &mut Vec::new())?;
        }
        let mut descendants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, ancestors) in &self.ancestors {
            for ancestor in ancestors.iter().filter(|a| *a != name) {
                descendants.entry(ancestor.clone()).or_default().insert(name.clone());
            }
        }

        // Reverse stubs, created on the range schema and later pushed to its descendants.
        let mut stubs: Vec<Arc<Property>> = Vec::new();
        for name in &names {
            for (pname, spec) in &self.raw[name].properties {
                let (Some(reverse), Some(range)) = (&spec.reverse, &spec.range) else {
                    continue;
                };
                let range = range.trim();
                let rname = reverse.name.trim();
                if self.resolved[range].contains_key(rname) {
                    continue;
                }
                let forward = &self.own[name][pname.trim()];
                let stub = Arc::new(Property {
                    name: rname.to_string(),
                    qname: format!("{range}:{rname}"),
                    schema: range.to_string(),
                    label: reverse.label.clone().unwrap_or_else(|| rname.to_string()),
                    description: None,
                    type_: PropertyType::Entity,
                    range: Some(name.clone()),
                    reverse: Some(forward.name.clone()),
                    matchable: PropertyType::Entity.matchable(),
                    hidden: reverse.hidden.unwrap_or(forward.hidden),
                    deprecated: false,
                    stub: true,
                    max_length: PropertyType::Entity.max_length(),
                    format: None,
                });
                self.resolved.get_mut(range).unwrap().insert(rname.to_string(), stub.clone());
                stubs.push(stub);
            }
        }

        // Push every property down to descendants that lack a property of that name.
        let mut qnames: BTreeMap<String, Arc<Property>> = BTreeMap::new();
        let declared = self.own.values().flat_map(|props| props.values().cloned());
        for prop in declared.chain(stubs).collect::<Vec<_>>() {
            for child in descendants.get(&prop.schema).into_iter().flatten() {
                let props = self.resolved.get_mut(child).unwrap();
                props.entry(prop.name.clone()).or_insert_with(|| prop.clone());
            }
            qnames.insert(prop.qname.clone(), prop);
        }

        let mut schemata = IndexMap::default();
        for name in &names {
            let schema = self.build(name, &descendants)?;
            schemata.insert(name.clone(), schema);
        }
        Ok(Model { schemata, qnames })
    }

    /// The temporal extent of `name`, or the first one found among its parents, depth first.
    fn temporal_extent(&self, name: &str) -> Option<TemporalExtent> {
        let raw = &self.raw[name];
        if let Some(t) = &raw.temporal_extent {
            return Some(TemporalExtent { start: strip_all(t.start.clone()), end: strip_all(t.end.clone()) });
        }
        raw.extends.iter().find_map(|p| self.temporal_extent(p.trim()))
    }

    fn build(&self, name: &str, descendants: &BTreeMap<String, BTreeSet<String>>) -> Result<Schema> {
        let raw = &self.raw[name];
        let properties = self.resolved[name].clone();
        let label = raw.label.clone().unwrap_or_else(|| name.to_string());
        let edge = raw.edge.as_ref().map(|e| Edge {
            source: e.source.trim().to_string(),
            target: e.target.trim().to_string(),
            label: e.label.clone(),
            directed: e.directed.unwrap_or(true),
            caption: strip_all(e.caption.clone()),
        });
        let schema = Schema {
            name: name.to_string(),
            plural: raw.plural.clone().unwrap_or_else(|| label.clone()),
            label,
            description: raw.description.clone(),
            extends: strip_all(raw.extends.clone()),
            abstract_: raw.abstract_,
            matchable: raw.matchable.unwrap_or(true),
            generated: raw.generated,
            hidden: raw.hidden && !raw.abstract_,
            deprecated: raw.deprecated,
            featured: strip_all(raw.featured.clone()),
            required: strip_all(raw.required.clone()),
            caption: strip_all(raw.caption.clone()),
            edge,
            temporal_extent: self.temporal_extent(name),
            properties,
            schemata: self.ancestors[name].clone(),
            descendants: descendants.get(name).cloned().unwrap_or_default(),
        };
        let edge_props = schema.edge.iter().flat_map(|e| [&e.source, &e.target].into_iter().chain(&e.caption));
        let listed = schema.featured.iter().chain(&schema.required).chain(&schema.caption).chain(edge_props);
        for prop in listed {
            if schema.property(prop).is_none() {
                return Err(FtmError::Model(format!("{name}: listed property `{prop}` does not exist")));
            }
        }
        if let Some(p) = schema.caption.iter().find(|p| schema.property(p).unwrap().type_ == PropertyType::Entity) {
            return Err(FtmError::Model(format!("{name}: caption property `{p}` is an entity reference")));
        }
        Ok(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_followthemoney_4_11_2() {
        let m = model();
        assert_eq!(m.schemata().count(), 71);
        assert_eq!(m.schemata().filter(|s| s.abstract_).count(), 5);
        assert_eq!(m.schemata().filter(|s| s.matchable).count(), 15);
        assert_eq!(m.schemata().filter(|s| s.is_edge()).count(), 17);
        assert_eq!(m.schemata().filter(|s| s.generated).count(), 20);
        assert_eq!(m.schemata().filter(|s| s.hidden).count(), 2);
        assert_eq!(m.qnames().len(), 625);
        assert_eq!(m.qnames().values().filter(|p| p.stub).count(), 93);
        let pairs: usize = m.schemata().map(|s| s.properties().count()).sum();
        assert_eq!(pairs, 3384);
        let non_stub: usize = m.schemata().map(|s| s.properties().filter(|p| !p.stub).count()).sum();
        assert_eq!(non_stub, 2698);
    }

    #[test]
    fn per_schema_totals() {
        // (schema, own, stubs created on it, total) from spec ftm-model.md §1.6.
        let table = [
            ("Address", 13, 3, 51),
            ("Company", 19, 0, 142),
            ("Person", 30, 7, 146),
            ("LegalEntity", 35, 39, 109),
            ("Thing", 26, 9, 35),
            ("Document", 24, 4, 73),
            ("Email", 12, 1, 89),
            ("CallForTenders", 32, 1, 73),
            ("Payment", 10, 0, 29),
            ("Mention", 7, 0, 7),
            ("Event", 4, 0, 53),
        ];
        let m = model();
        for (name, own, stubs, total) in table {
            let s = m.schema(name).unwrap();
            let own_n = s.properties().filter(|p| p.schema == name && !p.stub).count();
            let stub_n = s.properties().filter(|p| p.schema == name && p.stub).count();
            assert_eq!((own_n, stub_n, s.properties().count()), (own, stubs, total), "{name}");
        }
    }

    #[test]
    fn inheritance_first_parent_wins() {
        let m = model();
        assert_eq!(m.schema("Company").unwrap().property("name").unwrap().qname, "Thing:name");
        assert_eq!(m.schema("Event").unwrap().property("summary").unwrap().qname, "Interval:summary");
        assert_eq!(m.schema("CallForTenders").unwrap().property("summary").unwrap().qname, "Thing:summary");
        let person = m.schema("Person").unwrap();
        assert!(person.is_a("LegalEntity") && person.is_a("Thing") && !person.is_a("Company"));
        assert_eq!(
            person.schemata().iter().map(String::as_str).collect::<Vec<_>>(),
            ["LegalEntity", "Person", "Thing"]
        );
        assert!(m.schema("Thing").unwrap().descendants().contains("Vessel"));
    }

    #[test]
    fn stubs_are_generated_on_ranges_and_descendants() {
        let m = model();
        let stub = m.schema("Person").unwrap().property("ownershipOwner").unwrap();
        assert!(stub.stub);
        assert_eq!(stub.qname, "LegalEntity:ownershipOwner");
        assert_eq!(stub.range.as_deref(), Some("Ownership"));
        assert_eq!(stub.reverse.as_deref(), Some("owner"));
        assert_eq!(stub.type_, PropertyType::Entity);
        let forward = m.schema("Ownership").unwrap().property("owner").unwrap();
        assert_eq!(forward.reverse.as_deref(), Some("ownershipOwner"));
        assert!(!forward.stub);
        // Reused once: both CallForTenders props name `callForTenders` on their ranges.
        assert!(m.qnames().values().all(|p| !p.stub || p.reverse.is_some()));
    }

    #[test]
    fn labels_flags_and_defaults() {
        let m = model();
        let thing = m.schema("Thing").unwrap();
        assert_eq!(thing.label, "Thing");
        assert!(thing.abstract_ && !thing.matchable);
        let person = m.schema("Person").unwrap();
        assert_eq!((person.label.as_str(), person.plural.as_str()), ("Person", "People"));
        assert_eq!(m.schema("Payment").unwrap().caption, ["amount"]);
        assert!(person.caption.starts_with(&["name".to_string()]));
        assert!(m.schema("Page").unwrap().hidden);
        let publisher = person.property("publisher").unwrap();
        assert_eq!(publisher.type_, PropertyType::String);
        assert_eq!(m.schema("Payment").unwrap().edge.as_ref().unwrap().source, "payer");
        assert!(m.schema("Payment").unwrap().temporal_extent.is_some());
        assert!(m.schema("Ownership").unwrap().temporal_extent.is_some());
    }

    #[test]
    fn schema_merging() {
        let m = model();
        let s = |n| m.schema(n).unwrap();
        assert_eq!(m.common_schema(s("LegalEntity"), s("Person")).unwrap().name, "Person");
        assert_eq!(m.common_schema(s("Company"), s("Asset")).unwrap().name, "Company");
        assert_eq!(m.common_schema(s("Folder"), s("Email")).unwrap().name, "Email");
        assert_eq!(
            m.common_schema(s("Person"), s("Company")).unwrap_err(),
            FtmError::SchemaConflict("Person".into(), "Company".into())
        );
        assert_eq!(m.merge_schema(s("Person"), s("Company")).unwrap().name, "LegalEntity");
        assert_eq!(m.merge_schema(s("Person"), s("Vessel")).unwrap().name, "Thing");
        assert_eq!(m.merge_schema(s("Pages"), s("Table")).unwrap().name, "Document");
        assert_eq!(
            m.merge_schema(s("Thing"), s("Payment")).unwrap_err(),
            FtmError::SchemaConflict("Thing".into(), "Payment".into())
        );
    }

    #[test]
    fn bad_models_are_refused() {
        let bad_parent = [("A.yaml", "A:\n  extends: [Nope]\n")];
        assert!(matches!(Model::from_yaml(bad_parent), Err(FtmError::Model(m)) if m.contains("Nope")));
        let cycle = [("A.yaml", "A:\n  extends: [B]\n"), ("B.yaml", "B:\n  extends: [A]\n")];
        assert!(matches!(Model::from_yaml(cycle), Err(FtmError::Model(m)) if m.contains("cycle")));
        let bad_caption = [("A.yaml", "A:\n  caption: [missing]\n")];
        assert!(
            matches!(Model::from_yaml(bad_caption), Err(FtmError::Model(m)) if m.contains("`missing` does not exist"))
        );
        let bad_type = [("A.yaml", "A:\n  properties:\n    x:\n      type: colour\n")];
        assert!(
            matches!(Model::from_yaml(bad_type), Err(FtmError::Model(m)) if m.contains("unknown property type `colour`"))
        );
        let bad_name = [("A.yaml", "A:\n  properties:\n    Name: {}\n")];
        assert!(
            matches!(Model::from_yaml(bad_name), Err(FtmError::Model(m)) if m.contains("invalid property name `Name`"))
        );
    }
}
