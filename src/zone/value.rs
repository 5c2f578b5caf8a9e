//! What a listing answers: an `A` return code, an optional TXT template and, for
//! temporary listings, an expiry time; for the rspamd fork's per-entry parameters, when
//! and to whom it answers (a cooldown, a tarpit delay, an access key required).
//! Values are interned per dataset: a million entries usually share a handful of
//! values, so entries store a 4-byte id.

use std::collections::HashMap;

use super::ip::ResultId;
use super::reason::Template;

pub(crate) type ValueId = u32;

/// rbldnsd's default return code when a dataset gives none.
pub(crate) const DEFAULT_A: [u8; 4] = [127, 0, 0, 2];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Value {
    pub(crate) a: [u8; 4],
    /// Index into the table's templates.
    pub(crate) txt: Option<u32>,
    /// Unix seconds from which the listing no longer answers.
    pub(crate) expires: Option<i64>,
    /// When and to whom it answers (all empty for nearly every value).
    pub(crate) params: EntryParams,
}

impl Value {
    /// Whether the listing answers a client without an access key at `now` (what a
    /// secondary serves, and `ward check` counts).
    pub(crate) fn is_live(&self, now: i64) -> bool {
        self.verdict(now, false).is_some()
    }

    /// Whether the listing answers at `now` a query that used an access key (`keyed`)
    /// or not: `None` when it does not (expired, cooling down, a key required),
    /// otherwise the seconds its reply is held back (a tarpit; usually 0).
    pub(crate) fn verdict(&self, now: i64, keyed: bool) -> Option<u32> {
        if self.expires.is_some_and(|at| now >= at) {
            return None;
        }
        self.params.verdict(now, keyed)
    }
}

/// The rspamd fork's per-entry parameters (`entry value @ ts=…;delay=…;key=…`), and
/// the same `ts=`, `delay=`, `key=` words of ward's own format. Evaluated in the
/// fork's order, the first rule that applies deciding:
///
/// 1. `key=require` and the query used no access key: not listed;
/// 2. `key=nodelay` and the query used a key: listed now, no cooldown, no delay;
/// 3. `ts` and `delay`: a cooldown — not listed before `ts + delay`, listed from then;
/// 4. `delay` alone: a tarpit — listed, the reply sent `delay` seconds later;
/// 5. `ts` alone: nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct EntryParams {
    /// When the entry was made (Unix seconds).
    pub(crate) ts: Option<i64>,
    /// The cooldown after `ts`, or without `ts` the tarpit delay, in seconds.
    pub(crate) delay: Option<u32>,
    pub(crate) require_key: bool,
    pub(crate) nodelay: bool,
}

impl EntryParams {
    pub(crate) fn is_empty(&self) -> bool {
        *self == EntryParams::default()
    }

    /// See [`Value::verdict`].
    pub(crate) fn verdict(&self, now: i64, keyed: bool) -> Option<u32> {
        if self.require_key && !keyed {
            return None;
        }
        if self.nodelay && keyed {
            return Some(0);
        }
        match (self.active_from(), self.delay) {
            (Some(from), _) => (now >= from).then_some(0),
            (None, Some(delay)) if self.ts.is_none() => Some(delay),
            _ => Some(0),
        }
    }

    /// The end of the cooldown (`ts + delay`), when there is one: the entry answers
    /// (unkeyed clients) from then on.
    pub(crate) fn active_from(&self) -> Option<i64> {
        Some(self.ts?.saturating_add(i64::from(self.delay?)))
    }

    /// The tarpit delay, when the entry has one.
    pub(crate) fn tarpit(&self) -> Option<u32> {
        self.delay.filter(|_| self.ts.is_none())
    }
}

/// The values, templates and value sets ("results") of one dataset.
#[derive(Default)]
pub(crate) struct ValueTable {
    values: Vec<Value>,
    templates: Vec<Template>,
    result_starts: Vec<u32>,
    result_values: Vec<ValueId>,
    has_conditions: bool,
}

impl ValueTable {
    pub(crate) fn value(&self, id: ValueId) -> &Value {
        &self.values[id as usize]
    }

    pub(crate) fn template(&self, id: u32) -> &Template {
        &self.templates[id as usize]
    }

