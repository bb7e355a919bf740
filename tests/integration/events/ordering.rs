//! A reader of the log never skips an event, however writers interleave:
//! on PostgreSQL transactions commit in another order than they insert,
//! and a reader that trusted insert order would step past an event that
//! commits later.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::prelude::*;
use futures_util::future::join_all;

use super::{events, events_after, readable_after, text};
use crate::util::TestApp;
use confab::testing::schema::events as events_table;
use confab::testing::{Author, NewMessage, SidKind, StoreError, message_store};

/// What a reader that trusted insert order would read: every committed
/// event after `position`.
async fn naive_after(app: &TestApp, position: i64) -> Vec<i64> {
    app.state
        .db
        .read(move |conn| {
            events_table::table
                .filter(events_table::position.gt(position))
                .order(events_table::position)
                .select(events_table::position)
                .load::<i64>(conn)
                .map_err(StoreError::from)
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_transaction_that_commits_late_is_not_skipped() {
    let app = TestApp::new().await;
    let slow_ch = text(&app.conversation(&[]).await["sid"]);
    let fast_ch = text(&app.conversation(&[]).await["sid"]);
    let start = events(&app).await.last().unwrap().position;
    let message = NewMessage {
        sid: SidKind::Message.generate(),
        account_sid: app.account.sid.clone(),
        service_sid: app.default_service().await,
        author: "system".into(),
        body: Some("slow".into()),
        attributes: "{}".into(),
        content_sid: None,
        subject: None,
        date_created: 1,
        date_updated: 1,
    };
    let recorded = Arc::new(AtomicBool::new(false));
    let flag = recorded.clone();
    // Records its event first, then holds its transaction open while
    // others record and commit theirs.
    let slow = app.state.db.write(
        |_| Ok::<_, StoreError>(()),
        move |tx, ()| {
            tx.conn()?;
            message_store::append(tx, &slow_ch, message, Author::Resolve, 1)?;
            flag.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(1500));
            Ok(())
        },
    );
    let others = async {
        while !recorded.load(Ordering::SeqCst) {
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
        for i in 0..3 {
            let body = format!("fast {i}");
            app.post(&format!("/v1/Conversations/{fast_ch}/Messages"), &[("Body", &body)]).await.expect(201);
        }
        // Read while the slow transaction is still open.
        (naive_after(&app, start).await, readable_after(&app, start).await)
    };
    let (slow, (naive, read)) = futures_util::join!(slow, others);
    slow.expect("slow write");
    let all = events_after(&app, start).await;
    assert_eq!(all.len(), 4, "{all:?}");
    let slow_position =
        all.iter().find(|e| e.conversation_sid.as_deref() != Some(&fast_ch)).unwrap().position;
    if app.state.db.is_postgres() {
        // Insert order is not commit order here: the naive reader had
        // already passed the slow event's position when it committed...
        assert_eq!(naive.len(), 3, "the three fast events were committed: {naive:?}");
        assert!(naive.iter().all(|&p| p > slow_position), "and sit above the slow one");
        // ...while the log's reader held them back until everything below
        // had finished.
        assert!(read.is_empty(), "read past an open transaction: {read:?}");
    } else {
        // SQLite's one writer: the fast sends waited for the slow commit.
        assert_eq!(read.iter().map(|e| e.position).collect::<Vec<_>>(), naive);
        assert_eq!(read.len(), 4);
    }
}

#[actix_web::test]
async fn concurrent_writers_never_make_a_reader_skip_or_repeat_an_event() {
    const WRITERS: usize = 8;
    const SENDS: usize = 15;
    let app = TestApp::new().await;
    let mut conversations = Vec::new();
    for _ in 0..4 {
        conversations.push(text(&app.conversation(&[]).await["sid"]));
    }
    let start = events(&app).await.last().unwrap().position;
    let done = AtomicBool::new(false);
    let writers = async {
        join_all((0..WRITERS).map(|w| {
            let (app, conversations) = (&app, &conversations);
            async move {
                for i in 0..SENDS {
                    let ch = &conversations[(w + i) % conversations.len()];
                    let body = format!("{w}/{i}");
                    app.post(&format!("/v1/Conversations/{ch}/Messages"), &[("Body", &body)])
                        .await
                        .expect(201);
                }
            }
        }))
        .await;
        done.store(true, Ordering::SeqCst);
    };
    let reader = async {
        let (mut last, mut delivered) = (start, Vec::new());
        loop {
            let finished = done.load(Ordering::SeqCst);
            // Once the writers are done, the last read waits until all
            // they committed is readable.
            let read =
                if finished { events_after(&app, last).await } else { readable_after(&app, last).await };
            for e in read {
                assert!(e.position > last, "positions only grow");
                last = e.position;
                delivered.push(e.resource_sid);
            }
            if finished {
                return delivered;
            }
            actix_web::rt::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let ((), mut delivered) = futures_util::join!(writers, reader);
    // Everything that committed was delivered, once.
    let mut stored: Vec<String> =
        events_after(&app, start).await.into_iter().map(|e| e.resource_sid).collect();
    assert_eq!(stored.len(), WRITERS * SENDS);
    delivered.sort();
    stored.sort();
    assert_eq!(delivered, stored);
}

#[actix_web::test]
async fn a_32_bit_transaction_id_widens_to_the_nearest_64_bit_one() {
    let app = TestApp::new().await;
    if !app.db.is_postgres() {
        return; // positions are transaction ids on PostgreSQL only
    }
    const EPOCH: i64 = 1 << 32;
    let cases = [
        // (backend_xid, the snapshot's next id, the full id)
        (90, 5 * EPOCH + 100, 5 * EPOCH + 90),
        (100, 5 * EPOCH + 100, 5 * EPOCH + 100),
        // Handed out after the snapshot: just above it, not an epoch below.
        (130, 5 * EPOCH + 100, 5 * EPOCH + 130),
        // Across the wrap of the low 32 bits, both ways.
        (EPOCH - 6, 5 * EPOCH + 10, 5 * EPOCH - 6),
        (5, 5 * EPOCH + EPOCH - 10, 6 * EPOCH + 5),
    ];
    for (xid, next, full) in cases {
        let widened = app
            .state
            .db
            .read(move |conn| {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
                    "confab_fn.full_xid({xid}, {next})"
                )))
                .get_result::<i64>(conn)
                .map_err(StoreError::from)
            })
            .await
            .unwrap();
        assert_eq!(widened, full, "xid {xid} with next {next}");
    }
}
