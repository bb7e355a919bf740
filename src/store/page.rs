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
