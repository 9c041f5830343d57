//! Outputs of named graph nodes in one forward pass: the engine behind
//! [`crate::models::features`], following torchvision's `create_feature_extractor`
//! (`torchvision/models/feature_extraction.py`).
//!
//! A forward pass that is given a [`Recorder`]
//! ([`Module::try_forward_rec`](super::Module::try_forward_rec)) reports every *node* it runs:
//! each leaf module's output under the module's dotted path (`layer1.0.conv1`), and the
//! functional steps of a container under `path.op` (`layer1.0.add`, `flatten`). The names are
//! torchvision's FX node names: a module called twice gets `_1`, `_2`, … on its later calls
//! (`layer1.0.relu`, `layer1.0.relu_1`), and the input is the node `x`.
//!
//! A query names a node or any prefix of node names made of whole path components (`layer1`,
//! `layer1.0`, `layer2.0.conv1`); its output is the output of the **last** node it matches, as
//! torchvision returns it: for `layer1` that is the output of the Sequential `layer1`. Only the
//! queried outputs are kept, so a pass costs no extra memory.

use std::collections::HashMap;
use tch::Tensor;

use crate::error::{Error, Result};

/// `prefix.name`, or `name` when the prefix is empty.
pub fn join_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Collects node outputs during a forward pass (see the module docs).
#[derive(Debug, Default)]
pub struct Recorder {
    queries: Vec<String>,
    outputs: Vec<Option<Tensor>>,
    counts: HashMap<String, usize>,
    names: Vec<String>,
    active: bool,
}

impl Recorder {
    /// A recorder that keeps the outputs of `queries` and the names of every node.
    pub fn new<S: AsRef<str>>(queries: &[S]) -> Self {
        let queries: Vec<String> = queries.iter().map(|q| q.as_ref().to_string()).collect();
        let outputs = queries.iter().map(|_| None).collect();
        Recorder { queries, outputs, counts: HashMap::new(), names: Vec::new(), active: true }
    }

    /// A recorder that records nothing: containers may implement
    /// [`Module::try_forward_t`](super::Module::try_forward_t) as their recording forward with it.
    pub fn disabled() -> Self {
        Recorder::default()
    }

    /// Whether this recorder records anything.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Reports that the node at `path` produced `out`. The node's name is `path`, with a
    /// trailing `_<digits>` removed as torchvision removes it, and with `_N` appended when
    /// the name was seen `N` times before (torchvision's rule for repeated calls).
    pub fn record(&mut self, path: &str, out: &Tensor) {
        if !self.active || path.is_empty() {
            return;
        }
        let base = strip_index(path);
        let seen = self.counts.entry(base.to_string()).or_insert(0);
        let name = if *seen == 0 { base.to_string() } else { format!("{base}_{seen}") };
        *seen += 1;
        for (q, slot) in self.queries.iter().zip(self.outputs.iter_mut()) {
            if matches(q, &name) {
                *slot = Some(out.shallow_clone());
            }
        }
        self.names.push(name);
    }

    /// Every node name recorded so far, in execution order (torchvision's
    /// `get_graph_node_names`).
    pub fn node_names(&self) -> &[String] {
        &self.names
    }

    /// The outputs of the queries, in the order they were asked for; an
    /// [`Error::Unknown`] listing the valid node names when a query matched no node.
    pub fn into_outputs(self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::with_capacity(self.queries.len());
        for (q, t) in self.queries.iter().zip(self.outputs) {
            match t {
                Some(t) => out.push((q.clone(), t)),
                None => return Err(Error::unknown("node", q.clone(), &self.names)),
            }
        }
        Ok(out)
    }
}

/// torchvision strips a trailing `_<digits>` before counting repeats.
fn strip_index(path: &str) -> &str {
    if let Some((head, tail)) = path.rsplit_once('_') {
        if !head.is_empty() && !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            return head;
        }
    }
    path
}

/// A query matches a node whose first path components are the query's.
fn matches(query: &str, name: &str) -> bool {
    name == query || (name.starts_with(query) && name.as_bytes().get(query.len()) == Some(&b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_prefixes() {
        let t = Tensor::from(1.0f32);
        let mut r = Recorder::new(&["layer1", "layer1.0.relu", "layer1.0.relu_1", "layer"]);
        for p in ["x", "layer1.0.relu", "layer1.0.conv", "layer1.0.relu", "layer10.0"] {
            r.record(p, &t);
        }
        assert_eq!(r.node_names(), ["x", "layer1.0.relu", "layer1.0.conv", "layer1.0.relu_1", "layer10.0"]);
        assert!(matches("layer1", "layer1.0.relu_1"));
        assert!(!matches("layer1", "layer10.0"));
        assert!(matches!(r.into_outputs(), Err(Error::Unknown { .. })));
        assert_eq!(strip_index("a.add_12"), "a.add");
        assert_eq!(strip_index("conv_layer1"), "conv_layer1");
    }
}
