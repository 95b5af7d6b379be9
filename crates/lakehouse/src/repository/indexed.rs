//! Queries the entity index answers exactly ([`entity_index`](crate::storage::entity_index)):
//! `and`/`or` trees of `eq`/`in` leaves on `schema`, `schemata` and properties, without a sort
//! or a projection. Each leaf is the union of its values' postings (a leaf holds when one live
//! row has the value, spec `interfaces.md` §2.2, which is what a posting records), an `and` the
//! intersection of its children's, an `or` their union. Every other query reads the table.

use crate::error::Result;
use crate::model::query::{Family, Leaf, Node, Op, Query};
use crate::storage::entity_index::{EntityIndex, Key};

/// A query as set operations on postings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Plan {
    /// The entities holding any of these keys.
    Any(Vec<OwnedKey>),
    /// The entities every child selects.
    All(Vec<Plan>),
    /// The entities some child selects.
    Either(Vec<Plan>),
}

/// A [`Key`] that owns its texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum OwnedKey {
    Schema(String),
    Property(String, String),
}

impl OwnedKey {
    fn key(&self) -> Key<'_> {
        match self {
            OwnedKey::Schema(schema) => Key::Schema(schema),
            OwnedKey::Property(prop, value) => Key::Property(prop, value),
        }
    }
}

/// The keys of a leaf, when its rows are exactly those holding one of them.
fn leaf_keys(leaf: &Leaf) -> Option<Vec<OwnedKey>> {
    if !matches!(leaf.op, Op::Eq | Op::In) {
        return None;
    }
    let texts = leaf.value.texts();
    if texts.is_empty() {
        return None;
    }
    let name = leaf.field.name.as_str();
    match (leaf.field.family, name) {
        (Family::Meta, "schema") => Some(texts.iter().map(|t| OwnedKey::Schema(t.clone())).collect()),
        // A row's schema that is one of the values or descends from one (the evaluation's rule).
        (Family::Meta, "schemata") => Some(
            ftm::model()
                .schemata()
                .filter(|schema| texts.iter().any(|t| schema.is_a(t)))
                .map(|schema| OwnedKey::Schema(schema.name.clone()))
                .collect(),
        ),
        // The checksum row is not in the postings.
        (Family::Property, prop) if prop != ftm::statement::BASE_ID => {
            Some(texts.iter().map(|t| OwnedKey::Property(name.to_string(), t.clone())).collect())
        }
        _ => None,
    }
}

impl Plan {
    /// The plan of `query`, `None` when the index cannot answer it: a sort, a projection, no
    /// condition (the table streams every entity as fast), or a leaf or `not` it does not hold.
    pub(super) fn of(query: &Query) -> Option<Plan> {
        if query.sort.is_some() || !query.select.is_empty() {
            return None;
        }
        Plan::of_node(query.node.as_ref()?)
    }

    fn of_node(node: &Node) -> Option<Plan> {
        match node {
            Node::Leaf(leaf) => leaf_keys(leaf).map(Plan::Any),
            Node::And(children) => children.iter().map(Plan::of_node).collect::<Option<_>>().map(Plan::All),
            Node::Or(children) => children.iter().map(Plan::of_node).collect::<Option<_>>().map(Plan::Either),
            Node::Not(_) => None,
        }
    }

    fn keys<'a>(&'a self, out: &mut Vec<Key<'a>>) {
        match self {
            Plan::Any(keys) => out.extend(keys.iter().map(OwnedKey::key)),
            Plan::All(children) | Plan::Either(children) => children.iter().for_each(|c| c.keys(out)),
        }
    }

    /// The ordinals the plan selects, sorted, from the postings of its keys in
    /// [`Plan::keys`] order (consumed from the front).
    fn combine(&self, postings: &mut std::vec::IntoIter<Vec<u32>>) -> Vec<u32> {
        match self {
            Plan::Any(keys) => union(postings.by_ref().take(keys.len()).collect()),
            Plan::Either(children) => union(children.iter().map(|c| c.combine(postings)).collect()),
            Plan::All(children) => {
                let mut sets: Vec<Vec<u32>> = children.iter().map(|c| c.combine(postings)).collect();
                sets.sort_by_key(Vec::len);
                let mut sets = sets.into_iter();
                let first = sets.next().unwrap_or_default();
                sets.fold(first, |kept, set| intersect(&kept, &set))
            }
        }
    }

    /// The ordinals of the entities the plan selects in `index`, in export order (entity id).
    ///
    /// # Errors
    /// As [`EntityIndex::postings`].
    pub(super) async fn evaluate(&self, index: &EntityIndex) -> Result<Vec<u32>> {
        let mut keys = Vec::new();
        self.keys(&mut keys);
        let postings = index.postings(&keys).await?;
        Ok(self.combine(&mut postings.into_iter()))
    }
}

/// The sorted union of sorted sets.
fn union(sets: Vec<Vec<u32>>) -> Vec<u32> {
    let mut sets = sets.into_iter();
    let first = sets.next().unwrap_or_default();
    let mut all: Vec<u32> = sets.fold(first, |mut all, set| {
        all.extend(set);
        all
    });
    all.sort_unstable();
    all.dedup();
    all
}

/// The sorted intersection of two sorted sets.
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(flat: &str) -> Option<Plan> {
        Plan::of(&Query::from_flat(flat).unwrap())
    }

    #[test]
    fn equality_trees_are_planned_and_the_rest_is_not() {
        let both = plan("filter:schema=Person&filter:properties.country=de").unwrap();
        let Plan::All(children) = both else { panic!("an and: {both:?}") };
        assert_eq!(children.len(), 2);
        let schemata = plan("filter:schemata=LegalEntity").unwrap();
        let Plan::Any(keys) = schemata else { panic!("a leaf") };
        for name in ["LegalEntity", "Person", "Company", "Organization"] {
            assert!(keys.contains(&OwnedKey::Schema(name.into())), "{name} is a LegalEntity");
        }
        assert!(!keys.contains(&OwnedKey::Schema("Payment".into())));
        assert_eq!(
            plan("filter:properties.country=de&filter:properties.country=fr"),
            Some(Plan::Any(vec![
                OwnedKey::Property("country".into(), "de".into()),
                OwnedKey::Property("country".into(), "fr".into())
            ]))
        );
        for refused in [
            "",
            "filter:properties.country=de&sort=properties.name",
            "filter:properties.country=de&select=properties.name",
            "filter:gte:properties.amount=5",
            "filter:id=x",
            "exclude:properties.country=de",
            "filter:context.origin=bulk",
            "filter:ilike:properties.name=a",
        ] {
            assert_eq!(plan(refused), None, "{refused}");
        }
    }

    #[test]
    fn sets_combine() {
        assert_eq!(union(vec![vec![1, 4], vec![2, 4, 9], vec![]]), vec![1, 2, 4, 9]);
        assert_eq!(intersect(&[1, 2, 4, 9], &[0, 2, 9, 10]), vec![2, 9]);
        let plan = Plan::All(vec![
            Plan::Any(vec![OwnedKey::Schema("A".into())]),
            Plan::Either(vec![Plan::Any(vec![OwnedKey::Schema("B".into()), OwnedKey::Schema("C".into())])]),
        ]);
        let postings = vec![vec![1, 2, 3, 5], vec![2], vec![5, 8]];
        assert_eq!(plan.combine(&mut postings.into_iter()), vec![2, 5]);
    }
}
