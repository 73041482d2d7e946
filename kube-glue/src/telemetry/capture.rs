//! A `tracing` layer that keeps the spans it sees (name, fields, parent), for the unit tests of
//! the crates that open the spans of docs/tracing.md: they check a span's name and attributes
//! without an exporter. Filter it with [`super::traced`] to see what the OTLP layer exports.
//! Compiled for tests and with the `test-util` feature only.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// One span as it was opened and recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The span name.
    pub name: String,
    /// Its fields (recorded at creation or later; `Empty` ones that were never recorded are
    /// absent), values as text (`Display` for `%`, `Debug` for `?`).
    pub fields: BTreeMap<String, String>,
    /// The name of the parent span, if any.
    pub parent: Option<String>,
}

impl Captured {
    /// A field, or "" when absent.
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

#[derive(Debug, Default)]
struct State {
    spans: Vec<Captured>,
    by_id: HashMap<u64, usize>,
}

/// The layer; clones share what they captured.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    state: Arc<Mutex<State>>,
}

impl Capture {
    /// Every span captured so far, in the order they were opened.
    pub fn spans(&self) -> Vec<Captured> {
        self.lock().spans.clone()
    }

    /// The spans named `name`.
    pub fn named(&self, name: &str) -> Vec<Captured> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut span = Captured {
            name: attrs.metadata().name().to_owned(),
            parent: ctx
                .span(id)
                .and_then(|s| s.parent())
                .map(|p| p.name().to_owned()),
            ..Captured::default()
        };
        attrs.record(&mut Fields(&mut span.fields));
        let mut state = self.lock();
        let index = state.spans.len();
        state.spans.push(span);
        state.by_id.insert(id.into_u64(), index);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut state = self.lock();
        let Some(&index) = state.by_id.get(&id.into_u64()) else {
            return;
        };
        values.record(&mut Fields(&mut state.spans[index].fields));
    }
}
