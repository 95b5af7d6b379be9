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
//! `entity_id, fragment, role (None last), prop, id, last_seen desc`. Rows are compared where
//! they lie, in the Arrow columns they were read into ([`ColumnRow`]); the dedupe picks rows and
//! folds `first_seen`, and the caller gathers the survivors.

use std::cmp::Ordering;

use rustc_hash::FxHashMap;

use super::columns::ColumnRow;

/// What happens to tombstones that survive the dedupe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tombstones {
    /// Drop every tombstone: the live view of a read.
    Drop,
    /// Keep tombstones deleted after the cutoff (UTC microseconds, within the grace period),
    /// drop older ones.
    KeepAfter(i64),
}

/// The partition-local identity of a statement row: `(bucket, origin, id, fragment, role)`.
type RowKey<'a> = (&'a str, &'a str, &'a str, &'a str, Option<&'a str>);

fn row_key<'a>(r: &ColumnRow<'a>) -> RowKey<'a> {
    (r.bucket(), r.origin(), r.id(), r.fragment(), r.role())
}

/// A fragment group: `(bucket, origin, prop, fragment, role)`.
type FragmentGroup<'a> = (&'a str, &'a str, &'a str, &'a str, Option<&'a str>);

fn fragment_group<'a>(r: &ColumnRow<'a>) -> FragmentGroup<'a> {
    (r.bucket(), r.origin(), r.prop(), r.fragment(), r.role())
}

/// Winner order within one identity: latest `last_seen`, then tombstones first, then the
/// later `deleted_at`. `Ordering::Less` means `a` wins.
fn winner_order(a: &ColumnRow, b: &ColumnRow) -> Ordering {
    b.last_seen()
        .cmp(&a.last_seen())
        .then_with(|| b.deleted_at().is_some().cmp(&a.deleted_at().is_some()))
        .then_with(|| b.deleted_at().cmp(&a.deleted_at()))
}

/// The order of one entity's rows in a merged file (whose rows are sorted by entity id first):
/// `fragment, role (None last), prop, id, last_seen desc`. The entity id is not compared.
pub fn entity_order(a: &ColumnRow, b: &ColumnRow) -> Ordering {
    // Most rows have no fragment and no role: settle those without comparing bytes.
    let (fa, fb) = (a.fragment(), b.fragment());
    let fragment = if fa.is_empty() && fb.is_empty() { Ordering::Equal } else { fa.cmp(fb) };
    let role = || match (a.role(), b.role()) {
        (None, None) => Ordering::Equal,
        (Some(x), Some(y)) => x.cmp(y),
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
    };
    fragment
        .then_with(role)
        .then_with(|| a.prop().cmp(b.prop()))
        .then_with(|| a.id().cmp(b.id()))
        .then_with(|| b.last_seen().cmp(&a.last_seen()))
}

/// A row that survives the dedupe, with its folded `first_seen` (UTC microseconds).
#[derive(Debug, Clone, Copy)]
pub struct Survivor<'a> {
    pub row: ColumnRow<'a>,
    pub first_seen: i64,
}

/// Dedupes the rows of one entity (all rows must share `entity_id`) and appends the survivors
/// to `out` in merged order ([`entity_order`]). Rows of different buckets or origins never
/// collapse into each other.
///
/// Most entities need nothing collapsed: no fragment rows, no tombstones, no statement id
/// twice. Those are only sorted into merged order; the rest go through the group rules.
pub fn dedupe_entity<'a>(mut rows: Vec<ColumnRow<'a>>, tombstones: Tombstones, out: &mut Vec<Survivor<'a>>) {
    rows.sort_unstable_by(entity_order);
    let plain = rows.iter().all(|r| r.fragment().is_empty() && r.deleted_at().is_none())
        && rows.windows(2).all(|w| w[0].id() != w[1].id() || w[0].role() != w[1].role());
    if plain {
        out.extend(rows.into_iter().map(|row| Survivor { row, first_seen: row.first_seen() }));
        return;
    }
    dedupe_groups(&rows, tombstones, out);
}

