//! Keyset pagination: every list is ordered by one integer key (a row id,
//! or a message index), or by two with the row id breaking ties, and a page
//! is "rows past key K, in this order, at most N": the 1,000th page costs
//! the same index range scan as the first. Never OFFSET.

/// A row's position in its list: one integer column, or two for lists
/// ordered by a non-unique column with the row id as tie-breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(pub i64, pub i64);

impl From<i64> for Key {
    fn from(k: i64) -> Key {
        Key(k, 0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyBound {
    None,
    Above(Key),
    Below(Key),
}

/// The key condition, order and limit of one page query. Apply it with
/// [`keyset!`] or [`keyset2!`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    pub bound: KeyBound,
    pub ascending: bool,
    /// Rows to fetch (one more than the page, to learn whether more follow).
    pub limit: i64,
}

/// Applies a [`PageQuery`] to a boxed diesel query on an integer key column.
#[macro_export]
macro_rules! keyset {
    ($query:expr, $column:expr, $page:expr) => {{
        use diesel::prelude::*;
        let page: &$crate::store::page::PageQuery = &$page;
        let q = match page.bound {
            $crate::store::page::KeyBound::None => $query,
            $crate::store::page::KeyBound::Above(k) => $query.filter($column.gt(k.0)),
            $crate::store::page::KeyBound::Below(k) => $query.filter($column.lt(k.0)),
        };
        let q = if page.ascending { q.order($column.asc()) } else { q.order($column.desc()) };
        q.limit(page.limit)
    }};
}

/// [`keyset!`] for lists ordered by `($first, $second)`, e.g. a date with
/// the row id breaking ties.
#[macro_export]
macro_rules! keyset2 {
    ($query:expr, $first:expr, $second:expr, $page:expr) => {{
        use diesel::prelude::*;
        let page: &$crate::store::page::PageQuery = &$page;
        let q = match page.bound {
            $crate::store::page::KeyBound::None => $query,
            $crate::store::page::KeyBound::Above(k) => {
                $query.filter($first.gt(k.0).or($first.eq(k.0).and($second.gt(k.1))))
            }
            $crate::store::page::KeyBound::Below(k) => {
                $query.filter($first.lt(k.0).or($first.eq(k.0).and($second.lt(k.1))))
            }
        };
        let q = if page.ascending {
            q.order(($first.asc(), $second.asc()))
        } else {
            q.order(($first.desc(), $second.desc()))
        };
        q.limit(page.limit)
    }};
}

/// One of the two lists a [`segments`] list is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// Keys below the base: the first list's own.
    First,
    /// The second list, its keys shifted up by the base.
    Second,
}

/// A list made of two keyed lists (a user's channels: memberships, then
/// invites), the second's keys shifted up by `base` so that one key orders
/// both: the queries a page runs, in the page's order. Run them in turn and
/// stop at `page.limit` rows, each later query limited to what is missing.
pub fn segments(page: &PageQuery, base: i64) -> Vec<(Segment, PageQuery)> {
    let with = |bound| PageQuery { bound, ..*page };
    let shifted = |k: Key| Key(k.0 - base, k.1);
    let (first, second) = match page.bound {
        KeyBound::None => (Some(with(KeyBound::None)), Some(with(KeyBound::None))),
        KeyBound::Above(k) if k.0 < base => (Some(*page), Some(with(KeyBound::None))),
        KeyBound::Above(k) => (None, Some(with(KeyBound::Above(shifted(k))))),
        KeyBound::Below(k) if k.0 <= base => (Some(*page), None),
        KeyBound::Below(k) => (Some(with(KeyBound::None)), Some(with(KeyBound::Below(shifted(k))))),
    };
    let mut out: Vec<(Segment, PageQuery)> = Vec::with_capacity(2);
    out.extend(first.map(|q| (Segment::First, q)));
    out.extend(second.map(|q| (Segment::Second, q)));
    if !page.ascending {
        out.reverse();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(bound: KeyBound, ascending: bool) -> PageQuery {
        PageQuery { bound, ascending, limit: 3 }
    }

    #[test]
    fn two_lists_page_as_one() {
        let base = 1000;
        let segs = |q| segments(&q, base).into_iter().map(|(s, q)| (s, q.bound)).collect::<Vec<_>>();
        assert_eq!(
            segs(query(KeyBound::None, true)),
            [(Segment::First, KeyBound::None), (Segment::Second, KeyBound::None)]
        );
        assert_eq!(
            segs(query(KeyBound::Above(5.into()), true)),
            [(Segment::First, KeyBound::Above(5.into())), (Segment::Second, KeyBound::None)]
        );
        assert_eq!(
            segs(query(KeyBound::Above(1005.into()), true)),
            [(Segment::Second, KeyBound::Above(5.into()))]
        );
        assert_eq!(
            segs(query(KeyBound::Below(1005.into()), false)),
            [(Segment::Second, KeyBound::Below(5.into())), (Segment::First, KeyBound::None)]
        );
        assert_eq!(
            segs(query(KeyBound::Below(7.into()), false)),
            [(Segment::First, KeyBound::Below(7.into()))]
        );
    }
}
