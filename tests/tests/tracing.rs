//! The spans and events the library reports, captured by a subscriber as an
//! application's would be: names, fields, nesting, and a `wait_ms` that
//! covers a real lock wait.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectOptions, Database, DbErr, TransactionTrait,
};
use sequences_core::{Retry, Sequence};
use sequences_tests::entities::invoice;
use sequences_tests::{Backend, connect_all, fresh_company, locks, unique_name};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A closed span: its name, fields and parent's name.
#[derive(Debug, Clone, Default)]
struct Captured {
    name: String,
    fields: BTreeMap<String, String>,
    parent: Option<String>,
}

impl Visit for Captured {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.fields.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
}

#[derive(Default)]
struct Capture {
    spans: Mutex<Vec<Captured>>,
    events: Mutex<Vec<Captured>>,
}

/// Every span and event of every test in this binary, filtered by sequence name.
static CAPTURE: LazyLock<Arc<Capture>> = LazyLock::new(|| {
    let capture = Arc::new(Capture::default());
    let layer = CaptureLayer(capture.clone());
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .expect("one global subscriber");
    capture
});

struct CaptureLayer(Arc<Capture>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for CaptureLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let span = ctx.span(id).expect("a new span");
        let mut captured = Captured {
            name: attrs.metadata().name().to_owned(),
            parent: span.parent().map(|p| p.name().to_owned()),
            ..Captured::default()
        };
        attrs.record(&mut captured);
        span.extensions_mut().insert(captured);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).expect("a recorded span");
        if let Some(captured) = span.extensions_mut().get_mut::<Captured>() {
            values.record(captured);
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut captured = Captured {
            name: event.metadata().target().to_owned(),
            ..Captured::default()
        };
        event.record(&mut captured);
        self.0.events.lock().unwrap().push(captured);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).expect("a closed span");
        if let Some(captured) = span.extensions_mut().remove::<Captured>() {
            self.0.spans.lock().unwrap().push(captured);
        }
    }
}

fn spans_of(sequence: &str) -> Vec<Captured> {
    CAPTURE
        .spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.fields.get("sequence").is_some_and(|s| s == sequence))
        .cloned()
        .collect()
}