/// The group rules of [`dedupe_entity`], for rows sorted by [`entity_order`].
fn dedupe_groups<'a>(rows: &[ColumnRow<'a>], tombstones: Tombstones, out: &mut Vec<Survivor<'a>>) {
    // Latest emission per fragment group (bucket, origin, prop, fragment, role).
    let mut latest: FxHashMap<FragmentGroup, i64> = FxHashMap::default();
    for r in rows.iter().filter(|r| !r.fragment().is_empty()) {
        let slot = latest.entry(fragment_group(r)).or_insert(r.last_seen());
        *slot = (*slot).max(r.last_seen());
    }
    // Per identity: the winner's index (`None` while only superseded rows were seen) and the
    // least first_seen.
    let mut groups: FxHashMap<RowKey, (Option<usize>, i64)> = FxHashMap::default();
    for (i, r) in rows.iter().enumerate() {
        let superseded = !r.fragment().is_empty() && latest[&fragment_group(r)] != r.last_seen();
        let candidate = (!superseded).then_some(i);
        let (winner, first_seen) = groups.entry(row_key(r)).or_insert((candidate, r.first_seen()));
        *first_seen = (*first_seen).min(r.first_seen());
        if let Some(i) = candidate
            && winner.is_none_or(|w| winner_order(r, &rows[w]) == Ordering::Less)
        {
            *winner = Some(i);
        }
    }
    let mut keep: Vec<(usize, i64)> = groups.into_values().filter_map(|(w, first)| Some((w?, first))).collect();
    keep.sort_unstable_by_key(|(i, _)| *i);
    let live = |r: &ColumnRow| match (r.deleted_at(), tombstones) {
        (None, _) => true,
        (Some(_), Tombstones::Drop) => false,
        (Some(deleted), Tombstones::KeepAfter(cutoff)) => deleted > cutoff,
    };
    out.extend(
        keep.into_iter().filter(|(i, _)| live(&rows[*i])).map(|(i, first_seen)| Survivor { row: rows[i], first_seen }),
    );
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::storage::rows::to_file_batch;
    use crate::storage::statements::columns::{Columns, normalize, row_schema};
    use deltalake::arrow::array::{RecordBatch, StringArray};
    use ftm::Statement;
    use ftm::time::{Timestamp, parse_iso};

    fn ts(day: u32) -> Option<Timestamp> {
        parse_iso(&format!("2024-01-{day:02}"))
    }

    fn micros(day: u32) -> i64 {
        ts(day).unwrap().timestamp_micros()
    }

    fn row(prop: &str, value: &str, seen: u32) -> Statement {
        let mut s = Statement::new("ds", "e1", "Person", prop, "name", value);
        s.origin = Some("bulk".into());
        s.first_seen = ts(seen);
        s.last_seen = ts(seen);
        s
    }

    /// Runs the dedupe over `rows` read back as columns (bucket `thing`, each row's origin) and
    /// returns the survivors as statements, in the order given.
    fn dedupe(rows: &[Statement], tombstones: Tombstones) -> Vec<Statement> {
        let batch = normalize(&to_file_batch(rows).unwrap(), Some(("thing", "bulk"))).unwrap();
        let origins: StringArray = rows.iter().map(|s| s.origin.as_deref()).collect();
        let mut columns = batch.columns().to_vec();
        columns[row_schema().index_of("origin").unwrap()] = Arc::new(origins);
        let columns = Columns::new(&RecordBatch::try_new(row_schema(), columns).unwrap());
        let input = (0..rows.len()).map(|row| ColumnRow { columns: &columns, slot: 0, row }).collect();
        let mut out = Vec::new();
        dedupe_entity(input, tombstones, &mut out);
        let to_time = |t: i64| Timestamp::from_timestamp_micros(t);
        out.iter().map(|s| Statement { first_seen: to_time(s.first_seen), ..rows[s.row.row].clone() }).collect()
    }

    /// `(value, first_seen, last_seen)` of each row, sorted by value (merged order sorts by id).
    fn values(rows: &[Statement]) -> Vec<(&str, Option<Timestamp>, Option<Timestamp>)> {
        let mut out: Vec<_> = rows.iter().map(|s| (s.value.as_str(), s.first_seen, s.last_seen)).collect();
        out.sort();
        out
    }

    #[test]
    fn duplicates_collapse_and_first_seen_folds() {
        let rows = [row("name", "A", 3), row("name", "A", 1), row("name", "A", 2), row("name", "B", 5)];
        let out = dedupe(&rows, Tombstones::Drop);
        assert_eq!(values(&out), [("A", ts(1), ts(3)), ("B", ts(5), ts(5))]);
    }

    #[test]
    fn tombstones_shadow_and_respect_grace() {
        let mut dead = row("name", "A", 4);
        dead.deleted_at = ts(4);
        let rows = [row("name", "A", 1), dead.clone(), row("name", "B", 2)];
        assert_eq!(values(&dedupe(&rows, Tombstones::Drop)), [("B", ts(2), ts(2))]);
        let kept = dedupe(&rows, Tombstones::KeepAfter(micros(3)));
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().any(|s| s.deleted_at == ts(4) && s.first_seen == ts(1)));
        let reaped = dedupe(&rows, Tombstones::KeepAfter(micros(4)));
        assert_eq!(values(&reaped), [("B", ts(2), ts(2))]);
        // A re-emission newer than the tombstone revives the statement.
        let revived = dedupe(&[dead, row("name", "A", 9)], Tombstones::Drop);
        assert_eq!(values(&revived), [("A", ts(4), ts(9))]);
    }

    #[test]
    fn tie_goes_to_the_tombstone() {
        let mut dead = row("name", "A", 2);
        dead.deleted_at = ts(2);
        assert!(dedupe(&[row("name", "A", 2), dead], Tombstones::Drop).is_empty());
    }

    #[test]
    fn fragments_supersede_per_group() {
        let frag = |value: &str, seen: u32| {
            let mut s = row("name", value, seen);
            s.fragment = "f1".into();
            s
        };
        let rows = [frag("Old", 1), frag("Both", 1), frag("Both", 2), frag("New", 2), row("name", "Plain", 1)];
        let out = dedupe(&rows, Tombstones::Drop);
        assert_eq!(values(&out), [("Both", ts(1), ts(2)), ("New", ts(2), ts(2)), ("Plain", ts(1), ts(1))]);
        assert_eq!(out[0].value, "Plain", "merged order: the \"\" fragment sorts first");
    }

    #[test]
    fn origins_and_roles_are_separate_identities() {
        let mut other = row("name", "A", 2);
        other.origin = Some("crawl".into());
        let mut analyst = row("name", "A", 3);
        analyst.role = Some("analyst".into());
        let out = dedupe(&[row("name", "A", 1), other, analyst], Tombstones::Drop);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].role, None, "None roles sort last");
    }

    #[test]
    fn plain_entities_come_back_in_merged_order_unchanged() {
        let mut analyst = row("name", "A", 3);
        analyst.role = Some("analyst".into());
        let rows = [row("name", "B", 5), row("alias", "C", 1), analyst, row("name", "A", 2)];
        let out = dedupe(&rows, Tombstones::Drop);
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].role.as_deref(), Some("analyst"), "roles before None");
        assert_eq!(out[1..].iter().map(|s| s.prop.as_str()).collect::<Vec<_>>(), ["alias", "name", "name"]);
        assert!(out[2].id < out[3].id, "within one property by statement id");
        let mut copy = rows.clone();
        copy[1].fragment = "f".into();
        let slow = dedupe(&copy, Tombstones::Drop);
        assert_eq!(values(&slow), values(&out), "the group rules keep what the shortcut keeps");
    }
}
