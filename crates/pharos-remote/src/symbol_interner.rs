//! One shared allocation per distinct label string within a request: a batch repeats the same
//! names and values (`job`, `instance`, `cluster` ...) across thousands of series, and
//! allocating each occurrence was most of the decoding cost.

use std::collections::HashMap;
use std::sync::Arc;

/// Maps borrowed strings of one request body to shared `Arc<str>`s.
#[derive(Default)]
pub struct SymbolInterner<'a> {
    known: HashMap<&'a str, Arc<str>>,
}

impl<'a> SymbolInterner<'a> {
    /// The shared copy of `s`, allocated on first sight.
    pub fn intern(&mut self, s: &'a str) -> Arc<str> {
        self.known.entry(s).or_insert_with(|| Arc::from(s)).clone()
    }
}