    pub(crate) fn txt(&self, value: &Value) -> Option<&Template> {
        value.txt.map(|t| self.template(t))
    }

    pub(crate) fn result(&self, id: ResultId) -> &[ValueId] {
        let id = id as usize;
        let (start, end) = (self.result_starts[id], self.result_starts[id + 1]);
        &self.result_values[start as usize..end as usize]
    }

    /// True when some value can expire or has per-entry parameters: only then does a
    /// lookup need the clock and the query's key.
    pub(crate) fn has_conditions(&self) -> bool {
        self.has_conditions
    }

    pub(crate) fn values(&self) -> &[Value] {
        &self.values
    }

    /// How many results (value sets) the table holds; ids are `0..result_count()`.
    pub(crate) fn result_count(&self) -> u32 {
        self.result_starts.len().saturating_sub(1) as u32
    }
}

/// A value as written in a file, before templates are built: rbldnsd's `$n` variables
/// may be defined after the entries that use them, so texts stay raw until the end.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RawValue {
    pub(crate) a: [u8; 4],
    pub(crate) txt: Option<Box<[u8]>>,
    pub(crate) expires: Option<i64>,
    pub(crate) params: EntryParams,
}

impl RawValue {
    pub(crate) fn new(a: [u8; 4], txt: Option<&[u8]>) -> Self {
        RawValue {
            a,
            txt: txt.map(Into::into),
            expires: None,
            params: EntryParams::default(),
        }
    }
}

impl Default for RawValue {
    fn default() -> Self {
        RawValue::new(DEFAULT_A, None)
    }
}

#[derive(Default)]
pub(crate) struct ValueTableBuilder {
    raws: Vec<RawValue>,
    /// The line each value was first given on, for warnings.
    lines: Vec<u32>,
    index: HashMap<RawValue, ValueId>,
    results: HashMap<Box<[ValueId]>, ResultId>,
    /// The result holding just value `i`: nearly every result is one value, and
    /// indexes intern one per prefix or name.
    single: Vec<Option<ResultId>>,
    result_starts: Vec<u32>,
    result_values: Vec<ValueId>,
}

impl ValueTableBuilder {
    /// The id of `raw`, first given on `line`.
    pub(crate) fn intern(&mut self, raw: RawValue, line: u32) -> ValueId {
        if let Some(&id) = self.index.get(&raw) {
            return id;
        }
        let id = self.raws.len() as ValueId;
        self.raws.push(raw.clone());
        self.lines.push(line);
        self.index.insert(raw, id);
        id
    }

    /// The result of each value alone, interned now: for a build on another thread,
    /// which can read this table but not intern.
    pub(crate) fn single_results(&mut self) -> Vec<ResultId> {
        (0..self.raws.len() as ValueId)
            .map(|value| self.intern_result(&[value]))
            .collect()
    }

    /// Interns a set of values (sorted and deduplicated by the caller).
    pub(crate) fn intern_result(&mut self, values: &[ValueId]) -> ResultId {
        if let [value] = values
            && let Some(Some(id)) = self.single.get(*value as usize)
        {
            return *id;
        }
        if let Some(&id) = self.results.get(values) {
            return id;
        }
        if self.result_starts.is_empty() {
            self.result_starts.push(0);
        }
        let id = (self.result_starts.len() - 1) as ResultId;
        self.result_values.extend_from_slice(values);
        self.result_starts.push(self.result_values.len() as u32);
        self.results.insert(values.into(), id);
        if let [value] = values {
            let slot = *value as usize;
            if self.single.len() <= slot {
                self.single.resize(slot + 1, None);
            }
            self.single[slot] = Some(id);
        }
        id
    }

