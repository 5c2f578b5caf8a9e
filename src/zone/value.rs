//! What a listing answers: an `A` return code, an optional TXT template and, for
//! temporary listings, an expiry time. Values are interned per dataset: a million
//! entries usually share a handful of values, so entries store a 4-byte id.

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
}

impl Value {
    pub(crate) fn is_live(&self, now: i64) -> bool {
        self.expires.is_none_or(|at| now < at)
    }
}

/// The values, templates and value sets ("results") of one dataset.
#[derive(Default)]
pub(crate) struct ValueTable {
    values: Vec<Value>,
    templates: Vec<Template>,
    result_starts: Vec<u32>,
    result_values: Vec<ValueId>,
    has_expiry: bool,
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

    /// True when some value can expire: only then does a lookup need the clock.
    pub(crate) fn has_expiry(&self) -> bool {
        self.has_expiry
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
}

impl RawValue {
    pub(crate) fn new(a: [u8; 4], txt: Option<&[u8]>) -> Self {
        RawValue {
            a,
            txt: txt.map(Into::into),
            expires: None,
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
        let mut has_expiry = false;
        let values = self
            .raws
            .iter()
            .zip(&self.lines)
            .map(|(raw, &line)| {
                has_expiry |= raw.expires.is_some();
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
            has_expiry,
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
        assert!(!table.has_expiry());
    }
}
