//! Twilio paging over keyset pagination (`crate::store::page`).
//!
//! `PageToken` is an opaque encoding of "rows after key K" or "rows before
//! key K" in display order, so the 1,000th page costs the same index range
//! scan as the first: never OFFSET. `Page` is client state and only echoed.

use actix_web::HttpResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::api::params::Params;
use crate::error::ApiError;
use crate::store::page::{Key, KeyBound, PageQuery};

pub const DEFAULT_PAGE_SIZE: i64 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    First,
    /// Rows after this key, in display order.
    After(Key),
    /// Rows before this key, in display order (the previous page).
    Before(Key),
}

/// Which list (kind, order and key shape) a token belongs to: a token
/// replayed against another list is refused rather than misread.
fn list_tag(list: &str) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(list.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

impl Cursor {
    fn encode(self, list: u32) -> Option<String> {
        let (tag, key) = match self {
            Cursor::First => return None,
            Cursor::After(k) => ('A', k),
            Cursor::Before(k) => ('B', k),
        };
        let mut bytes = [0u8; 20];
        bytes[..8].copy_from_slice(&key.0.to_be_bytes());
        bytes[8..16].copy_from_slice(&key.1.to_be_bytes());
        bytes[16..].copy_from_slice(&list.to_be_bytes());
        Some(format!("P{tag}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The cursor and the list tag a token carries.
    fn decode(token: &str) -> Option<(Cursor, u32)> {
        let rest = token.strip_prefix('P')?;
        let mut chars = rest.chars();
        let tag = chars.next()?;
        let bytes: [u8; 20] = URL_SAFE_NO_PAD.decode(chars.as_str()).ok()?.try_into().ok()?;
        let key = Key(
            i64::from_be_bytes(bytes[..8].try_into().ok()?),
            i64::from_be_bytes(bytes[8..16].try_into().ok()?),
        );
        let list = u32::from_be_bytes(bytes[16..].try_into().ok()?);
        match tag {
            'A' => Some((Cursor::After(key), list)),
            'B' => Some((Cursor::Before(key), list)),
            _ => None,
        }
    }
}

/// `PageSize`, `Page` and `PageToken` of one list request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub page_size: i64,
    pub page: i64,
    pub cursor: Cursor,
    list: u32,
}

impl PageRequest {
    /// `max_size` is the list's cap from the spec (50 or 100); larger values
    /// are capped. `list` names the list, its order and its key (e.g.
    /// `messages desc`); tokens are only valid for the list that issued them.
    pub fn from_params(params: &Params, max_size: i64, list: &str) -> Result<Self, ApiError> {
        let page_size =
            params.int("PageSize", 1, i64::from(i32::MAX))?.unwrap_or(DEFAULT_PAGE_SIZE).min(max_size);
        let page = params.int("Page", 0, i64::from(i32::MAX))?.unwrap_or(0);
        let list = list_tag(list);
        let cursor = match params.str("PageToken") {
            None | Some("") => Cursor::First,
            Some(t) => match Cursor::decode(t) {
                Some((cursor, tag)) if tag == list => cursor,
                Some(_) => {
                    return Err(ApiError::invalid_param(
                        "PageToken",
                        "the token belongs to another list or order",
                    ));
                }
                None => return Err(ApiError::invalid_param("PageToken", "not a valid page token")),
            },
        };
        Ok(PageRequest { page_size, page, cursor, list })
    }

    /// How to query the key column for this page. `descending` is the list's
    /// display order (messages with `Order=desc`).
    pub fn seek(&self, descending: bool) -> Seek {
        let (bound, backwards) = match self.cursor {
            Cursor::First => (KeyBound::None, false),
            Cursor::After(k) if descending => (KeyBound::Below(k), false),
            Cursor::After(k) => (KeyBound::Above(k), false),
            Cursor::Before(k) if descending => (KeyBound::Above(k), true),
            Cursor::Before(k) => (KeyBound::Below(k), true),
        };
        Seek {
            query: PageQuery { bound, ascending: descending == backwards, limit: self.page_size + 1 },
            backwards,
            page_size: self.page_size,
            cursor: self.cursor,
        }
    }
}

/// One page's query (for the store) and how to turn its rows into a
/// [`Window`] ([`Seek::finish`]).
#[derive(Debug, Clone, Copy)]
pub struct Seek {
    pub query: PageQuery,
    backwards: bool,
    page_size: i64,
    cursor: Cursor,
}

impl Seek {
    /// Rows as fetched → the page in display order, with the keys the
    /// neighbouring pages start from.
    pub fn finish<T, K: Into<Key>>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> K) -> Window<T> {
        let key = |row: &T| -> Key { key(row).into() };
        let more = rows.len() as i64 > self.page_size;
        rows.truncate(self.page_size as usize);
        if self.backwards {
            rows.reverse();
            Window {
                prev: more.then(|| rows.first().map(&key).map(Cursor::Before)).flatten(),
                // Nothing left before this point (rows were deleted since the
                // later page was read): carry on from the start.
                next: Some(rows.last().map(&key).map_or(Cursor::First, Cursor::After)),
                items: rows,
            }
        } else {
            Window {
                next: more.then(|| rows.last().map(&key).map(Cursor::After)).flatten(),
                prev: match self.cursor {
                    Cursor::After(_) => rows.first().map(&key).map(Cursor::Before),
                    _ => None,
                },
                items: rows,
            }
        }
    }
}

/// One page of rows in display order.
#[derive(Debug)]
pub struct Window<T> {
    pub items: Vec<T>,
    /// Where the next page starts, when rows follow.
    pub next: Option<Cursor>,
    /// Where the previous page ends, when rows precede.
    pub prev: Option<Cursor>,
}

impl<T> Window<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Window<U> {
        Window { items: self.items.into_iter().map(f).collect(), next: self.next, prev: self.prev }
    }
}

#[derive(Debug, Serialize)]
pub struct Meta {
    pub page: i64,
    pub page_size: i64,
    pub first_page_url: String,
    pub previous_page_url: Option<String>,
    pub url: String,
    pub next_page_url: Option<String>,
    pub key: &'static str,
}

/// A list response: `{"<key>": [...], "meta": {...}}`.
pub struct ListPage<T> {
    pub items: Vec<T>,
    pub meta: Meta,
}

impl<T: Serialize> Serialize for ListPage<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry(self.meta.key, &self.items)?;
        map.serialize_entry("meta", &self.meta)?;
        map.end()
    }
}

