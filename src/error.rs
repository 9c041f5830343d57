//! The crate's error type.
//!
//! Every fallible operation of tchvision returns [`Result`]. Errors name what went wrong in the
//! user's terms: the module path (`layer1.0.conv2`), the state-dict key, the expected and the
//! actual shape. libtorch exceptions are caught through tch's `f_` APIs and wrapped with the
//! path of the layer that raised them.

use tch::TchError;

/// The result type of tchvision.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Formats a shape as torch prints it: `[1, 3, 224, 224]`.
pub fn shape_str(shape: &[i64]) -> String {
    let dims: Vec<String> = shape.iter().map(i64::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// `s` with control characters escaped (`\n`, `\t`, `\x1b`, `\u{85}`, …), so that a key or
/// file name read from a file cannot move the cursor, recolour a terminal or break a one-line
/// message. Borrowed when there is nothing to escape.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The first `max` items joined by `, `, then `… and N more (M in all)` when there are more.
pub fn cut_list<S: AsRef<str>>(items: &[S], max: usize) -> String {
    let mut s: Vec<&str> = items.iter().take(max).map(|s| s.as_ref()).collect();
    let tail;
    if items.len() > max {
        tail = format!("… and {} more ({} in all)", items.len() - max, items.len());
        s.push(&tail);
    }
    s.join(", ")
}

/// Everything that can go wrong in tchvision.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A module received an input of the wrong shape.
    #[error("{path} ({kind}): expected input {expected}, got shape {actual:?}")]
    InputShape {
        /// Dotted module path (empty for the root).
        path: String,
        /// The module's type name, e.g. `Conv2d`.
        kind: &'static str,
        /// What the module needs, in words (`[N, 3, H, W]`, "at least 7×7 after padding", …).
        expected: String,
        /// The shape it received.
        actual: Vec<i64>,
    },

    /// libtorch raised an exception while a module ran its forward pass.
    #[error("{path} ({kind}): forward failed on input of shape {input:?}: {source}")]
    Forward {
        /// Dotted module path.
        path: String,
        /// The module's type name.
        kind: &'static str,
        /// The input's shape.
        input: Vec<i64>,
        /// libtorch's error.
        #[source]
        source: Box<TchError>,
    },

    /// A tensor's shape differs from what a parameter, buffer or key needs.
    #[error("{key}: expected shape {expected:?}, got {actual:?}")]
    ShapeMismatch {
        /// The state-dict key or parameter path.
        key: String,
        /// The shape the model has.
        expected: Vec<i64>,
        /// The shape that was given.
        actual: Vec<i64>,
    },

    /// A module, parameter, node or key with this name does not exist.
    #[error("unknown {what} `{name}`{hint}")]
    Unknown {
        /// What kind of name it is (`module`, `nonlinearity`, `model`, `node`, …).
        what: &'static str,
        /// The name as given.
        name: String,
        /// A hint such as the valid choices, formatted with a leading separator.
        hint: String,
    },

    /// An argument is invalid (a negative size, a zero group count, …).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// Two parameters or buffers were registered under the same state-dict key.
    #[error("duplicate state-dict key `{0}`")]
    DuplicateKey(String),

    /// libtorch raised an exception outside a forward pass.
    #[error("{context}: {source}")]
    Torch {
        /// What tchvision was doing.
        context: String,
        /// libtorch's error.
        #[source]
        source: Box<TchError>,
    },

    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A checkpoint or tensor file is malformed, truncated, hostile or unsupported.
    #[error("{path}: {message}")]
    Format {
        /// The file (or `<memory>`).
        path: String,
        /// What is wrong, naming the key or record concerned.
        message: String,
    },

    /// A checkpoint references a Python global that a weights-only load does not allow.
    #[error("{path}: refusing to load: the pickle references `{global}`, which a weights-only load does not allow (torch.load(weights_only=True) refuses it too)")]
    ForbiddenGlobal {
        /// The file.
        path: String,
        /// `module.name` of the global.
        global: String,
    },

    /// A strict state-dict load found missing, unexpected or mismatched keys; nothing was changed.
    #[error("strict load failed, the model is unchanged: {0}")]
    StrictLoad(String),
}

impl Error {
    /// Wraps a libtorch error with a description of what was being done.
    pub fn torch(context: impl Into<String>, source: TchError) -> Self {
        Error::Torch { context: context.into(), source: source.into() }
    }

    /// An [`Error::Unknown`] with the list of valid choices.
    pub fn unknown<S: AsRef<str>>(what: &'static str, name: impl AsRef<str>, choices: &[S]) -> Self {
        let hint = if choices.is_empty() {
            String::new()
        } else {
            const SHOWN: usize = 40;
            let name = name.as_ref();
            let mut list: Vec<&str> = choices.iter().map(|s| s.as_ref()).collect();
            let more = choices.len().saturating_sub(SHOWN);
            if more > 0 {
                // A long list is cut: the names nearest to the one asked for come first (the
                // longest common prefix, then the fewest edits; ties keep their order).
                let prefix = |c: &str| c.chars().zip(name.chars()).take_while(|(a, b)| a == b).count();
                list.sort_by_key(|c| (std::cmp::Reverse(prefix(c)), edit_distance(name, c)));
                list.truncate(SHOWN);
            }
            let (head, tail) = if more > 0 {
                (" (nearest first)", format!(", … and {more} more ({} in all)", choices.len()))
            } else {
                ("", String::new())
            };
            format!("; expected one of{head}: {}{tail}", list.join(", "))
        };
        Error::Unknown { what, name: name.as_ref().to_string(), hint }
    }
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(diag + usize::from(ca != *cb));
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Adds context to libtorch results: `t.f_add(&u).ctx("adding the residual")?`.
pub trait TorchResultExt<T> {
    /// Wraps a [`TchError`] as [`Error::Torch`] with `context`.
    fn ctx(self, context: impl Into<String>) -> Result<T>;
}

impl<T> TorchResultExt<T> for std::result::Result<T, TchError> {
    fn ctx(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::torch(context, e))
    }
}
