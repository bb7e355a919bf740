//! PostgreSQL: after its writes commit, an instance announces them with
//! `NOTIFY confab_events` (payload: the instance), which wakes the other
//! instances' streams; `CONFAB_STREAM_NOTIFY=off` keeps it quiet.

use std::time::{Duration, Instant};

use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};

use super::text;
use crate::util::TestApp;
use confab::config::DatabaseUrl;

/// The payloads `listener` receives on confab_events within `wait`.
async fn heard(listener: &mut PgConnection, wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    let mut payloads = Vec::new();
    while Instant::now() < deadline {
        for note in listener.notifications_iter() {
            let note = note.unwrap();
            assert_eq!(note.channel, "confab_events");
            payloads.push(note.payload);
        }
        // Not a thread sleep: the announcer runs on this test's runtime.
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    payloads
}

fn listener(app: &TestApp) -> Option<PgConnection> {
    let DatabaseUrl::Postgres(url) = &app.db.url else {
        return None; // SQLite: one instance, nobody to tell.
    };
    let mut conn = PgConnection::establish(url).unwrap();
    diesel::sql_query("LISTEN confab_events").execute(&mut conn).unwrap();
    Some(conn)
}

#[actix_web::test]
async fn a_write_that_commits_is_announced_once_and_a_refused_one_not_at_all() {
    let app = TestApp::new().await;
    let Some(mut listener) = listener(&app) else {
        return;
    };
    let me = app.state.db.instance().to_string();
    let ch = text(&app.conversation(&[]).await["sid"]);
    assert_eq!(
        heard(&mut listener, Duration::from_millis(500)).await,
        std::slice::from_ref(&me),
        "the conversation's creation"
    );
    app.post(&format!("/v1/Conversations/{ch}/Messages"), &[("Body", "hi")]).await.expect(201);
    assert_eq!(heard(&mut listener, Duration::from_millis(500)).await, [me], "the send");
    app.post(&format!("/v1/Conversations/{ch}"), &[("State", "closed")]).await.expect(200);
    heard(&mut listener, Duration::from_millis(300)).await;
    app.post(&format!("/v1/Conversations/{ch}/Messages"), &[("Body", "too late")])
        .await
        .expect_error(400, 50_377);
    assert_eq!(
        heard(&mut listener, Duration::from_millis(300)).await,
        Vec::<String>::new(),
        "refused: nothing committed"
    );
}

#[actix_web::test]
async fn an_instance_with_notify_off_announces_nothing() {
    let app = TestApp::builder().config(|c| c.stream.announce = false).app().await;
    let Some(mut listener) = listener(&app) else {
        return;
    };
    let ch = text(&app.conversation(&[]).await["sid"]);
    app.post(&format!("/v1/Conversations/{ch}/Messages"), &[("Body", "hi")]).await.expect(201);
    assert_eq!(heard(&mut listener, Duration::from_millis(500)).await, Vec::<String>::new());
}
