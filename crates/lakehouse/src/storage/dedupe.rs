//! The statement dedupe rules shared by merge and every read of an un-merged partition (spec
//! `storage-format.md` §5.2, §2.9).
//!
//! Applied to the rows of **one entity** (an entity's rows share its shard), keyed within its
//! `(bucket, origin)` partition:
//!
//! * non-fragment rows (`fragment = ""`): one row per `(id, role)` survives — the greatest
//!   `last_seen`; on a tie a tombstone beats a live row and a later `deleted_at` beats an
//!   earlier one. Its `first_seen` becomes the minimum over the group;
//! * fragment rows: in each fragment group `(prop, fragment, role)` only rows at the group's
//!   latest `last_seen` survive (the latest emission supersedes earlier ones), one per `id`
//!   (same tie-break), with `first_seen` = the minimum over that id's rows of the group,
//!   superseded emissions included;
//! * then tombstones are dropped: all of them for live reads, those deleted at or before the
//!   grace cutoff for merge.
//!
//! `None` roles group together. The output is ordered as merged files are:
//! `entity_id, fragment, role (None last), prop, id, last_seen desc`.

use std::cmp::Ordering;
use std::collections::HashMap;

use ftm::Statement;
use ftm::time::Timestamp;

use crate::model::Bucket;

/// What happens to tombstones that survive the dedupe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tombstones {
    /// Drop every tombstone: the live view of a read.
    Drop,
    /// Keep tombstones deleted after the cutoff (within the grace period), drop older ones.
    KeepAfter(Timestamp),
}

/// The partition-local identity of a statement row.
type RowKey<'a> = (&'a str, Option<&'a str>, &'a str, &'a str, Option<&'a str>);

fn row_key<'a>(s: &'a Statement, bucket: &'a str) -> RowKey<'a> {
    (bucket, s.origin.as_deref(), &s.id, &s.fragment, s.role.as_deref())
}

/// A fragment group: `(bucket, origin, prop, fragment, role)`.
type FragmentGroup<'a> = (&'a str, Option<&'a str>, &'a str, &'a str, Option<&'a str>);

fn fragment_group<'a>(s: &'a Statement, bucket: &'a str) -> FragmentGroup<'a> {
    (bucket, s.origin.as_deref(), &s.prop, &s.fragment, s.role.as_deref())
}

/// Winner order within one identity: latest `last_seen`, then tombstones first, then the
/// later `deleted_at`. `Ordering::Less` means `a` wins.
fn winner_order(a: &Statement, b: &Statement) -> Ordering {
    b.last_seen
        .cmp(&a.last_seen)
        .then_with(|| b.deleted_at.is_some().cmp(&a.deleted_at.is_some()))
        .then_with(|| b.deleted_at.cmp(&a.deleted_at))
}

/// The order of one entity's rows in a merged file (whose rows are sorted by entity id first):
/// `fragment, role (None last), prop, id, last_seen desc`. The entity id is not compared.
pub fn entity_order(a: &Statement, b: &Statement) -> Ordering {
    // Most rows have no fragment and no role: settle those without comparing bytes.
    let fragment = match (a.fragment.is_empty(), b.fragment.is_empty()) {
        (true, true) => Ordering::Equal,
        _ => a.fragment.cmp(&b.fragment),
    };
    let role = || match (&a.role, &b.role) {
        (None, None) => Ordering::Equal,
        (Some(x), Some(y)) => x.cmp(y),
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
    };
    fragment
        .then_with(role)
        .then_with(|| a.prop.cmp(&b.prop))
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| b.last_seen.cmp(&a.last_seen))
}

/// Dedupes the rows of one entity (all rows must share `entity_id`). Rows of different
/// buckets or origins never collapse into each other.
///
/// Most entities need nothing collapsed: no fragment rows, no tombstones, no statement id
/// twice. Those are only sorted into merged order; the rest go through the group rules.
pub fn dedupe_entity(mut rows: Vec<Statement>, tombstones: Tombstones) -> Vec<Statement> {
    rows.sort_by(entity_order);
    let plain = rows.iter().all(|s| s.fragment.is_empty() && s.deleted_at.is_none())
        && rows.windows(2).all(|w| w[0].id != w[1].id || w[0].role != w[1].role);
    if plain {
        return rows;
    }
    dedupe_groups(rows, tombstones)
}

