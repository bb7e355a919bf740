//! A database for one test, removed after it.

use diesel::{Connection, RunQueryDsl};
use tempfile::TempDir;

use confab::config::DatabaseUrl;

/// A database that exists for one test and is removed after it.
pub struct TestDb {
    pub url: DatabaseUrl,
    /// PostgreSQL: (admin URL, database name) to drop at the end.
    pg: Option<(String, String)>,
    pub dir: TempDir,
}

impl TestDb {
    pub fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        match std::env::var("CONFAB_TEST_DATABASE_URL").ok().filter(|v| !v.is_empty()) {
            Some(admin) => {
                // Before this process's first PostgreSQL connection.
                confab::testing::skip_cleanup_at_exit();
                let name = format!("confab_test_{}", &confab::testing::SidKind::Account.generate()[2..18]);
                let mut conn = diesel::pg::PgConnection::establish(&admin).expect("CONFAB_TEST_DATABASE_URL");
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("create db");
                let base = admin.split('?').next().unwrap_or(&admin);
                let (server, _) = base.rsplit_once('/').expect("postgres URL with a database");
                TestDb {
                    url: DatabaseUrl::Postgres(format!("{server}/{name}")),
                    pg: Some((admin, name)),
                    dir,
                }
            }
            None => TestDb { url: DatabaseUrl::Sqlite(dir.path().join("confab.db")), pg: None, dir },
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// PostgreSQL only: runs `sql` as the admin, with `{db}` replaced by
    /// this test's database name (to simulate outages).
    pub fn pg_admin(&self, sql: &str) {
        let (admin, name) = self.pg.as_ref().expect("a PostgreSQL test database");
        let mut conn = diesel::pg::PgConnection::establish(admin).expect("admin connection");
        diesel::sql_query(sql.replace("{db}", name)).execute(&mut conn).expect("admin statement");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(mut conn) = diesel::pg::PgConnection::establish(admin)
        {
            let _ =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
        }
    }
}
