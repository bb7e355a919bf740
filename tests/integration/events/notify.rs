//! PostgreSQL: the log's writers wake the other instances with one
//! `NOTIFY confab_events` per transaction, and a session with
//! `confab.notify=off` (`options=-c confab.notify=off` in its URL) sends none.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};

use super::text;
use crate::util::TestApp;
use confab::config::DatabaseUrl;

/// The notifications `listener` receives on confab_events within `wait`.
fn heard(listener: &mut PgConnection, wait: Duration) -> usize {
    let deadline = Instant::now() + wait;
    let mut n = 0;
    while Instant::now() < deadline {
        for note in listener.notifications_iter() {
            assert_eq!(note.unwrap().channel, "confab_events");
            n += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    n
}

const RECORD: &str =
    "SELECT confab_fn.record_event('AC1', 'IS1', 'CH1', 'messageAdded', 'IM1', '{}', NULL, 0);";

#[actix_web::test]
async fn a_transaction_notifies_once_however_many_events_and_the_option_turns_it_off() {
    let app = TestApp::new().await;
    let DatabaseUrl::Postgres(url) = &app.db.url else {
        return; // SQLite: one instance, nobody to wake.
    };
    let mut listener = PgConnection::establish(url).unwrap();
    diesel::sql_query("LISTEN confab_events").execute(&mut listener).unwrap();

    // A send through the API: its one-statement transaction notifies.
    let ch = text(&app.conversation(&[]).await["sid"]);
    assert_eq!(heard(&mut listener, Duration::from_millis(500)), 1, "the conversation's creation");
    app.post(&format!("/v1/Conversations/{ch}/Messages"), &[("Body", "hi")]).await.expect(201);
    assert_eq!(heard(&mut listener, Duration::from_millis(500)), 1, "the send");

    let mut writer = PgConnection::establish(url).unwrap();
    writer.batch_execute(&format!("BEGIN; {RECORD} {RECORD} {RECORD} COMMIT;")).unwrap();
    assert_eq!(heard(&mut listener, Duration::from_millis(500)), 1, "three events, one transaction");
    writer.batch_execute(&format!("BEGIN; {RECORD} ROLLBACK;")).unwrap();
    assert_eq!(heard(&mut listener, Duration::from_millis(300)), 0, "a rollback tells nobody");

    let quiet_url = format!("{url}?options=-c%20confab.notify%3Doff");
    let mut quiet = PgConnection::establish(&quiet_url).unwrap();
    quiet.batch_execute(RECORD).unwrap();
    assert_eq!(heard(&mut listener, Duration::from_millis(300)), 0, "confab.notify=off");
}