/// The group rules of [`dedupe_entity`], for rows in any order.
fn dedupe_groups(rows: Vec<Statement>, tombstones: Tombstones) -> Vec<Statement> {
    let buckets: Vec<&'static str> =
        rows.iter().map(|s| ftm::model().get(&s.schema).map_or("", |schema| Bucket::of(schema).as_str())).collect();
    // Latest emission per fragment group (bucket, origin, prop, fragment, role).
    let mut latest: HashMap<FragmentGroup, Option<Timestamp>> = HashMap::new();
    for (s, bucket) in rows.iter().zip(&buckets) {
        if !s.fragment.is_empty() {
            let slot = latest.entry(fragment_group(s, bucket)).or_insert(s.last_seen);
            *slot = (*slot).max(s.last_seen);
        }
    }
    let mut groups: HashMap<RowKey, (usize, Option<Timestamp>)> = HashMap::new();
    let mut order = Vec::new();
    for (i, (s, bucket)) in rows.iter().zip(&buckets).enumerate() {
        let superseded = !s.fragment.is_empty() && latest[&fragment_group(s, bucket)] != s.last_seen;
        match groups.get_mut(&row_key(s, bucket)) {
            None => {
                order.push(row_key(s, bucket));
                let winner = if superseded { usize::MAX } else { i };
                groups.insert(row_key(s, bucket), (winner, s.first_seen));
            }
            Some((winner, first_seen)) => {
                *first_seen = match (*first_seen, s.first_seen) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if !superseded && (*winner == usize::MAX || winner_order(s, &rows[*winner]) == Ordering::Less) {
                    *winner = i;
                }
            }
        }
    }
    let mut keep: Vec<(usize, Option<Timestamp>)> =
        order.iter().map(|k| groups[k]).filter(|(winner, _)| *winner != usize::MAX).collect();
    keep.sort_unstable_by_key(|(i, _)| *i);
    let mut slots: Vec<Option<Statement>> = rows.into_iter().map(Some).collect();
    let mut out: Vec<Statement> = keep
        .into_iter()
        .filter_map(|(i, first_seen)| {
            let mut s = slots[i].take()?;
            s.first_seen = first_seen;
            let live = match (s.deleted_at, tombstones) {
                (None, _) => true,
                (Some(_), Tombstones::Drop) => false,
                (Some(deleted), Tombstones::KeepAfter(cutoff)) => deleted > cutoff,
            };
            live.then_some(s)
        })
        .collect();
    out.sort_by(entity_order);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftm::time::parse_iso;

    fn ts(day: u32) -> Option<Timestamp> {
        parse_iso(&format!("2024-01-{day:02}"))
    }

    fn row(prop: &str, value: &str, seen: u32) -> Statement {
        let mut s = Statement::new("ds", "e1", "Person", prop, "name", value);
        s.origin = Some("bulk".into());
        s.first_seen = ts(seen);
        s.last_seen = ts(seen);
        s
    }

    /// `(value, first_seen, last_seen)` of each row, sorted by value (merged order sorts by id).
    fn values(rows: &[Statement]) -> Vec<(&str, Option<Timestamp>, Option<Timestamp>)> {
        let mut out: Vec<_> = rows.iter().map(|s| (s.value.as_str(), s.first_seen, s.last_seen)).collect();
        out.sort();
        out
    }

    #[test]
    fn duplicates_collapse_and_first_seen_folds() {
        let rows = vec![row("name", "A", 3), row("name", "A", 1), row("name", "A", 2), row("name", "B", 5)];
        let out = dedupe_entity(rows, Tombstones::Drop);
        assert_eq!(values(&out), [("A", ts(1), ts(3)), ("B", ts(5), ts(5))]);
    }

    #[test]
    fn tombstones_shadow_and_respect_grace() {
        let mut dead = row("name", "A", 4);
        dead.deleted_at = ts(4);
        let rows = vec![row("name", "A", 1), dead.clone(), row("name", "B", 2)];
        assert_eq!(values(&dedupe_entity(rows.clone(), Tombstones::Drop)), [("B", ts(2), ts(2))]);
        let kept = dedupe_entity(rows.clone(), Tombstones::KeepAfter(ts(3).unwrap()));
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().any(|s| s.deleted_at == ts(4) && s.first_seen == ts(1)));
        let reaped = dedupe_entity(rows, Tombstones::KeepAfter(ts(4).unwrap()));
        assert_eq!(values(&reaped), [("B", ts(2), ts(2))]);
        // A re-emission newer than the tombstone revives the statement.
        let revived = dedupe_entity(vec![dead, row("name", "A", 9)], Tombstones::Drop);
        assert_eq!(values(&revived), [("A", ts(4), ts(9))]);
    }

    #[test]
    fn tie_goes_to_the_tombstone() {
        let mut dead = row("name", "A", 2);
        dead.deleted_at = ts(2);
        assert!(dedupe_entity(vec![row("name", "A", 2), dead], Tombstones::Drop).is_empty());
    }

    #[test]
    fn fragments_supersede_per_group() {
        let frag = |value: &str, seen: u32| {
            let mut s = row("name", value, seen);
            s.fragment = "f1".into();
            s
        };
        let rows = vec![frag("Old", 1), frag("Both", 1), frag("Both", 2), frag("New", 2), row("name", "Plain", 1)];
        let out = dedupe_entity(rows, Tombstones::Drop);
        assert_eq!(values(&out), [("Both", ts(1), ts(2)), ("New", ts(2), ts(2)), ("Plain", ts(1), ts(1))]);
        assert_eq!(out[0].value, "Plain", "merged order: the \"\" fragment sorts first");
    }

    #[test]
    fn origins_and_roles_are_separate_identities() {
        let mut other = row("name", "A", 2);
        other.origin = Some("crawl".into());
        let mut analyst = row("name", "A", 3);
        analyst.role = Some("analyst".into());
        let out = dedupe_entity(vec![row("name", "A", 1), other, analyst], Tombstones::Drop);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].role, None, "None roles sort last");
    }

    #[test]
    fn plain_entities_come_back_in_merged_order_unchanged() {
        let mut analyst = row("name", "A", 3);
        analyst.role = Some("analyst".into());
        let rows = vec![row("name", "B", 5), row("alias", "C", 1), analyst, row("name", "A", 2)];
        let out = dedupe_entity(rows.clone(), Tombstones::Drop);
        let slow = dedupe_groups(rows, Tombstones::Drop);
        assert_eq!(out.len(), 4);
        assert!(out.windows(2).all(|w| entity_order(&w[0], &w[1]) == Ordering::Less));
        assert_eq!(out, slow, "the shortcut gives what the group rules give");
        assert_eq!(out[0].role.as_deref(), Some("analyst"), "roles before None");
    }
}