fn wait_ms(span: &Captured) -> f64 {
    span.fields["wait_ms"].parse().expect("wait_ms is a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocations_and_fills_are_spans() {
    LazyLock::force(&CAPTURE);
    for t in connect_all(2).await {
        let name = unique_name("traced");
        let sequence = Sequence::new(&name);
        let txn = t.db.begin().await.unwrap();
        assert_eq!(sequence.next_value(&txn).await.unwrap(), 1);
        assert_eq!(sequence.next_values(&txn, 3).await.unwrap(), 2..5);
        txn.commit().await.unwrap();

        let spans = spans_of(&name);
        assert_eq!(spans.len(), 2, "{t:?}: {spans:?}");
        let (one, batch) = (&spans[0], &spans[1]);
        assert_eq!(one.name, "sequences.next_value", "{t:?}");
        assert_eq!(
            (one.fields["count"].as_str(), one.fields["value"].as_str()),
            ("1", "1"),
            "{t:?}"
        );
        assert_eq!(batch.name, "sequences.next_values", "{t:?}");
        assert_eq!(
            (
                batch.fields["count"].as_str(),
                batch.fields["value"].as_str()
            ),
            ("3", "2"),
            "{t:?}"
        );
        for span in &spans {
            assert_eq!(span.fields["outcome"], "ok", "{t:?}");
            assert!(wait_ms(span) >= 0.0, "{t:?}");
        }

        // A refusal is traced too, without a statement.
        let looping = Sequence::new(&name).reset_value(10);
        assert!(looping.next_values(&t.db, 2).await.is_err());
        let refused = spans_of(&name).pop().unwrap();
        assert_eq!(refused.fields["outcome"], "refused", "{t:?}");

        // A derive insert: the allocation nests under the fill.
        let company = fresh_company();
        let txn = t.db.begin().await.unwrap();
        invoice::ActiveModel {
            company_id: Set(company),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap();
        txn.commit().await.unwrap();
        let allocation = spans_of(&format!("invoice-{company}")).pop().unwrap();
        assert_eq!(allocation.name, "sequences.next_value", "{t:?}");
        assert_eq!(
            allocation.parent.as_deref(),
            Some("sequences.fill"),
            "{t:?}"
        );
        let fill = CAPTURE
            .spans
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s.name == "sequences.fill" && s.fields["entity"] == "invoice")
            .cloned()
            .unwrap();
        assert_eq!(
            (
                fill.fields["models"].as_str(),
                fill.fields["values"].as_str()
            ),
            ("1", "2"),
            "{t:?}"
        );
    }
}

/// A writer waits for another transaction holding its sequence: its span's
/// `wait_ms` covers at least the time it was seen waiting. PostgreSQL and
/// MariaDB, where the server shows the wait; SQLite has no session to watch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ms_covers_a_lock_wait() {
    LazyLock::force(&CAPTURE);
    const HELD_AFTER_SEEN: Duration = Duration::from_millis(250);
    for t in connect_all(4).await {
        if !t.backend.has_row_locks() {
            continue;
        }
        let name = unique_name("contended");
        let sequence = Sequence::new(&name);
        let holder = t.db.begin().await.unwrap();
        sequence.next_value(&holder).await.unwrap();
        let s = sequence.clone();
        let (waiter, session) = locks::spawn_transaction(&t.db, move |txn| async move {
            let value = s.next_value(&txn).await.unwrap();
            txn.commit().await.unwrap();
            value
        })
        .await;
        let session = session.expect("a server session");
        locks::wait_until_waiting(&t.db, session, &format!("{t:?} waiter")).await;
        tokio::time::sleep(HELD_AFTER_SEEN).await;
        holder.commit().await.unwrap();
        assert_eq!(waiter.await.unwrap(), 2, "{t:?}");
        let waited = spans_of(&name).pop().unwrap();
        assert!(
            wait_ms(&waited) >= HELD_AFTER_SEEN.as_secs_f64() * 1000.0,
            "{t:?}: {waited:?}"
        );
    }
}

/// `Retry` reports each retried attempt with the database's error code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_events_with_the_error_code() {
    LazyLock::force(&CAPTURE);
    for t in connect_all(4).await {
        let name = unique_name("retried");
        // SQLite: a pool without busy timeout, so the held lock fails at once.
        let db = if t.backend == Backend::Sqlite {
            let mut options = ConnectOptions::new(&t.url);
            options.max_connections(2).map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::ZERO)
            });
            Database::connect(options).await.unwrap()
        } else {
            t.db.clone()
        };
        // The row exists (on its first use, PostgreSQL's NOWAIT has no row to refuse).
        Sequence::new(&name).next_value(&db).await.unwrap();
        let holder = db.begin().await.unwrap();
        Sequence::new(&name).next_value(&holder).await.unwrap();
        let before = CAPTURE.events.lock().unwrap().len();
        let error = Retry::new()
            .max_attempts(2)
            .backoff(Duration::from_millis(1), Duration::from_millis(1))
            .transaction::<DbErr, _, _, _>(&db, |txn| {
                let name = name.clone();
                Box::pin(async move {
                    Sequence::new(&name).nowait(true).next_value(txn).await?;
                    Ok(())
                })
            })
            .await
            .unwrap_err();
        holder.rollback().await.unwrap();
        assert!(sequences_core::is_retryable(&error), "{t:?}: {error}");
        let events: Vec<Captured> = CAPTURE.events.lock().unwrap()[before..]
            .iter()
            .filter(|e| e.name == "sequences::retry")
            .cloned()
            .collect();
        let expected = match t.backend {
            Backend::Postgres => "55P03",
            Backend::MySql => "1205",
            Backend::Sqlite => "5",
        };
        assert!(
            events
                .iter()
                .any(|e| e.fields["attempt"] == "1" && e.fields["code"] == expected),
            "{t:?}: {events:?}"
        );
    }
}
