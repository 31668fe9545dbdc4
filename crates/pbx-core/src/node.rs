//! A tiny document tree shared by the YAML and TOML readers, so both formats get the
//! same one-line, path-carrying error messages (`users[0].ext: …`).

use crate::error::ConfigError;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    pub fn describe(&self) -> &'static str {
        match self {
            Node::Null => "nothing",
            Node::Bool(_) => "true/false",
            Node::Int(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::List(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }

    pub fn from_yaml_str(text: &str) -> Result<Node, ConfigError> {
        let value: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| ConfigError::Syntax {
                format: "YAML",
                message: one_line(&e.to_string()),
            })?;
        Node::from_yaml(value)
    }

    fn from_yaml(value: serde_norway::Value) -> Result<Node, ConfigError> {
        use serde_norway::Value;
        Ok(match value {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Node::Int(i),
                None => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Node::Str(s),
            Value::Sequence(items) => Node::List(
                items
                    .into_iter()
                    .map(Node::from_yaml)
                    .collect::<Result<_, _>>()?,
            ),
            Value::Mapping(map) => {
                let mut entries = Vec::with_capacity(map.len());
                for (k, v) in map {
                    let key = match k {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        other => {
                            return Err(ConfigError::Syntax {
                                format: "YAML",
                                message: format!(
                                    "mapping keys must be plain strings, found {}",
                                    Node::from_yaml(other).map(|n| n.describe()).unwrap_or("?")
                                ),
                            });
                        }
                    };
                    entries.push((key, Node::from_yaml(v)?));
                }
                Node::Map(entries)
            }
            Value::Tagged(tagged) => {
                return Err(ConfigError::Syntax {
                    format: "YAML",
                    message: format!(
                        "YAML tags such as {} are not used in vpbx files",
                        tagged.tag
                    ),
                });
            }
        })
    }

    pub fn from_toml_str(text: &str) -> Result<Node, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let (line, col) = line_col(text, span.start);
                    format!("line {line} column {col}: ")
                })
                .unwrap_or_default();
            ConfigError::Syntax {
                format: "TOML",
                message: format!("{at}{}", one_line(e.message())),
            }
        })?;
        Ok(Node::from_toml(toml::Value::Table(table)))
    }

    fn from_toml(value: toml::Value) -> Node {
        use toml::Value;
        match value {
            Value::String(s) => Node::Str(s),
            Value::Integer(i) => Node::Int(i),
            Value::Float(f) => Node::Float(f),
            Value::Boolean(b) => Node::Bool(b),
            Value::Datetime(d) => Node::Str(d.to_string()),
            Value::Array(items) => Node::List(items.into_iter().map(Node::from_toml).collect()),
            Value::Table(t) => Node::Map(
                t.into_iter()
                    .map(|(k, v)| (k, Node::from_toml(v)))
                    .collect(),
            ),
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `parent.key`, or `key` at the top level.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[i]`.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// A mapping whose keys were checked against the allowed list.
#[derive(Debug)]
pub struct Fields<'a> {
    pub path: String,
    entries: &'a [(String, Node)],
}

impl<'a> Fields<'a> {
    /// Checks that `node` is a mapping with only `allowed` keys. `Null` counts as empty.
    pub fn new(
        node: &'a Node,
        path: &str,
        allowed: &'static [&'static str],
    ) -> Result<Self, ConfigError> {
        let entries: &'a [(String, Node)] = match node {
            Node::Map(entries) => entries,
            Node::Null => &[],
            other => {
                return Err(ConfigError::WrongType {
                    path: if path.is_empty() {
                        "top level".to_owned()
                    } else {
                        path.to_owned()
                    },
                    expected: "a mapping",
                    found: other.describe(),
                });
            }
        };
        if let Some((key, _)) = entries.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            return Err(ConfigError::UnknownKey {
                path: path.to_owned(),
                key: key.clone(),
                expected: allowed,
            });
        }
        Ok(Fields {
            path: path.to_owned(),
            entries,
        })
    }

    /// The value of `key`, treating an explicit null as absent.
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .filter(|v| !matches!(v, Node::Null))
    }

    pub fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub fn require(&self, key: &'static str) -> Result<&'a Node, ConfigError> {
        self.get(key).ok_or_else(|| ConfigError::MissingKey {
            path: self.path.clone(),
            key,
        })
    }

    pub fn string(&self, key: &str) -> Result<Option<&'a str>, ConfigError> {
        self.get(key).map(|n| as_str(n, &self.at(key))).transpose()
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(Node::Bool(b)) => Ok(*b),
            Some(other) => Err(ConfigError::WrongType {
                path: self.at(key),
                expected: "true or false",
                found: other.describe(),
            }),
        }
    }

    /// A whole number in `min..=max`.
    pub fn uint(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, ConfigError> {
        let Some(node) = self.get(key) else {
            return Ok(None);
        };
        match node {
            Node::Int(i) if (*i as i128) >= min as i128 && (*i as i128) <= max as i128 => {
                Ok(Some(*i as u64))
            }
            Node::Int(i) => Err(ConfigError::invalid(
                self.at(key),
                format!("{i} is out of range (allowed {min}..={max})"),
            )),
            other => Err(ConfigError::WrongType {
                path: self.at(key),
                expected: "a whole number",
                found: other.describe(),
            }),
        }
    }

    /// A string that must be quoted even when it looks like a number (`username:
    /// "74952345678"`): YAML would drop a leading zero of an unquoted one.
    pub fn quoted(&self, key: &str) -> Result<Option<&'a str>, ConfigError> {
        match self.get(key) {
            Some(Node::Int(i)) => Err(ConfigError::invalid(
                self.at(key),
                format!("write it as a quoted string (\"{i}\"), so leading zeros are kept"),
            )),
            _ => self.string(key),
        }
    }

    /// A whole number in `min..=max` that fits a `u32`.
    pub fn uint32(&self, key: &str, min: u32, max: u32) -> Result<Option<u32>, ConfigError> {
        Ok(self
            .uint(key, u64::from(min), u64::from(max))?
            .map(|v| u32::try_from(v).expect("range-checked against a u32 maximum")))
    }

    /// A list of strings (absent: empty).
    pub fn strings(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        let path = self.at(key);
        string_list(self.list(key)?, &path)
    }

    pub fn list(&self, key: &str) -> Result<&'a [Node], ConfigError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(n) => as_list(n, &self.at(key)),
        }
    }
}

pub fn as_str<'a>(node: &'a Node, path: &str) -> Result<&'a str, ConfigError> {
    match node {
        Node::Str(s) => Ok(s),
        other => Err(ConfigError::WrongType {
            path: path.to_owned(),
            expected: "a string",
            found: other.describe(),
        }),
    }
}

pub fn as_list<'a>(node: &'a Node, path: &str) -> Result<&'a [Node], ConfigError> {
    match node {
        Node::List(items) => Ok(items),
        other => Err(ConfigError::WrongType {
            path: path.to_owned(),
            expected: "a list",
            found: other.describe(),
        }),
    }
}

/// Reads a list of strings.
pub fn string_list(items: &[Node], path: &str) -> Result<Vec<String>, ConfigError> {
    items
        .iter()
        .enumerate()
        .map(|(i, n)| as_str(n, &index(path, i)).map(str::to_owned))
        .collect()
}