    /// Builds the table; `template` turns a raw text (or its absence) into the served
    /// template, applying the dataset's variables and base template, and says when it
    /// had to cut it (to how long it was). Also returns, per cut text, the line its
    /// value came from and its full length.
    pub(crate) fn finish(
        self,
        mut template: impl FnMut(Option<&[u8]>) -> (Option<Template>, Option<usize>),
    ) -> (ValueTable, Vec<(u32, usize)>) {
        let mut cut_texts = Vec::new();
        let mut templates: Vec<Template> = Vec::new();
        let mut template_ids: HashMap<Template, u32> = HashMap::new();
        let mut has_conditions = false;
        let values = self
            .raws
            .iter()
            .zip(&self.lines)
            .map(|(raw, &line)| {
                has_conditions |= raw.expires.is_some() || !raw.params.is_empty();
                let (built, cut) = template(raw.txt.as_deref());
                if let Some(full) = cut {
                    cut_texts.push((line, full));
                }
                let txt = built.map(|t| {
                    *template_ids.entry(t.clone()).or_insert_with(|| {
                        templates.push(t);
                        templates.len() as u32 - 1
                    })
                });
                Value {
                    a: raw.a,
                    txt,
                    expires: raw.expires,
                    params: raw.params,
                }
            })
            .collect();
        let mut result_starts = self.result_starts;
        if result_starts.is_empty() {
            result_starts.push(0);
        }
        let table = ValueTable {
            values,
            templates,
            result_starts,
            result_values: self.result_values,
            has_conditions,
        };
        (table, cut_texts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_values_and_results() {
        let mut builder = ValueTableBuilder::default();
        let a = builder.intern(RawValue::new([127, 0, 0, 2], Some(b"spam")), 1);
        let b = builder.intern(RawValue::new([127, 0, 0, 3], None), 2);
        assert_eq!(
            builder.intern(RawValue::new([127, 0, 0, 2], Some(b"spam")), 3),
            a
        );
        let r1 = builder.intern_result(&[a]);
        let r2 = builder.intern_result(&[a, b]);
        assert_eq!(builder.intern_result(&[a, b]), r2);
        let (table, cut) = builder.finish(|raw| (raw.map(Template::literal), None));
        assert!(cut.is_empty());
        assert_eq!(table.result(r1), &[a]);
        assert_eq!(table.result(r2), &[a, b]);
        assert!(table.txt(table.value(a)).is_some());
        assert!(table.txt(table.value(b)).is_none());
        assert!(!table.has_conditions());
    }

    #[test]
    fn entry_parameters_in_the_fork_s_order() {
        let now = 1_000_000;
        let params = |ts, delay, require_key, nodelay| EntryParams {
            ts,
            delay,
            require_key,
            nodelay,
        };
        let plain = EntryParams::default();
        assert_eq!(plain.verdict(now, false), Some(0));
        // A key required: keyed queries only.
        let require = params(None, None, true, false);
        assert_eq!(require.verdict(now, false), None);
        assert_eq!(require.verdict(now, true), Some(0));
        // A cooldown: nothing before ts + delay, then at once.
        let cooling = params(Some(now), Some(60), false, false);
        assert_eq!(cooling.verdict(now + 59, false), None);
        assert_eq!(cooling.verdict(now + 60, false), Some(0));
        assert_eq!(cooling.active_from(), Some(now + 60));
        // A tarpit: delay without ts.
        let tarpit = params(None, Some(2), false, false);
        assert_eq!(tarpit.verdict(now, false), Some(2));
        assert_eq!(tarpit.verdict(now, true), Some(2), "a key alone is no pass");
        assert_eq!(tarpit.tarpit(), Some(2));
        // nodelay: a keyed query skips the cooldown and the tarpit.
        let nodelay = params(Some(now), Some(3600), false, true);
        assert_eq!(nodelay.verdict(now, false), None);
        assert_eq!(nodelay.verdict(now, true), Some(0));
        let fast = params(None, Some(2), false, true);
        assert_eq!(
            (fast.verdict(now, false), fast.verdict(now, true)),
            (Some(2), Some(0))
        );
        // A required key still cools down.
        let both = params(Some(now), Some(60), true, false);
        assert_eq!(both.verdict(now, true), None);
        assert_eq!(both.verdict(now + 60, true), Some(0));
        // ts alone changes nothing.
        assert_eq!(
            params(Some(now + 99), None, false, false).verdict(now, false),
            Some(0)
        );
        // Expiry comes first.
        let value = Value {
            a: DEFAULT_A,
            txt: None,
            expires: Some(now),
            params: plain,
        };
        assert_eq!(value.verdict(now, true), None);
        assert!(value.is_live(now - 1));
    }
}