impl<T: Serialize> ListPage<T> {
    /// Builds the page and its `meta`. `list_url` is the absolute list URL
    /// without a query; `filters` are echoed before the paging parameters.
    pub fn new(
        key: &'static str,
        list_url: &str,
        filters: &[(&str, &str)],
        req: &PageRequest,
        window: Window<T>,
    ) -> Self {
        let url_for = |page: i64, cursor: Cursor| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in filters {
                q.append_pair(k, v);
            }
            q.append_pair("PageSize", &req.page_size.to_string());
            q.append_pair("Page", &page.to_string());
            if let Some(token) = cursor.encode(req.list) {
                q.append_pair("PageToken", &token);
            }
            format!("{list_url}?{}", q.finish())
        };
        let meta = Meta {
            page: req.page,
            page_size: req.page_size,
            first_page_url: url_for(0, Cursor::First),
            previous_page_url: window.prev.map(|c| url_for((req.page - 1).max(0), c)),
            url: url_for(req.page, req.cursor),
            next_page_url: window.next.map(|c| url_for(req.page + 1, c)),
            key,
        };
        ListPage { items: window.items, meta }
    }

    pub fn respond(self) -> HttpResponse {
        HttpResponse::Ok().json(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(cursor: Cursor) -> PageRequest {
        PageRequest { page_size: 2, page: 1, cursor, list: list_tag("things") }
    }

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        for c in
            [Cursor::After(Key(42, 0)), Cursor::Before(Key(-1, 7)), Cursor::After(Key(i64::MAX, i64::MIN))]
        {
            assert_eq!(Cursor::decode(&c.encode(9).unwrap()), Some((c, 9)));
        }
        assert_eq!(Cursor::decode("PZAAAAAAAAAAA"), None);
        assert_eq!(Cursor::decode("hello"), None);
    }

    #[test]
    fn forward_page_reports_next_and_previous() {
        let seek = req(Cursor::After(10.into())).seek(false);
        assert_eq!(seek.query.bound, KeyBound::Above(10.into()));
        assert!(seek.query.ascending);
        let w = seek.finish(vec![11, 12, 13], |k| *k);
        assert_eq!(w.items, vec![11, 12]);
        assert_eq!(w.next, Some(Cursor::After(12.into())));
        assert_eq!(w.prev, Some(Cursor::Before(11.into())));
    }

    #[test]
    fn backward_page_is_returned_in_display_order() {
        let seek = req(Cursor::Before(20.into())).seek(false);
        assert_eq!(seek.query.bound, KeyBound::Below(20.into()));
        assert!(!seek.query.ascending);
        let w = seek.finish(vec![19, 18, 17], |k| *k);
        assert_eq!(w.items, vec![18, 19]);
        assert_eq!(w.prev, Some(Cursor::Before(18.into())));
        assert_eq!(w.next, Some(Cursor::After(19.into())));
        // An empty backward page (the rows before were deleted) leads back to the start.
        let w = seek.finish(Vec::<i64>::new(), |k| *k);
        assert_eq!(w.prev, None);
        assert_eq!(w.next, Some(Cursor::First));
    }

    #[test]
    fn descending_lists_flip_the_bounds() {
        let seek = req(Cursor::After(10.into())).seek(true);
        assert_eq!(seek.query.bound, KeyBound::Below(10.into()));
        assert!(!seek.query.ascending);
        let seek = req(Cursor::Before(10.into())).seek(true);
        assert_eq!(seek.query.bound, KeyBound::Above(10.into()));
        assert!(seek.query.ascending);
    }

    #[test]
    fn tokens_only_work_for_their_list() {
        let token = Cursor::After(Key(5, 0)).encode(list_tag("messages asc")).unwrap();
        let params = Params::parse(format!("PageToken={token}").as_bytes());
        assert!(PageRequest::from_params(&params, 100, "messages asc").is_ok());
        let e = PageRequest::from_params(&params, 100, "messages desc").unwrap_err();
        assert!(e.to_string().contains("PageToken"));
    }

    #[test]
    fn last_page_has_no_next_url() {
        let r = PageRequest { page_size: 2, page: 0, cursor: Cursor::First, list: list_tag("things") };
        let w = r.seek(false).finish(vec![1, 2], |k| *k);
        let page = ListPage::new("things", "http://h/v1/Things", &[("Order", "asc")], &r, w);
        assert_eq!(page.meta.next_page_url, None);
        assert_eq!(page.meta.previous_page_url, None);
        assert_eq!(page.meta.url, "http://h/v1/Things?Order=asc&PageSize=2&Page=0");
        let json = serde_json::to_value(&page).unwrap();
        assert_eq!(json["things"], serde_json::json!([1, 2]));
        assert_eq!(json["meta"]["key"], "things");
    }
}
